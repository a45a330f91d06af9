"""NIfTI volumes (MSD Task06 Lung, StructSeg2019 Task 4) read with SimpleITK into a :class:`Volume`.

Images are reoriented to DICOM LPS (x → left, y → posterior, z → superior) so that arrays are (z, y, x)
exactly as the DICOM loader returns them; spacing is read from the header (it varies per case).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from gtvlib.data.volume import Volume
from gtvlib.util.errors import GtvError

# The NIfTI-1 header (348 bytes): offsets and formats of dim, bitpix, pixdim and vox_offset. (The SimpleITK
# that gtvlib pins reads no NIfTI-2, so a 540-byte header is refused as not NIfTI-1.)
_LAYOUTS = {348: {"dim": (40, "8h"), "bitpix": (72, "h"), "pixdim": (76, "8f"), "vox_offset": (108, "f")}}


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")


def check_nifti_file(path: Path) -> None:
    """Refuse what SimpleITK would read silently wrong: a truncated file (ITK fills the missing voxels with
    zeros), a voxel size that is zero or not finite (ITK substitutes 1 mm), or a header that is not NIfTI."""
    try:
        with _open(path) as handle:
            header = handle.read(348)
    except (OSError, EOFError, zlib.error) as exc:
        raise GtvError(f"{path}: not a readable NIfTI file ({exc})") from None
    layout, order = None, "<"
    for order in ("<", ">"):
        size = struct.unpack(order + "i", header[:4])[0] if len(header) >= 4 else 0
        if size in _LAYOUTS and len(header) >= size:
            layout = _LAYOUTS[size]
            break
    if layout is None:
        raise GtvError(f"{path}: not a NIfTI-1 header (truncated, NIfTI-2, or another format); expected NIfTI-1")
    field = {name: struct.unpack_from(order + fmt, header, offset) for name, (offset, fmt) in layout.items()}
    dims = field["dim"][1:1 + field["dim"][0]]
    spacing = field["pixdim"][1:4]
    if not all(np.isfinite(spacing)) or any(value <= 0 for value in spacing[:min(3, len(dims))]):
        raise GtvError(f"{path}: voxel size (pixdim) {[float(v) for v in spacing]} mm is not positive and finite; "
                       "expected the spacing of every axis")
    expected = int(field["vox_offset"][0]) + int(np.prod(dims)) * field["bitpix"][0] // 8
    try:
        with _open(path) as handle:
            found = sum(len(block) for block in iter(lambda: handle.read(1 << 22), b""))
    except (OSError, EOFError, zlib.error):
        raise GtvError(f"{path}: the compressed stream is cut off (a truncated download?); expected a complete "
                       ".nii.gz file") from None
    if found < expected:
        raise GtvError(f"{path}: {found:,} bytes where the header announces {expected:,} (a truncated file); "
                       "expected the complete image")


def _read(path: Path):
    import SimpleITK as sitk

    if not path.is_file():
        raise GtvError(f"{path}: no such NIfTI file")
    check_nifti_file(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise GtvError(f"{path}: not a readable NIfTI image ({str(exc).strip().splitlines()[-1]})") from exc
    if image.GetDimension() != 3:
        raise GtvError(f"{path}: {image.GetDimension()}-D image; expected a 3-D volume")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise GtvError(f"{path}: {image.GetNumberOfComponentsPerPixel()} values per voxel; expected a scalar image "
                       "(one value per voxel)")
    oriented = sitk.DICOMOrient(image, "LPS")
    if not np.allclose(oriented.GetDirection(), np.eye(3).ravel(), atol=1e-3):
        raise GtvError(f"{path}: direction cosines {np.round(image.GetDirection(), 4).tolist()} are not along the "
                       "patient axes (an oblique acquisition); expected an axis-aligned image, resampled if need be")
    return oriented


def load_nifti(image_path: str | os.PathLike, label_path: str | os.PathLike | None = None,
               labels: dict[int, str] | None = None) -> Volume:
    """CT (HU) and, when given, a label image split into masks by ``labels`` (value → canonical name).

    MSD Task06 and StructSeg2019 Task 4 label the tumour 1: the default ``{1: "GTV-1"}``.
    """
    import SimpleITK as sitk

    image_path = Path(image_path)
    image = _read(image_path)
    hu = sitk.GetArrayFromImage(image).astype(np.float32)  # (z, y, x)
    spacing_xyz = image.GetSpacing()
    origin = image.GetOrigin()
    masks = {}
    if label_path is not None:
        label_path = Path(label_path)
        label = _read(label_path)
        if label.GetSize() != image.GetSize() or not np.allclose(label.GetSpacing(), spacing_xyz, atol=1e-4):
            raise GtvError(f"{label_path}: size {label.GetSize()} / spacing {label.GetSpacing()} differ from "
                           f"the image's {image.GetSize()} / {spacing_xyz}; expected the same grid")
        values = sitk.GetArrayFromImage(label)
        for value, name in (labels or {1: "GTV-1"}).items():
            masks[name] = values == value
    positions = origin[2] + np.arange(hu.shape[0]) * spacing_xyz[2]
    return Volume(hu=hu, spacing_mm=(spacing_xyz[2], spacing_xyz[1], spacing_xyz[0]), origin_xyz_mm=tuple(origin),
                  slice_positions_mm=positions, masks=masks,
                  metadata={"modality": "CT", "source": image_path.name, "format": "NIfTI"})


def write_nifti(array: np.ndarray, volume: Volume, path: str | os.PathLike, dtype) -> None:
    """(z, y, x) ``array`` as NIfTI with ``volume``'s spacing and origin (LPS, axis-aligned), via SimpleITK.
    Callers write into a staging folder that is moved in when everything is written (nothing half-written)."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=dtype))
    dz, dy, dx = volume.spacing_mm
    image.SetSpacing((float(dx), float(dy), float(dz)))
    image.SetOrigin(tuple(float(v) for v in volume.origin_xyz_mm))
    sitk.WriteImage(image, str(path), useCompression=True)


def hu_int16(volume: Volume) -> np.ndarray:
    """The volume's HU rounded into int16 (the storage type of CT exports)."""
    return np.clip(np.rint(volume.hu), -32768, 32767).astype(np.int16)


def write_case(volume: Volume, patient_id: str, image_path: str | os.PathLike, label_path: str | os.PathLike,
               label_name: str = "GTV-1") -> None:
    """One exported case: the CT as int16 HU and ``label_name`` as a 0/1 uint8 label on the same grid (the layout of
    nnU-Net, MSD and StructSeg alike)."""
    if label_name not in volume.masks:
        raise GtvError(f"patient {patient_id}: no {label_name} mask; expected every exported case to have one")
    write_nifti(hu_int16(volume), volume, image_path, np.int16)
    write_nifti(volume.masks[label_name], volume, label_path, np.uint8)
