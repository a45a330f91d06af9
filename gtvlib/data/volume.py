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
    the normal (z). ``masks``: bool (z, y, x) per canonical ROI name. ``metadata``: de-identified facts
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
