"""Evaluation of any 2-D model on cached slices: a segmenter's slices predicted, stitched per patient and scored
per slice and in 3-D with the true spacing of the model grid (:func:`evaluate`), beside the references that need
no training (:func:`references_beside`); a slice classifier's (HCF's gate) recall, precision and accuracy of its
decisions on every slice (:func:`evaluate_classifier`).

The model enters through a ``predict(model, images, labels) -> logits`` function (a registry entry's
:attr:`~gtvlib.models.spec.ModelSpec.predict`): images (B, 1, S, S) in [0, 1], logits (B, 1, S, S); a
prompt-free network ignores ``labels``, SAM-Med2D draws its ground-truth box from them. A pixel is
predicted tumour where its logit is > 0.

Which slices are predicted is part of the protocol and is stated: ``slices="tumour"`` predicts the slices
that hold tumour (the GTV-SAMGAN protocol: a box prompt exists only there; every other slice of the
stitched volume counts as predicted empty), ``slices="all"`` predicts every slice (a prompt-free model as a
clinic would run it). Empty masks follow the policy of :mod:`gtvlib.metrics`: undefined values are counted,
never averaged as zeros or dropped silently.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from gtvlib.data.slices.cache import SliceCache
from gtvlib.data.slices.dataset import SliceDataset
from gtvlib.evaluation.results import SLICE_METRICS, ClassifierEvaluation, Evaluation, summarise
from gtvlib.metrics import patient_row, score
from gtvlib.util.device import autocast
from gtvlib.util.errors import GtvError

PROTOCOLS = {"tumour": "theta0", "all": "thetan"}  # which slices are predicted → balance strategy of the index



@torch.no_grad()
def predict_slices(model, predict, cache: SliceCache, pairs: list[tuple[str, int]], device,
                   batch_size: int = 8, prompts: dict | None = None) -> dict[tuple[str, int], np.ndarray]:
    """Masks (S, S) bool per (patient, slice) of ``pairs``, in evaluation mode, batch by batch. ``prompts``: the box
    (x0, y0, x1, y1) of each (patient, slice) (:func:`gtvlib.prompts.prompt_boxes`) handed to a box-prompted
    ``predict``; None: it draws the ground-truth box from the label."""
    model.eval()
    out = {}
    for batch in torch.utils.data.DataLoader(SliceDataset(cache, pairs), batch_size=batch_size):
        extra = {}
        if prompts is not None:
            keys = list(zip(batch["patient"], batch["slice_index"].tolist()))
            missing = [key for key in keys if key not in prompts]
            if missing:
                raise GtvError(f"no box prompt for (patient, slice) {missing[:3]}; expected one for every predicted slice "
                               "(prompts exist for tumour slices only: use slices='tumour')")
            extra["boxes"] = torch.from_numpy(np.stack([prompts[key] for key in keys])).to(device)
        with autocast(device):
            logits = predict(model, batch["image"].to(device), batch["label"].to(device), **extra)
        for pid, k, mask in zip(batch["patient"], batch["slice_index"].tolist(), (logits.float() > 0).cpu().numpy()):
            out[(pid, k)] = mask[0]
    return out


def stitch(predictions: dict[tuple[str, int], np.ndarray], patient_id: str, shape: tuple[int, int, int]) -> np.ndarray:
    """The patient's predicted volume (z, S, S) bool: its predicted slices in place, every other slice empty."""
    volume = np.zeros(shape, dtype=bool)
    for (pid, k), mask in predictions.items():
        if pid == patient_id:
            volume[k] = mask
    return volume



