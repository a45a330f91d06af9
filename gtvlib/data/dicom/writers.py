"""Writing DICOM: CT series, RT Structure Sets and Segmentations, with deterministic UIDs.

Used by the synthetic cohort generator (and by anything that exports results). Every object is a genuine
IOD instance (Part 10 files with preamble and file meta); UIDs derive from their parts, so the same inputs
give byte-identical files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, RTStructureSetStorage

IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1456.1"  # gtvlib's implementation UID (fixed for reproducibility)


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


def ct_datasets(hu: np.ndarray, spacing_mm, origin_xyz_mm, patient: dict, series_uid: str,
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
        z = float(origin_xyz_mm[2]) + k * dz
        ds.ImagePositionPatient = [f"{float(origin_xyz_mm[0]):.4f}", f"{float(origin_xyz_mm[1]):.4f}", f"{z:.4f}"]
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


# --------------------------------------------------------------------------- RT Structure Set


def rtstruct_dataset(ct_slices: list[Dataset], rois: list[dict], label: str = "GTVLIB",
                     series_uid: str | None = None, sop_uid: str | None = None) -> Dataset:
    """An RT Structure Set over the given CT slices (sorted along z).

    ``rois``: dicts with ``name``, ``number``, ``type`` (RT ROI Interpreted Type: GTV, ORGAN, …),
    ``colour`` (r, g, b) and ``planes``: {slice index: list of (row, column) polygons}.
    """
    first = ct_slices[0]
    series_uid = series_uid or deterministic_uid(first.SeriesInstanceUID, "rtstruct-series")
    sop_uid = sop_uid or deterministic_uid(first.SeriesInstanceUID, "rtstruct")
    patient = {"name": str(first.PatientName), "id": str(first.PatientID), "sex": str(first.get("PatientSex", "O")),
               "study_uid": str(first.StudyInstanceUID), "frame_uid": str(first.FrameOfReferenceUID),
               "study_date": str(first.get("StudyDate", ""))}
    ds = patient_dataset(patient)
    del ds.FrameOfReferenceUID, ds.PositionReferenceIndicator  # not part of the RT Structure Set IOD
    ds.file_meta = file_meta(RTStructureSetStorage, sop_uid)
    ds.SOPClassUID, ds.SOPInstanceUID = RTStructureSetStorage, sop_uid
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID, ds.SeriesNumber = series_uid, 2
    ds.SeriesDescription = "structures"
    ds.InstanceNumber = 1
    ds.StructureSetLabel = label
    ds.StructureSetDate, ds.StructureSetTime = patient["study_date"], "100000"
    ds.OperatorsName = ""
    images = Sequence()
    for ct in ct_slices:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = ct.SOPClassUID, ct.SOPInstanceUID
        images.append(item)
    series_item = Dataset()
    series_item.SeriesInstanceUID = first.SeriesInstanceUID
    series_item.ContourImageSequence = images
    study_item = Dataset()
    study_item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (retired, as TPSs write)
    study_item.ReferencedSOPInstanceUID = first.StudyInstanceUID
    study_item.RTReferencedSeriesSequence = Sequence([series_item])
    frame_item = Dataset()
    frame_item.FrameOfReferenceUID = first.FrameOfReferenceUID
    frame_item.RTReferencedStudySequence = Sequence([study_item])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame_item])
    ds.StructureSetROISequence, ds.ROIContourSequence, ds.RTROIObservationsSequence = Sequence(), Sequence(), Sequence()
    for roi in rois:
        structure = Dataset()
        structure.ROINumber, structure.ReferencedFrameOfReferenceUID = roi["number"], first.FrameOfReferenceUID
        structure.ROIName, structure.ROIGenerationAlgorithm = roi["name"], roi.get("algorithm", "MANUAL")
        ds.StructureSetROISequence.append(structure)
        contour_item = Dataset()
        contour_item.ROIDisplayColor = list(roi.get("colour", (255, 0, 0)))
        contour_item.ReferencedROINumber = roi["number"]
        contours = Sequence()
        for k in sorted(roi["planes"]):
            ct = ct_slices[k]
            origin = np.asarray(ct.ImagePositionPatient, dtype=float)
            dy, dx = (float(v) for v in ct.PixelSpacing)
            for polygon in roi["planes"][k]:
                contour = Dataset()
                reference = Dataset()
                reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = ct.SOPClassUID, ct.SOPInstanceUID
                contour.ContourImageSequence = Sequence([reference])
                contour.ContourGeometricType = "CLOSED_PLANAR"
                contour.NumberOfContourPoints = len(polygon)
                xyz = np.column_stack([origin[0] + polygon[:, 1] * dx, origin[1] + polygon[:, 0] * dy,
                                       np.full(len(polygon), origin[2])])
                contour.ContourData = [f"{v:.6f}" for v in xyz.ravel()]  # DS holds 16 characters
                contours.append(contour)
        if len(contours):
            contour_item.ContourSequence = contours
        ds.ROIContourSequence.append(contour_item)
        observation = Dataset()
        observation.ObservationNumber, observation.ReferencedROINumber = roi["number"], roi["number"]
        observation.RTROIInterpretedType, observation.ROIInterpreter = roi.get("type", "ORGAN"), ""
        ds.RTROIObservationsSequence.append(observation)
    return ds


def write_rtstruct(path: Path, ct_slices: list[Dataset], rois: list[dict], **kwargs) -> Path:
    """Write an RT Structure Set file (see :func:`rtstruct_dataset`)."""
    ds = rtstruct_dataset(ct_slices, rois, **kwargs)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


# --------------------------------------------------------------------------- Segmentation

# Segmented property type per canonical name (SNOMED CT); anything else is an anatomical structure.
_PROPERTY_TYPE = {
    "GTV": codes.SCT.Neoplasm,
    "Lung": codes.SCT.Lung,
    "Heart": codes.SCT.Heart,
    "Esophagus": codes.SCT.Esophagus,
    "Spinal-Cord": codes.SCT.SpinalCord,
    "LN": codes.SCT.LymphNode,
}

# Attributes highdicom stamps with the current date and time; fixed so regeneration is byte-identical.
_TIMESTAMPS = ("ContentDate", "ContentTime", "SeriesDate", "SeriesTime", "InstanceCreationDate", "InstanceCreationTime")


def _codes_for(name: str):
    for prefix, code in _PROPERTY_TYPE.items():
        if name.startswith(prefix):
            category = codes.SCT.MorphologicallyAbnormalStructure if prefix == "GTV" else codes.SCT.AnatomicalStructure
            return category, code
    return codes.SCT.AnatomicalStructure, codes.SCT.AnatomicalStructure


def seg_dataset(ct_slices: list[Dataset], masks: dict[str, np.ndarray], series_uid: str, sop_uid: str,
                content_date: str) -> Dataset:
    """A BINARY SEG over ``ct_slices`` (sorted along z) with one segment per mask (z, y, x) in dict order."""
    import highdicom as hd

    names = list(masks)
    pixel_array = np.stack([masks[name] for name in names], axis=-1).astype(np.uint8)  # (z, y, x, segments)
    descriptions = []
    for number, name in enumerate(names, start=1):
        category, property_type = _codes_for(name)
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=name, segmented_property_category=category,
            segmented_property_type=property_type, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        ))
    seg = hd.seg.Segmentation(
        source_images=ct_slices, pixel_array=pixel_array,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
        series_instance_uid=series_uid, series_number=3, sop_instance_uid=sop_uid, instance_number=1,
        manufacturer="gtvlib synthetic phantom", manufacturer_model_name="gtvlib", software_versions="0.1",
        device_serial_number="0", omit_empty_frames=True,
    )
    for keyword in _TIMESTAMPS:
        if keyword in seg:
            setattr(seg, keyword, content_date if keyword.endswith("Date") else "100000")
    for item in seg.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = f"{content_date}100000"
    # highdicom draws a random dimension organisation UID; derive it from the SEG's own UID instead
    organisation_uid = deterministic_uid(sop_uid, "dimension-organisation")
    for item in [*seg.get("DimensionOrganizationSequence", []), *seg.get("DimensionIndexSequence", [])]:
        if "DimensionOrganizationUID" in item:
            item.DimensionOrganizationUID = organisation_uid
    return seg
