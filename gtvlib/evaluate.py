"""Evaluation of any 2-D segmentation model on cached slices: predict, stitch per patient, score per slice
and in 3-D with the true spacing of the model grid; and of a slice classifier (HCF's gate): recall, precision
and accuracy of its decisions on every slice (:func:`evaluate_classifier`).

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

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from gtvlib.data.slices.cache import SliceCache
from gtvlib.data.slices.dataset import SliceDataset
from gtvlib.util.device import autocast
from gtvlib.util.errors import GtvError
from gtvlib.metrics import Scores, hd95, patient_row, score

SLICE_METRICS = ("dice", "sensitivity", "specificity", "jaccard", "hd95_mm")
PROTOCOLS = {"tumour": "theta0", "all": "thetan"}  # which slices are predicted → balance strategy of the index


@dataclass
class Evaluation:
    """Predictions and scores of one model on some patients.

    ``predictions``: bool (S, S) per (patient, slice). ``per_slice``: rows with patient, slice_index and
    every score of :class:`~gtvlib.metrics.Scores`. ``per_patient``: rows of :func:`gtvlib.metrics.patient_row` on
    the stitched volume. ``summary``: slice means over defined values
    (``slice_<metric>``), the count of undefined slice HD95s, and the mean and median per-patient Dice.
    """

    predictions: dict[tuple[str, int], np.ndarray]
    per_slice: list[dict] = field(default_factory=list)
    per_patient: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


@torch.no_grad()
def predict_slices(model, predict, cache: SliceCache, pairs: list[tuple[str, int]], device,
                   batch_size: int = 8) -> dict[tuple[str, int], np.ndarray]:
    """Masks (S, S) bool per (patient, slice) of ``pairs``, in evaluation mode, batch by batch."""
    model.eval()
    out = {}
    for batch in torch.utils.data.DataLoader(SliceDataset(cache, pairs), batch_size=batch_size):
        with autocast(device):
            logits = predict(model, batch["image"].to(device), batch["label"].to(device))
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


def _mean_defined(values) -> float:
    defined = [v for v in values if not np.isnan(v)]
    return float(np.mean(defined)) if defined else float("nan")


def summarise(per_slice: list[Scores], per_patient: list[dict]) -> dict:
    """``slice_<metric>`` means over defined values, ``slice_hd95_undefined`` (count), ``patient_dice`` (mean)
    and ``patient_dice_median``."""
    summary = {f"slice_{metric}": _mean_defined([getattr(s, metric) for s in per_slice]) for metric in SLICE_METRICS}
    summary["slice_hd95_undefined"] = int(sum(np.isnan(s.hd95_mm) for s in per_slice))
    patient_dice = [p["dice"] for p in per_patient]
    summary["patient_dice"] = float(np.mean(patient_dice)) if patient_dice else float("nan")
    summary["patient_dice_median"] = float(np.median(patient_dice)) if patient_dice else float("nan")
    return summary


def evaluate(model, cache: SliceCache, patient_ids: list[str], device, predict, slices: str = "tumour",
             batch_size: int = 8) -> Evaluation:
    """Predict the ``slices`` ("tumour" or "all") of ``patient_ids`` and score them per slice and per patient.

    Slice scores use the in-plane spacing of the model grid, patient scores the 3-D spacing
    (:meth:`~gtvlib.data.slices.cache.SliceCache.spacing_mm`), both in mm.
    """
    if slices not in PROTOCOLS:
        raise GtvError(f"slices={slices!r}; expected one of {sorted(PROTOCOLS)}")
    pairs = cache.index(patient_ids, PROTOCOLS[slices])
    predictions = predict_slices(model, predict, cache, pairs, device, batch_size)
    labels = {pid: np.asarray(cache.load(pid)[1], dtype=bool) for pid in patient_ids}  # read once per patient
    slice_scores, per_slice = [], []
    for pid, k in pairs:
        result = score(predictions[(pid, k)], labels[pid][k], cache.spacing_mm(pid)[1:])
        slice_scores.append(result)
        per_slice.append({"patient": pid, "slice_index": k, **asdict(result)})
    per_patient = [patient_row(pid, stitch(predictions, pid, labels[pid].shape), labels[pid], cache.spacing_mm(pid))
                   for pid in patient_ids]
    return Evaluation(predictions, per_slice, per_patient, summarise(slice_scores, per_patient))


REFERENCES = ("prompt_box", "prompt_ellipse", "prompt_threshold")


def references_beside(evaluations: dict[str, Evaluation], cache: SliceCache, patient_ids: list[str], device,
                      slices: str = "tumour"):
    """A table of trained models' scores beside the no-training references of
    :mod:`gtvlib.models.references` on the same slices: rows per model (``evaluations``: label →
    :class:`Evaluation`) and per reference; columns slice Dice, sensitivity, specificity, Jaccard, HD95 (mm)
    and the mean and median per-patient 3-D Dice. What the model adds is its margin over the best reference."""
    import pandas as pd

    from gtvlib.models import build_model, model_spec

    rows = dict(evaluations)
    for name in REFERENCES:
        rows[f"{name} (no training)"] = evaluate(build_model(name), cache, patient_ids, device, model_spec(name).predict,
                                                 slices)
    return pd.DataFrame({label: {**{metric: e.summary[f"slice_{metric}"] for metric in SLICE_METRICS},
                                 "patient_dice_mean": e.summary["patient_dice"],
                                 "patient_dice_median": e.summary["patient_dice_median"]}
                         for label, e in rows.items()}).T


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


@torch.no_grad()
def evaluate_classifier(model, cache: SliceCache, patient_ids: list[str], device, predict, threshold: float = 0.5,
                        batch_size: int = 32) -> ClassifierEvaluation:
    """Classify every slice of ``patient_ids`` (``predict(model, images, labels)`` → log-odds (B,)) and score the
    decisions P(tumour) > ``threshold`` against the slices that hold tumour."""
    from gtvlib.postprocess import slice_scores

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


def cascade_table(masks: dict[str, np.ndarray], cache: SliceCache, decisions: dict[str, np.ndarray] | None = None,
                  keep_components: int = 0) -> list[dict]:
    """Per-patient 3-D scores of a segmenter's masks (patient → (z, S, S) bool), alone and, with ``decisions``
    (patient → (z,) bool, a classifier's gate), through the cascade; with ``keep_components`` > 0 also after keeping
    that many largest 3-D components. Rows: the columns of :func:`gtvlib.metrics.patient_row`, variant, hd95_voxels (the
    authors' code measures voxels) and fp_slices (tumour-free slices with a prediction)."""
    from gtvlib.postprocess import gate, largest_components

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


@dataclass
class VolumeEvaluation:
    """Whole-volume predictions of some patients: ``masks`` (patient → bool (z, y, x)), ``per_patient`` rows
    (patient, dice, sensitivity, jaccard, hd95_mm, flag, predicted, reference and false-positive cm³) and a
    ``summary`` (mean and median patient Dice)."""

    masks: dict[str, np.ndarray]
    per_patient: list[dict]
    summary: dict


def patient_scores(masks: dict[str, np.ndarray], labels: dict[str, np.ndarray], spacing_mm: dict) -> VolumeEvaluation:
    """Each patient's mask (bool (z, y, x)) scored in 3-D against its label with its spacing: rows of patient, dice,
    sensitivity, jaccard, hd95_mm, flag, predicted, reference and false-positive (predicted but not reference) cm³,
    and the mean and median patient Dice."""
    rows = [patient_row(pid, mask, labels[pid], spacing_mm[pid]) for pid, mask in masks.items()]
    dice = [r["dice"] for r in rows]
    summary = {"patient_dice": float(np.mean(dice)) if dice else float("nan"),
               "patient_dice_median": float(np.median(dice)) if dice else float("nan")}
    return VolumeEvaluation(dict(masks), rows, summary)


def evaluate_volumes(model, data, patient_ids: list[str], patch, overlap: float = 0.25, device=None) -> VolumeEvaluation:
    """Predict ``patient_ids`` of ``data`` (a :class:`~gtvlib.data.volumes.VolumeSet`) whole by sliding windows of
    ``patch`` voxels within each body box, and score each in 3-D with its spacing."""
    from gtvlib.models.unet3d import sliding_window_logits

    masks = {pid: sliding_window_logits(model, data.images[pid], patch, overlap, device=device, box=data.boxes.get(pid)) > 0
             for pid in patient_ids}
    return patient_scores(masks, data.labels, data.spacing_mm)


@torch.no_grad()
def predict_stacks(model, case, settings: dict, window: str = "mediastinal", suv_scale: float = 10.0, device=None,
                   batch: int = 16) -> np.ndarray:
    """A 2.5-D network's mask (z, y, x) bool of every slice of a PET/CT ``case``, predicted within the body's in-plane
    box (the largest region above −500 HU ± 4 pixels, zero-padded to the network's multiple); no GTV outside it.
    ``settings``: the network's registered settings (modalities, slices, widths)."""
    from gtvlib.data.petct import stack_25d
    from gtvlib.data.volumes import inference_box

    step = 2 ** (len(settings["widths"]) - 1)
    box = inference_box(case.ct_hu)
    rows, columns = slice(box.row0, box.row1), slice(box.col0, box.col1)
    pad = ((0, 0), (0, 0), (0, -box.height % step), (0, -box.width % step))
    device = device or next(model.parameters()).device
    model.eval()
    mask = np.zeros(case.ct_hu.shape, bool)
    modalities = tuple(settings["modalities"])
    for start in range(0, case.ct_hu.shape[0], batch):
        zs = range(start, min(start + batch, case.ct_hu.shape[0]))
        x = np.stack([np.pad(stack_25d(case, z, settings["slices"], modalities, window, suv_scale)[..., rows, columns], pad)
                      for z in zs])
        logits = model(torch.from_numpy(x).to(device))[:, 0].float().cpu().numpy()
        mask[zs.start:zs.stop, rows, columns] = logits[:, :box.height, :box.width] > 0
    return mask


def evaluate_stacks(model, data, patient_ids, settings: dict, target: str = "igtv", window: str = "mediastinal",
                    suv_scale: float = 10.0, device=None) -> VolumeEvaluation:
    """Whole-volume predictions of ``patient_ids`` of a :class:`~gtvlib.data.petct.PetCtSet` scored in 3-D against
    their ``target`` (IGTV or GTV) with the CT's spacing."""
    from gtvlib.data.petct import target_of

    cases = {pid: data.cases[pid] for pid in patient_ids}
    return patient_scores({pid: predict_stacks(model, case, settings, window, suv_scale, device) for pid, case in cases.items()},
                          {pid: target_of(case, target) for pid, case in cases.items()},
                          {pid: case.spacing_mm for pid, case in cases.items()})