def evaluate(model, cache: SliceCache, patient_ids: list[str], device, predict, slices: str = "tumour",
             batch_size: int = 8, prompts: dict | None = None) -> Evaluation:
    """Predict the ``slices`` ("tumour" or "all") of ``patient_ids`` and score them per slice and per patient.

    Slice scores use the in-plane spacing of the model grid, patient scores the 3-D spacing
    (:meth:`~gtvlib.data.slices.cache.SliceCache.spacing_mm`), both in mm. ``prompts``: the box of every predicted
    slice for a box-prompted model (:func:`gtvlib.prompts.prompt_boxes`; None: the ground-truth box).
    """
    if slices not in PROTOCOLS:
        raise GtvError(f"slices={slices!r}; expected one of {sorted(PROTOCOLS)}")
    pairs = cache.index(patient_ids, PROTOCOLS[slices])
    predictions = predict_slices(model, predict, cache, pairs, device, batch_size, prompts)
    labels = {pid: np.asarray(cache.load(pid)[1], dtype=bool) for pid in patient_ids}  # read once per patient
    slice_scores, per_slice = [], []
    for pid, k in pairs:
        result = score(predictions[(pid, k)], labels[pid][k], cache.spacing_mm(pid)[1:])
        slice_scores.append(result)
        per_slice.append({"patient": pid, "slice_index": k, **asdict(result)})
    masks = {pid: stitch(predictions, pid, labels[pid].shape) for pid in patient_ids}
    per_patient = [patient_row(pid, masks[pid], labels[pid], cache.spacing_mm(pid)) for pid in patient_ids]
    return Evaluation(per_patient, summarise(slice_scores, per_patient), masks, predictions, per_slice)


REFERENCES = ("prompt_box", "prompt_ellipse", "prompt_threshold")


def references_beside(evaluations: dict[str, Evaluation], cache: SliceCache, patient_ids: list[str], device,
                      slices: str = "tumour", prompts: dict | None = None):
    """A table of trained models' scores beside the no-training references of
    :mod:`gtvlib.models.references` on the same slices: rows per model (``evaluations``: label →
    :class:`Evaluation`) and per reference; columns slice Dice, sensitivity, specificity, Jaccard, HD95 (mm)
    and the mean and median per-patient 3-D Dice. What the model adds is its margin over the best reference."""
    import pandas as pd

    from gtvlib.models import build_model, model_spec

    rows = dict(evaluations)
    for name in REFERENCES:
        rows[f"{name} (no training)"] = evaluate(build_model(name), cache, patient_ids, device, model_spec(name).predict,
                                                 slices, prompts=prompts)
    return pd.DataFrame({label: {**{metric: e.summary[f"slice_{metric}"] for metric in SLICE_METRICS},
                                 "patient_dice_mean": e.summary["patient_dice"],
                                 "patient_dice_median": e.summary["patient_dice_median"]}
                         for label, e in rows.items()}).T



@torch.no_grad()
def evaluate_classifier(model, cache: SliceCache, patient_ids: list[str], device, predict, threshold: float = 0.5,
                        batch_size: int = 32) -> ClassifierEvaluation:
    """Classify every slice of ``patient_ids`` (``predict(model, images, labels)`` → log-odds (B,)) and score the
    decisions P(tumour) > ``threshold`` against the slices that hold tumour."""
    from gtvlib.evaluation.cascade import slice_scores

    model.eval()
    pairs = cache.index(patient_ids, "thetan")
    probabilities = {}
    for batch in torch.utils.data.DataLoader(SliceDataset(cache, pairs), batch_size=batch_size):
        with autocast(device):
            logits = predict(model, batch["image"].to(device), None)
        for pid, k, p in zip(batch["patient"], batch["slice_index"].tolist(), torch.sigmoid(logits.float()).cpu().tolist()):
            probabilities[(pid, k)] = p
    result = ClassifierEvaluation(probabilities)
    decided, truths = [], []
    for pid in patient_ids:
        truth = cache.has_tumour(pid)
        decisions = result.decisions(pid, len(truth), threshold)
        result.per_patient.append({"patient": pid, **slice_scores(decisions, truth)})
        decided.append(decisions)
        truths.append(truth)
    pooled = slice_scores(np.concatenate(decided), np.concatenate(truths))
    accuracy = float(np.mean(np.concatenate(decided) == np.concatenate(truths)))
    recall, precision = pooled["recall"], pooled["precision"]
    f1 = 2 * recall * precision / (recall + precision) if recall + precision > 0 else float("nan")
    result.summary = {"slice_recall": recall, "slice_precision": precision, "slice_accuracy": accuracy, "slice_f1": f1}
    return result


