"""Evaluation of whole-volume models: any patient's mask scored in 3-D against its reference with its spacing
(:func:`patient_scores`), a 3-D network predicting by sliding windows within each body box
(:func:`evaluate_volumes`), a 2.5-D PET/CT network predicting every slice (:func:`evaluate_stacks`). The result is
the one :class:`~gtvlib.evaluation.results.Evaluation` every family returns.
"""

from __future__ import annotations

import numpy as np

from gtvlib.evaluation.results import Evaluation, patient_summary
from gtvlib.metrics import patient_row


def patient_scores(masks: dict[str, np.ndarray], labels: dict[str, np.ndarray], spacing_mm: dict) -> Evaluation:
    """Each patient's mask (bool (z, y, x)) scored in 3-D against its label with its spacing: rows of patient, dice,
    sensitivity, jaccard, hd95_mm, flag, predicted, reference and false-positive (predicted but not reference) cm³,
    and the mean and median patient Dice."""
    rows = [patient_row(pid, mask, labels[pid], spacing_mm[pid]) for pid, mask in masks.items()]
    return Evaluation(rows, patient_summary(rows), dict(masks))


def evaluate_volumes(model, data, patient_ids: list[str], patch, overlap: float = 0.25, device=None) -> Evaluation:
    """Predict ``patient_ids`` of ``data`` (a :class:`~gtvlib.data.volumes.VolumeSet`) whole by sliding windows of
    ``patch`` voxels within each body box, and score each in 3-D with its spacing."""
    from gtvlib.models.unet3d import sliding_window_logits

    masks = {pid: sliding_window_logits(model, data.images[pid], patch, overlap, device=device, box=data.boxes.get(pid)) > 0
             for pid in patient_ids}
    return patient_scores(masks, data.labels, data.spacing_mm)


def evaluate_stacks(model, data, patient_ids, settings: dict, target: str = "igtv", window: str = "mediastinal",
                    suv_scale: float = 10.0, device=None) -> Evaluation:
    """Whole-volume predictions of ``patient_ids`` of a :class:`~gtvlib.data.petct.PetCtSet` scored in 3-D against
    their ``target`` (IGTV or GTV) with the CT's spacing (every slice predicted by
    :func:`gtvlib.inference.inferers.predict_stacks`)."""
    from gtvlib.data.petct import target_of
    from gtvlib.inference.inferers import predict_stacks

    cases = {pid: data.cases[pid] for pid in patient_ids}
    return patient_scores({pid: predict_stacks(model, case, settings, window, suv_scale, device) for pid, case in cases.items()},
                          {pid: target_of(case, target) for pid, case in cases.items()},
                          {pid: case.spacing_mm for pid, case in cases.items()})
