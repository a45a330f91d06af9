"""CT series on disk: reading a folder of slices into a :class:`~gtvlib.data.volume.Volume`.

Slices are sorted by ImagePositionPatient projected on the slice normal (never by InstanceNumber,
SliceLocation or file name) and converted to HU; reading checks what later stages rely on: one series per
folder, axial orientation, identical geometry on every slice, and uniform spacing without gaps.
(Writing a series: :func:`gtvlib.data.dicom.writers.ct_datasets`.)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from gtvlib.data.dicom.files import dicom_files, read_dataset, require
from gtvlib.data.dicom.image import RESCALE_KEYWORDS, RESCALED_UNITS, image_plane, orientation_problem, rescaled_values
from gtvlib.data.volume import Volume
from gtvlib.util.errors import GtvError

# Slice spacing may vary by this fraction of the median before the series counts as non-uniform.
SPACING_TOLERANCE = 0.01
# A slice may lie this far (mm) beside the line through the first slice along the normal (position rounding).
SHEAR_TOLERANCE_MM = 0.1


def _series_label(ds: Dataset) -> str:
    """A series named without its UID (UIDs can link a file back to a hospital's archive)."""
    return f"series {ds.get('SeriesNumber', '?')} ({ds.get('SeriesDescription', 'no description')})"


def read_ct_slices(folder: str | os.PathLike, modality: str = "CT") -> list[Dataset]:
    """Read and validate every slice of ``modality`` (CT, or PT for a PET series) of a folder; return them sorted
    along the slice normal (see :func:`check_ct_slices`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GtvError(f"{folder}: no such folder (expected a folder of {modality} slices)")
    return check_ct_slices([read_dataset(path) for path in dicom_files(folder)], folder, modality)


def check_ct_slices(slices: list[Dataset], folder: str | os.PathLike, modality: str = "CT") -> list[Dataset]:
    """Validate the slices of one series (read from ``folder``) of ``modality`` (CT; PT: a PET series, by the same
    rules); return them sorted along the slice normal.

    Refused, each with a :class:`GtvError` naming the file or folder and the value: a DICOM file that cannot
    be read completely (never silently dropped), more than one series, any orientation but head-first supine
    axial (prone, feet-first, decubitus, gantry tilt, oblique), a stack whose slices drift in-plane (a gantry
    tilt written into the positions), geometry that differs between slices, and RescaleSlope or
    RescaleIntercept missing on some or all slices.
    """
    slices = [ds for ds in slices if ds.get("Modality") == modality]
    if not slices:
        raise GtvError(f"{folder}: no {modality} images found (expected .dcm files with Modality {modality})")
    for keyword in ("SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        for ds in slices:
            require(ds, keyword)  # Type 1: without it nothing can be matched to this slice
    frames = {str(ds.FrameOfReferenceUID) for ds in slices}
    if len(frames) > 1:
        raise GtvError(f"{folder}: the slices lie in {len(frames)} frames of reference; expected one per series")
    series = {str(ds.SeriesInstanceUID): ds for ds in slices}
    if len(series) > 1:
        raise GtvError(f"{folder}: {len(series)} {modality} series mixed in one folder "
                       f"({', '.join(sorted(_series_label(ds) for ds in series.values()))}); expected one series per folder")
    for keyword in RESCALE_KEYWORDS:
        without = [ds for ds in slices if ds.get(keyword) in (None, "")]
        if without:
            raise GtvError(f"{without[0].filename}: {keyword} missing on {len(without)} of {len(slices)} slices; "
                           f"expected it on every {modality} slice (without it the stored values are not "
                           f"{RESCALED_UNITS.get(modality, 'values')})")
    planes = [image_plane(ds) for ds in slices]
    first = planes[0]
    problem = orientation_problem(first)
    if problem:
        orientation = np.r_[first.row_direction, first.column_direction].round(4).tolist()
        raise GtvError(f"{folder}: ImageOrientationPatient {orientation} (PatientPosition "
                       f"{slices[0].get('PatientPosition', 'absent')}): {problem}; gtvlib reads head-first supine "
                       "axial series, [1, 0, 0, 0, 1, 0]: resample or reorient the series first")
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
    lowest = planes[order[0]].position_mm
    offsets = np.array([plane.position_mm - lowest for plane in planes])
    in_plane = np.linalg.norm(offsets - np.outer(offsets @ normal, normal), axis=1)
    worst = int(np.argmax(in_plane))
    if in_plane[worst] > SHEAR_TOLERANCE_MM:
        along = abs(float(offsets[worst] @ normal))
        raise GtvError(f"{slices[worst].filename}: this slice lies {in_plane[worst]:.2f} mm beside the first slice's "
                       f"column of positions, {along:.1f} mm above it (a gantry tilt of about "
                       f"{np.degrees(np.arctan2(in_plane[worst], along)):.1f}° written into ImagePositionPatient); "
                       f"expected every slice directly along the normal (within {SHEAR_TOLERANCE_MM} mm)")
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
    return volume_from_slices(read_ct_slices(folder), folder)


def load_pet_series(folder: str | os.PathLike) -> Volume:
    """A PET series folder, read by the CT's series rules, as a :class:`Volume` whose values (the ``hu`` array) are
    SUVbw computed from its headers (:mod:`gtvlib.data.dicom.pet`); ``metadata`` holds ``units`` ("SUVbw"), the SUV
    factor and the de-identified acquisition facts (weight, dose, uptake time, half-life)."""
    return volume_from_slices(read_ct_slices(folder, modality="PT"), folder)


def volume_from_slices(slices: list[Dataset], folder: str | os.PathLike) -> Volume:
    """A :class:`Volume` of validated slices sorted along the normal (:func:`check_ct_slices`), read from ``folder``:
    HU for a CT series; SUVbw for a PET series (:mod:`gtvlib.data.dicom.pet`), with ``metadata["units"]``."""
    planes = [image_plane(ds) for ds in slices]
    positions = np.array([float(p.position_mm @ planes[0].slice_normal) for p in planes])
    dz = slice_spacing_mm(positions, str(folder))
    first = slices[0]
    modality = str(first.get("Modality", ""))
    values = np.stack([rescaled_values(ds, modality) for ds in slices]).astype(np.float32)
    metadata = {
        "modality": modality,
        "series_instance_uid": str(first.SeriesInstanceUID),
        "frame_of_reference_uid": str(first.get("FrameOfReferenceUID", "")),
        "sop_instance_uids": [str(ds.SOPInstanceUID) for ds in slices],
        "patient_position": str(first.get("PatientPosition", "")),
        "manufacturer": str(first.get("Manufacturer", "")),
        "slice_thickness_mm": planes[0].slice_thickness_mm,
        "source": str(folder),
        "units": "HU",
    }
    if modality == "PT":
        from gtvlib.data.dicom.pet import suv_factor

        factor, acquisition = suv_factor(slices)
        values *= np.float32(factor)
        metadata.update(units="SUVbw", suv_per_bq_ml=factor, weight_kg=acquisition.weight_kg, dose_mbq=acquisition.dose_bq / 1e6,
                        uptake_min=acquisition.uptake_s / 60.0, half_life_s=acquisition.half_life_s)
    dy, dx = planes[0].pixel_spacing_mm
    return Volume(hu=values, spacing_mm=(dz, dy, dx), origin_xyz_mm=tuple(planes[0].position_mm.tolist()),
                  slice_positions_mm=positions, masks={}, metadata=metadata)
