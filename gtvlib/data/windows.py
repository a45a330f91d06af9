"""CT display windows (window/level) in Hounsfield units.

A window of centre ``c`` and width ``w`` maps HU linearly onto [0, 1] between ``c - w/2`` and
``c + w/2`` and clips outside: everything darker than the lower edge is black, everything brighter
than the upper edge is white. It decides what a reader (or a network) can tell apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gtvlib.util.errors import GtvError


@dataclass(frozen=True)
class WindowHU:
    """A display window in HU: centre (level) and width."""

    center: float
    width: float

    @property
    def lower(self) -> float:
        return self.center - self.width / 2

    @property
    def upper(self) -> float:
        return self.center + self.width / 2


# Clinical presets. The lung and mediastinal windows are the common radiotherapy defaults; the HCF
# paper (seed 001) clips to [-800, 400] HU before training, which is the `hcf_paper` window.
WINDOW_PRESETS_HU: dict[str, WindowHU] = {
    "lung": WindowHU(center=-600.0, width=1500.0),
    "mediastinal": WindowHU(center=40.0, width=400.0),
    "bone": WindowHU(center=400.0, width=1800.0),
    "hcf_paper": WindowHU(center=-200.0, width=1200.0),
}


def window_preset(name: str) -> WindowHU:
    """Look up a preset by name, with a clear error listing the presets that exist."""
    try:
        return WINDOW_PRESETS_HU[name]
    except KeyError:
        raise GtvError(f"window preset {name!r} is unknown; expected one of {sorted(WINDOW_PRESETS_HU)}") from None


def window_hu(hu: np.ndarray, center: float, width: float) -> np.ndarray:
    """Map HU to display intensity in [0, 1] (float32, same shape as ``hu``).

    ``hu``: array of any shape, in HU. ``center``, ``width``: the window in HU; width must be > 0.
    """
    if not width > 0:
        raise GtvError(f"window width {width!r} HU must be positive")
    lower = center - width / 2
    return np.clip((np.asarray(hu, dtype=np.float32) - np.float32(lower)) / np.float32(width), 0.0, 1.0)
