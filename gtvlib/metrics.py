"""Segmentation metrics in physical units, with an explicit policy for empty masks.

Masks are boolean arrays of any dimension (a slice (y, x) or a volume (z, y, x)); ``spacing_mm`` gives
the voxel size in the same axis order. HD95 is the larger of the two directed 95th percentiles of
surface-to-surface distances (as MONAI); ``hd95_pooled`` takes the 95th percentile of both directions
pooled (as medpy). Surfaces are the voxels removed by a one-voxel erosion (face connectivity).

Empty masks (DATA.md), never a silent NaN:

* reference and prediction empty (a correct "no tumour"): Dice = Jaccard = 1, sensitivity and HD95
  undefined (``nan``, flagged ``both_empty``);
* prediction empty, reference not (a missed tumour): Dice = Jaccard = sensitivity = 0, HD95 undefined
  (``nan``, flagged ``empty_prediction``) and counted by :func:`summarise`;
* reference empty, prediction not (a false alarm): Dice = Jaccard = 0, sensitivity and HD95 undefined
  (flagged ``empty_reference``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from gtvlib.util.errors import GtvError


def _check(prediction, reference, spacing_mm=None):
    prediction, reference = np.asarray(prediction, dtype=bool), np.asarray(reference, dtype=bool)
    if prediction.shape != reference.shape:
        raise GtvError(f"prediction shape {prediction.shape} differs from reference shape {reference.shape}")
    if spacing_mm is not None and len(spacing_mm) != prediction.ndim:
        raise GtvError(f"spacing_mm {tuple(spacing_mm)} has {len(spacing_mm)} values for {prediction.ndim}-D masks")
    return prediction, reference


def surface(mask: np.ndarray) -> np.ndarray:
    """Boundary voxels: the mask minus its one-voxel erosion (face connectivity), borders counted as outside."""
    eroded = ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(mask.ndim, 1), border_value=0)
    return mask & ~eroded


def joint_box(*masks: np.ndarray, margin: int = 1) -> tuple[slice, ...]:
    """The index box of every True voxel of ``masks`` (same shape), grown by ``margin`` voxels and clipped
    to the array: cropping to it changes no surface (a mask that reaches the crop's edge reaches the array's
    edge too) and no surface distance (every surface voxel lies inside it)."""
    union = np.logical_or.reduce([np.asarray(m, dtype=bool) for m in masks])
    box = []
    for axis in range(union.ndim):
        occupied = np.flatnonzero(union.any(axis=tuple(a for a in range(union.ndim) if a != axis)))
        if occupied.size == 0:
            return tuple(slice(0, 0) for _ in range(union.ndim))
        box.append(slice(max(int(occupied[0]) - margin, 0), min(int(occupied[-1]) + margin + 1, union.shape[axis])))
    return tuple(box)


def surface_distances(first: np.ndarray, second: np.ndarray, spacing_mm) -> tuple[np.ndarray, np.ndarray]:
    """(distances (mm) from each surface voxel of ``first`` to the nearest surface voxel of ``second``, and
    from ``second``'s to ``first``'s), both masks non-empty.

    The surfaces are found on the joint box of the two masks (:func:`joint_box`), and each distance is an
    exact Euclidean nearest-neighbour query of a k-d tree of the other surface's voxel centres in mm: the
    same values as a distance transform of the whole array (the definition; tested), without paying for
    every voxel of a CT volume."""
    from scipy.spatial import cKDTree

    box = joint_box(first, second)
    scale = np.asarray(spacing_mm, dtype=np.float64)
    first_points = np.argwhere(surface(np.asarray(first, dtype=bool)[box])) * scale
    second_points = np.argwhere(surface(np.asarray(second, dtype=bool)[box])) * scale
    to_second = cKDTree(second_points).query(first_points, workers=-1)[0]
    to_first = cKDTree(first_points).query(second_points, workers=-1)[0]
    return to_second, to_first


def _dice(overlap: int, predicted: int, reference: int) -> float:
    return 1.0 if predicted == reference == 0 else 2 * overlap / (predicted + reference)


def dice(prediction, reference) -> float:
    """Dice similarity coefficient 2|P ∩ R| / (|P| + |R|) of two masks; 1 when both are empty."""
    prediction, reference = _check(prediction, reference)
    return _dice(int(np.count_nonzero(prediction & reference)), int(np.count_nonzero(prediction)),
                 int(np.count_nonzero(reference)))


def hd95(prediction, reference, spacing_mm, percentile: float = 95.0) -> float:
    """max(directed 95th percentile pred→ref, ref→pred) in mm; nan when either mask is empty."""
    prediction, reference = _check(prediction, reference, spacing_mm)
    if not prediction.any() or not reference.any():
        return float("nan")
    forward, backward = surface_distances(prediction, reference, spacing_mm)
    return float(max(np.percentile(forward, percentile), np.percentile(backward, percentile)))


def hd95_pooled(prediction, reference, spacing_mm, percentile: float = 95.0) -> float:
    """95th percentile of both directions' distances pooled (medpy's hd95); nan when either is empty."""
    prediction, reference = _check(prediction, reference, spacing_mm)
    if not prediction.any() or not reference.any():
        return float("nan")
    return float(np.percentile(np.concatenate(surface_distances(prediction, reference, spacing_mm)), percentile))


@dataclass
class Scores:
    """Overlap and distance scores of one prediction (see the module docstring for the empty policy)."""

    dice: float
    jaccard: float
    sensitivity: float
    specificity: float
    specificity_in_region: float
    hd95_mm: float
    predicted_voxels: int
    reference_voxels: int
    flag: str  # "", "both_empty", "empty_prediction", "empty_reference"


def score(prediction, reference, spacing_mm, region=None) -> Scores:
    """All scores of one prediction. ``region``: a bool mask (e.g. body or lungs) for a telling specificity."""
    prediction, reference = _check(prediction, reference, spacing_mm)
    tp = int(np.count_nonzero(prediction & reference))
    fp = int(np.count_nonzero(prediction & ~reference))
    fn = int(np.count_nonzero(~prediction & reference))
    tn = prediction.size - tp - fp - fn
    n_pred, n_ref = tp + fp, tp + fn
    flag = "both_empty" if n_pred == n_ref == 0 else "empty_prediction" if n_pred == 0 else "empty_reference" if n_ref == 0 else ""
    dice_value = _dice(tp, n_pred, n_ref)
    jaccard = 1.0 if n_pred == n_ref == 0 else tp / (tp + fp + fn)
    sensitivity = tp / n_ref if n_ref else float("nan")
    specificity = tn / (tn + fp) if tn + fp else float("nan")
    if region is not None:
        region = np.asarray(region, dtype=bool)
        tn_r = int(np.count_nonzero(region & ~prediction & ~reference))
        fp_r = int(np.count_nonzero(region & prediction & ~reference))
        specificity_region = tn_r / (tn_r + fp_r) if tn_r + fp_r else float("nan")
    else:
        specificity_region = float("nan")
    return Scores(dice_value, jaccard, sensitivity, specificity, specificity_region,
                  hd95(prediction, reference, spacing_mm), n_pred, n_ref, flag)


PATIENT_COLUMNS = ("patient", "dice", "sensitivity", "jaccard", "hd95_mm", "flag", "predicted_cm3", "reference_cm3",
                   "false_positive_cm3")


def patient_row(patient: str, prediction, reference, spacing_mm) -> dict:
    """One patient's 3-D scores in the book's one vocabulary (:data:`PATIENT_COLUMNS`): Dice, sensitivity, Jaccard,
    HD95 (mm) and the empty-mask flag of :func:`score`, and the predicted, reference and false-positive (predicted but
    not reference) volumes in cm³. ``prediction``, ``reference``: bool (z, y, x); ``spacing_mm``: (dz, dy, dx)."""
    from gtvlib.data.volume import volume_cm3

    prediction, reference = _check(prediction, reference, spacing_mm)
    result = score(prediction, reference, spacing_mm)
    return {"patient": patient, "dice": result.dice, "sensitivity": result.sensitivity, "jaccard": result.jaccard,
            "hd95_mm": result.hd95_mm, "flag": result.flag, "predicted_cm3": volume_cm3(prediction, spacing_mm),
            "reference_cm3": volume_cm3(reference, spacing_mm),
            "false_positive_cm3": volume_cm3(prediction & ~reference, spacing_mm)}


def summarise(scores: list[Scores]):
    """Mean, median, min and max per metric over the defined values, with the count of undefined ones.

    Returns a pandas DataFrame indexed by metric with columns mean, median, min, max, defined, undefined.
    """
    import pandas as pd

    table = pd.DataFrame([asdict(s) for s in scores])
    rows = {}
    for metric in ("dice", "jaccard", "sensitivity", "specificity", "specificity_in_region", "hd95_mm"):
        values = table[metric].astype(float)
        defined = values.dropna()
        rows[metric] = {"mean": defined.mean(), "median": defined.median(), "min": defined.min(), "max": defined.max(),
                        "defined": int(defined.size), "undefined": int(values.isna().sum())}
    summary = pd.DataFrame(rows).T
    summary.attrs["flags"] = table.flag.value_counts().to_dict()
    return summary
