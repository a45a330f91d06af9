"""The one volume type every loader returns, and the one conversion from voxel counts to cm³.

Axis orders differ between arrays and patient coordinates, and the names say which:

* arrays and ``spacing_mm`` are **(z, y, x)**: slice, row, column (as numpy indexes them);
* ``origin_xyz_mm`` is a point in patient coordinates, **(x, y, z)**, DICOM LPS (x → the patient's left,
  y → posterior, z → superior), as ImagePositionPatient gives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def volume_cm3(voxels, spacing_mm) -> float:
    """Volume in cm³ of ``voxels`` on a grid of ``spacing_mm`` (mm, any axis order).

    ``voxels``: a boolean mask (its voxels are counted), an array of occupied fractions per voxel (summed:
    partial volume), or a number of voxels.
    """
    if isinstance(voxels, np.ndarray):
        amount = float(np.count_nonzero(voxels)) if voxels.dtype == bool else float(voxels.sum())
    else:
        amount = float(voxels)
    return amount * float(np.prod(spacing_mm)) / 1000.0


@dataclass
class Volume:
    """A CT volume with its structures.

    ``hu``: float32 (z, y, x) in HU, slices ordered along the slice normal (inferior → superior for
    axial head-first supine). ``spacing_mm``: (dz, dy, dx). ``origin_xyz_mm``: patient coordinates
    (x, y, z, LPS) of the centre of voxel (0, 0, 0). ``slice_positions_mm``: each slice's position along
    the normal (z). A PET series (``metadata["modality"]`` "PT") holds SUVbw in ``hu`` (``metadata["units"]``).
    ``masks``: bool (z, y, x) per canonical ROI name. ``metadata``: de-identified facts
    (no names, IDs or dates of real patients).
    """

    hu: np.ndarray
    spacing_mm: tuple[float, float, float]
    origin_xyz_mm: tuple[float, float, float]
    slice_positions_mm: np.ndarray
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.hu.shape)

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing_mm))

    def mask_volume_cm3(self, name: str) -> float:
        """Volume of one structure in cm³ (voxel count × voxel volume)."""
        return volume_cm3(self.masks[name], self.spacing_mm)


def resample_onto(values: np.ndarray, spacing_mm, origin_xyz_mm, target_shape, target_spacing_mm, target_origin_xyz_mm,
                  order: int = 1, outside: float = 0.0) -> np.ndarray:
    """``values`` (z, y, x) of one axial grid (``spacing_mm`` (dz, dy, dx), ``origin_xyz_mm`` (x, y, z) of voxel 0's
    centre) sampled at the voxel centres of another grid in the same frame of reference and orientation (e.g. a
    PET on its CT's grid): spline ``order`` 1 (trilinear) or 0 (nearest, for labels); ``outside`` where the target
    lies beyond the source's outer voxel centres by more than half a voxel. float32 of ``target_shape``."""
    from scipy import ndimage

    from gtvlib.util.errors import GtvError

    if order not in (0, 1):
        raise GtvError(f"order={order}; expected 0 (nearest) or 1 (trilinear)")
    if len(target_shape) != 3 or np.asarray(values).ndim != 3:
        raise GtvError(f"values of shape {np.shape(values)} onto {tuple(target_shape)}; expected two (z, y, x) grids")
    spacing, target_spacing = np.asarray(spacing_mm, float), np.asarray(target_spacing_mm, float)
    origin_zyx = np.asarray(origin_xyz_mm, float)[::-1]
    target_origin_zyx = np.asarray(target_origin_xyz_mm, float)[::-1]
    axes = [(target_origin_zyx[k] + np.arange(target_shape[k]) * target_spacing[k] - origin_zyx[k]) / spacing[k]
            for k in range(3)]  # target voxel centres in source voxel indices
    coordinates = np.meshgrid(*axes, indexing="ij")
    out = ndimage.map_coordinates(np.asarray(values, np.float32), coordinates, order=order, mode="nearest")
    beyond = np.zeros(tuple(target_shape), bool)
    for k, index in enumerate(coordinates):
        beyond |= (index < -0.5) | (index > np.shape(values)[k] - 0.5)
    out[beyond] = outside
    return out.astype(np.float32)
