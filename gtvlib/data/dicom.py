"""Reading DICOM: single files, image-plane geometry, Hounsfield units, RTSTRUCT contents, privacy.

Conventions (see DATA.md in the project's shared notes):

* attributes are read by keyword (``ds.ImagePositionPatient``), never by raw tag number;
* ``PixelSpacing`` is ``[row spacing, column spacing]`` in mm: the distance between the centres of
  adjacent rows, then of adjacent columns;
* image arrays are ``(rows, columns)`` = ``(y, x)``; patient coordinates are DICOM LPS in mm;
* every failure caused by the input raises :class:`gtvlib.GtvError` naming the file and the problem.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from gtvlib.errors import GtvError

# DICOM PS3.15 Annex E (basic application level confidentiality profile): the attributes of the
# kinds that occur in CT and RT files, grouped by why they identify a person. Their *values* are never
# printed, plotted or saved by gtvlib; UIDs and private tags are listed because they can link a file
# back to a hospital's archive even when names are gone.
IDENTIFYING_KEYWORDS: dict[str, str] = {
    "PatientName": "direct identifier",
    "PatientID": "direct identifier",
    "OtherPatientIDs": "direct identifier",
    "OtherPatientIDsSequence": "direct identifier",
    "OtherPatientNames": "direct identifier",
    "PatientBirthName": "direct identifier",
    "PatientMotherBirthName": "direct identifier",
    "PatientAddress": "direct identifier",
    "PatientTelephoneNumbers": "direct identifier",
    "MedicalRecordLocator": "direct identifier",
    "AccessionNumber": "direct identifier",
    "StudyID": "direct identifier",
    "PatientBirthDate": "date or demographic",
    "PatientBirthTime": "date or demographic",
    "PatientAge": "date or demographic",
    "PatientSex": "date or demographic",
    "PatientSize": "date or demographic",
    "PatientWeight": "date or demographic",
    "EthnicGroup": "date or demographic",
    "AdditionalPatientHistory": "date or demographic",
    "PatientComments": "date or demographic",
    "StudyDate": "date or demographic",
    "SeriesDate": "date or demographic",
    "AcquisitionDate": "date or demographic",
    "ContentDate": "date or demographic",
    "InstanceCreationDate": "date or demographic",
    "StructureSetDate": "date or demographic",
    "StudyTime": "date or demographic",
    "SeriesTime": "date or demographic",
    "AcquisitionTime": "date or demographic",
    "ContentTime": "date or demographic",
    "InstitutionName": "institution or staff",
    "InstitutionAddress": "institution or staff",
    "InstitutionalDepartmentName": "institution or staff",
    "ReferringPhysicianName": "institution or staff",
    "PerformingPhysicianName": "institution or staff",
    "PhysiciansOfRecord": "institution or staff",
    "OperatorsName": "institution or staff",
    "StationName": "institution or staff",
    "DeviceSerialNumber": "institution or staff",
    "StudyInstanceUID": "UID (links to the archive)",
    "SeriesInstanceUID": "UID (links to the archive)",
    "SOPInstanceUID": "UID (links to the archive)",
    "FrameOfReferenceUID": "UID (links to the archive)",
}

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


def read_dataset(path: str | os.PathLike, *, stop_before_pixels: bool = False) -> Dataset:
    """Read one DICOM file.

    A file without the 128-byte preamble and file meta header (as older exports and pydicom's own
    ``rtstruct.dcm`` are written) is accepted when it parses as a dataset with a SOP Class UID;
    anything else that is not DICOM raises :class:`GtvError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise GtvError(f"{path}: no such DICOM file (expected a path to an existing .dcm file)")
    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        pass
    except Exception as exc:  # truncated or corrupt files raise assorted errors inside pydicom
        raise GtvError(f"{path}: not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
    try:
        dataset = pydicom.dcmread(path, force=True, stop_before_pixels=stop_before_pixels)
    except Exception as exc:
        raise GtvError(f"{path}: not a DICOM file ({type(exc).__name__}: {exc})") from exc
    if "SOPClassUID" not in dataset:
        raise GtvError(
            f"{path}: not a DICOM file (no 'DICM' header, and it does not parse as a dataset "
            "with a SOP Class UID)"
        )
    return dataset


def pydicom_test_file(name: str) -> Path:
    """Path of one of the real DICOM test files that ship inside the pydicom package.

    ``name`` is e.g. ``"CT_small.dcm"`` (one 128×128 CT slice) or ``"rtstruct.dcm"``.
    """
    from pydicom.data import get_testdata_file

    found = get_testdata_file(name, download=False)
    if found is None:
        raise GtvError(
            f"{name!r}: not among the DICOM test files of pydicom {pydicom.__version__} "
            "(expected a name such as 'CT_small.dcm' or 'rtstruct.dcm')"
        )
    return Path(found)


def resolve_example_file(name_or_path: str | os.PathLike) -> Path:
    """An existing file path, or else the pydicom test file of that name (see :func:`pydicom_test_file`)."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if path.name == str(name_or_path):
        return pydicom_test_file(str(name_or_path))
    raise GtvError(f"{path}: no such file (expected a DICOM file path or a pydicom test file name)")


def _source(ds: Dataset) -> str:
    """The file a dataset came from, for error messages."""
    return str(getattr(ds, "filename", None) or "<in-memory dataset>")


def require(ds: Dataset, keyword: str):
    """Return ``ds.<keyword>``, or raise :class:`GtvError` naming the file and the missing attribute."""
    if keyword not in ds or ds[keyword].value in (None, ""):
        raise GtvError(f"{_source(ds)}: attribute {keyword} is missing or empty (required here)")
    return ds[keyword].value


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


def image_plane(ds: Dataset) -> ImagePlane:
    """Read the image-plane geometry of one image (CT slice) with validation."""
    position = np.asarray(require(ds, "ImagePositionPatient"), dtype=float)
    orientation = np.asarray(require(ds, "ImageOrientationPatient"), dtype=float)
    spacing = np.asarray(require(ds, "PixelSpacing"), dtype=float)
    if position.shape != (3,) or orientation.shape != (6,) or spacing.shape != (2,):
        raise GtvError(
            f"{_source(ds)}: malformed geometry (ImagePositionPatient has {position.size} values, "
            f"ImageOrientationPatient {orientation.size}, PixelSpacing {spacing.size}; expected 3, 6, 2)"
        )
    if np.any(spacing <= 0):
        raise GtvError(f"{_source(ds)}: PixelSpacing {spacing.tolist()} must be positive (mm)")
    row_dir, col_dir = orientation[:3], orientation[3:]
    if not (np.isclose(np.linalg.norm(row_dir), 1, atol=1e-3) and np.isclose(np.linalg.norm(col_dir), 1, atol=1e-3)):
        raise GtvError(
            f"{_source(ds)}: ImageOrientationPatient {orientation.tolist()} is not two unit vectors"
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


def ct_to_hu(ds: Dataset) -> np.ndarray:
    """Hounsfield units of one CT image: ``HU = stored value × RescaleSlope + RescaleIntercept``.

    Returns a float32 array of shape (rows, columns) = (y, x). A missing slope or intercept means
    1 and 0 (the identity, as the standard defines for CT when absent). Padding pixels (outside the
    reconstruction circle, ``PixelPaddingValue``) are converted like any other; see :func:`padding_mask`.
    """
    modality = ds.get("Modality")
    if modality != "CT":
        raise GtvError(f"{_source(ds)}: Modality is {modality!r}; expected 'CT' for conversion to HU")
    if "PixelData" not in ds:
        raise GtvError(f"{_source(ds)}: no Pixel Data (was the file read with stop_before_pixels?)")
    try:
        stored = ds.pixel_array
    except Exception as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", syntax)
        raise GtvError(
            f"{_source(ds)}: pixel data cannot be decoded (transfer syntax {name}): {exc}. "
            "Compressed data needs a decoder plugin (e.g. pylibjpeg with pylibjpeg-libjpeg); "
            "a truncated file needs to be exported again."
        ) from exc
    expected_shape = (int(require(ds, "Rows")), int(require(ds, "Columns")))
    if stored.shape != expected_shape:
        raise GtvError(
            f"{_source(ds)}: pixel array has shape {stored.shape}; expected one frame of {expected_shape}"
        )
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    return (stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)).astype(np.float32)


def padding_mask(ds: Dataset) -> np.ndarray:
    """Boolean (rows, columns) mask of pixels that hold ``PixelPaddingValue`` (no measured data)."""
    padding = ds.get("PixelPaddingValue")
    if padding is None:
        return np.zeros((int(ds.Rows), int(ds.Columns)), dtype=bool)
    return ds.pixel_array == padding


def _masked(keyword: str, value) -> str:
    """How an identifying value is shown: its presence and length, never its content."""
    text = "" if value is None else str(value)
    if keyword.endswith("Sequence"):
        return f"<withheld: sequence of {len(value)} item(s)>"
    return "<empty>" if text == "" else f"<withheld: {len(text)} characters>"


def header_table(ds: Dataset, keywords=GEOMETRY_KEYWORDS):
    """A pandas table (keyword, tag, VR, name, value) of the given attributes of ``ds``.

    Values of identifying attributes (:data:`IDENTIFYING_KEYWORDS`) are withheld: only their
    presence and length are shown. Absent attributes appear with value ``<absent>``.
    """
    import pandas as pd

    rows = []
    for keyword in keywords:
        if keyword in ds:
            element = ds[keyword]
            value = element.value
            shown = _masked(keyword, value) if keyword in IDENTIFYING_KEYWORDS else _plain(value)
            rows.append((keyword, f"({element.tag.group:04X},{element.tag.element:04X})", element.VR, element.name, shown))
        else:
            rows.append((keyword, "", "", "", "<absent>"))
    return pd.DataFrame(rows, columns=["keyword", "tag", "VR", "name", "value"])


def _plain(value) -> str:
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return "[" + ", ".join(f"{float(v):g}" if _is_number(v) else str(v) for v in value) + "]"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def identifying_elements(ds: Dataset):
    """Table of the identifying attributes present in ``ds`` (values withheld) and its private tags.

    Columns: keyword, category, value (presence and length only). Private tags are counted in one
    row per private creator block, because vendors hide identifiers there too.
    """
    import pandas as pd

    rows = [
        (keyword, category, _masked(keyword, ds[keyword].value))
        for keyword, category in IDENTIFYING_KEYWORDS.items()
        if keyword in ds
    ]
    private = [element for element in ds if element.tag.is_private]
    if private:
        groups = sorted({f"{element.tag.group:04X}" for element in private})
        rows.append((f"{len(private)} private elements", "private tags (vendor data)", f"groups {', '.join(groups)}"))
    return pd.DataFrame(rows, columns=["keyword", "category", "value"])


def deidentify(ds: Dataset, pseudonym: str = "ANONYMOUS") -> Dataset:
    """A copy of ``ds`` with identifying attributes removed or replaced, and private tags removed.

    Names and IDs become ``pseudonym``; dates, times, demographics, institution and staff attributes
    are removed. UIDs are kept so that CT, RTSTRUCT and SEG still reference each other (replace them
    consistently across a whole study before sharing outside the institution).
    """
    clean = copy.deepcopy(ds)
    clean.remove_private_tags()
    for keyword, category in IDENTIFYING_KEYWORDS.items():
        if keyword not in clean or category.startswith("UID"):
            continue
        if keyword in ("PatientName", "PatientID"):
            setattr(clean, keyword, pseudonym)
        else:
            delattr(clean, keyword)
    clean.PatientIdentityRemoved = "YES"
    return clean


def rtstruct_rois(ds: Dataset):
    """What an RTSTRUCT holds, one row per ROI, joined by ROI number (never by list position).

    Columns: roi_number, name, interpreted_type (from RT ROI Observations), generation_algorithm,
    contours (count), geometric_types (e.g. ``CLOSED_PLANAR×3``), points (total), planes (distinct
    contour planes along z, mm).
    """
    import pandas as pd

    if ds.get("Modality") != "RTSTRUCT":
        raise GtvError(f"{_source(ds)}: Modality is {ds.get('Modality')!r}; expected 'RTSTRUCT'")
    contours_by_number = {int(item.ReferencedROINumber): item for item in ds.get("ROIContourSequence", [])}
    types_by_number = {
        int(item.ReferencedROINumber): item.get("RTROIInterpretedType", "")
        for item in ds.get("RTROIObservationsSequence", [])
    }
    rows = []
    for roi in require(ds, "StructureSetROISequence"):
        number = int(roi.ROINumber)
        contours = list(getattr(contours_by_number.get(number), "ContourSequence", []) or [])
        kinds: dict[str, int] = {}
        points = 0
        planes = set()
        for contour in contours:
            kind = str(contour.get("ContourGeometricType", "?"))
            kinds[kind] = kinds.get(kind, 0) + 1
            data = np.asarray(contour.get("ContourData", []), dtype=float).reshape(-1, 3)
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
    names = {str(roi.ROIName): int(roi.ROINumber) for roi in require(ds, "StructureSetROISequence")}
    if roi_name not in names:
        raise GtvError(
            f"{_source(ds)}: no ROI named {roi_name!r}; the ROIs present are {sorted(names)}"
        )
    number = names[roi_name]
    for item in ds.get("ROIContourSequence", []):
        if int(item.ReferencedROINumber) == number:
            return [
                (str(contour.ContourGeometricType), np.asarray(contour.ContourData, dtype=float).reshape(-1, 3))
                for contour in item.get("ContourSequence", []) or []
            ]
    return []
