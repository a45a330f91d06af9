"""Where an image lies in the patient and what its pixels mean: image-plane geometry and Hounsfield units.

* ``PixelSpacing`` is ``[row spacing, column spacing]`` in mm: the distance between the centres of
  adjacent rows, then of adjacent columns;
* image arrays are ``(rows, columns)`` = ``(y, x)``; patient coordinates are DICOM LPS in mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from gtvlib.data.dicom.files import require, source_of
from gtvlib.util.errors import GtvError

# The attributes a CT slice needs before its pixels mean anything in space or in HU.
GEOMETRY_KEYWORDS: tuple[str, ...] = (
    "Modality",
    "Rows",
    "Columns",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "PatientPosition",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "BitsStored",
    "PixelRepresentation",
    "PixelPaddingValue",
    "WindowCenter",
    "WindowWidth",
)


@dataclass(frozen=True)
class ImagePlane:
    """Where one image lies in the patient (DICOM Image Plane module), in mm, LPS axes.

    ``row_direction`` is the direction of increasing column index (along a row), and
    ``column_direction`` the direction of increasing row index, as in ImageOrientationPatient.
    """

    position_mm: np.ndarray  # (3,) centre of the first transmitted pixel (row 0, column 0)
    row_direction: np.ndarray  # (3,) unit vector
    column_direction: np.ndarray  # (3,) unit vector
    pixel_spacing_mm: tuple[float, float]  # (row spacing, column spacing) = (dy, dx)
    slice_thickness_mm: float | None
    rows: int
    columns: int

    @property
    def slice_normal(self) -> np.ndarray:
        """Unit normal of the image plane (row × column direction); +z (superior) for axial HFS."""
        return np.cross(self.row_direction, self.column_direction)

    @property
    def is_axial(self) -> bool:
        """True when the plane is axial up to 1e-3 (normal along ±z)."""
        return bool(abs(abs(self.slice_normal[2]) - 1.0) < 1e-3)

    def pixel_to_patient(self, row: float, column: float) -> np.ndarray:
        """Patient coordinates (mm, LPS) of the centre of pixel (row, column), DICOM PS3.3 C.7.6.2.1.1."""
        dy, dx = self.pixel_spacing_mm
        return self.position_mm + column * dx * self.row_direction + row * dy * self.column_direction


def _numbers(ds: Dataset, keyword: str, count: int) -> np.ndarray:
    """``ds.<keyword>`` as ``count`` finite floats, or a :class:`GtvError` naming the file, attribute and value."""
    value = require(ds, keyword)
    try:
        numbers = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
    except (TypeError, ValueError):
        raise GtvError(f"{source_of(ds)}: {keyword} {value!r} is not numeric; expected {count} numbers") from None
    if numbers.size != count:
        raise GtvError(f"{source_of(ds)}: {keyword} has {numbers.size} values; expected {count}")
    if not np.all(np.isfinite(numbers)):
        raise GtvError(f"{source_of(ds)}: {keyword} {numbers.tolist()} holds non-finite values; expected finite numbers")
    return numbers


def image_plane(ds: Dataset) -> ImagePlane:
    """Read the image-plane geometry of one image (CT slice) with validation: finite numbers, positive
    spacing, two orthogonal unit direction vectors."""
    position = _numbers(ds, "ImagePositionPatient", 3)
    orientation = _numbers(ds, "ImageOrientationPatient", 6)
    spacing = _numbers(ds, "PixelSpacing", 2)
    if np.any(spacing <= 0):
        raise GtvError(f"{source_of(ds)}: PixelSpacing {spacing.tolist()} must be positive (mm)")
    row_dir, col_dir = orientation[:3], orientation[3:]
    if not (np.isclose(np.linalg.norm(row_dir), 1, atol=1e-3) and np.isclose(np.linalg.norm(col_dir), 1, atol=1e-3)
            and abs(float(row_dir @ col_dir)) < 1e-3):
        raise GtvError(
            f"{source_of(ds)}: ImageOrientationPatient {orientation.tolist()} is not two orthogonal unit vectors"
        )
    thickness = ds.get("SliceThickness")
    return ImagePlane(
        position_mm=position,
        row_direction=row_dir,
        column_direction=col_dir,
        pixel_spacing_mm=(float(spacing[0]), float(spacing[1])),
        slice_thickness_mm=float(thickness) if thickness not in (None, "") else None,
        rows=int(require(ds, "Rows")),
        columns=int(require(ds, "Columns")),
    )


RESCALE_KEYWORDS = ("RescaleSlope", "RescaleIntercept")

# The orientation every stage after reading assumes: rows run along +x (patient's left), columns along +y
# (posterior), slices along +z (superior): a head-first supine axial series.
HEAD_FIRST_SUPINE_AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
ORIENTATION_TOLERANCE = 1e-3  # direction cosines


def orientation_problem(plane: ImagePlane) -> str:
    """What is wrong with a plane's orientation for gtvlib, in words ("" for head-first supine axial)."""
    orientation = np.r_[plane.row_direction, plane.column_direction]
    if np.allclose(orientation, HEAD_FIRST_SUPINE_AXIAL, atol=ORIENTATION_TOLERANCE):
        return ""
    if plane.is_axial:
        return ("rows or columns run against the patient axes (a prone, feet-first or decubitus acquisition; "
                "gtvlib does not mirror images)")
    tilt = float(np.degrees(np.arctan2(plane.column_direction[2], plane.column_direction[1])))
    if np.allclose(plane.row_direction, (1.0, 0.0, 0.0), atol=ORIENTATION_TOLERANCE) and abs(tilt) < 45:
        return f"a gantry tilt of {tilt:.1f}° (the column direction leaves the axial plane)"
    return "an oblique or non-axial plane (coronal, sagittal or oblique)"
