"""A torch Dataset over cached slices, with the seeded augmentation and box prompts that training uses.

Items are dicts: ``image`` (1, H, W) float32 in [0, 1], ``label`` (1, H, W) float32 in {0, 1}, ``patient``,
``slice_index`` and, when ``box_jitter_px`` is given, ``box`` (4,) float32 (x0, y0, x1, y1) pixels of the
label's largest component, shifted by up to ``box_jitter_px`` (SAM-Med2D's training prompt; 0 for none), or drawn
as a clinic draws it (``box_prompt``, a :class:`~gtvlib.prompts.BoxPrompt`: edges off by a physician's error, one
loose box per lesion, a box around a click).

Randomness is drawn from ``(seed, epoch, index)``: the same item in the same epoch is always the same, so a
run resumed from a checkpoint sees exactly the data an uninterrupted run would. Safe with DataLoader workers
(each worker opens its own memory maps).
"""

from __future__ import annotations

import numpy as np
import torch

from gtvlib.data.slices.cache import SliceCache
from gtvlib.prompts import BoxPrompt, box_from_mask, jitter_edges, lesion_box


class SliceDataset(torch.utils.data.Dataset):
    """Cached slices ``pairs`` = [(patient, slice index)], optionally augmented and with a box prompt.

    ``augment``: one of the 8 flips/transposes of the square, applied to image and label alike (seeded).
    ``shift_px``: a random translation of up to ± ``shift_px`` pixels in rows and columns, image and label
    alike (the image's edge rows and columns repeat into the uncovered border, the label is empty there);
    it keeps a model from memorising where each training tumour lies instead of following the prompt.
    Set :attr:`epoch` (or call :meth:`set_epoch`) before each epoch.
    """

    def __init__(self, cache: SliceCache, pairs: list[tuple[str, int]], seed: int = 0, augment: bool = False,
                 box_jitter_px: int | None = None, shift_px: int = 0, box_prompt: BoxPrompt | None = None):
        self.cache, self.pairs, self.seed, self.augment, self.box_jitter_px = cache, list(pairs), seed, augment, box_jitter_px
        self.shift_px = shift_px
        self.box_prompt = None if box_prompt is None or box_prompt.kind == "truth" else box_prompt
        self.epoch = 0
        self._open: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._lesions: dict[str, tuple | None] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        pid, k = self.pairs[index]
        if pid not in self._open:
            self._open[pid] = self.cache.load(pid)
        images, labels = self._open[pid]
        image, label = np.asarray(images[k], dtype=np.float32), np.asarray(labels[k], dtype=bool)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        box_mask = self._lesion_box_mask(pid, labels, k, rng) if self.box_prompt is not None else None
        if self.augment:
            flip_rows, flip_columns, transpose = rng.integers(0, 2, size=3)
            image, label = (flip_square(array, flip_rows, flip_columns, transpose) for array in (image, label))
            box_mask = None if box_mask is None else flip_square(box_mask, flip_rows, flip_columns, transpose)
        if self.shift_px > 0:
            shift = rng.integers(-self.shift_px, self.shift_px + 1, size=2)
            shifted = shift_image(label, shift, "constant")
            if shifted.any() or not label.any():  # a shift that pushes the tumour out of the field is not applied
                image, label = shift_image(image, shift, "edge"), shifted
                box_mask = None if box_mask is None else shift_image(box_mask, shift, "constant")
        item = {"image": torch.from_numpy(image)[None], "label": torch.from_numpy(label.astype(np.float32))[None],
                "patient": pid, "slice_index": k}
        if self.box_prompt is not None:
            lesion = box_mask if box_mask is not None and box_mask.any() else None
            item["box"] = torch.from_numpy(self.box_prompt.slice_box(label, self.cache.spacing_mm(pid)[1], rng, lesion))
        elif self.box_jitter_px is not None:
            item["box"] = torch.from_numpy(box_from_mask(label, self.box_jitter_px, rng))
        return item

    def _lesion_box_mask(self, pid: str, labels, k: int, rng) -> np.ndarray | None:
        """A ``lesion`` prompt's box on slice ``k`` as a mask (S, S) (to be flipped and shifted with the image), its
        edges jittered anew for this item; None for other prompts or off the lesion."""
        if self.box_prompt.kind != "lesion":
            return None
        if pid not in self._lesions:
            self._lesions[pid] = lesion_box(np.asarray(labels, bool))
        found = self._lesions[pid]
        if found is None or not found[1][k]:
            return None
        size = labels.shape[-1]
        x0, y0, x1, y1 = (int(v) for v in jitter_edges(found[0], self.box_prompt.edge_sd_mm / self.cache.spacing_mm(pid)[1],
                                                         rng, size))
        mask = np.zeros((size, size), bool)
        mask[y0:y1 + 1, x0:x1 + 1] = True
        return mask


def shift_image(array: np.ndarray, shift_rows_columns, padding: str) -> np.ndarray:
    """``array`` (H, W) translated by (rows, columns) pixels; the uncovered border is filled by ``padding``
    ("edge": the nearest edge value, "constant": zero)."""
    rows, columns = (int(v) for v in shift_rows_columns)
    height, width = array.shape
    padded = np.pad(array, ((abs(rows), abs(rows)), (abs(columns), abs(columns))), mode=padding)
    top, left = abs(rows) - rows, abs(columns) - columns
    return np.ascontiguousarray(padded[top:top + height, left:left + width])


def flip_square(array: np.ndarray, flip_rows: bool, flip_columns: bool, transpose: bool) -> np.ndarray:
    """One of the 8 symmetries of a square (H, W) array, as a contiguous copy."""
    array = array[::-1] if flip_rows else array
    array = array[:, ::-1] if flip_columns else array
    return np.ascontiguousarray(array.T if transpose else array)