def predict_patients(model, predict, cache: SliceCache, patient_ids: list[str], device,
                     batch_size: int = 8) -> dict[str, np.ndarray]:
    """Every slice of each patient predicted by a segmentation model: patient → (z, S, S) bool on the model grid."""
    pairs = cache.index(patient_ids, "thetan")
    predictions = predict_slices(model, predict, cache, pairs, device, batch_size)
    return {pid: stitch(predictions, pid, cache.load(pid)[1].shape) for pid in patient_ids}


def fold_masks(run_folders, cache, patient_ids: list[str], device=None) -> list[dict[str, np.ndarray]]:
    """Each run's last model predicting every slice of ``patient_ids``: per run, patient → (z, S, S) bool."""
    import torch

    from gtvlib.models.trained import load_trained

    device = device or torch.device("cpu")
    out = []
    for folder in run_folders:
        trained = load_trained(folder)
        out.append(predict_patients(trained.model.to(device), trained.spec.predict, cache, patient_ids, device))
    return out


def fold_gates(run_folders, cache, patient_ids: list[str], device=None) -> list:
    """Each classifier run's last model on every slice of ``patient_ids``: a
    :class:`~gtvlib.evaluation.results.ClassifierEvaluation` per run."""
    import torch

    from gtvlib.models.trained import load_trained

    device = device or torch.device("cpu")
    out = []
    for folder in run_folders:
        trained = load_trained(folder)
        out.append(evaluate_classifier(trained.model.to(device), cache, patient_ids, device, trained.spec.predict))
    return out


def out_of_fold(fold_runs, prompts: dict, device=None, references=REFERENCES):
    """Every patient scored once, by the model of the fold that held it out, and by the no-training references, under
    each prompt: a long table, one row per (patient, prompt, method).

    ``fold_runs``: [(prepared slices of a fold, its run folder)]; ``prompts``: label → a function of a fold's prepared
    slices returning the :class:`~gtvlib.prompts.BoxPrompt` to draw (a click's square comes from the fold's training
    patients). Boxes are seeded per patient, so the model and the references answer the very same boxes. Columns:
    patient, fold, prompt, method (``model`` or a reference name), ``prompts_per_patient`` (what the clinician gives:
    one per tumour slice, or 1 for a ``lesion`` box drawn once), and the 3-D scores of
    :func:`gtvlib.metrics.patient_row`."""
    import pandas as pd
    import torch

    from gtvlib.models import build_model, model_spec
    from gtvlib.models.trained import load_trained
    from gtvlib.prompts import prompt_boxes

    device = device or torch.device("cpu")
    rows = []
    for fold, (data, folder) in enumerate(fold_runs):
        trained = load_trained(folder)
        methods = {"model": (trained.model.to(device), trained.spec.predict)}
        methods.update({name: (build_model(name), model_spec(name).predict) for name in references})
        for label, make_prompt in prompts.items():
            prompt = make_prompt(data)
            boxes = prompt_boxes(prompt, data.cache, data.validation_ids)
            for method, (model, predict) in methods.items():
                evaluation = evaluate(model, data.cache, data.validation_ids, device, predict, prompts=boxes)
                for row in evaluation.per_patient:
                    given = 1 if prompt.kind == "lesion" else sum(1 for pid, _ in boxes if pid == row["patient"])
                    rows.append({"fold": fold, "prompt": label, "method": method, "prompts_per_patient": given, **row})
    return pd.DataFrame(rows)
