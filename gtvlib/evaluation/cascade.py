"""From per-slice predictions to a patient's 3-D result, and its scores: the classifier gate of a cascade, voting
over fold models, keeping the largest 3-D components, the gate's slice recall and precision, and the cascade table
per patient and fold with the paper's mean ± SD over folds (HCF, METHODS.md §2).

Masks are bool (z, y, x) on one patient's grid; slice decisions are bool (z,).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gtvlib.metrics import hd95, patient_row
from gtvlib.util.errors import GtvError

if TYPE_CHECKING:
    from gtvlib.data.slices.cache import SliceCache


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
    from gtvlib.util.components import largest_components as largest

    if connectivity not in (6, 26):
        raise GtvError(f"connectivity {connectivity!r}; expected 6 (faces) or 26 (faces, edges and corners)")
    return largest(mask, keep, "faces" if connectivity == 6 else "full")


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


def cascade_table(masks: dict[str, np.ndarray], cache: SliceCache, decisions: dict[str, np.ndarray] | None = None,
                  keep_components: int = 0) -> list[dict]:
    """Per-patient 3-D scores of a segmenter's masks (patient → (z, S, S) bool), alone and, with ``decisions``
    (patient → (z,) bool, a classifier's gate), through the cascade; with ``keep_components`` > 0 also after keeping
    that many largest 3-D components. Rows: the columns of :func:`gtvlib.metrics.patient_row`, variant, hd95_voxels (the
    authors' code measures voxels) and fp_slices (tumour-free slices with a prediction)."""
    rows = []
    for pid, mask in masks.items():
        label = np.asarray(cache.load(pid)[1], dtype=bool)
        spacing = cache.spacing_mm(pid)
        variants = {"segmenter alone": mask}
        if decisions is not None:
            variants["cascade"] = gate(mask, decisions[pid])
        if keep_components:
            last = list(variants)[-1]
            variants[f"{last} + {keep_components} largest components"] = largest_components(variants[last], keep_components)
        free = ~label.reshape(len(label), -1).any(axis=1)
        for variant, predicted in variants.items():
            rows.append({**patient_row(pid, predicted, label, spacing), "variant": variant,
                         "hd95_voxels": hd95(predicted, label, (1.0, 1.0, 1.0)),
                         "fp_slices": int((predicted.reshape(len(predicted), -1).any(axis=1) & free).sum())})
    return rows


def decisions_of(gate, cache, patient_ids: list[str]) -> dict[str, np.ndarray]:
    """A classifier evaluation's slice decisions per patient: patient → (z,) bool."""
    return {pid: gate.decisions(pid, len(cache.has_tumour(pid))) for pid in patient_ids}


def gated(masks: dict[str, np.ndarray], decisions: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """The cascade: every slice the classifier rejected emptied (``decisions`` None: the masks unchanged)."""
    return dict(masks) if decisions is None else {pid: gate(mask, decisions[pid]) for pid, mask in masks.items()}


def voted(masks_by_fold: list[dict[str, np.ndarray]], keep_components: int = 0) -> dict[str, np.ndarray]:
    """Fold voting (a voxel is GTV where more than half of the fold models mark it), then the ``keep_components``
    largest 3-D components (0: all)."""
    if not masks_by_fold:
        raise GtvError("no fold predictions to vote on")
    out = {}
    for pid in masks_by_fold[0]:
        mask = vote([masks[pid] for masks in masks_by_fold])
        out[pid] = largest_components(mask, keep_components) if keep_components else mask
    return out


def fold_scores(masks_by_fold: list[dict[str, np.ndarray]], cache, decisions_by_fold=None,
                keep_components: int = 0) -> pd.DataFrame:
    """Per fold and patient the 3-D scores of :func:`cascade_table` (the segmenter alone, and
    through fold k's gate when ``decisions_by_fold`` is given, and after keeping the largest components), with a
    ``fold`` column."""
    frames = []
    for fold, masks in enumerate(masks_by_fold):
        decisions = None if decisions_by_fold is None else decisions_by_fold[fold]
        frames.append(pd.DataFrame(cascade_table(masks, cache, decisions, keep_components)).assign(fold=fold))
    return pd.concat(frames, ignore_index=True)


def over_folds(scores: pd.DataFrame, metrics=("dice", "hd95_mm", "jaccard")) -> pd.DataFrame:
    """The paper's "mean ± SD over folds": per variant and fold the mean over patients (HD95 over patients where it
    is defined), then the mean and SD of those fold means; with ``folds`` and ``patients`` counts."""
    per_fold = scores.groupby(["variant", "fold"], sort=False)[list(metrics)].mean()
    summary = per_fold.groupby(level="variant", sort=False).agg(["mean", "std"])
    summary.columns = [f"{metric}_{stat if stat == 'mean' else 'sd'}" for metric, stat in summary.columns]
    summary["folds"] = per_fold.groupby(level="variant", sort=False).size()
    summary["patients"] = scores.groupby("variant", sort=False).patient.nunique()
    return summary
