"""Prompts a user gives the segment command, in patient coordinates (mm, DICOM LPS: x → the patient's left,
y → posterior, z → superior, as a planning system shows a point), and their per-slice boxes on the model grid.

* ``box=X0,Y0,Z0,X1,Y1,Z1``: two opposite corners of a box around the tumour; every slice between Z0 and Z1
  gets the box's cross-section as its box prompt.
* ``click=X,Y,Z,D``: a point in the tumour and its diameter D: a sphere around the point, whose cross-section
  on each slice it reaches gives that slice a square box (a looser prompt than a drawn box).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gtvlib.data.volume import Volume
from gtvlib.util.errors import GtvError

PROMPT_KINDS = {"box": 6, "click": 4}


@dataclass(frozen=True)
class UserPrompt:
    """``kind``: "box" or "click"; ``values``: the numbers in mm, as typed."""

    kind: str
    values: tuple[float, ...]

    def boxes_mm(self, slice_z_mm: np.ndarray) -> dict[int, tuple[float, float, float, float]]:
        """{slice index: (x0, y0, x1, y1) mm} on the slices (positions ``slice_z_mm``) the prompt reaches."""
        out = {}
        if self.kind == "box":
            x0, y0, z0, x1, y1, z1 = self.values
            for k, z in enumerate(slice_z_mm):
                if min(z0, z1) <= z <= max(z0, z1):
                    out[k] = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        else:
            x, y, zc, diameter = self.values
            for k, z in enumerate(slice_z_mm):
                if abs(z - zc) <= diameter / 2:
                    half = np.sqrt(max((diameter / 2) ** 2 - (z - zc) ** 2, 0.0))
                    out[k] = (x - half, y - half, x + half, y + half)
        return out


def parse_prompt(text: str) -> UserPrompt:
    """``box=X0,Y0,Z0,X1,Y1,Z1`` or ``click=X,Y,Z,D`` (mm) → :class:`UserPrompt`, or a :class:`GtvError`."""
    kind, _, numbers = str(text).partition("=")
    kind = kind.strip().lower()
    if kind not in PROMPT_KINDS:
        raise GtvError(f"prompt {text!r}: unknown kind {kind!r}; expected box=X0,Y0,Z0,X1,Y1,Z1 or click=X,Y,Z,D (mm)")
    try:
        values = tuple(float(v) for v in numbers.split(","))
    except ValueError:
        raise GtvError(f"prompt {text!r}: not a list of numbers; expected {kind}= followed by "
                       f"{PROMPT_KINDS[kind]} comma-separated values in mm") from None
    if len(values) != PROMPT_KINDS[kind] or not all(np.isfinite(values)):
        raise GtvError(f"prompt {text!r}: {len(values)} value(s); expected {PROMPT_KINDS[kind]} finite numbers in mm")
    if kind == "click" and values[3] <= 0:
        raise GtvError(f"prompt {text!r}: diameter {values[3]} mm; expected a positive diameter")
    if kind == "box" and (values[0] == values[3] or values[1] == values[4]):
        raise GtvError(f"prompt {text!r}: the box has no area in x–y; expected two opposite corners")
    return UserPrompt(kind, values)


def prompt_labels(prompts: list[UserPrompt], volume: Volume, grid) -> np.ndarray:
    """Box prompts as filled rectangles on the model grid, (z, size, size) bool: a box-prompted model draws its
    box from each slice's rectangle (a slice without one is not predicted). A prompt wholly outside the scan
    is a :class:`GtvError`."""
    labels = np.zeros((volume.shape[0], grid.size, grid.size), dtype=bool)
    x_origin, y_origin = volume.origin_xyz_mm[:2]
    dy, dx = volume.spacing_mm[1:]
    for prompt in prompts:
        boxes = prompt.boxes_mm(np.asarray(volume.slice_positions_mm, float))
        if not boxes:
            raise GtvError(f"prompt {prompt.kind}={','.join(f'{v:g}' for v in prompt.values)}: reaches no slice of the "
                           f"series (slices from {min(volume.slice_positions_mm):.1f} to "
                           f"{max(volume.slice_positions_mm):.1f} mm in z); expected z inside the scan")
        for k, (x0, y0, x1, y1) in boxes.items():
            rows, columns = grid.to_model_px(np.array([(y0 - y_origin) / dy, (y1 - y_origin) / dy]),
                                             np.array([(x0 - x_origin) / dx, (x1 - x_origin) / dx]))
            r0, r1 = int(np.clip(np.floor(rows[0] + 0.5), 0, grid.size - 1)), int(np.clip(np.ceil(rows[1] - 0.5), 0, grid.size - 1))
            c0, c1 = int(np.clip(np.floor(columns[0] + 0.5), 0, grid.size - 1)), int(np.clip(np.ceil(columns[1] - 0.5), 0, grid.size - 1))
            if rows[1] < -0.5 or rows[0] > grid.size - 0.5 or columns[1] < -0.5 or columns[0] > grid.size - 0.5:
                raise GtvError(f"prompt {prompt.kind}: on slice z = {volume.slice_positions_mm[k]:.1f} mm the box lies "
                               "outside the model's field of view; expected a box on the patient's anatomy")
            labels[k, r0:max(r1, r0) + 1, c0:max(c1, c0) + 1] = True
    return labels
