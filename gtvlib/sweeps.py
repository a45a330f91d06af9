"""Sweeps: a grid of training configurations × seeds, resumable, summarised over seeds.

``python -m gtvlib.book sweep NAME [--profile P]`` runs one of :data:`GRIDS` with the training settings
of a profile (:data:`CHAPTER_DEFAULTS` — the GTV-SAMGAN chapter's parameters, which a test holds equal to its
notebook's ``parameters`` cell — overlaid with the ``03_train_gtv_samgan`` values of ``profiles.yaml``) on a 4:1
patient split of that chapter's cohort (chapters 3 and 4 score theirs out of fold on 5 folds instead; chapter 6
trains its one segmentation run here):

* ``ablation`` (Table 3): SAM-Med2D; + GTV-MFIT; + GAN; + GAN + GTV-MFIT (GTV-SAMGAN);
* ``loss_weights`` (Table 4): FL/Dice/MaskIoU/Mean weights 10/1/1/1, 20/0.5/0.5/1, 20/1/1/0.1, 20/1/1/1;
* ``baselines`` (Table 1): prompt-free MONAI networks of :mod:`gtvlib.models.baselines` on the same split,
  crop and grid.

Each (configuration, seed) trains into ``runs/<sweep>/<configuration>/seed<k>-<key>/`` (a
:class:`~gtvlib.runs.RunRecord`; the key hashes every setting, so other settings never reuse a folder). A run
whose ``epochs.csv`` already reaches the epoch count is skipped; an interrupted one resumes from its last
checkpoint (the training loops are seeded per epoch, so the result equals an uninterrupted run). The cohort
and the patient split stay fixed; the seed varies initialisation, shuffling, augmentation and box jitter:
seeds are the unit of replication. At the end the per-seed table (``runs/<sweep>/runs.csv``) and the
summary over seeds (``runs/<sweep>/summary.csv``) are written and returned.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from gtvlib.losses import LossWeights
from gtvlib.util.atomic import write_text_atomic
from gtvlib.util.errors import GtvError

CHAPTER = "03_train_gtv_samgan"  # its parameters are the sweeps' training settings
# The GTV-SAMGAN chapter's defaults of the names the sweeps read (its notebook's parameters cell; a test holds them
# equal); a sweep trains SWEEP_SEEDS seeds unless told otherwise.
CHAPTER_DEFAULTS = {"model_name": "sam_med2d_tiny", "mode": "gan", "epochs": 12, "batch_size": 8, "learning_rate": 2.0e-3,
                    "train_encoder": "all", "augment": True, "box_jitter_px": 1, "shift_px": 8,
                    "schedule": "warmup_cosine", "keep_checkpoints": 1, "checkpoint": "", "allow_unsafe_pickle": False,
                    "dataset": "synthetic", "preset": "graded", "seed": 0, "window": "hcf_paper", "mfit_multiple": 32}
SWEEP_SEEDS = 3
# Chapters 3 and 4 score their cohort out of fold; a sweep (and chapter 6's one segmentation run) splits it 4:1.
SWEEP_DATA_DEFAULTS = {"validation_fraction": 0.2}


@dataclass(frozen=True)
class GridPoint:
    """One configuration of a grid: a folder-safe ``name``, the ``label`` of the paper's tables, the training settings
    it sets (:meth:`gtvlib.training.Training.of`'s vocabulary on the slice route) and the crop of its slices
    (``mfit`` or ``none``)."""

    name: str
    label: str
    overrides: dict = field(default_factory=dict)
    crop: str = "mfit"
    shared_with: str = ""  # "<sweep>/<configuration>" whose runs are the same settings (trained once, used twice)


def _weights(focal, dice, iou, mean) -> dict:
    return {"weights": asdict(LossWeights(focal, dice, iou, mean))}


# Prompt-free networks train at the paper's batch of 4 in every profile: at the quick profile's 8 (half the
# steps), three of the six predicted nothing after 12 epochs (measured, benchmarks/RESULTS.md).
_PROMPT_FREE = {"objective": "supervised", "init_from": "", "allow_unsafe_pickle": False, "batch_size": 4,
                **_weights(1.0, 1.0, 0.0, 0.0)}

GRIDS: dict[str, list[GridPoint]] = {
    "ablation": [
        GridPoint("sam_med2d", "SAM-Med2D", {"objective": "supervised"}, crop="none"),
        GridPoint("mfit", "+GTV-MFIT", {"objective": "supervised"}),
        GridPoint("gan", "+GAN", {"objective": "adversarial"}, crop="none"),
        GridPoint("gan_mfit", "+GAN+GTV-MFIT (GTV-SAMGAN)", {"objective": "adversarial"}),
    ],
    "loss_weights": [
        GridPoint("fl10_d1_i1_m1", "10FL+1Dice+1MaskIoU+1Mean", {"objective": "adversarial", **_weights(10.0, 1.0, 1.0, 1.0)}),
        GridPoint("fl20_d05_i05_m1", "20FL+0.5Dice+0.5MaskIoU+1Mean", {"objective": "adversarial", **_weights(20.0, 0.5, 0.5, 1.0)}),
        GridPoint("fl20_d1_i1_m01", "20FL+1Dice+1MaskIoU+0.1Mean", {"objective": "adversarial", **_weights(20.0, 1.0, 1.0, 0.1)}),
        GridPoint("fl20_d1_i1_m1", "20FL+1Dice+1MaskIoU+1Mean (paper)", {"objective": "adversarial", **_weights(20.0, 1.0, 1.0, 1.0)},
                  shared_with="ablation/gan_mfit"),
    ],
    "baselines": [
        GridPoint("unet", "U-Net (MONAI UNet)", {"model": "unet", **_PROMPT_FREE}),
        GridPoint("unetpp", "UNet++ (MONAI BasicUNetPlusPlus)", {"model": "unetpp", **_PROMPT_FREE}),
        GridPoint("unetpp_ds", "UNet++ deep supervision", {"model": "unetpp_ds", **_PROMPT_FREE}),
        GridPoint("swin_unetr", "SwinUNETR 2-D (MONAI; not Swin-Unet)", {"model": "swin_unetr", **_PROMPT_FREE}),
        GridPoint("dynunet", "DynUNet (MONAI; nnU-Net's architecture, not its pipeline)", {"model": "dynunet", **_PROMPT_FREE}),
        GridPoint("attention_unet", "Attention U-Net (MONAI AttentionUnet)", {"model": "attention_unet", **_PROMPT_FREE}),
    ],
}

# chapter-3 parameter → training setting (gtvlib.training.Training.of on the slice route)
_TRAINING_PARAMETERS = {"model_name": "model", "mode": "objective", "epochs": "epochs", "batch_size": "batch_size",
                        "learning_rate": "lr", "train_encoder": "train_encoder", "augment": "augment",
                        "box_jitter_px": "box_jitter_px", "shift_px": "shift_px", "schedule": "schedule",
                        "keep_checkpoints": "keep_checkpoints", "checkpoint": "init_from",
                        "allow_unsafe_pickle": "allow_unsafe_pickle"}
OBJECTIVE_OF_MODE = {"gan": "adversarial", "supervised": "supervised"}  # the chapter's ``mode`` → objective
_DATA_PARAMETERS = ("dataset", "preset", "seed", "window", "mfit_multiple", "validation_fraction")
CHAPTER_PARAMETERS = (*_TRAINING_PARAMETERS, "dataset", "preset", "seed", "window", "mfit_multiple")  # the chapter-3 names the sweeps read


@dataclass
class SweepSettings:
    """What every configuration of a sweep shares: ``training`` (training settings), ``data`` (dataset, preset, seed of
    the cohort and split, window, mfit_multiple, validation_fraction) and the training ``seeds``."""

    training: dict
    data: dict
    seeds: tuple[int, ...] = (0, 1, 2)
    profile: str = ""


def settings_from_parameters(parameters: dict, seeds=(0, 1, 2), profile: str = "") -> SweepSettings:
    """Sweep settings from the GTV-SAMGAN chapter's parameters (the notebook's names, e.g. ``learning_rate``)."""
    training = {field_name: parameters[name] for name, field_name in _TRAINING_PARAMETERS.items() if name in parameters}
    if training.get("objective") not in (None, *OBJECTIVE_OF_MODE):
        raise GtvError(f"mode {training['objective']!r}; expected one of {sorted(OBJECTIVE_OF_MODE)}")
    training.update({"objective": OBJECTIVE_OF_MODE[training["objective"]]} if "objective" in training else {})
    if training.get("init_from"):  # a named file that is absent means random initialisation, as in the chapter
        from gtvlib.data.weights import resolve_weights

        training["init_from"] = resolve_weights(training["init_from"]).usable
    data = {name: parameters[name] for name in _DATA_PARAMETERS if name in parameters}
    return SweepSettings(training, data, tuple(int(s) for s in seeds), profile)


def sweep_settings(profile: str = "quick", root=None, seeds=None) -> SweepSettings:
    """The settings of ``profile``: :data:`CHAPTER_DEFAULTS` overlaid with the profile's values for every notebook
    and for the GTV-SAMGAN chapter (``profiles.yaml``); ``seeds`` (default:
    :data:`SWEEP_SEEDS`) seeds 0 … n − 1."""
    from gtvlib.book.profiles import load_profiles
    from gtvlib.util.paths import project_root

    root = Path(root or project_root())
    profiles = load_profiles(root / "profiles.yaml")
    if profile not in profiles:
        raise GtvError(f"profile {profile!r} is not in {root / 'profiles.yaml'}; expected one of {sorted(profiles)}")
    chosen = profiles[profile]

    def values_for(stem: str, names) -> dict:  # the profile's values a notebook declaring ``names`` receives
        return {**{k: v for k, v in chosen.parameters.items() if k in names}, **chosen.notebooks.get(stem, {})}

    parameters = {**CHAPTER_DEFAULTS, **values_for(CHAPTER, CHAPTER_DEFAULTS), **SWEEP_DATA_DEFAULTS}
    if seeds is None:
        seeds = range(SWEEP_SEEDS)
    return settings_from_parameters(parameters, seeds, profile)


def default_data(settings: SweepSettings) -> Callable[[str], object]:
    """``crop → PreparedSlices`` for the settings' cohort, split and window (cached by :func:`slices.prepare`)."""
    from gtvlib.data import slices
    from gtvlib.data.cohort import open_cohort
    from gtvlib.models import model_spec

    d = settings.data
    cohort = open_cohort(d.get("dataset", "synthetic"), preset=d.get("preset", "quick"), seed=d.get("seed", 0))
    size = model_spec(settings.training.get("model", "sam_med2d_tiny")).input_size or None
    prepared = {}

    def data_for(crop: str):
        if crop not in prepared:
            prepared[crop] = slices.prepare(cohort, window=d.get("window", "hcf_paper"), crop=crop,
                                            mfit_multiple=d.get("mfit_multiple", 64), size=size,
                                            validation_fraction=d.get("validation_fraction", 0.2), seed=d.get("seed", 0))
        return prepared[crop]

    return data_for


