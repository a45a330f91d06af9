"""Pixel boxes on slices: tight boxes, GTV-MFIT (GTV-SAMGAN, seed 000) and the HCF body crop (seed 001).

Boxes are half-open pixel ranges, rows [row0, row1) and columns [col0, col1); they are reported as
``[x0, y0, x1, y1]`` (column, row), the GTV-SAMGAN paper's format.

* **GTV-MFIT**: the smallest rectangle covering every *training* tumour slice's tight box (the paper's "minimal
  cropping size"), enlarged to a square whose side we round up to a multiple of a chosen number of pixels (the
  paper states no rounding: its two crops are 256 and 342 px), and applied unchanged to validation and test slices.
* **Body crop**: the bounding box of the body (HU > −500, largest component) ± 12 px. The paper crops every
  image to its own box and resizes it to 512²; :func:`body_square` takes the union over the training patients
  and makes it square instead, so that a cohort keeps one model grid with square pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gtvlib.util.errors import GtvError


@dataclass(frozen=True)
class Box:
    """Half-open pixel box: rows [row0, row1), columns [col0, col1)."""

    row0: int
    col0: int
    row1: int
    col1: int

    @property
    def height(self) -> int:
        return self.row1 - self.row0

    @property
    def width(self) -> int:
        return self.col1 - self.col0

    def as_xyxy(self) -> list[int]:
        """[x0, y0, x1, y1] (column, row), the format the GTV-SAMGAN paper reports."""
        return [self.col0, self.row0, self.col1, self.row1]

    def crop(self, array: np.ndarray) -> np.ndarray:
        """Crop the last two axes (rows, columns) of ``array``."""
        return array[..., self.row0:self.row1, self.col0:self.col1]


def tight_box(mask_2d: np.ndarray) -> Box | None:
    """Tight box of a 2-D mask, or None when it is empty."""
    rows, columns = np.nonzero(mask_2d)
    if rows.size == 0:
        return None
    return Box(int(rows.min()), int(columns.min()), int(rows.max()) + 1, int(columns.max()) + 1)


def mfit_box(training_masks: list[np.ndarray], image_shape: tuple[int, int], multiple: int = 64,
             min_side: int = 0) -> tuple[Box, Box]:
    """GTV-MFIT: (union of the training tumour slices' tight boxes, the square crop derived from it).

    ``training_masks``: (z, y, x) label volumes of the training patients only. The square's side is the
    union's longer side rounded up to ``multiple`` (at least ``min_side``, at most the image), centred on
    the union and shifted to stay inside the image.
    """
    boxes = [box for volume in training_masks for s in volume if (box := tight_box(s)) is not None]
    if not boxes:
        raise GtvError("GTV-MFIT needs at least one training slice with tumour; the training labels are empty")
    union = Box(min(b.row0 for b in boxes), min(b.col0 for b in boxes), max(b.row1 for b in boxes), max(b.col1 for b in boxes))
    rows, columns = image_shape
    side = max(union.height, union.width, min_side)
    side = min(int(math.ceil(side / multiple) * multiple), rows, columns)
    centre_row, centre_col = (union.row0 + union.row1) / 2, (union.col0 + union.col1) / 2
    row0 = int(np.clip(round(centre_row - side / 2), 0, rows - side))
    col0 = int(np.clip(round(centre_col - side / 2), 0, columns - side))
    return union, Box(row0, col0, row0 + side, col0 + side)


def body_box(hu: np.ndarray, margin_px: int = 12, threshold_hu: float = -500.0) -> Box:
    """HCF body crop: bounding box (± margin) of the largest connected region above ``threshold_hu``.

    ``hu``: (y, x) or (z, y, x); for a volume the box covers the body on every slice.
    """
    from gtvlib.util.components import largest_components

    body = np.asarray(hu) > threshold_hu
    if not body.any():
        raise GtvError("no body found (no pixel above the threshold); is the image in HU?")
    largest = largest_components(body, 1, "faces")
    if largest.ndim == 3:
        largest = largest.any(axis=0)
    box = tight_box(largest)
    rows, columns = largest.shape
    return Box(max(box.row0 - margin_px, 0), max(box.col0 - margin_px, 0),
               min(box.row1 + margin_px, rows), min(box.col1 + margin_px, columns))


def body_square(boxes: list[Box], image_shape: tuple[int, int]) -> Box:
    """The square crop around the union of (training patients') body boxes: side = the union's longer side
    (at most the image), centred on the union and shifted to stay inside the image."""
    if not boxes:
        raise GtvError("no body boxes: the body crop needs at least one training patient")
    union = Box(min(b.row0 for b in boxes), min(b.col0 for b in boxes), max(b.row1 for b in boxes), max(b.col1 for b in boxes))
    rows, columns = image_shape
    side = min(max(union.height, union.width), rows, columns)
    row0 = int(np.clip(round((union.row0 + union.row1 - side) / 2), 0, rows - side))
    col0 = int(np.clip(round((union.col0 + union.col1 - side) / 2), 0, columns - side))
    return Box(row0, col0, row0 + side, col0 + side)
