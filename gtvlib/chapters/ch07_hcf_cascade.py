"""The HCF chapter's experiments (METHODS.md §2): which networks train, on which folds, and how each ablation row
of the paper is read from them.

The full model is SANet trained with the CR loss on θ1-sampled slices, gated by the θ1 slice classifier (the
cascade), 3 largest 3-D components kept. Every ablation row changes one thing:

* balance sampling of SANet's training slices θ0, θ1, θ2, θ4, θn (cascade on; θ1 is the full model);
* the loss Dice, CE, focal, Dice + CE, CR (cascade on; CR is the full model);
* components: without spatial alignment and without the cascade; without alignment; without the cascade (the
  full SANet alone); without PPM; full.

Distinct trainings are trained once and shared by the rows that use them (e.g. the full model is θ1, CR and
"full"), on the first ``ablation_folds`` folds; the full model and the classifier train on every fold, for the
vote.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from gtvlib.crossval import Job
from gtvlib.evaluation.cascade import decisions_of, fold_scores, over_folds
from gtvlib.util.errors import GtvError

VARIANTS = ("", "no_alignment", "no_ppm")  # SANet as published, and the two architecture ablations


# The paper's published numbers, to stand beside ours, labelled as the paper's.
# HCF (seed 001, METHODS.md §2): StructSeg2019 lung GTV, 40 training / 10 test scans, 5-fold CV, mean ± SD over folds.
HCF_SOURCE = "HCF paper (seed 001), StructSeg2019 Task 4 lung GTV"
# DSC (%), HD95 (mm), Jaccard (%) of the comparison table
HCF_TABLE = {
    "U-Net": (52.6, 34.2, 39.1), "U-Net++": (52.7, 28.5, 40.2), "Deeplabv3+": (51.9, 15.6, 38.8),
    "AttU-Net": (54.2, 26.3, 40.1), "ResU-Net": (54.6, 18.4, 41.4), "SFNet": (54.3, 26.8, 41.2),
    "3D V-Net": (45.6, 17.2, 34.5), "TransU-Net": (48.5, 32.1, 34.9), "UTNet": (46.8, 30.1, 34.6),
    "3D nnU-Net": (55.1, 13.4, 41.2), "SANet": (56.4, 21.3, 41.6), "HCF": (58.6, 18.8, 45.6),
}
HCF_PARAMETERS = {"SANet": 12.82e6, "HCF": 23.99e6}  # classifier + SANet
HCF_CLASSIFIER_RECALL = 87.7  # %, the slice classifier trained with θ1
# lung DSC (%) of the ablations
HCF_BALANCE = {"theta0": 58.1, "theta1": 58.6, "theta2": 56.4, "theta4": 57.9, "thetan": 56.7}
HCF_LOSS = {"dice": 50.7, "ce": 53.2, "focal": 54.7, "dice_ce": 56.8, "cr": 58.6}
HCF_COMPONENTS = {"without SAM and HCF": 54.3, "without SAM": 56.3, "without HCF": 56.4, "without PPM": 57.9,
                  "full": 58.6}


@dataclass(frozen=True)
class Ablation:
    """One row of the paper's ablation tables: ``study`` (balance, loss, components), ``label``, the paper's lung
    DSC (%), and what differs from the full model: SANet's training ``balance``, its ``loss``, its architecture
    ``variant`` (a key of :data:`VARIANTS`), and whether the classifier gates it (``cascade``)."""

    study: str
    label: str
    paper_dice: float
    balance: str = "theta1"
    loss: str = "cr"
    variant: str = ""
    cascade: bool = True


ABLATIONS = (
    *(Ablation("balance", f"θ{key[5:]}", value, balance=key) for key, value in HCF_BALANCE.items()),
    *(Ablation("loss", {"dice": "Dice", "ce": "CE", "focal": "focal", "dice_ce": "Dice + CE", "cr": "CR"}[key], value,
               loss=key) for key, value in HCF_LOSS.items()),
    Ablation("components", "without SAM and HCF", HCF_COMPONENTS["without SAM and HCF"], variant="no_alignment",
             cascade=False),
    Ablation("components", "without SAM", HCF_COMPONENTS["without SAM"], variant="no_alignment"),
    Ablation("components", "without HCF", HCF_COMPONENTS["without HCF"], cascade=False),
    Ablation("components", "without PPM", HCF_COMPONENTS["without PPM"], variant="no_ppm"),
    Ablation("components", "full", HCF_COMPONENTS["full"]),
)


def variant_model(segmenter: str, variant: str) -> str:
    """The registry name of SANet ``variant`` at the width of ``segmenter`` (``sanet`` or ``sanet_w16`` …)."""
    if not segmenter.startswith("sanet"):
        raise GtvError(f"segmenter {segmenter!r}; expected a SANet of gtvlib.models.hcf (sanet, sanet_w16, …)")
    if variant not in VARIANTS:
        raise GtvError(f"variant {variant!r}; expected one of {VARIANTS}")
    suffix = segmenter[len("sanet"):]
    return f"sanet_{variant}{suffix}" if variant else segmenter


def training_label(ablation: Ablation) -> str:
    """The name of the training an ablation row reads (rows that differ only in the cascade share it)."""
    return f"{ablation.variant or 'sanet'} {ablation.balance} {ablation.loss}"


FULL = training_label(ABLATIONS[-1])


def hcf_jobs(segmenter, classifier, folds: list, ablation_folds: int) -> list[Job]:
    """The trainings of the chapter: the full SANet and the classifier on every fold, and every other training an
    ablation row needs on the first ``ablation_folds`` folds. ``segmenter``, ``classifier``: the
    :class:`~gtvlib.training.Training` of the full SANet and of the gate; ``folds``: prepared slices per fold."""
    if not 1 <= ablation_folds <= len(folds):
        raise GtvError(f"ablation_folds={ablation_folds} with {len(folds)} folds; expected 1 to {len(folds)}")
    jobs = [Job("classifier", k, classifier.changed(name=f"hcf_classifier-fold{k}", data=data)) for k, data in enumerate(folds)]
    jobs += [Job(FULL, k, segmenter.changed(name=f"sanet-fold{k}", data=data)) for k, data in enumerate(folds)]
    trainings = dict.fromkeys(training_label(a) for a in ABLATIONS if training_label(a) != FULL)
    for label in trainings:
        row = next(a for a in ABLATIONS if training_label(a) == label)
        training = segmenter.changed(model=variant_model(segmenter.config.model, row.variant), balance=row.balance,
                                     loss=row.loss)
        jobs += [Job(label, k, training.changed(name=f"{label.replace(' ', '-')}-fold{k}", data=folds[k]))
                 for k in range(ablation_folds)]
    return jobs


def ablation_scores(masks: dict[str, list], gates: list, cache, patient_ids: list[str],
                    keep_components: int = 3) -> pd.DataFrame:
    """Per ablation row, fold and test patient the 3-D scores of its final variant (the segmenter alone or through
    the fold's gate, then ``keep_components`` largest components). ``masks``: training label → per fold patient →
    (z, S, S) bool (:func:`gtvlib.evaluation.slices.fold_masks`); ``gates``: the classifier's evaluation per fold. Every row
    is scored on the folds all trainings share."""
    shared = min(len(by_fold) for by_fold in masks.values())  # every row on the same folds (the ablation folds)
    frames = []
    for ablation in ABLATIONS:
        by_fold = masks[training_label(ablation)][:shared]
        decisions = [decisions_of(gates[k], cache, patient_ids) for k in range(len(by_fold))] if ablation.cascade else None
        scores = fold_scores(by_fold, cache, decisions, keep_components)
        last = scores.variant.iloc[-1]  # the last variant cascade_table makes: the whole pipeline of this row
        frames.append(scores[scores.variant == last].assign(study=ablation.study, row=ablation.label,
                                                            paper_dice=ablation.paper_dice, pipeline=last))
    return pd.concat(frames, ignore_index=True)


def ablation_table(scores: pd.DataFrame, study: str) -> pd.DataFrame:
    """One study's rows: our DSC, HD95 and Jaccard as mean ± SD over folds (over test patients within a fold),
    beside the paper's lung DSC, and our rank next to the paper's."""
    part = scores[scores.study == study]
    rows = []
    for label, group in part.groupby("row", sort=False):
        summary = over_folds(group.assign(variant=label)).iloc[0]
        rows.append({"row": label, "pipeline": group.pipeline.iloc[0], "folds": int(summary.folds),
                     "patients": int(summary.patients), "DSC (%)": _mean_sd(100 * summary.dice_mean, 100 * summary.dice_sd),
                     "HD95 (mm)": _mean_sd(summary.hd95_mm_mean, summary.hd95_mm_sd),
                     "JI (%)": _mean_sd(100 * summary.jaccard_mean, 100 * summary.jaccard_sd),
                     "our DSC": 100 * summary.dice_mean, "paper DSC (%)": group.paper_dice.iloc[0]})
    table = pd.DataFrame(rows)
    table["our rank"] = table["our DSC"].rank(ascending=False, method="min").astype(int)
    table["paper rank"] = table["paper DSC (%)"].rank(ascending=False, method="min").astype(int)
    return table.drop(columns="our DSC").set_index("row")


def _mean_sd(mean: float, sd: float) -> str:
    return f"{mean:.1f} ± {sd:.1f}" if pd.notna(sd) else f"{mean:.1f}"
