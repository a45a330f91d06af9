"""CT series on disk: reading a folder of slices into a :class:`Volume`, and writing one.

Reading sorts slices by ImagePositionPatient projected on the slice normal (never by InstanceNumber,
SliceLocation or file name), converts to HU, and checks what later stages rely on: one series per
folder, axial orientation, identical geometry on every slice, and uniform spacing without gaps.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from gtvlib.data.dicom import ct_to_hu, image_plane, read_dataset
from gtvlib.data.volume import Volume
from gtvlib.errors import GtvError

# Slice spacing may vary by this fraction of the median before the series counts as non-uniform.
SPACING_TOLERANCE = 0.01
IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1456.1"  # gtvlib's implementation UID (fixed for reproducibility)


def dicom_files(folder: Path) -> list[Path]:
    """The files of a folder that may be DICOM (every regular file except hidden and obvious non-DICOM)."""
    skip = {".txt", ".json", ".csv", ".md", ".yaml", ".yml", ".npy", ".npz", ".png", ".jpg"}
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in skip)


def read_ct_slices(folder: str | os.PathLike) -> list[Dataset]:
    """Read and validate every CT slice of a folder; return them sorted along the slice normal."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GtvError(f"{folder}: no such folder (expected a folder of CT slices)")
    slices = [read_dataset(path) for path in dicom_files(folder)]
    slices = [ds for ds in slices if ds.get("Modality") == "CT"]
    if not slices:
        raise GtvError(f"{folder}: no CT images found (expected .dcm files with Modality CT)")
    series = sorted({str(ds.SeriesInstanceUID) for ds in slices})
    if len(series) > 1:
        raise GtvError(f"{folder}: {len(series)} CT series mixed in one folder ({', '.join(series)}); "
                       "expected one series per folder")
    planes = [image_plane(ds) for ds in slices]
    first = planes[0]
    if not first.is_axial:
        raise GtvError(f"{folder}: slices are not axial (ImageOrientationPatient "
                       f"{np.r_[first.row_direction, first.column_direction].round(4).tolist()}); "
                       "expected [1, 0, 0, 0, 1, 0] or another axial orientation")
    for ds, plane in zip(slices, planes):
        if (not np.allclose(plane.row_direction, first.row_direction, atol=1e-4)
                or not np.allclose(plane.column_direction, first.column_direction, atol=1e-4)
                or plane.pixel_spacing_mm != first.pixel_spacing_mm
                or (plane.rows, plane.columns) != (first.rows, first.columns)):
            raise GtvError(f"{ds.filename}: geometry differs from the rest of the series "
                           "(orientation, pixel spacing or matrix size); expected identical values on every slice")
    normal = first.slice_normal
    positions = np.array([float(plane.position_mm @ normal) for plane in planes])
    order = np.argsort(positions, kind="stable")
    return [slices[i] for i in order]


def slice_spacing_mm(positions: np.ndarray, source: str) -> float:
    """The uniform spacing of sorted slice positions, or a :class:`GtvError` naming the gap."""
    if len(positions) < 2:
        raise GtvError(f"{source}: a single slice is not a volume (expected at least 2 slices)")
    steps = np.diff(positions)
    if np.any(steps <= 1e-6):
        duplicate = float(positions[1:][steps <= 1e-6][0])
        raise GtvError(f"{source}: two slices at the same position {duplicate:.2f} mm (duplicate or mixed series)")
    median = float(np.median(steps))
    bad = np.abs(steps - median) > SPACING_TOLERANCE * median
    if np.any(bad):
        index = int(np.argmax(bad))
        raise GtvError(
            f"{source}: non-uniform slice spacing: {steps[index]:.3f} mm between slices at "
            f"{positions[index]:.2f} and {positions[index + 1]:.2f} mm, where the series has {median:.3f} mm "
            "(a missing slice or a gap); expected uniform spacing"
        )
    return median


