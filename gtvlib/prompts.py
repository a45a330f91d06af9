"""Prompts for SAM-Med2D: boxes and points from a ground truth, clicks from errors, and prompts a clinic has.

Coordinates are pixels of the model input, (x, y) = (column, row), boxes (x0, y0, x1, y1) inclusive of
the tumour's extreme pixels. Masks are (H, W) bool arrays.

* Training box: the largest connected component's box, shifted by one random offset of up to ±5 px in
  x and in y, never more than half the box's shorter side (SAM-Med2D's jitter); no jitter at test time.
* Points: one random foreground pixel, or k points, half foreground (label 1) and half background (0).
* Iterative refinement: the next click is the pixel deepest inside the larger error region of the
  previous prediction (missed tumour → label 1, false positive → label 0).
* Without a ground truth: a box around a clicked point of a given size, or the box of another model's mask.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gtvlib.util.errors import GtvError


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a 2-D mask (empty stays empty)."""
    from gtvlib.util.components import largest_components

    return largest_components(mask, 1, "full")


def box_from_mask(mask: np.ndarray, jitter_px: int = 0, rng: np.random.Generator | None = None) -> np.ndarray:
    """(x0, y0, x1, y1) float box of the largest component, optionally shifted by one random offset."""
    component = largest_component(np.asarray(mask, dtype=bool))
    rows, columns = np.nonzero(component)
    if rows.size == 0:
        raise GtvError("no box can be drawn around an empty mask (use tumour slices, or a prompt without ground truth)")
    x0, y0, x1, y1 = columns.min(), rows.min(), columns.max(), rows.max()
    if jitter_px > 0:
        rng = rng or np.random.default_rng()
        limit = int(min(jitter_px, min(x1 - x0 + 1, y1 - y0 + 1) // 2))
        dx, dy = rng.integers(-limit, limit + 1, size=2) if limit > 0 else (0, 0)
        height, width = mask.shape
        x0, x1 = np.clip([x0 + dx, x1 + dx], 0, width - 1)
        y0, y1 = np.clip([y0 + dy, y1 + dy], 0, height - 1)
    return np.array([x0, y0, x1, y1], dtype=np.float32)


def sample_points(mask: np.ndarray, count: int = 1, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``count`` points (count, 2) as (x, y) and labels (count,): one foreground point, or half and half."""
    rng = rng or np.random.default_rng()
    mask = np.asarray(mask, dtype=bool)
    foreground, background = np.argwhere(mask), np.argwhere(~mask)
    if len(foreground) == 0:
        raise GtvError("no foreground pixel to sample a point from")
    n_fg = 1 if count == 1 else count - count // 2
    n_bg = count - n_fg
    chosen = [foreground[rng.integers(len(foreground), size=n_fg)], background[rng.integers(len(background), size=n_bg)]]
    points = np.concatenate(chosen)[:, ::-1].astype(np.float32)  # (row, col) → (x, y)
    return points, np.array([1] * n_fg + [0] * n_bg, dtype=np.int64)


def click_from_error(prediction: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, int] | None:
    """The next corrective click: the pixel deepest inside the larger error region, and its label.

    Returns None when the prediction is perfect.
    """
    missed = np.asarray(reference, bool) & ~np.asarray(prediction, bool)
    extra = np.asarray(prediction, bool) & ~np.asarray(reference, bool)
    if not missed.any() and not extra.any():
        return None
    region, label = (missed, 1) if missed.sum() >= extra.sum() else (extra, 0)
    depth = ndimage.distance_transform_edt(np.pad(largest_component(region), 1))[1:-1, 1:-1]
    row, column = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return np.array([column, row], dtype=np.float32), label


def box_around_point(point_xy, size_px: float, image_size: int) -> np.ndarray:
    """A square box of side ``size_px`` centred on a clicked point: a prompt a clinician can give."""
    x, y = point_xy
    half = size_px / 2
    return np.clip(np.array([x - half, y - half, x + half, y + half], dtype=np.float32), 0, image_size - 1)