def ct_to_hu(ds: Dataset) -> np.ndarray:
    """Hounsfield units of one CT image: ``HU = stored value × RescaleSlope + RescaleIntercept``.

    Returns a float32 array of shape (rows, columns) = (y, x). RescaleSlope and RescaleIntercept are
    required (Type 1 in the CT Image module): without them the stored values do not say which HU they are
    (an intercept of −1024 left out shifts every value by 1,024 HU). Padding pixels (outside the
    reconstruction circle, ``PixelPaddingValue``) are converted like any other; see :func:`padding_mask`.
    """
    return rescaled_values(ds, "CT")


RESCALED_UNITS = {"CT": "Hounsfield units", "PT": "activity concentrations (the series' Units)"}


def rescaled_values(ds: Dataset, modality: str = "CT") -> np.ndarray:
    """``stored value × RescaleSlope + RescaleIntercept`` of one image of ``modality`` (CT: HU; PT: the series'
    Units, e.g. Bq/ml; PET slices usually carry a slope of their own), float32 (rows, columns)."""
    found = ds.get("Modality")
    if found != modality:
        raise GtvError(f"{source_of(ds)}: Modality is {found!r}; expected {modality!r} for conversion to "
                       f"{RESCALED_UNITS.get(modality, 'values')}")
    if "PixelData" not in ds:
        raise GtvError(f"{source_of(ds)}: no Pixel Data (was the file read with stop_before_pixels?)")
    try:
        stored = ds.pixel_array
    except Exception as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", syntax)
        raise GtvError(
            f"{source_of(ds)}: pixel data cannot be decoded (transfer syntax {name}): {exc}. "
            "Compressed data needs a decoder plugin (e.g. pylibjpeg with pylibjpeg-libjpeg); "
            "a truncated file needs to be exported again."
        ) from exc
    expected_shape = (int(require(ds, "Rows")), int(require(ds, "Columns")))
    if stored.shape != expected_shape:
        raise GtvError(
            f"{source_of(ds)}: pixel array has shape {stored.shape}; expected one frame of {expected_shape}"
        )
    missing = [keyword for keyword in RESCALE_KEYWORDS if ds.get(keyword) in (None, "")]
    if missing:
        raise GtvError(f"{source_of(ds)}: {' and '.join(missing)} missing; a {modality} image needs RescaleSlope and "
                       f"RescaleIntercept to give {RESCALED_UNITS.get(modality, 'values')} (the stored values alone "
                       "are ambiguous)")
    slope, intercept = (float(_numbers(ds, keyword, 1)[0]) for keyword in RESCALE_KEYWORDS)
    if slope <= 0:
        raise GtvError(f"{source_of(ds)}: RescaleSlope {slope:g} would map every stored value to the same or reversed "
                       f"{RESCALED_UNITS.get(modality, 'values')}; expected a positive slope")
    return (stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)


def padding_mask(ds: Dataset) -> np.ndarray:
    """Boolean (rows, columns) mask of pixels that hold ``PixelPaddingValue`` (no measured data)."""
    padding = ds.get("PixelPaddingValue")
    if padding is None:
        return np.zeros((int(ds.Rows), int(ds.Columns)), dtype=bool)
    return ds.pixel_array == padding
