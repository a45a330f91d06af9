"""RT Structure Sets: rasterising contours onto a CT volume, and writing contours from masks or shapes.

The rasterisation convention (it decides small-tumour metrics, so it is fixed and written down):

* A voxel belongs to a contour when its **centre** lies inside the polygon. Centres exactly on an
  edge follow the top-left rule: on a left or top edge they are inside, on a right or bottom edge
  outside (rows grow downwards, columns to the right), so two polygons sharing an edge never both
  claim a centre on it.
* All contours of one ROI on one plane combine **even–odd** (XOR): an inner contour is a hole, whatever
  its winding direction.
* A contour's plane is matched to the slice whose actual position along the normal is nearest, within
  half the local slice spacing; ContourImageSequence is not trusted for this.
* ROIs are joined across sequences by ROI number. POINT contours and contours of fewer than three
  points are skipped. Points outside the field of view are clipped, with a warning.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import RTStructureSetStorage

from gtvlib.data.dicom import read_dataset, require
from gtvlib.data.volume import Volume
from gtvlib.errors import GtvError


def rasterise_polygons(polygons_rc: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Even–odd fill of polygons given in (row, column) pixel coordinates; bool (rows, columns).

    Pixel (i, j) has its centre at (i, j). Crossings of each row's centre line with the edges toggle a
    parity that a cumulative sum carries to the right (top-left rule for centres on edges).
    """
    rows, columns = shape
    toggles = np.zeros((rows, columns + 1), dtype=np.int32)
    for polygon in polygons_rc:
        r0, c0 = polygon[:, 0], polygon[:, 1]
        r1, c1 = np.roll(r0, -1), np.roll(c0, -1)
        top, bottom = np.minimum(r0, r1), np.maximum(r0, r1)
        for k in np.nonzero(bottom > top)[0]:  # horizontal edges never cross a row centre line
            first, last = int(np.ceil(top[k])), int(np.ceil(bottom[k])) - 1  # half-open [top, bottom)
            first, last = max(first, 0), min(last, rows - 1)
            if first > last:
                continue
            row_centres = np.arange(first, last + 1, dtype=np.float64)
            crossing = c0[k] + (row_centres - r0[k]) * (c1[k] - c0[k]) / (r1[k] - r0[k])
            column = np.clip(np.ceil(crossing), 0, columns).astype(np.int64)
            np.add.at(toggles, (row_centres.astype(np.int64), column), 1)
    return (np.cumsum(toggles, axis=1)[:, :columns] % 2).astype(bool)


def coverage_fraction(polygons_rc: list[np.ndarray], shape: tuple[int, int], factor: int = 8) -> np.ndarray:
    """Fraction (0–1) of each pixel's area inside the polygons (even–odd), from ``factor``² sub-pixels.

    Used to compare rasterisation conventions: centre rule (ours), area ≥ 50 %, any overlap, fully inside.
    """
    rows, columns = shape
    fine = [(np.asarray(p, dtype=float) + 0.5) * factor - 0.5 for p in polygons_rc]
    mask = rasterise_polygons(fine, (rows * factor, columns * factor))
    return mask.reshape(rows, factor, columns, factor).mean(axis=(1, 3))


def roi_numbers(ds: Dataset) -> dict[str, int]:
    """ROI name → ROI number, from StructureSetROISequence."""
    return {str(item.ROIName): int(item.ROINumber) for item in require(ds, "StructureSetROISequence")}


def canonical_names(names: list[str], roi_map: dict[str, list[str]]) -> dict[str, str]:
    """Map an RTSTRUCT's ROI names to canonical names with case-insensitive regexes.

    ``roi_map``: canonical name → list of regexes (full match). A canonical name equal to the ROI name
    (ignoring case) always matches. Returns ROI name → canonical name for the names that match; the
    first canonical name in ``roi_map`` order wins.
    """
    mapping = {}
    for name in names:
        for canonical, patterns in roi_map.items():
            if name.strip().lower() == canonical.lower() or any(
                    re.fullmatch(pattern, name.strip(), flags=re.IGNORECASE) for pattern in patterns):
                mapping[name] = canonical
                break
    return mapping


