"""Reading DICOM files: one file into a dataset, required attributes, the DICOM files of a folder, and
pydicom's own real test files.

Conventions (see DATA.md in the project's shared notes): attributes are read by keyword
(``ds.ImagePositionPatient``), never by raw tag number; every failure caused by the input raises
:class:`gtvlib.GtvError` naming the file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from gtvlib.util.errors import GtvError

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # the SOP class of a DICOMDIR

# Files beside DICOM data that are surely not DICOM (notes, checksums, tables, arrays, pictures).
NOT_DICOM_SUFFIXES = {".txt", ".json", ".csv", ".md", ".yaml", ".yml", ".npy", ".npz", ".png", ".jpg"}


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
        dataset = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        dataset = None
    except Exception as exc:  # truncated or corrupt files raise assorted errors inside pydicom
        raise GtvError(f"{path}: not a readable DICOM file ({type(exc).__name__}: {exc})") from exc
    if dataset is not None:
        if str(getattr(dataset.file_meta, "MediaStorageSOPClassUID", "")) == MEDIA_STORAGE_DIRECTORY:
            raise GtvError(f"{path}: a DICOMDIR (an index of files), not an image or structure set")
        if "SOPClassUID" not in dataset or "Modality" not in dataset:
            raise GtvError(f"{path}: incomplete DICOM file (no SOP Class UID or Modality: truncated, or not an "
                           "image or structure set); expected a complete DICOM object")
        return dataset
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


def source_of(ds: Dataset) -> str:
    """The file a dataset came from, for error messages."""
    return str(getattr(ds, "filename", None) or "<in-memory dataset>")


def require(ds: Dataset, keyword: str):
    """Return ``ds.<keyword>``, or raise :class:`GtvError` naming the file and the missing attribute."""
    if keyword not in ds or ds[keyword].value in (None, ""):
        raise GtvError(f"{source_of(ds)}: attribute {keyword} is missing or empty (required here)")
    return ds[keyword].value


def dicom_files(folder: str | os.PathLike) -> list[Path]:
    """The files of a folder that may be DICOM objects (every regular file except hidden ones, obvious
    non-DICOM and a DICOMDIR index), sorted."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in NOT_DICOM_SUFFIXES
                  and p.name.upper() != "DICOMDIR")


def has_dicom_preamble(path: str | os.PathLike) -> bool:
    """True when the file starts with the 128-byte preamble and ``DICM`` (a Part 10 file, even a broken one)."""
    with Path(path).open("rb") as handle:
        return handle.read(132)[128:] == b"DICM"