def grid(name: str, only: list[str] | None = None) -> list[GridPoint]:
    """The configurations of grid ``name`` (optionally only those named in ``only``)."""
    if name not in GRIDS:
        raise GtvError(f"sweep {name!r} is unknown; expected one of {sorted(GRIDS)}")
    points = GRIDS[name]
    if only:
        unknown = sorted(set(only) - {p.name for p in points})
        if unknown:
            raise GtvError(f"sweep {name!r} has no configuration {unknown}; expected some of {[p.name for p in points]}")
        points = [p for p in points if p.name in only]
    return points


def training_of(point: GridPoint, settings: SweepSettings, seed: int, data):
    """The :class:`~gtvlib.training.Training` of one configuration and seed on ``data`` (prepared slices)."""
    from gtvlib.training import Training

    values = {**settings.training, **point.overrides, "seed": seed, "name": f"seed{seed}"}
    objective = values.pop("objective", "adversarial")
    try:
        return Training.of("slices", data, objective, **values)
    except GtvError as exc:
        raise GtvError(f"configuration {point.name!r}: {exc}") from None


def final_scores(run) -> dict:
    """The last epoch's validation scores of a run (``val_`` columns of ``epochs.csv`` without the prefix)."""
    last = run.epochs().iloc[-1]
    return {**{k[4:]: float(v) for k, v in last.items() if k.startswith("val_")}, "epochs": int(last.epoch)}


