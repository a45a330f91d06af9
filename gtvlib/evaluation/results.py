"""What an evaluation returns, for every model family: :class:`Evaluation` (a segmenter's masks and scores per
patient, and per slice where a 2-D model predicted slices) and :class:`ClassifierEvaluation` (a slice
classifier's decisions). Empty masks follow the policy of :mod:`gtvlib.metrics`: undefined values are counted,
never averaged as zeros or dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SLICE_METRICS = ("dice", "sensitivity", "specificity", "jaccard", "hd95_mm")


@dataclass
class Evaluation:
    """Predictions and scores of one segmenter on some patients.

    ``per_patient``: rows of :func:`gtvlib.metrics.patient_row` (patient, dice, sensitivity, jaccard, hd95_mm, flag,
    predicted, reference and false-positive cm³) on each patient's whole volume. ``summary``: the mean and median
    per-patient Dice (``patient_dice``, ``patient_dice_median``) and, from a 2-D model, the slice means over defined
    values (``slice_<metric>``) and the count of undefined slice HD95s. ``masks``: patient → bool (z, y, x), the
    volume scored (a 2-D model's slices stitched). ``predictions``: a 2-D model's masks (S, S) bool per (patient,
    slice) predicted, and ``per_slice`` their rows (patient, slice_index and every score of
    :class:`~gtvlib.metrics.Scores`); empty for whole-volume models.
    """

    per_patient: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    predictions: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    per_slice: list[dict] = field(default_factory=list)


@dataclass
class ClassifierEvaluation:
    """A slice classifier's decisions on every slice of some patients. ``probabilities``: P(tumour) per (patient,
    slice). ``per_patient``: rows with patient, recall, precision, tumour and kept slice counts. ``summary``:
    ``slice_recall``, ``slice_precision``, ``slice_accuracy`` and ``slice_f1`` over all slices pooled."""

    probabilities: dict[tuple[str, int], float]
    per_patient: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def decisions(self, patient_id: str, slices: int, threshold: float = 0.5) -> np.ndarray:
        """The gate's decisions (z,) bool for one patient: P(tumour) > ``threshold``."""
        out = np.zeros(slices, dtype=bool)
        for (pid, k), p in self.probabilities.items():
            if pid == patient_id:
                out[k] = p > threshold
        return out


def _mean_defined(values) -> float:
    defined = [v for v in values if not np.isnan(v)]
    return float(np.mean(defined)) if defined else float("nan")


def patient_summary(per_patient: list[dict]) -> dict:
    """``patient_dice`` (mean) and ``patient_dice_median`` of per-patient rows (NaN for none)."""
    dice = [p["dice"] for p in per_patient]
    return {"patient_dice": float(np.mean(dice)) if dice else float("nan"),
            "patient_dice_median": float(np.median(dice)) if dice else float("nan")}


def summarise(per_slice: list, per_patient: list[dict]) -> dict:
    """A 2-D model's summary: ``slice_<metric>`` means over defined values of its slice scores
    (:class:`~gtvlib.metrics.Scores`), ``slice_hd95_undefined`` (count), and :func:`patient_summary`."""
    summary = {f"slice_{metric}": _mean_defined([getattr(s, metric) for s in per_slice]) for metric in SLICE_METRICS}
    summary["slice_hd95_undefined"] = int(sum(np.isnan(s.hd95_mm) for s in per_slice))
    return {**summary, **patient_summary(per_patient)}


def unscored(task: str, per_slice: bool = False):
    """The result of an epoch that was not validated, NaN throughout: a classifier's (``task`` "slice
    classification") or a segmenter's, with the slice means when the model is a 2-D one (``per_slice``)."""
    if task == "slice classification":
        return ClassifierEvaluation({}, [], dict.fromkeys(("slice_recall", "slice_precision", "slice_accuracy",
                                                           "slice_f1"), float("nan")))
    return Evaluation([], summarise([], []) if per_slice else patient_summary([]))
