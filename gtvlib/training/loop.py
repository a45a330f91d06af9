"""The one epoch loop: :func:`fit` trains any registered model on any route with any objective.

It reads in order, as nanoGPT's: where to compute (under ``torchrun`` each rank joins the process group; rank 0
validates and writes), the run record, the seeded model (``init_from``'s weights), the objective's parts and
optimisers, the schedule, the exact resume, then per epoch: early stopping (decided from ``epochs.csv``, so a
resumed run stops where the uninterrupted one did), the route's batches, one objective step each, the scheduler, and
validation after every ``validate_every``-th epoch and the last, recorded with a checkpoint.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict

import numpy as np

from gtvlib.runs import RunRecord
from gtvlib.util.errors import GtvError


def stopped_early(run: RunRecord, patience: int, metric: str = "val_patient_dice") -> bool:
    """True when the last ``patience`` recorded epochs brought no better ``metric`` than the best before them (epochs
    without validation, NaN, are passed over; without a validated epoch on each side there is nothing to decide)."""
    if patience <= 0 or not (run.folder / "epochs.csv").is_file():
        return False
    values = run.epochs()[metric].to_numpy(float)
    before, recent = values[:-patience], values[-patience:]
    if len(values) <= patience or np.isnan(before).all() or np.isnan(recent).all():
        return False  # nothing validated to compare with
    return bool(np.nanmax(recent) <= np.nanmax(before))


def run_for(config, route, objective, root=None) -> RunRecord:
    """The run record of these settings: ``<root>/<name>-<key>`` (root: ``$GTVLIB_RUNS``), the key hashing everything
    that determines the run's arithmetic — the loop's settings (:meth:`FitConfig.key_settings`), the route's and the
    objective's, the model's architecture and the data — so the same settings find the same folder and others never
    mix."""
    from gtvlib.models import model_spec

    return RunRecord.named(config.name, {"config": config.key_settings(),
                                         "route": {"kind": route.kind, **route.settings()},
                                         "objective": {"kind": objective.kind, **objective.settings()},
                                         "model": model_spec(config.model).settings, "data": route.data_key()}, root)


def method(route, objective) -> str:
    """What a run record says it was trained by: ``"<route>/<objective>"``."""
    return f"{route.kind}/{objective.kind}"


def build_for_training(config, spec):
    """The registered model of ``config.model``, seeded first (the same seed gives the same initial weights), its
    ``init_from`` weights loaded, every parameter trained when ``train_encoder == "all"``."""
    import torch

    from gtvlib.models import build_model
    from gtvlib.models.checkpoints import load_checkpoint
    from gtvlib.training.config import start_weights

    if spec.training_outputs is None:
        raise GtvError(f"model {spec.name!r} is not trained (a reference that needs no training); expected a trainable "
                       "model of gtvlib.models")
    torch.manual_seed(config.seed)
    model = build_model(config.model)
    weights = start_weights(config)
    if weights is not None:
        report = load_checkpoint(model, weights, config.allow_unsafe_pickle)
        if not os.environ.get("GTVLIB_BATCH"):
            print(report)
    if config.train_encoder == "all":
        for parameter in model.parameters():
            parameter.requires_grad = True
    return model


def _report(row: dict) -> None:
    if not os.environ.get("GTVLIB_BATCH"):
        print(f"epoch {row['epoch']}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "epoch"))


def fit(config, route, objective, run: RunRecord | None = None) -> RunRecord:
    """Train ``config.model`` on ``route``'s training patients with ``objective``; validate on its validation patients;
    return the run record (``run``, or the one of these settings: :func:`run_for`). Everything is checked before
    anything is written."""
    import torch

    from gtvlib.models import model_spec
    from gtvlib.training.config import learning_rate_schedule
    from gtvlib.util.device import init_distributed, pick_device

    config.check()
    spec = model_spec(config.model)
    objective.check(spec)
    route.check(config, spec)
    device, rank, world = init_distributed(pick_device(config.device))
    run = run or run_for(config, route, objective)
    run.writer = run.writer and rank == 0
    model = build_for_training(config, spec).to(device)
    route.prepare(config, spec)
    run.start(asdict(config), method=method(route, objective), route={"kind": route.kind, **route.settings()},
              objective={"kind": objective.kind, **objective.settings()}, **route.facts())
    parts, optimizers = objective.build(model, config, spec, device, world)
    schedulers = []
    if config.schedule != "constant":  # constant-rate checkpoints hold no scheduler
        steps = route.steps(config, rank, world)
        schedulers = {name: learning_rate_schedule(optimizer, config, steps) for name, optimizer in optimizers.items()}
        parts.update(schedulers)
        schedulers = list(schedulers.values())
    first = run.resume(parts)
    net = objective.net
    for epoch in range(first, config.epochs + 1):
        if stopped_early(run, config.patience, objective.monitor):
            break
        started = time.perf_counter()
        torch.manual_seed(config.seed * 1000 + epoch)  # dropout draws the same masks in a resumed run
        net.train()
        for index, batch in enumerate(route.batches(config, epoch, rank, world, device)):
            objective.step(index, batch)
            for scheduler in schedulers:
                scheduler.step()
        stats = objective.epoch_stats()
        if rank == 0:
            due = epoch % config.validate_every == 0 or epoch == config.epochs
            evaluation = route.evaluate(model, spec, objective, device) if due else route.unscored(objective)
            _report(run.end_epoch(epoch, stats, evaluation, time.perf_counter() - started, parts))
            run.prune_checkpoints(config.keep_checkpoints)
    _finish(world, net)
    return run


def _finish(world: int, net) -> None:
    """Under DDP, check that every rank ends with the same weights, then leave the process group."""
    if world <= 1:
        return
    import torch
    import torch.distributed as dist

    checksum = torch.stack([p.detach().double().sum() for p in net.parameters()]).sum().reshape(1)
    gathered = [torch.zeros_like(checksum) for _ in range(world)]
    dist.all_gather(gathered, checksum)
    if not all(torch.equal(g, gathered[0]) for g in gathered):
        raise RuntimeError(f"DDP ranks diverged: parameter checksums {[float(g) for g in gathered]}")
    dist.destroy_process_group()
