"""Patient-level k-fold cross-validation of 2-D models: fold splits, training many runs at once (resumable),
the fold models' predictions on held-out patients, the HCF cascade and fold voting (METHODS.md §2).

The protocol of the HCF paper: the test patients (StructSeg: 10 of 50) stay outside every fold; the others are
split by patient into k folds (5); fold k trains on the other k − 1 parts and validates on part k (curves, early
stopping); every fold model then predicts *every* slice of the test patients, the fold's classifier gates its
segmenter (the cascade), a voxel is GTV where more than half of the fold models mark it, and the 3 largest 3-D
components are kept. Per-fold scores on the test patients give the paper's "mean ± SD over folds".

Each (configuration, fold) is a :class:`~gtvlib.runs.RunRecord` under ``runs/<root>/`` keyed by every setting and
the fold's patients (:func:`gtvlib.training.run_for`): a finished run is reused, an interrupted one resumes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gtvlib.data.slices.splits import kfold_splits
from gtvlib.util.errors import GtvError


def fold_data(data, folds: int, seed: int = 0) -> list:
    """The k folds of ``data``'s training patients (seeded, by patient), each on the same slices (prepared slices)
    or volumes (a :class:`~gtvlib.data.volumes.VolumeSet`): fold k trains on the other parts and validates on part k.
    ``data``'s validation patients (the test set) are in no fold."""
    return [data.subset(training, validation) for training, validation in kfold_splits(data.training_ids, folds, seed)]


@dataclass(frozen=True)
class Job:
    """One run to train: a :class:`~gtvlib.training.plan.Training` (its route holding one fold's data: prepared slices,
    a volume set or a PET/CT set), with the ``label`` and ``fold`` it is reported under."""

    label: str
    fold: int
    training: object

    def cost(self) -> int:
        """Training items × epochs: the order in which a pool takes the jobs (longest first)."""
        return self.training.cost()


def complete(run, config, objective) -> bool:
    """Whether ``run`` has nothing left to train: its ``epochs.csv`` reaches ``config.epochs`` (a
    :class:`~gtvlib.training.FitConfig`) or early stopping on the ``objective``'s score ended it."""
    from gtvlib.training import stopped_early

    path = run.folder / "epochs.csv"
    if not path.is_file() or (epochs := run.epochs()).empty:
        return False
    return int(epochs.epoch.max()) >= config.epochs or stopped_early(run, config.patience, objective.monitor)


def train_job(job: Job, root: str, threads: int = 0) -> tuple[str, str, float]:
    """Train (resume, or reuse) one job under ``root``: (what was done, the run folder, seconds)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    training = job.training
    run = training.run_for(root)
    if complete(run, training.config, training.objective):
        return "reused", str(run.folder), 0.0
    status = "resumed" if run.checkpoints() else "trained"
    training.fit(run)
    return status, str(run.folder), time.perf_counter() - started


def train_jobs(jobs: list[Job], root=None, workers: int = 1, show_progress: bool = True) -> pd.DataFrame:
    """Train every job that is not finished; ``workers`` > 1 trains that many at once in separate processes with
    ``cpu count // workers`` threads each (small networks use a 2-core CPU better that way), longest jobs first.
    Returns a table (label, fold, model, status, run, seconds) in the order of ``jobs``."""
    from gtvlib.util.paths import runs_dir
    from gtvlib.util.progress import progress

    if not jobs:
        raise GtvError("no training jobs; expected at least one (configuration, fold)")
    keys = [(job.label, job.fold) for job in jobs]
    if len(set(keys)) != len(keys):
        raise GtvError(f"jobs repeat a (label, fold): {sorted(k for k in set(keys) if keys.count(k) > 1)}; expected each once")
    root = str(root or runs_dir() / "crossval")
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i].cost())
    done = {}
    bar = progress(range(len(jobs)), "training", total=len(jobs), unit="run", enabled=show_progress)
    if workers > 1:
        from concurrent.futures import as_completed

        from gtvlib.util.parallel import spawn_pool, threads_per_worker

        threads = threads_per_worker(workers)
        with spawn_pool(workers) as pool:
            futures = {pool.submit(train_job, jobs[i], root, threads): i for i in order}
            for future, _ in zip(as_completed(futures), bar):
                done[futures[future]] = future.result()
    else:
        for i, _ in zip(order, bar):
            done[i] = train_job(jobs[i], root)
    return pd.DataFrame([{"label": job.label, "fold": job.fold, "model": job.training.config.model, "status": done[i][0],
                          "run": done[i][1], "seconds": round(done[i][2], 1)} for i, job in enumerate(jobs)])


def fold_masks(run_folders, cache, patient_ids: list[str], device=None) -> list[dict[str, np.ndarray]]:
    """Each run's last model predicting every slice of ``patient_ids``: per run, patient → (z, S, S) bool."""
    import torch

    from gtvlib.evaluate import predict_patients
    from gtvlib.models.trained import load_trained

    device = device or torch.device("cpu")
    out = []
    for folder in run_folders:
        trained = load_trained(folder)
        out.append(predict_patients(trained.model.to(device), trained.spec.predict, cache, patient_ids, device))
    return out


def fold_gates(run_folders, cache, patient_ids: list[str], device=None) -> list:
    """Each classifier run's last model on every slice of ``patient_ids``: a
    :class:`~gtvlib.evaluate.ClassifierEvaluation` per run."""
    import torch

    from gtvlib.evaluate import evaluate_classifier
    from gtvlib.models.trained import load_trained

    device = device or torch.device("cpu")
    out = []
    for folder in run_folders:
        trained = load_trained(folder)
        out.append(evaluate_classifier(trained.model.to(device), cache, patient_ids, device, trained.spec.predict))
    return out


def decisions_of(gate, cache, patient_ids: list[str]) -> dict[str, np.ndarray]:
    """A classifier evaluation's slice decisions per patient: patient → (z,) bool."""
    return {pid: gate.decisions(pid, len(cache.has_tumour(pid))) for pid in patient_ids}


def gated(masks: dict[str, np.ndarray], decisions: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """The cascade: every slice the classifier rejected emptied (``decisions`` None: the masks unchanged)."""
    from gtvlib.postprocess import gate

    return dict(masks) if decisions is None else {pid: gate(mask, decisions[pid]) for pid, mask in masks.items()}


def voted(masks_by_fold: list[dict[str, np.ndarray]], keep_components: int = 0) -> dict[str, np.ndarray]:
    """Fold voting (a voxel is GTV where more than half of the fold models mark it), then the ``keep_components``
    largest 3-D components (0: all)."""
    from gtvlib.postprocess import largest_components, vote

    if not masks_by_fold:
        raise GtvError("no fold predictions to vote on")
    out = {}
    for pid in masks_by_fold[0]:
        mask = vote([masks[pid] for masks in masks_by_fold])
        out[pid] = largest_components(mask, keep_components) if keep_components else mask
    return out


def fold_scores(masks_by_fold: list[dict[str, np.ndarray]], cache, decisions_by_fold=None,
                keep_components: int = 0) -> pd.DataFrame:
    """Per fold and patient the 3-D scores of :func:`gtvlib.evaluate.cascade_table` (the segmenter alone, and
    through fold k's gate when ``decisions_by_fold`` is given, and after keeping the largest components), with a
    ``fold`` column."""
    from gtvlib.evaluate import cascade_table

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
