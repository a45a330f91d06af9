"""From per-slice predictions to a patient's 3-D result: the classifier gate of a cascade, voting over fold
models, keeping the largest 3-D components, and the gate's slice recall and precision (HCF, METHODS.md §2).

Masks are bool (z, y, x) on one patient's grid; slice decisions are bool (z,).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gtvlib.util.errors import GtvError


def gate(mask: np.ndarray, keep_slices: np.ndarray) -> np.ndarray:
    """The cascade: ``mask`` with every slice the classifier rejected emptied (SANet's output only where the
    classifier believes there is GTV)."""
    mask, keep_slices = np.asarray(mask, bool), np.asarray(keep_slices, bool)
    if keep_slices.shape != (mask.shape[0],):
        raise GtvError(f"{keep_slices.shape[0] if keep_slices.ndim == 1 else keep_slices.shape} slice decisions for a "
                       f"mask of {mask.shape[0]} slices; expected one decision per slice")
    return mask & keep_slices[:, None, None]


def vote(masks: list[np.ndarray]) -> np.ndarray:
    """Fold voting: a voxel is kept when more than half of the models mark it (3 of 5)."""
    if not masks:
        raise GtvError("no masks to vote on; expected one per fold model")
    shapes = {np.shape(m) for m in masks}
    if len(shapes) != 1:
        raise GtvError(f"fold masks of shapes {sorted(shapes)}; expected one grid")
    return np.sum([np.asarray(m, bool) for m in masks], axis=0) * 2 > len(masks)


def largest_components(mask: np.ndarray, keep: int = 3, connectivity: int = 26) -> np.ndarray:
    """The ``keep`` largest 3-D connected components of ``mask`` (``connectivity`` 6 or 26); components of equal
    size are ranked by their first voxel in array order."""
    if connectivity not in (6, 26):
        raise GtvError(f"connectivity {connectivity!r}; expected 6 (faces) or 26 (faces, edges and corners)")
    mask = np.asarray(mask, bool)
    structure = ndimage.generate_binary_structure(3, 1 if connectivity == 6 else 3)
    labels, count = ndimage.label(mask, structure)
    if count <= keep:
        return mask.copy()
    sizes = np.bincount(labels.ravel())[1:]
    ranked = np.argsort(-sizes, kind="stable")[:keep] + 1
    return np.isin(labels, ranked)


def slice_scores(decisions: np.ndarray, truth: np.ndarray) -> dict:
    """The gate's slice recall (tumour slices kept) and precision (kept slices that hold tumour), with counts;
    NaN where undefined (no tumour slice, or nothing kept)."""
    decisions, truth = np.asarray(decisions, bool), np.asarray(truth, bool)
    if decisions.shape != truth.shape:
        raise GtvError(f"{decisions.shape} decisions for {truth.shape} slices; expected one per slice")
    hits = int(np.count_nonzero(decisions & truth))
    kept, tumour = int(decisions.sum()), int(truth.sum())
    return {"recall": hits / tumour if tumour else float("nan"), "precision": hits / kept if kept else float("nan"),
            "tumour_slices": tumour, "kept_slices": kept, "hits": hits}