def _run_folder(root: Path, name: str, point: GridPoint) -> Path:
    return root / (point.shared_with or f"{name}/{point.name}")


def chapter_point(mode: str) -> GridPoint:
    """The ``ablation`` configuration that the GTV-SAMGAN chapter trains: ``gan_mfit`` (GTV-SAMGAN) for
    mode ``gan``, ``mfit`` (SAM-Med2D with GTV-MFIT) for ``supervised``."""
    names = {"gan": "gan_mfit", "supervised": "mfit"}
    if mode not in names:
        raise GtvError(f"mode {mode!r}; expected one of {sorted(names)}")
    return grid("ablation", [names[mode]])[0]


def train_point(name: str, point: GridPoint, settings: SweepSettings, seed: int, data, runs_root=None):
    """Train (resume, or reuse) one configuration and seed of sweep ``name`` on ``data``; return its
    :class:`~gtvlib.runs.RunRecord`, the same folder the sweep uses (so a chapter and the sweep share it)."""
    from gtvlib.crossval import Job, train_job
    from gtvlib.runs import RunRecord
    from gtvlib.util.paths import runs_dir

    folder = _run_folder(Path(runs_root or runs_dir()), name, point)
    _, run_folder, _ = train_job(Job(point.name, seed, training_of(point, settings, seed, data)), str(folder))
    return RunRecord(run_folder)


