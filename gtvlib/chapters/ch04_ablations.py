"""Chapter 04, the GTV-SAMGAN ablations on chapter 3's folds: what adversarial training and the GTV-MFIT crop each
change, patient by patient, and whether the GAN keeps a long constant-rate training from declining (Figure 6).

The paper's Tables 1 (baselines), 3 (ablation) and 4 (loss weights) are published numbers (METHODS.md §1): validation
slices of its local data (112 patients, 1,139 training and 302 validation slices at 512 × 512; SAM-Med2D ViT-B at
256 px, 100 epochs); Dice, specificity and sensitivity in %. They stand in their own table (:func:`published_tables`),
never in a row of this run's.

The arms (:data:`ARMS`) train on the same folds as chapter 3 (same patients, same seed), each with the settings of
chapter 3 except what the arm changes, so each contrast (:data:`CONTRASTS`) is paired per patient:

* **GAN**: GTV-SAMGAN (chapter 3's runs, reused) against the same model trained without the discriminator;
* **GTV-MFIT**: without the prompt zoom (which gives every arm its own pixels and so cancels the crop's mechanism),
  the crop against the whole image resized to the same input, both supervised as the paper's SAM-Med2D and
  +GTV-MFIT rows are: the crop makes the tumour's pixels smaller at the input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gtvlib.util.errors import GtvError

SOURCE = "GTV-SAMGAN paper, local data"

# Table 1: baselines (Dice, specificity, sensitivity)
TABLE1 = {
    "U-Net": (48.79, 99.92, 57.42), "UNet++": (27.23, 99.98, 23.42), "UNet++ deep supervision": (50.94, 99.89, 64.05),
    "SwinU-Net": (73.03, 99.98, 74.13), "nnU-Net": (60.63, 99.97, 62.97), "SAM-Med2D": (76.05, 99.98, 76.53),
    "xLSTM-UNet": (7.37, 98.43, 38.63), "SEA-Net": (72.03, 99.96, 78.26), "GTV-SAMGAN": (83.74, 99.98, 84.28),
}
# Table 3: ablation
TABLE3 = {"SAM-Med2D": (76.05, 99.98, 76.53), "+GTV-MFIT": (81.40, 99.98, 82.51), "+GAN": (77.63, 99.98, 77.71),
          "+GAN+GTV-MFIT": (83.74, 99.98, 84.28)}
# Table 4: loss weights FL/Dice/MaskIoU/Mean (Dice only)
TABLE4 = {"10FL+1Dice+1MaskIoU+1Mean": 83.40, "20FL+0.5Dice+0.5MaskIoU+1Mean": 82.54,
          "20FL+1Dice+1MaskIoU+0.1Mean": 83.60, "20FL+1Dice+1MaskIoU+1Mean": 83.74}


@dataclass(frozen=True)
class Arm:
    """One arm of the ablation: its ``label``, whether it keeps chapter 3's model as it is (``zoom``; else the model's
    variant without the prompt zoom, :data:`WITHOUT_ZOOM`), the chapter's ``mode`` (gan or supervised), the crop of
    its slices (``mfit`` or ``none``) and whether it validates after every epoch (chapter 3's arm, whose curves are
    drawn) or only after the last (the others: only their final models are scored)."""

    label: str
    zoom: bool
    mode: str
    crop: str
    curves: bool = False

    def model(self, chapter_model: str) -> str:
        """The registry model of this arm when chapter 3 trains ``chapter_model``."""
        return chapter_model if self.zoom else WITHOUT_ZOOM.get(chapter_model, chapter_model)


# chapter 3's model → the same model without the prompt zoom (models that never zoom, e.g. ViT-B, stay themselves)
WITHOUT_ZOOM = {"sam_med2d_tiny": "sam_med2d_tiny_no_zoom"}
ARMS = {
    "gan_zoom": Arm("GTV-SAMGAN (GAN + GTV-MFIT, zoom): chapter 3", True, "gan", "mfit", curves=True),
    "supervised_zoom": Arm("SAM-Med2D + GTV-MFIT, no GAN (zoom)", True, "supervised", "mfit"),
    "supervised_mfit": Arm("SAM-Med2D + GTV-MFIT, no zoom", False, "supervised", "mfit"),
    "supervised_whole": Arm("SAM-Med2D, whole image, no zoom", False, "supervised", "none"),
}
# contrast → (arm with the component, arm without it), and the paper's Table 3 rows they stand for
CONTRASTS = {"GAN (adversarial − supervised)": ("gan_zoom", "supervised_zoom"),
             "GTV-MFIT (crop − whole image)": ("supervised_mfit", "supervised_whole")}
PAPER_CONTRASTS = {"GAN (adversarial − supervised)": ("+GAN+GTV-MFIT", "+GTV-MFIT"),
                   "GTV-MFIT (crop − whole image)": ("+GTV-MFIT", "SAM-Med2D")}


def arm_trainings(arm: Arm, folds: list, training: dict, box_prompt: str, edge_sd_mm: float, seed: int = 0) -> list:
    """The fold trainings of ``arm`` (``folds``: its crop's prepared folds; ``training``: chapter 3's training settings,
    :class:`~gtvlib.sweeps.SweepSettings`' ``training``): :func:`gtvlib.crossval.slice_fold_trainings` with the arm's
    model and objective."""
    from gtvlib.crossval import slice_fold_trainings
    from gtvlib.sweeps import OBJECTIVE_OF_MODE

    if arm.mode not in OBJECTIVE_OF_MODE:
        raise GtvError(f"arm {arm.label!r}: mode {arm.mode!r}; expected one of {sorted(OBJECTIVE_OF_MODE)}")
    values = dict(training, model=arm.model(training["model"]), objective=OBJECTIVE_OF_MODE[arm.mode])
    if not arm.curves:
        values["validate_every"] = int(values.get("epochs", 1))
    return slice_fold_trainings(folds, values, box_prompt, edge_sd_mm, seed)


def arm_scores(fold_data: dict[str, list], runs: pd.DataFrame, prompt_maker, prompt_label: str) -> pd.DataFrame:
    """Every patient out of fold under one prompt, per arm (``method`` = the arm's name), with the no-training
    references of each crop (``method`` = ``<reference> (<crop>)``): a long table as
    :func:`gtvlib.evaluation.slices.out_of_fold` gives it. Cached beside the runs (``runs/gtv_samgan_folds/scores/``,
    keyed by the run folders and the prompt), so the statistics chapter reads what this one scored."""
    from gtvlib.crossval import SLICE_FOLDS_ROOT
    from gtvlib.evaluation.slices import out_of_fold
    from gtvlib.util.atomic import write_text_atomic
    from gtvlib.util.checksums import settings_key
    from gtvlib.util.paths import runs_dir

    prompt = prompt_maker(fold_data["mfit"][0])
    key = settings_key({"runs": sorted(str(r) for r in runs.run), "prompt": [prompt_label, prompt.kind, prompt.edge_sd_mm]})
    cached = runs_dir() / SLICE_FOLDS_ROOT / "scores" / f"arms-{key}.csv"
    if cached.is_file():
        return pd.read_csv(cached)
    frames, crops_done = [], set()
    for name, arm in ARMS.items():
        folders = runs[runs.arm == name].sort_values("fold").run.tolist()
        options = {"references": ()} if arm.crop in crops_done else {}
        table = out_of_fold(list(zip(fold_data[arm.crop], folders)), {prompt_label: prompt_maker}, **options)
        table["method"] = [name if m == "model" else f"{m} ({arm.crop})" for m in table.method]
        crops_done.add(arm.crop)
        frames.append(table)
    scores = pd.concat(frames, ignore_index=True)
    cached.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(cached, scores.to_csv(index=False))
    return scores


def contrast_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Each contrast of :data:`CONTRASTS` as a paired comparison over the same patients
    (:func:`gtvlib.stats.paired_against`: difference of patient Dice with its t interval, Wilcoxon P, detectable
    difference), beside the paper's difference of slice Dice between the Table 3 rows it stands for."""
    from gtvlib.stats import paired_against

    rows = []
    for contrast, (with_it, without) in CONTRASTS.items():
        row = paired_against(scores, with_it, [without]).iloc[0].to_dict()
        first, second = PAPER_CONTRASTS[contrast]
        rows.append({"contrast": contrast, "n": row["n"], "with": row[f"{with_it} median"],
                     "without": row["reference median"], "mean difference": row["mean difference"],
                     "ci low": row["ci low"], "ci high": row["ci high"], "wins": row["wins"],
                     "P (Wilcoxon)": row["P (Wilcoxon)"], "detectable at 80 % power": row["detectable at 80 % power"],
                     "paper: difference of slice Dice": (TABLE3[first][0] - TABLE3[second][0]) / 100})
    return pd.DataFrame(rows).set_index("contrast")


def arm_medians(scores: pd.DataFrame) -> pd.DataFrame:
    """Median [IQR] of patient Dice and sensitivity per arm and reference, arms first, labelled."""
    from gtvlib.stats import median_iqr

    table = scores.groupby("method", sort=False)[["dice", "sensitivity"]].agg(median_iqr)
    table.index = [ARMS[m].label if m in ARMS else m for m in table.index]
    table.columns = ["patient Dice, median [IQR]", "patient sensitivity, median [IQR]"]
    return table


def stability_trainings(data, training: dict, box_prompt: str, edge_sd_mm: float, seeds, epochs: int,
                        steps_per_epoch: int) -> dict[str, list]:
    """Figure 6's question on one fold: GTV-SAMGAN and the same model without the GAN for ``epochs`` epochs at a
    constant learning rate (``steps_per_epoch`` batches each), one training per seed in ``seeds``."""
    from gtvlib.sweeps import OBJECTIVE_OF_MODE
    from gtvlib.training import Training

    out = {}
    for name in ("gan_zoom", "supervised_zoom"):
        arm = ARMS[name]
        values = dict(training, model=arm.model(training["model"]), schedule="constant", epochs=epochs,
                      steps_per_epoch=steps_per_epoch,
                      box_prompt=box_prompt, prompt_edge_sd_mm=edge_sd_mm)
        values.pop("objective", None)
        out[name] = [Training.of("slices", data, OBJECTIVE_OF_MODE[arm.mode], **values, seed=int(s), name=f"stability-seed{s}")
                     for s in seeds]
    return out


def stability_summary(runs: pd.DataFrame, metric: str = "val_patient_dice", late_epochs: int = 10) -> pd.DataFrame:
    """Per arm and seed (a job table with ``arm`` and ``fold`` = seed): the best epoch and its ``metric``, the last
    epoch's, the drop from the peak to the end, and the SD over the last ``late_epochs`` epochs (how much a model
    chosen at an arbitrary late epoch varies)."""
    from gtvlib.runs import RunRecord

    rows = []
    for row in runs.itertuples():
        epochs = RunRecord(row.run).epochs()
        values = epochs[metric].to_numpy(float)
        if len(values) < late_epochs + 1:
            raise GtvError(f"{row.run}: {len(values)} epochs; expected more than the {late_epochs} late epochs")
        rows.append({"arm": row.arm, "seed": row.fold, "best epoch": int(epochs.epoch.iloc[int(np.nanargmax(values))]),
                     "peak": float(np.nanmax(values)), "final": float(values[-1]),
                     "peak − final": float(np.nanmax(values) - values[-1]),
                     f"SD of the last {late_epochs}": float(np.std(values[-late_epochs:], ddof=1))})
    return pd.DataFrame(rows)


def published_tables() -> dict[str, pd.DataFrame]:
    """The paper's Tables 1, 3 and 4 as published (validation slices of its local data, %)."""
    columns = ["Dice (%)", "specificity (%)", "sensitivity (%)"]
    return {"Table 1 (baselines)": pd.DataFrame(TABLE1, index=columns).T,
            "Table 3 (ablation)": pd.DataFrame(TABLE3, index=columns).T,
            "Table 4 (loss weights, Dice %)": pd.Series(TABLE4, name="Dice (%)").to_frame()}


@dataclass
class AblationResults:
    """What chapter 4 computes, for the chapters that read it (chapter 5): the folds per crop, the arms' fold runs
    and their out-of-fold scores, the stability runs."""

    settings: object
    cohort: object
    fold_data: dict
    arm_runs: pd.DataFrame
    scores: pd.DataFrame
    stability_runs: pd.DataFrame


def ablation_results(profile: str = "quick", folds: int = 5, box_prompt: str = "lesion", edge_sd_mm: float = 3.0,
                     stability_epochs: int = 40, stability_steps: int = 6, stability_seeds: int = 2,
                     workers: int = 1) -> AblationResults:
    """Chapter 4's steps in one call, with its parameters: runs and scores already made are reused (and only what is
    missing is trained or scored)."""
    from gtvlib import crossval, sweeps
    from gtvlib.data.cohort import open_cohort
    from gtvlib.models import model_spec
    from gtvlib.prompts import PROMPT_LABELS, prompt_makers

    settings = sweeps.sweep_settings(profile)
    data = settings.data
    cohort = open_cohort(data["dataset"], preset=data["preset"], seed=data["seed"])
    size = model_spec(settings.training["model"]).input_size
    fold_data = {crop: crossval.prepared_folds(cohort, folds, data["seed"], window=data["window"], crop=crop,
                                               mfit_multiple=data["mfit_multiple"], size=size) for crop in ("mfit", "none")}
    trainings = {name: arm_trainings(arm, fold_data[arm.crop], settings.training, box_prompt, edge_sd_mm, data["seed"])
                 for name, arm in ARMS.items()}
    arm_runs = crossval.train_folds(trainings, workers, show_progress=False)
    label = PROMPT_LABELS[box_prompt]
    scores = arm_scores(fold_data, arm_runs, prompt_makers(edge_sd_mm)[label], label)
    stability = stability_trainings(fold_data["mfit"][0], settings.training, box_prompt, edge_sd_mm,
                                    range(stability_seeds), stability_epochs, stability_steps)
    stability_runs = crossval.train_folds(stability, workers, show_progress=False)
    return AblationResults(settings, cohort, fold_data, arm_runs, scores, stability_runs)


def beside_references(scores: pd.DataFrame) -> pd.DataFrame:
    """Each arm's median patient Dice beside the best no-training reference on its own crop (same boxes, same
    patients): an arm below it has not learnt what its prompt already gives, and a contrast between two such arms
    says little about the component."""
    medians = scores.groupby("method").dice.median()
    rows = []
    for name, arm in ARMS.items():
        references = medians[[m for m in medians.index if m.endswith(f"({arm.crop})")]]
        rows.append({"arm": arm.label, "median patient Dice": medians[name], "best reference": references.idxmax(),
                     "its median": references.max(), "margin": medians[name] - references.max()})
    return pd.DataFrame(rows).set_index("arm")