def rasterise_roi(ds: Dataset, roi_name: str, volume: Volume, return_polygons: bool = False):
    """Rasterise one ROI of an RTSTRUCT onto ``volume``'s grid: bool (z, y, x).

    With ``return_polygons`` the matched contours are returned instead: {slice index: [(row, column)
    polygons]}, e.g. for :func:`coverage_fraction`.
    """
    source = str(getattr(ds, "filename", "<RTSTRUCT>"))
    numbers = roi_numbers(ds)
    if roi_name not in numbers:
        raise GtvError(f"{source}: no ROI named {roi_name!r}; the ROIs present are {sorted(numbers)}")
    frame = volume.metadata.get("frame_of_reference_uid")
    referenced = {str(item.ReferencedFrameOfReferenceUID) for item in ds.get("StructureSetROISequence", [])
                  if int(item.ROINumber) == numbers[roi_name] and "ReferencedFrameOfReferenceUID" in item}
    if frame and referenced and frame not in referenced:
        raise GtvError(f"{source}: ROI {roi_name!r} is drawn in frame of reference {sorted(referenced)[0]}, "
                       f"but the CT series is in {frame}; expected the same frame of reference")
    contour_item = next((item for item in ds.get("ROIContourSequence", [])
                         if int(item.ReferencedROINumber) == numbers[roi_name]), None)
    nz, ny, nx = volume.shape
    mask = np.zeros((nz, ny, nx), dtype=bool)
    if contour_item is None:
        return mask
    dz, dy, dx = volume.spacing_mm
    ox, oy = volume.origin_mm[0], volume.origin_mm[1]
    positions = np.asarray(volume.slice_positions_mm, dtype=float)
    local_half = np.diff(positions, prepend=positions[0] - dz, append=positions[-1] + dz)
    half_spacing = 0.5 * np.minimum(local_half[:-1], local_half[1:])
    planes: dict[int, list[np.ndarray]] = {}
    clipped = 0
    for contour in contour_item.get("ContourSequence", []) or []:
        if str(contour.get("ContourGeometricType", "")) != "CLOSED_PLANAR":
            continue  # POINT and OPEN contours enclose nothing
        points = np.asarray(contour.ContourData, dtype=float).reshape(-1, 3)
        if len(points) < 3:
            continue
        z = float(points[:, 2].mean())
        if np.ptp(points[:, 2]) > 0.5 * float(np.median(half_spacing)):
            raise GtvError(f"{source}: a contour of ROI {roi_name!r} is not planar "
                           f"(z spans {np.ptp(points[:, 2]):.2f} mm); expected axial CLOSED_PLANAR contours")
        k = int(np.argmin(np.abs(positions - z)))
        if abs(positions[k] - z) > half_spacing[k] + 1e-3:
            raise GtvError(f"{source}: a contour of ROI {roi_name!r} at z = {z:.2f} mm lies on no slice of the CT "
                           f"(nearest {positions[k]:.2f} mm); expected contours on slice planes")
        rc = np.stack([(points[:, 1] - oy) / dy, (points[:, 0] - ox) / dx], axis=1)
        outside = (rc[:, 0] < -0.5) | (rc[:, 0] > ny - 0.5) | (rc[:, 1] < -0.5) | (rc[:, 1] > nx - 0.5)
        clipped += int(outside.sum())
        planes.setdefault(k, []).append(rc)
    if return_polygons:
        return planes
    for k, polygons in planes.items():
        mask[k] = rasterise_polygons(polygons, (ny, nx))
    if clipped:
        warnings.warn(f"{source}: ROI {roi_name!r} has {clipped} contour points outside the field of view; "
                      "the mask is clipped to the image", stacklevel=2)
    return mask


def load_rtstruct_masks(path: str | os.PathLike, volume: Volume, roi_map: dict[str, list[str]],
                        required: tuple[str, ...] = (), keep_unmapped: bool = True) -> dict[str, np.ndarray]:
    """Rasterise the ROIs under canonical names; raise if a ``required`` one is absent.

    ROIs whose names map to no canonical name keep their own names (``keep_unmapped``) or are skipped.
    """
    ds = read_dataset(path)
    if ds.get("Modality") != "RTSTRUCT":
        raise GtvError(f"{path}: Modality is {ds.get('Modality')!r}; expected 'RTSTRUCT'")
    names = list(roi_numbers(ds))
    mapping = canonical_names(names, roi_map)
    missing = [name for name in required if name not in mapping.values()]
    if missing:
        raise GtvError(f"{path}: no ROI maps to {missing}; the ROIs present are {sorted(names)} "
                       "(extend the manifest's roi_map if a name differs)")
    if keep_unmapped:
        mapping.update({name: name for name in names if name not in mapping and name not in mapping.values()})
    return {canonical: rasterise_roi(ds, name, volume) for name, canonical in mapping.items()}


# --------------------------------------------------------------------------- writing

def contours_from_field(signed_distance: np.ndarray) -> list[np.ndarray]:
    """Closed level-0 contours of a 2-D field sampled at pixel centres, as (n, 2) (row, column) arrays.

    The field is padded with positive values so that every contour closes; contours of a field that is
    negative inside run between inside and outside pixel centres, so the pixel-centre rule recovers
    the sampled set.
    """
    import contourpy

    padded = np.pad(np.asarray(signed_distance, dtype=np.float64), 1, constant_values=1.0)
    generator = contourpy.contour_generator(z=padded, line_type=contourpy.LineType.Separate)
    polygons = []
    for line in generator.lines(0.0):
        points = np.asarray(line)[:, ::-1] - 1.0  # (x=column, y=row) → (row, column), undo the padding
        if len(points) > 1 and np.allclose(points[0], points[-1]):
            points = points[:-1]
        if len(points) >= 3:
            polygons.append(points)
    return polygons


def contours_from_mask(mask: np.ndarray) -> list[np.ndarray]:
    """Contours of a binary 2-D mask that rasterise back to exactly the mask (level 0.5 of the mask)."""
    return contours_from_field(0.5 - mask.astype(np.float64))


def rtstruct_dataset(ct_slices: list[Dataset], rois: list[dict], label: str = "GTVLIB",
                     series_uid: str | None = None, sop_uid: str | None = None) -> Dataset:
    """An RT Structure Set over the given CT slices (sorted along z).

    ``rois``: dicts with ``name``, ``number``, ``type`` (RT ROI Interpreted Type: GTV, ORGAN, …),
    ``colour`` (r, g, b) and ``planes``: {slice index: list of (row, column) polygons}.
    """
    from gtvlib.data.series import deterministic_uid, file_meta, patient_dataset

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
    import pydicom

    ds = rtstruct_dataset(ct_slices, rois, **kwargs)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path
