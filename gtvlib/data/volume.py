"""The one volume type every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Volume:
    """A CT volume with its structures.

    ``hu``: float32 (z, y, x) in HU, slices ordered along the slice normal (inferior → superior for
    axial head-first supine). ``spacing_mm``: (dz, dy, dx). ``origin_mm``: patient coordinates (x, y, z,
    LPS) of the centre of voxel (0, 0, 0). ``slice_positions_mm``: each slice's position along the
    normal (z). ``masks``: bool (z, y, x) per canonical ROI name. ``metadata``: de-identified facts
    (no names, IDs or dates of real patients).
    """

    hu: np.ndarray
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
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
        return float(self.masks[name].sum()) * self.voxel_volume_mm3 / 1000.0
