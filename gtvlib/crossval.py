"""Patient-level k-fold cross-validation and the one job list: fold splits of any route's data, and many runs
(folds, sweep points) trained at once, resumable (METHODS.md §2). The fold models' predictions on held-out patients,
the HCF cascade and fold voting are evaluation (:mod:`gtvlib.evaluation.cascade`).

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

import pandas as pd

from gtvlib.data.slices.splits import kfold_splits
from gtvlib.util.errors import GtvError


def fold_data(data, folds: int, seed: int = 0) -> list:
    """The k folds of ``data``'s training patients (seeded, by patient), each on the same slices (prepared slices)
    or volumes (a :class:`~gtvlib.data.volumes.VolumeSet`): fold k trains on the other parts and validates on part k.
    ``data``'s validation patients (the test set) are in no fold."""
    return [data.subset(training, validation) for training, validation in kfold_splits(data.training_ids, folds, seed)]


def prepared_folds(cohort, folds: int, seed: int = 0, **prepare) -> list:
    """Every patient of ``cohort`` validated once: k seeded patient-level folds, each prepared on its own
    (:func:`gtvlib.data.slices.prepare` with the fold's validation patients, so GTV-MFIT is found on the fold's
    training labels only; folds whose crops coincide share one cache). ``prepare``: window, crop, mfit_multiple,
    size. Returns the k :class:`~gtvlib.data.slices.prepare.PreparedSlices`."""
    from gtvlib.data import slices

    return [slices.prepare(cohort, validation_ids=validation, seed=seed, **prepare)
            for _, validation in kfold_splits(cohort.patient_ids, folds, seed)]


SLICE_FOLDS_ROOT = "gtv_samgan_folds"  # runs/<this>/: the box-prompted fold runs of chapters 3–5 (keyed by settings)


def slice_fold_trainings(folds: list, training: dict, box_prompt: str, edge_sd_mm: float, seed: int = 0,
                         name: str = "fold") -> list:
    """The :class:`~gtvlib.training.Training` of each fold (``folds``: prepared slices, one per fold, e.g.
    :func:`prepared_folds`) with the training settings ``training`` (the training's vocabulary, e.g.
    :class:`~gtvlib.sweeps.SweepSettings`' ``training``; ``objective`` among them), trained and validated with
    ``box_prompt`` boxes (:data:`gtvlib.prompts.BOX_PROMPTS`) whose edges are off by ``edge_sd_mm``."""
    from gtvlib.training import Training

    values = dict(training, box_prompt=box_prompt, prompt_edge_sd_mm=edge_sd_mm)
    objective = values.pop("objective", "adversarial")
    return [Training.of("slices", data, objective, **values, seed=seed, name=f"{name}{k}") for k, data in enumerate(folds)]


def train_folds(trainings: dict[str, list], workers: int = 1, show_progress: bool = True,
                root: str = SLICE_FOLDS_ROOT) -> pd.DataFrame:
    """Train (or reuse, or resume) every label's fold trainings in one job list under ``runs/<root>/``: the job table of
    :func:`train_jobs` with the label in ``arm``."""
    from gtvlib.util.paths import runs_dir

    jobs = [Job(label, k, training) for label, folds in trainings.items() for k, training in enumerate(folds)]
    return train_jobs(jobs, runs_dir() / root, workers, show_progress, "folds").rename(columns={"label": "arm"})


@dataclass(frozen=True)
class Job:
    """One run to train: a :class:`~gtvlib.training.plan.Training` (its route holding one fold's data: prepared slices,
    a volume set or a PET/CT set), with the ``label`` and ``fold`` (or seed) it is reported under; ``folder``: the root
    its run lives under when not the pool's (a sweep's configuration shares its folder with the chapter that trains
    it)."""

    label: str
    fold: int
    training: object
    folder: str | None = None

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
    run = training.run_for(job.folder or root)
    if complete(run, training.config, training.objective):
        return "reused", str(run.folder), 0.0
    status = "resumed" if run.checkpoints() else "trained"
    training.fit(run)
    return status, str(run.folder), time.perf_counter() - started


def train_jobs(jobs: list[Job], root=None, workers: int = 1, show_progress: bool = True,
               description: str = "training") -> pd.DataFrame:
    """Train every job that is not finished; ``workers`` > 1 trains that many at once in separate processes with
    ``cpu count // workers`` threads each (small networks use a 2-core CPU better that way), longest jobs first.
    Returns a table (label, fold, model, status, run, seconds) in the order of ``jobs``. Every list of runs (folds,
    a sweep's configurations × seeds, a chapter's arms) trains here."""
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
    bar = progress(range(len(jobs)), description, total=len(jobs), unit="run", enabled=show_progress)
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