def run_sweep(name: str, settings: SweepSettings, data_for: Callable[[str], object] | None = None, runs_root=None,
              only: list[str] | None = None, show_progress: bool = True, workers: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train every configuration × seed of grid ``name`` that is not finished; return (per-seed runs table,
    summary over seeds), both also written under ``runs/<name>/``.

    ``data_for(crop)`` gives the prepared slices of a crop (default: :func:`default_data` of ``settings``). The runs
    train through the one job list, :func:`gtvlib.crossval.train_jobs`: ``workers`` > 1 trains that many at once in
    separate processes, each with ``cpu count // workers`` threads (tiny models use a 2-core CPU better that way).
    """
    from gtvlib.crossval import Job, train_jobs
    from gtvlib.runs import RunRecord
    from gtvlib.util.paths import runs_dir

    points = grid(name, only)
    data_for = data_for or default_data(settings)
    root = Path(runs_root or runs_dir())
    pairs = [(point, seed) for point in points for seed in settings.seeds]
    jobs = [Job(point.name, seed, training_of(point, settings, seed, data_for(point.crop)), str(_run_folder(root, name, point)))
            for point, seed in pairs]
    trained = train_jobs(jobs, root, workers, show_progress, f"sweep {name}")
    runs = pd.DataFrame([{"sweep": name, "config": point.name, "label": point.label, "seed": seed, "run": row.run,
                          "status": row.status, **final_scores(RunRecord(row.run))}
                         for (point, seed), row in zip(pairs, trained.itertuples())])
    summary = summarise_runs(runs)
    (root / name).mkdir(parents=True, exist_ok=True)
    write_text_atomic(root / name / "runs.csv", runs.to_csv(index=False))
    write_text_atomic(root / name / "summary.csv", summary.to_csv(index=False))
    return runs, summary


SUMMARY_METRICS = ("slice_dice", "slice_sensitivity", "slice_specificity", "slice_jaccard", "slice_hd95_mm",
                   "patient_dice", "patient_dice_median")


def summarise_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD over seeds of every metric of :data:`SUMMARY_METRICS`, one row per configuration."""
    rows = []
    for (config, label), group in runs.groupby(["config", "label"], sort=False):
        row = {"config": config, "label": label, "seeds": len(group)}
        for metric in SUMMARY_METRICS:
            values = group[metric].to_numpy(dtype=float)
            values = values[np.isfinite(values)]  # an undefined HD95 (empty masks) is not averaged as a number
            row[f"{metric}_mean"] = float(np.mean(values)) if values.size else float("nan")
            row[f"{metric}_sd"] = float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def format_summary(summary: pd.DataFrame, metrics=("slice_dice", "slice_sensitivity", "slice_specificity",
                                                   "slice_jaccard", "slice_hd95_mm", "patient_dice_median")) -> pd.DataFrame:
    """The summary as 'mean ± SD' strings (Dice-like metrics in %, HD95 in mm), indexed by label."""
    table = {}
    for metric in metrics:
        scale, unit = (1.0, " (mm)") if "hd95" in metric else (100.0, " (%)")
        table[metric.replace("_", " ") + unit] = [f"{scale * m:.2f} ± {scale * s:.2f}" if np.isfinite(s) else f"{scale * m:.2f}"
                                                   for m, s in zip(summary[f"{metric}_mean"], summary[f"{metric}_sd"])]
    return pd.DataFrame(table, index=summary["label"].to_list())


def main_sweep(name: str, profile: str, seeds=None, only=None, epochs: int | None = None, root=None,
               workers: int = 1) -> int:
    """The command line's ``sweep``: run, print the summary and where it was saved."""
    settings = sweep_settings(profile, root, seeds)
    if epochs is not None:
        settings.training["epochs"] = epochs
    show = not os.environ.get("GTVLIB_BATCH")
    runs, summary = run_sweep(name, settings, only=only, show_progress=show, workers=workers)
    counts = runs.status.value_counts().to_dict()
    print(f"sweep {name} ({profile} profile, seeds {list(settings.seeds)}): {counts}")
    print(format_summary(summary).to_string())
    from gtvlib.util.paths import runs_dir

    print(f"saved: {runs_dir() / name / 'summary.csv'}")
    return 0


def per_patient_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Long table (config, label, seed, patient, dice, hd95_mm) of every run's last-epoch per-patient 3-D scores."""
    from gtvlib.runs import RunRecord

    frames = []
    for row in runs.itertuples():
        table = RunRecord(row.run).per_patient()[["patient", "dice", "hd95_mm"]]
        frames.append(table.assign(config=row.config, label=row.label, seed=row.seed))
    return pd.concat(frames, ignore_index=True)[["config", "label", "seed", "patient", "dice", "hd95_mm"]]
