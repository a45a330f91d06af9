"""NIfTI volumes (MSD Task06 Lung, StructSeg2019 Task 4) read with SimpleITK into a :class:`Volume`.

Images are reoriented to DICOM LPS (x → left, y → posterior, z → superior) so that arrays are (z, y, x)
exactly as the DICOM loader returns them; spacing is read from the header (it varies per case).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gtvlib.data.volume import Volume
from gtvlib.errors import GtvError


def _read(path: Path):
    import SimpleITK as sitk

    if not path.is_file():
        raise GtvError(f"{path}: no such NIfTI file")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise GtvError(f"{path}: not a readable NIfTI image ({str(exc).strip().splitlines()[-1]})") from exc
    if image.GetDimension() != 3:
        raise GtvError(f"{path}: {image.GetDimension()}-D image; expected a 3-D volume")
    return sitk.DICOMOrient(image, "LPS")


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