def load_ct_series(folder: str | os.PathLike) -> Volume:
    """Read a CT series folder into a :class:`Volume` (no masks; see rtstruct and seg for those)."""
    slices = read_ct_slices(folder)
    planes = [image_plane(ds) for ds in slices]
    positions = np.array([float(p.position_mm @ planes[0].slice_normal) for p in planes])
    dz = slice_spacing_mm(positions, str(folder))
    hu = np.stack([ct_to_hu(ds) for ds in slices]).astype(np.float32)
    dy, dx = planes[0].pixel_spacing_mm
    first = slices[0]
    metadata = {
        "modality": "CT",
        "series_instance_uid": str(first.SeriesInstanceUID),
        "frame_of_reference_uid": str(first.get("FrameOfReferenceUID", "")),
        "sop_instance_uids": [str(ds.SOPInstanceUID) for ds in slices],
        "patient_position": str(first.get("PatientPosition", "")),
        "manufacturer": str(first.get("Manufacturer", "")),
        "slice_thickness_mm": planes[0].slice_thickness_mm,
        "source": str(folder),
    }
    return Volume(hu=hu, spacing_mm=(dz, dy, dx), origin_mm=tuple(planes[0].position_mm.tolist()),
                  slice_positions_mm=positions, masks={}, metadata=metadata)


def deterministic_uid(*parts: str) -> str:
    """A UID derived from ``parts`` (same parts → same UID): ``2.25.`` + a 128-bit hash as a decimal
    integer (ISO/IEC 9834-8, the UUID-derived root; at most 44 characters)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def patient_dataset(patient: dict) -> Dataset:
    """Patient, study and equipment attributes shared by every object of one synthetic patient.

    ``patient``: ``name``, ``id``, ``sex``, ``study_uid``, ``frame_uid``, ``study_date`` (YYYYMMDD).
    """
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = patient["name"]
    ds.PatientID = patient["id"]
    ds.PatientBirthDate = ""
    ds.PatientSex = patient.get("sex", "O")
    ds.PatientIdentityRemoved = "YES"
    ds.StudyInstanceUID = patient["study_uid"]
    ds.StudyDate = patient["study_date"]
    ds.StudyTime = "090000"
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.Manufacturer = "gtvlib synthetic phantom"
    ds.InstitutionName = "Synthetic"
    ds.FrameOfReferenceUID = patient["frame_uid"]
    ds.PositionReferenceIndicator = ""
    return ds


def file_meta(sop_class_uid: str, sop_instance_uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = "GTVLIB_0_1"
    return meta


def ct_datasets(hu: np.ndarray, spacing_mm, origin_mm, patient: dict, series_uid: str,
                series_description: str = "synthetic chest CT", series_number: int = 1) -> list[Dataset]:
    """One CT Image Storage dataset per slice of ``hu`` (z, y, x; z ascending = superior).

    Stored as int16 with RescaleIntercept −1024 (so HU −1024 … 3071 fit), axial, head-first supine.
    Instance numbers run from the most superior slice down, as many scanners number them, so that
    nothing but ImagePositionPatient gives the slice order.
    """
    dz, dy, dx = (float(v) for v in spacing_mm)
    stored = np.clip(np.rint(hu + 1024.0), -32768, 32767).astype(np.int16)
    datasets = []
    nz = hu.shape[0]
    for k in range(nz):
        sop_uid = deterministic_uid(series_uid, "slice", str(k))
        ds = patient_dataset(patient)
        ds.file_meta = file_meta(CTImageStorage, sop_uid)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.Modality = "CT"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = series_description
        ds.SeriesDate = patient["study_date"]
        ds.ContentDate = patient["study_date"]
        ds.ContentTime = "090000"
        ds.PatientPosition = "HFS"
        ds.InstanceNumber = nz - k
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        z = float(origin_mm[2]) + k * dz
        ds.ImagePositionPatient = [f"{float(origin_mm[0]):.4f}", f"{float(origin_mm[1]):.4f}", f"{z:.4f}"]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [f"{dy:.6g}", f"{dx:.6g}"]
        ds.SliceThickness = f"{dz:.6g}"
        ds.SliceLocation = f"{z:.4f}"
        ds.KVP = "120"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = int(hu.shape[1]), int(hu.shape[2])
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter, ds.WindowWidth = "-600", "1500"
        ds.PixelData = stored[k].tobytes()
        datasets.append(ds)
    return datasets


def write_datasets(datasets: list[Dataset], folder: Path, name_of=lambda ds: f"{str(ds.SOPInstanceUID)[-12:]}.dcm") -> list[Path]:
    """Save datasets as DICOM files (Part 10, with preamble and file meta) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for ds in datasets:
        path = folder / name_of(ds)
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths
