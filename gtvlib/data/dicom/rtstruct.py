"""Reading RT Structure Sets: what an RTSTRUCT holds, its contours, and its ROIs rasterised onto a CT volume.

Rasterisation follows :mod:`gtvlib.data.dicom.contours` (pixel centres, top-left rule, even–odd). Beyond
one plane:

* A contour's plane is matched to the slice whose actual position along the normal is nearest, within
  half the local slice spacing; ContourImageSequence is not trusted for this. Two contour planes of one
  ROI that land on the same slice are an error (even–odd filling would cut one out of the other).
* ROIs are joined across sequences by ROI number (never by list position); ROI names and numbers must be
  unique, and every contour item must refer to a defined ROI. POINT contours and contours of fewer than
  three points are skipped. Points outside the field of view are clipped, with a warning.
* The structure set must belong to the CT: its frames of reference and the images its contours refer to
  (where it names them). A required ROI that rasterises to nothing is an error that says why.
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
from pydicom.dataset import Dataset

from gtvlib.data.dicom.contours import rasterise_polygons
from gtvlib.data.dicom.files import read_dataset, require, source_of
from gtvlib.data.volume import Volume
from gtvlib.util.errors import GtvError


def _roi_number(item: Dataset, keyword: str, source: str) -> int:
    """An ROI number attribute (ROINumber, ReferencedROINumber) as an int, or a :class:`GtvError` naming it."""
    value = item.get(keyword)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise GtvError(f"{source}: {keyword} {value!r} is not an integer; expected an ROI number") from None


def roi_numbers(ds: Dataset) -> dict[str, int]:
    """ROI name → ROI number, from StructureSetROISequence; names and numbers must each be unique (two ROIs
    with one name, or one number, would make every later join ambiguous)."""
    pairs = []
    for item in require(ds, "StructureSetROISequence"):
        if "ROINumber" not in item or item.ROINumber in (None, ""):
            raise GtvError(f"{source_of(ds)}: ROI {str(item.get('ROIName', '?'))!r} has no ROINumber; expected one per ROI")
        pairs.append((str(item.get("ROIName", "")), _roi_number(item, "ROINumber", source_of(ds))))
    for index, label in ((0, "name"), (1, "number")):
        values = [pair[index] for pair in pairs]
        repeated = sorted({value for value in values if values.count(value) > 1}, key=str)
        if repeated:
            raise GtvError(f"{source_of(ds)}: ROI {label} {repeated[0]!r} is used by {values.count(repeated[0])} ROIs; "
                           f"expected every ROI {label} to be unique")
    return dict(pairs)


def check_structure_set(ds: Dataset, volume: Volume) -> None:
    """Whole-file checks of an RTSTRUCT against the CT it claims to belong to: every contour item refers to a
    defined ROI, the referenced frames of reference include the CT's, and referenced images are in the series."""
    source = source_of(ds)
    defined = set(roi_numbers(ds).values())
    for item in ds.get("ROIContourSequence", []):
        if "ReferencedROINumber" not in item or _roi_number(item, "ReferencedROINumber", source) not in defined:
            raise GtvError(f"{source}: a ROIContourSequence item refers to ROI number "
                           f"{item.get('ReferencedROINumber', 'none')}, which StructureSetROISequence does not define "
                           f"(defined: {sorted(defined)})")
    frame = volume.metadata.get("frame_of_reference_uid")
    frames = {str(item.FrameOfReferenceUID) for item in ds.get("ReferencedFrameOfReferenceSequence", [])
              if "FrameOfReferenceUID" in item}
    per_roi = {str(item.ReferencedFrameOfReferenceUID) for item in ds.get("StructureSetROISequence", [])
               if item.get("ReferencedFrameOfReferenceUID")}
    if not frames and not per_roi:
        raise GtvError(f"{source}: the structure set names no frame of reference (neither ReferencedFrameOfReferenceSequence "
                       "nor ReferencedFrameOfReferenceUID of its ROIs); expected the CT's, so the contours can be placed")
    if frame and frames and frame not in frames:
        raise GtvError(f"{source}: the structure set refers to {len(frames)} frame(s) of reference, none of them the CT "
                       "series' own; expected the RTSTRUCT drawn on this CT")
    images = set(volume.metadata.get("sop_instance_uids", []))
    if images:
        foreign = sum(1 for item in ds.get("ROIContourSequence", []) for contour in item.get("ContourSequence", []) or []
                      for reference in contour.get("ContourImageSequence", []) or []
                      if str(reference.get("ReferencedSOPInstanceUID", "")) not in images)
        if foreign:
            raise GtvError(f"{source}: {foreign} contour(s) refer to images that are not in this CT series; expected "
                           "the RTSTRUCT drawn on this series (another series or an edited export?)")


def roi_number(ds: Dataset, roi_name: str) -> int:
    """The ROI number of ``roi_name``; a :class:`GtvError` listing the ROI names present when it is absent."""
    numbers = roi_numbers(ds)
    if roi_name not in numbers:
        raise GtvError(f"{source_of(ds)}: no ROI named {roi_name!r}; the ROIs present are {sorted(numbers)}")
    return numbers[roi_name]


def roi_contour_item(ds: Dataset, number: int) -> Dataset | None:
    """The ROIContourSequence item of ROI ``number`` (joined by ReferencedROINumber), or None."""
    return next((item for item in ds.get("ROIContourSequence", [])
                 if _roi_number(item, "ReferencedROINumber", source_of(ds)) == number), None)


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


def rtstruct_rois(ds: Dataset):
    """What an RTSTRUCT holds, one row per ROI, joined by ROI number (never by list position).

    Columns: roi_number, name, interpreted_type (from RT ROI Observations), generation_algorithm,
    contours (count), geometric_types (e.g. ``CLOSED_PLANAR×3``), points (total), planes (distinct
    contour planes along z, mm).
    """
    import pandas as pd

    if ds.get("Modality") != "RTSTRUCT":
        raise GtvError(f"{source_of(ds)}: Modality is {ds.get('Modality')!r}; expected 'RTSTRUCT'")
    source = source_of(ds)
    contours_by_number = {_roi_number(item, "ReferencedROINumber", source): item for item in ds.get("ROIContourSequence", [])}
    types_by_number = {
        _roi_number(item, "ReferencedROINumber", source): item.get("RTROIInterpretedType", "")
        for item in ds.get("RTROIObservationsSequence", [])
    }
    rows = []
    for roi in require(ds, "StructureSetROISequence"):
        number = _roi_number(roi, "ROINumber", source)
        contours = list(getattr(contours_by_number.get(number), "ContourSequence", []) or [])
        kinds: dict[str, int] = {}
        points = 0
        planes = set()
        for contour in contours:
            kind = str(contour.get("ContourGeometricType", "?"))
            kinds[kind] = kinds.get(kind, 0) + 1
            data = contour_values(contour).reshape(-1, 3)
            points += len(data)
            if len(data):
                planes.add(round(float(data[0, 2]), 3))
        rows.append(
            (
                number,
                str(roi.get("ROIName", "")),
                str(types_by_number.get(number, "")),
                str(roi.get("ROIGenerationAlgorithm", "")),
                len(contours),
                ", ".join(f"{kind}×{count}" for kind, count in sorted(kinds.items())) or "—",
                points,
                len(planes),
            )
        )
    return pd.DataFrame(
        rows,
        columns=["roi_number", "name", "interpreted_type", "generation_algorithm", "contours", "geometric_types", "points", "planes"],
    )


def rtstruct_contours(ds: Dataset, roi_name: str) -> list[tuple[str, np.ndarray]]:
    """Contours of one ROI as ``(geometric type, points)`` with points of shape (n, 3) in mm (LPS).

    Raises :class:`GtvError` listing the ROI names present when ``roi_name`` is not among them.
    """
    item = roi_contour_item(ds, roi_number(ds, roi_name))
    if item is None:
        return []
    return [(str(contour.ContourGeometricType), contour_values(contour).reshape(-1, 3))
            for contour in item.get("ContourSequence", []) or []]


# Two contours of one ROI count as one plane when their z differ by at most this fraction of the slice spacing.
PLANE_TOLERANCE = 0.1


def contour_values(contour: Dataset) -> np.ndarray:
    """ContourData of one contour as a flat float64 array (empty when absent or empty).

    A value not converted yet is parsed from its bytes in one numpy call: pydicom would build and validate
    one decimal-string object per coordinate, most of an RTSTRUCT's reading time. ValueError when a value
    is not a number.
    """
    if "ContourData" not in contour:
        return np.empty(0)
    value = contour.get_item("ContourData").value
    if isinstance(value, bytes):
        text = value.strip(b" \x00")
        return np.array(text.split(b"\\"), dtype=np.float64) if text else np.empty(0)
    return np.empty(0) if value in (None, "") else np.asarray(value, dtype=np.float64).ravel()


def contour_points(contour: Dataset, source: str, roi_name: str) -> np.ndarray:
    """ContourData of one contour as finite (n, 3) points in mm, or a :class:`GtvError` naming the ROI."""
    try:
        values = contour_values(contour)
    except (TypeError, ValueError):
        raise GtvError(f"{source}: a contour of ROI {roi_name!r} has non-numeric ContourData; expected x, y, z triplets (mm)") from None
    if values.size % 3 or not np.all(np.isfinite(values)):
        raise GtvError(f"{source}: a contour of ROI {roi_name!r} has {values.size} ContourData values"
                       + (" with non-finite ones" if values.size % 3 == 0 else "")
                       + "; expected finite x, y, z triplets (mm)")
    return values.reshape(-1, 3)


def empty_reason(ds: Dataset, roi_name: str, volume: Volume) -> str:
    """Why an ROI rasterises to no voxel of ``volume``, in words."""
    item = roi_contour_item(ds, roi_number(ds, roi_name))
    contours = list(item.get("ContourSequence", []) or []) if item is not None else []
    if not contours:
        return "it has no contours"
    closed = [c for c in contours if str(c.get("ContourGeometricType", "")) == "CLOSED_PLANAR"]
    if not closed:
        kinds = sorted({str(c.get("ContourGeometricType", "?")) for c in contours})
        return f"its {len(contours)} contour(s) are {', '.join(kinds)}, which enclose nothing (expected CLOSED_PLANAR)"
    points = [contour_points(c, source_of(ds), roi_name) for c in closed]
    if all(len(p) < 3 for p in points):
        return "every closed contour has fewer than 3 points"
    ny, nx = volume.shape[1:]
    dz, dy, dx = volume.spacing_mm
    ox, oy = volume.origin_xyz_mm[0], volume.origin_xyz_mm[1]
    xyz = np.concatenate(points)
    rows, columns = (xyz[:, 1] - oy) / dy, (xyz[:, 0] - ox) / dx
    if np.all((rows < -0.5) | (rows > ny - 0.5) | (columns < -0.5) | (columns > nx - 0.5)):
        return "all its contour points lie outside the CT's field of view"
    return "its contours enclose no pixel centre (smaller than a pixel)"


def rasterise_roi(ds: Dataset, roi_name: str, volume: Volume, return_polygons: bool = False):
    """Rasterise one ROI of an RTSTRUCT onto ``volume``'s grid: bool (z, y, x).

    With ``return_polygons`` the matched contours are returned instead: {slice index: [(row, column)
    polygons]}, e.g. for :func:`~gtvlib.data.dicom.contours.coverage_fraction`.
    """
    source = source_of(ds)
    number = roi_number(ds, roi_name)
    frame = volume.metadata.get("frame_of_reference_uid")
    referenced = {str(item.ReferencedFrameOfReferenceUID) for item in ds.get("StructureSetROISequence", [])
                  if _roi_number(item, "ROINumber", source) == number and "ReferencedFrameOfReferenceUID" in item}
    if frame and referenced and frame not in referenced:
        raise GtvError(f"{source}: ROI {roi_name!r} is drawn in another frame of reference than the CT series; "
                       "expected the same frame of reference")
    contour_item = roi_contour_item(ds, number)
    nz, ny, nx = volume.shape
    mask = np.zeros((nz, ny, nx), dtype=bool)
    if contour_item is None:
        return mask
    dz, dy, dx = volume.spacing_mm
    ox, oy = volume.origin_xyz_mm[0], volume.origin_xyz_mm[1]
    positions = np.asarray(volume.slice_positions_mm, dtype=float)
    local_half = np.diff(positions, prepend=positions[0] - dz, append=positions[-1] + dz)
    half_spacing = 0.5 * np.minimum(local_half[:-1], local_half[1:])
    planes: dict[int, list[np.ndarray]] = {}
    plane_z: dict[int, float] = {}  # the z of the first contour mapped to each slice
    clipped = 0
    for number, contour in enumerate(contour_item.get("ContourSequence", []) or [], start=1):
        points = contour_points(contour, source, roi_name)
        for keyword, present in (("ContourGeometricType", contour.get("ContourGeometricType") not in (None, "")),
                                 ("ContourData", points.size > 0)):
            if not present:
                raise GtvError(f"{source}: contour {number} of ROI {roi_name!r} has no {keyword} (Type 1); expected "
                               "every contour to say its kind and its points")
        if str(contour.ContourGeometricType) != "CLOSED_PLANAR":
            continue  # POINT and OPEN contours enclose nothing
        if len(points) < 3:
            raise GtvError(f"{source}: contour {number} of ROI {roi_name!r} is CLOSED_PLANAR with {len(points)} point(s); "
                           "expected at least 3 (a polygon; a single marked point is a POINT contour)")
        z = float(points[:, 2].mean())
        if np.ptp(points[:, 2]) > 0.5 * float(np.median(half_spacing)):
            raise GtvError(f"{source}: a contour of ROI {roi_name!r} is not planar "
                           f"(z spans {np.ptp(points[:, 2]):.2f} mm); expected axial CLOSED_PLANAR contours")
        k = int(np.argmin(np.abs(positions - z)))
        if abs(positions[k] - z) > half_spacing[k] + 1e-3:
            raise GtvError(f"{source}: a contour of ROI {roi_name!r} at z = {z:.2f} mm lies on no slice of the CT "
                           f"(nearest {positions[k]:.2f} mm); expected contours on slice planes")
        if k in plane_z and abs(plane_z[k] - z) > PLANE_TOLERANCE * 2 * half_spacing[k]:
            raise GtvError(f"{source}: contours of ROI {roi_name!r} at z = {plane_z[k]:.2f} and {z:.2f} mm both map to the "
                           f"slice at {positions[k]:.2f} mm, where even–odd filling would cut one out of the other; "
                           "expected one contour plane per slice (contours between slices, e.g. interpolated ones?)")
        plane_z.setdefault(k, z)
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
    for canonical in set(mapping.values()):
        sources = sorted(name for name, target in mapping.items() if target == canonical)
        if len(sources) > 1:
            raise GtvError(f"{path}: ROIs {sources} all map to {canonical!r}; expected one ROI per canonical name "
                           "(rename or remove the others, or narrow the manifest's roi_map)")
    if keep_unmapped:
        mapping.update({name: name for name in names if name not in mapping and name not in mapping.values()})
    check_structure_set(ds, volume)
    masks = {canonical: rasterise_roi(ds, name, volume) for name, canonical in mapping.items()}
    for name, canonical in mapping.items():
        if canonical in required and not masks[canonical].any():
            raise GtvError(f"{path}: required ROI {canonical!r} (named {name!r}) is empty on this CT: "
                           f"{empty_reason(ds, name, volume)}")
    return masks
