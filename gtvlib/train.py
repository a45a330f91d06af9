"""Training GTV-SAMGAN: one readable loop per mode, chosen by ``TrainConfig.mode`` from :data:`LOOPS`.

* ``supervised``: SAM-Med2D fine-tuned with the generator loss alone (the SAM-Med2D baseline);
* ``gan``: GTV-SAMGAN, the generator loss plus an adversarial term from the mask discriminator;
* ``classifier``: HCF's slice classifier, cross entropy on balance-sampled slices (METHODS.md §2).

Prompt-free 2-class networks (SANet) train in ``supervised`` mode with the options of METHODS.md §2: an HCF
loss, balance-sampled slices, AdamW, warm restarts, early stopping, validation on every slice.

Data: the tumour slices of the training patients of :func:`gtvlib.data.slices.prepare` (GTV-MFIT crop at the
model input) with a jittered ground-truth box; validation after every epoch on the validation patients'
tumour slices with ground-truth boxes (no jitter), scored per slice and per patient on the stitched 3-D
volume (:func:`gtvlib.evaluate.evaluate`). Each epoch is recorded in a :class:`gtvlib.runs.RunRecord`.
Optimiser: Adam, lr 1e-4, batch 4 (the paper); the authors' code choices are named options
(``generator_every=5``, ``betas=(0.5, 0.999)``, ``discriminator_input="logits"``).

Reproducibility: shuffling, augmentation and box jitter are seeded per epoch, so resuming from the last
checkpoint gives the same result as an uninterrupted run (on the CPU). bf16 autocast on CUDA. Under
``torchrun`` the model is wrapped in DistributedDataParallel (NCCL on GPUs, gloo on CPUs); rank 0 validates
and writes.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from gtvlib.data.slices.dataset import SliceDataset
from gtvlib.data.slices.prepare import PreparedSlices
from gtvlib.device import autocast, init_distributed, pick_device
from gtvlib.errors import GtvError
from gtvlib.evaluate import evaluate
from gtvlib.losses import LossWeights, discriminator_loss, generator_loss
from gtvlib.models.sam_med2d import sam_training_outputs
from gtvlib.progress import progress
from gtvlib.runs import RunRecord

DISCRIMINATOR_INPUTS = ("probabilities", "logits")
SCHEDULES = ("constant", "warmup_cosine", "warm_restarts")
OPTIMIZERS = ("adam", "adamw")
VALIDATION_SLICES = ("tumour", "all")
VALIDATION_BATCH = {"tumour": 8, "all": 32}  # every slice of a patient: larger batches, a third less time on a CPU
WARMUP_FRACTION = 0.05
TRAIN_ENCODER = ("adapters", "all")


@dataclass
class TrainConfig:
    """Everything that determines a run (written to params.yaml)."""

    name: str = "gtv_samgan"
    mode: str = "gan"  # a key of LOOPS: "gan" (GTV-SAMGAN), "supervised" (SAM-Med2D, baselines, SANet), "classifier"
    model: str = "sam_med2d_tiny"
    epochs: int = 2
    batch_size: int = 4
    lr: float = 1.0e-4
    betas: tuple[float, float] = (0.9, 0.999)  # the authors' code: (0.5, 0.999)
    weights: dict = field(default_factory=lambda: asdict(LossWeights()))
    generator_every: int = 1  # the authors' code updates the generator every 5th batch
    discriminator_input: str = "probabilities"  # or "logits" (the authors' code)
    box_jitter_px: int = 5
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    checkpoint: str = ""  # pretrained weights: a name of data_manifest.yaml's weights, or a path (see gtvlib.data.weights)
    allow_unsafe_pickle: bool = False
    # SAM-Med2D freezes the (pretrained) encoder except its adapters; from random weights there is nothing
    # worth freezing, so the quick profile trains it all ("all"). Not in the paper: a named option.
    train_encoder: str = "adapters"
    augment: bool = False  # random flips and transposes (seeded); not in the paper, used by the quick profile
    shift_px: int = 0  # random translation of image and label by up to ± shift_px (not in the paper; quick profile)
    # "constant" (the paper) or "warmup_cosine": linear warm-up over the first 5 % of steps, then cosine decay to 0
    # (not in the paper; a model trained from scratch in few steps needs it). With a schedule the epoch count
    # is part of the run's key, since it shapes every step.
    schedule: str = "constant"
    keep_checkpoints: int = 0  # checkpoints kept on disk: 0 = every epoch (the paper saves each), N = the last N
    # Prompt-free 2-class networks (HCF's SANet, METHODS.md §2): a loss of gtvlib.losses.HCF_LOSSES ("" = the
    # GTV-SAMGAN generator loss with ``weights``), training slices by balance sampling (θ0 = tumour slices only,
    # the only choice for a box-prompted model), AdamW with weight decay, cosine annealing with warm restarts every
    # ``restart_epochs``, early stopping after ``patience`` epochs without a better validation patient Dice (0: off),
    # and validation on every slice ("all": false positives on tumour-free slices count) or the tumour slices.
    loss: str = ""
    balance: str = "theta0"
    optimizer: str = "adam"
    weight_decay: float = 0.0
    restart_epochs: int = 20
    patience: int = 0
    validation_slices: str = "tumour"


# Fields added after runs were recorded: left out of a run's key while at their defaults, so the runs of the
# settings that existed before keep their folders.
ADDED_LATER = ("loss", "balance", "optimizer", "weight_decay", "restart_epochs", "patience", "validation_slices")
KEY_OMITS_AT_DEFAULT = {f.name: f.default for f in fields(TrainConfig) if f.name in ADDED_LATER}


def adam(parameters, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    """Adam over the trainable ``parameters`` (``foreach``: all tensors updated together, the same update as
    PyTorch's per-tensor loop, which is its CPU default)."""
    return torch.optim.Adam([p for p in parameters if p.requires_grad], lr=lr, betas=betas, foreach=True)


def optimizer_for(parameters, config: TrainConfig) -> torch.optim.Optimizer:
    """``config.optimizer`` over the trainable ``parameters``: Adam (the GTV-SAMGAN paper) or AdamW with
    ``weight_decay`` (HCF)."""
    if config.optimizer == "adamw":
        return torch.optim.AdamW([p for p in parameters if p.requires_grad], lr=config.lr, betas=tuple(config.betas),
                                 weight_decay=config.weight_decay, foreach=True)
    return adam(parameters, config.lr, tuple(config.betas))


def run_for(config: TrainConfig, data: PreparedSlices, root=None) -> RunRecord:
    """The run record of these settings: ``runs/<name>-<key>``, the key hashing everything that determines
    the run (the training settings, the model's architecture, the data) except where it computes and how many
    checkpoints it keeps, and, with the constant learning rate, the epoch count, so more epochs continue the
    same run."""
    from gtvlib.models import model_spec

    ignored = ("num_workers", "device", "keep_checkpoints") + (("epochs",) if config.schedule == "constant" else ())
    settings = {k: v for k, v in asdict(config).items()
                if k not in ignored and not (k in KEY_OMITS_AT_DEFAULT and v == KEY_OMITS_AT_DEFAULT[k])}
    return RunRecord.named(config.name, {"config": settings, "model": model_spec(config.model).settings,
                                         "spec": asdict(data.cache.spec), "cohort": str(data.cache.cohort),
                                         "training": list(data.training_ids), "validation": list(data.validation_ids)}, root)


def sam_for_training(config: TrainConfig, data: PreparedSlices):
    """The generator to train: the registered model, its pretrained weights if named, the trained parts chosen."""
    from gtvlib.models import build_model, model_spec
    from gtvlib.models.checkpoints import load_checkpoint
    from gtvlib.data.weights import resolve_weights

    if config.train_encoder not in TRAIN_ENCODER:
        raise GtvError(f"train_encoder={config.train_encoder!r}; expected 'adapters' (SAM-Med2D) or 'all'")
    if config.schedule not in SCHEDULES:
        raise GtvError(f"schedule={config.schedule!r}; expected one of {SCHEDULES}")
    from gtvlib.losses import HCF_LOSSES

    choices = [("optimizer", config.optimizer, OPTIMIZERS), ("validation_slices", config.validation_slices, VALIDATION_SLICES),
               ("loss", config.loss, ("", *HCF_LOSSES))]
    for name, value, allowed in choices:
        if value not in allowed:
            raise GtvError(f"{name}={value!r}; expected one of {list(allowed)}")
    if config.balance != "theta0" and model_spec(config.model).prompt != "none":
        raise GtvError(f"balance={config.balance!r} with {config.model}, which needs a box on every slice; tumour-free "
                       "slices have none: expected balance='theta0' for a box-prompted model")
    if config.discriminator_input not in DISCRIMINATOR_INPUTS:
        raise GtvError(f"discriminator_input={config.discriminator_input!r}; expected one of {DISCRIMINATOR_INPUTS}")
    classifier = model_spec(config.model).task == "slice classification"
    if classifier != (config.mode == "classifier"):
        raise GtvError(f"mode {config.mode!r} with {config.model}, a {model_spec(config.model).task} model; expected "
                       "mode 'classifier' for a slice classifier and 'gan' or 'supervised' for a segmentation model")
    if model_spec(config.model).training_outputs is None:
        raise GtvError(f"model {config.model!r} is not trained (a reference that needs no training); "
                       "expected a SAM-Med2D or baseline model of gtvlib.models")
    model = build_model(config.model)
    if config.checkpoint:
        weights = resolve_weights(config.checkpoint)
        path = weights.require_trusted() if config.allow_unsafe_pickle else weights.require()
        print(load_checkpoint(model, path, config.allow_unsafe_pickle))
    size = model_spec(config.model).input_size
    grid = data.cache.load(data.training_ids[0])[0].shape[1:]
    if grid != (size, size):
        raise GtvError(f"cached slices are {grid}, the model {config.model} takes {size} × {size}: "
                       "prepare the slices with size equal to the model input")
    if config.train_encoder == "all":
        for parameter in model.parameters():
            parameter.requires_grad = True
    return model


def training_slices(config: TrainConfig, data: PreparedSlices) -> SliceDataset:
    """The training patients' slices after balance sampling (``config.balance``; θ0: the tumour slices) with the
    seeded augmentation, and a jittered box prompt for a box-prompted model."""
    from gtvlib.models import model_spec

    pairs = data.pairs("training", config.balance, config.seed)
    if not pairs:
        raise GtvError(f"no tumour slices among the training patients {data.training_ids}")
    jitter = config.box_jitter_px if model_spec(config.model).prompt != "none" else None
    return SliceDataset(data.cache, pairs, config.seed, config.augment, jitter, config.shift_px)


def learning_rate_schedule(optimizer, config: TrainConfig, steps_per_epoch: int):
    """A per-step scheduler for ``optimizer`` (:data:`SCHEDULES`): constant; linear warm-up then cosine decay to 0
    over ``config.epochs`` × ``steps_per_epoch`` steps; or cosine annealing with warm restarts every
    ``config.restart_epochs`` epochs (HCF)."""
    import math

    total = max(config.epochs * steps_per_epoch, 1)
    warmup = max(int(WARMUP_FRACTION * total), 1)

    restart = max(config.restart_epochs * steps_per_epoch, 1)

    def factor(step: int) -> float:
        if config.schedule == "constant":
            return 1.0
        if config.schedule == "warm_restarts":  # SGDR: cosine from the full rate to 0, restarting every restart_epochs
            return 0.5 * (1 + math.cos(math.pi * (step % restart) / restart))
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(step - warmup, total - warmup) / max(total - warmup, 1)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def epoch_loader(dataset: SliceDataset, config: TrainConfig, epoch: int, rank: int, world: int):
    """The epoch's shuffled batches, seeded by (seed, epoch); under DDP each rank takes its share."""
    dataset.set_epoch(epoch)
    if world > 1:
        sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=config.seed)
        sampler.set_epoch(epoch)
        return torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, num_workers=config.num_workers)
    generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    return torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator,
                                       num_workers=config.num_workers)


def _loss_over_heads(heads: list[torch.Tensor], labels, predicted_iou, d_fake, weights: LossWeights) -> torch.Tensor:
    """The generator loss averaged over the supervised heads (one head unless a network is deeply supervised)."""
    losses = [generator_loss(head.float(), labels, None if predicted_iou is None else predicted_iou.float(),
                             d_fake if i == 0 else None, weights)[0] for i, head in enumerate(heads)]
    return torch.stack(losses).mean()


def supervised_step(net, optimizer, images, labels, boxes, weights: LossWeights = LossWeights(),
                    outputs=sam_training_outputs, loss_function=None) -> float:
    """One generator update on a batch: images (B, 1, S, S) in [0, 1], labels (B, 1, S, S), boxes (B, 4) or None.
    ``outputs``: the model's :attr:`~gtvlib.models.spec.ModelSpec.training_outputs` (SAM-Med2D's by default).
    ``loss_function(logits, labels)``: a loss of :data:`gtvlib.losses.HCF_LOSSES` for 2-class logits, averaged
    over the heads; None: the generator loss with ``weights``."""
    with autocast(images.device):
        heads, predicted_iou = outputs(net, images, boxes)
    if loss_function is None:
        loss = _loss_over_heads(heads, labels, predicted_iou, None, weights)
    else:
        loss = torch.stack([loss_function(head.float(), labels) for head in heads]).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def gan_step(net, judge, optimizer_g, optimizer_d, images, labels, boxes, weights: LossWeights = LossWeights(),
             update_generator: bool = True, discriminator_input: str = "probabilities",
             outputs=sam_training_outputs) -> tuple[float | None, float]:
    """One GTV-SAMGAN step: the discriminator learns real (ground truth) from generated masks, then, when
    ``update_generator``, the generator learns from the segmentation losses and the discriminator's verdict.
    Returns (generator loss or None, discriminator loss)."""
    with autocast(images.device):
        heads, predicted_iou = outputs(net, images, boxes)
    logits = heads[0].float()
    fake = logits if discriminator_input == "logits" else torch.sigmoid(logits)
    loss_d = discriminator_loss(judge(labels), judge(fake.detach()))  # 1 − D(real) + D(fake)
    optimizer_d.zero_grad(set_to_none=True)
    loss_d.backward()
    optimizer_d.step()
    if not update_generator:
        return None, float(loss_d.detach())
    loss_g = _loss_over_heads(heads, labels, predicted_iou, judge(fake), weights)
    optimizer_g.zero_grad(set_to_none=True)
    loss_g.backward()
    optimizer_g.step()
    return float(loss_g.detach()), float(loss_d.detach())


def _distributed(module, world: int):
    return torch.nn.parallel.DistributedDataParallel(module, find_unused_parameters=True) if world > 1 else module


def _unwrapped(module):
    return module.module if hasattr(module, "module") else module


@dataclass
class Setup:
    """What both loops set up the same way: where they compute, the run record, the generator, the data."""

    device: torch.device
    rank: int
    world: int
    run: RunRecord
    model: torch.nn.Module  # the generator (SAM-Med2D), on the device
    dataset: SliceDataset  # the training patients' tumour slices with box prompts


def set_up(config: TrainConfig, data: PreparedSlices, run: RunRecord | None = None) -> Setup:
    """Join the process group under torchrun, open the run record (rank 0 writes), seed, build the generator
    (the seed comes first, so the same seed gives the same initial weights) and the training slices."""
    device, rank, world = init_distributed(pick_device(config.device))
    run = run or run_for(config, data)
    run.writer = run.writer and rank == 0
    torch.manual_seed(config.seed)
    model = sam_for_training(config, data).to(device)
    data.require_tumour_slices()
    dataset = training_slices(config, data)
    run.start(asdict(config), training_patients=list(data.training_ids), validation_patients=list(data.validation_ids),
              slice_spec=asdict(data.cache.spec), source_geometry=data.cache.source_geometry(list(data.training_ids)),
              cohort=str(data.cache.cohort), training_slices=len(dataset))
    return Setup(device, rank, world, run, model, dataset)


def _schedulers(config: TrainConfig, setup: Setup, optimizers: dict, modules: dict) -> list:
    """Learning-rate schedulers of ``optimizers`` ({name: optimizer}), added to the checkpointed ``modules``
    (none with the constant rate, so constant-rate checkpoints keep their contents)."""
    if config.schedule == "constant":
        return []
    steps = len(epoch_loader(setup.dataset, config, 1, setup.rank, setup.world))
    schedulers = {name: learning_rate_schedule(optimizer, config, steps) for name, optimizer in optimizers.items()}
    modules.update(schedulers)
    return list(schedulers.values())


def _report(row: dict) -> None:
    if not os.environ.get("GTVLIB_BATCH"):
        print(f"epoch {row['epoch']}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "epoch"))


def train_supervised(config: TrainConfig, data: PreparedSlices, run: RunRecord | None = None) -> RunRecord:
    """Fine-tune SAM-Med2D with the generator loss only (no discriminator): the SAM-Med2D baseline."""
    from gtvlib.models import model_spec

    from gtvlib.losses import HCF_LOSSES

    setup = set_up(config, data, run)
    device, model = setup.device, setup.model
    optimizer = optimizer_for(model.parameters(), config)
    modules = {"model": model, "optimizer": optimizer}
    schedulers = _schedulers(config, setup, {"scheduler": optimizer}, modules)
    first = setup.run.resume(modules)
    net, weights, spec = _distributed(model, setup.world), LossWeights(**config.weights), model_spec(config.model)
    predict, loss_function = spec.predict, HCF_LOSSES.get(config.loss)
    for epoch in range(first, config.epochs + 1):
        if stopped_early(setup.run, config.patience):
            break
        started, net, losses = time.perf_counter(), net.train(), []
        torch.manual_seed(config.seed * 1000 + epoch)  # dropout draws the same masks in a resumed run
        loader = epoch_loader(setup.dataset, config, epoch, setup.rank, setup.world)
        for batch in progress(loader, f"epoch {epoch}", total=len(loader), leave=False):
            images, labels = batch["image"].to(device), batch["label"].to(device)
            boxes = batch["box"].to(device) if "box" in batch else None
            losses.append(supervised_step(net, optimizer, images, labels, boxes, weights, spec.training_outputs, loss_function))
            for scheduler in schedulers:
                scheduler.step()
        if setup.rank == 0:
            evaluation = evaluate(_unwrapped(net), data.cache, data.validation_ids, device, predict,
                                  slices=config.validation_slices, batch_size=VALIDATION_BATCH[config.validation_slices])
            _report(setup.run.end_epoch(epoch, {"train_g_loss": float(np.mean(losses))}, evaluation,
                                        time.perf_counter() - started, modules))
            setup.run.prune_checkpoints(config.keep_checkpoints)
    _finish(setup.world, net)
    return setup.run


def stopped_early(run: RunRecord, patience: int, metric: str = "val_patient_dice") -> bool:
    """True when the last ``patience`` recorded epochs brought no better ``metric`` than the best before them
    (early stopping; decided from ``epochs.csv``, so a resumed run stops where the uninterrupted one did)."""
    if patience <= 0 or not (run.folder / "epochs.csv").is_file():
        return False
    values = run.epochs()[metric].to_numpy(float)
    return len(values) > patience and np.nanmax(values[-patience:]) <= np.nanmax(values[:-patience])


def train_gan(config: TrainConfig, data: PreparedSlices, run: RunRecord | None = None) -> RunRecord:
    """GTV-SAMGAN: the generator loss plus an adversarial term from the mask discriminator."""
    from gtvlib.models import model_spec
    from gtvlib.models.discriminator import Discriminator

    setup = set_up(config, data, run)
    device, model = setup.device, setup.model
    discriminator = Discriminator(model_spec(config.model).input_size).to(device)
    betas = tuple(config.betas)
    optimizer_g, optimizer_d = adam(model.parameters(), config.lr, betas), adam(discriminator.parameters(), config.lr, betas)
    modules = {"model": model, "discriminator": discriminator, "optimizer": optimizer_g, "optimizer_d": optimizer_d}
    schedulers = _schedulers(config, setup, {"scheduler": optimizer_g, "scheduler_d": optimizer_d}, modules)
    first = setup.run.resume(modules)
    net, judge = _distributed(model, setup.world), _distributed(discriminator, setup.world)
    weights, spec = LossWeights(**config.weights), model_spec(config.model)
    predict = spec.predict
    for epoch in range(first, config.epochs + 1):
        started, net, g_losses, d_losses = time.perf_counter(), net.train(), [], []
        torch.manual_seed(config.seed * 1000 + epoch)  # dropout draws the same masks in a resumed run
        loader = epoch_loader(setup.dataset, config, epoch, setup.rank, setup.world)
        for step, batch in enumerate(progress(loader, f"epoch {epoch}", total=len(loader), leave=False)):
            images, labels, boxes = (batch[k].to(device) for k in ("image", "label", "box"))
            loss_g, loss_d = gan_step(net, judge, optimizer_g, optimizer_d, images, labels, boxes, weights,
                                      step % config.generator_every == 0, config.discriminator_input,
                                      spec.training_outputs)
            d_losses.append(loss_d)
            for scheduler in schedulers:
                scheduler.step()
            if loss_g is not None:
                g_losses.append(loss_g)
        if setup.rank == 0:
            evaluation = evaluate(_unwrapped(net), data.cache, data.validation_ids, device, predict)
            stats = {"train_g_loss": float(np.mean(g_losses)), "train_d_loss": float(np.mean(d_losses))}
            _report(setup.run.end_epoch(epoch, stats, evaluation, time.perf_counter() - started, modules))
            setup.run.prune_checkpoints(config.keep_checkpoints)
    _finish(setup.world, net)
    return setup.run


def classifier_step(net, optimizer, images, labels, outputs) -> float:
    """One update of a slice classifier: cross entropy of its 2-class logits (B, 2) against whether each label
    slice (B, 1, S, S) holds tumour."""
    targets = labels.flatten(1).any(dim=1).long()
    with autocast(images.device):
        heads, _ = outputs(net, images, None)
    loss = torch.nn.functional.cross_entropy(heads[0].float(), targets)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def train_classifier(config: TrainConfig, data: PreparedSlices, run: RunRecord | None = None) -> RunRecord:
    """HCF's slice classifier (a registry model of task "slice classification"): cross entropy on balance-sampled
    slices (``config.balance``; the paper's gate: θ1), validated by its slice recall and precision on every slice
    of the validation patients; early stopping on the slice F1."""
    from gtvlib.evaluate import evaluate_classifier
    from gtvlib.models import model_spec

    spec = model_spec(config.model)
    setup = set_up(config, data, run)  # refuses a segmentation model in this mode
    device, model = setup.device, setup.model
    optimizer = optimizer_for(model.parameters(), config)
    modules = {"model": model, "optimizer": optimizer}
    schedulers = _schedulers(config, setup, {"scheduler": optimizer}, modules)
    first = setup.run.resume(modules)
    net = _distributed(model, setup.world)
    for epoch in range(first, config.epochs + 1):
        if stopped_early(setup.run, config.patience, "val_slice_f1"):
            break
        started, net, losses = time.perf_counter(), net.train(), []
        torch.manual_seed(config.seed * 1000 + epoch)  # dropout draws the same masks in a resumed run
        loader = epoch_loader(setup.dataset, config, epoch, setup.rank, setup.world)
        for batch in progress(loader, f"epoch {epoch}", total=len(loader), leave=False):
            losses.append(classifier_step(net, optimizer, batch["image"].to(device), batch["label"].to(device),
                                          spec.training_outputs))
            for scheduler in schedulers:
                scheduler.step()
        if setup.rank == 0:
            evaluation = evaluate_classifier(_unwrapped(net), data.cache, data.validation_ids, device, spec.predict)
            _report(setup.run.end_epoch(epoch, {"train_loss": float(np.mean(losses))}, evaluation,
                                        time.perf_counter() - started, modules))
            setup.run.prune_checkpoints(config.keep_checkpoints)
    _finish(setup.world, net)
    return setup.run


LOOPS = {"gan": train_gan, "supervised": train_supervised, "classifier": train_classifier}


def train(config: TrainConfig, data: PreparedSlices, run: RunRecord | None = None) -> RunRecord:
    """Run the loop of ``config.mode`` (a key of :data:`LOOPS`); return its run record."""
    if config.mode not in LOOPS:
        raise GtvError(f"training mode {config.mode!r} is unknown; expected one of {sorted(LOOPS)}")
    return LOOPS[config.mode](config, data, run)


def _finish(world: int, net) -> None:
    """Under DDP, check that every rank ends with the same weights, then leave the process group."""
    if world <= 1:
        return
    import torch.distributed as dist

    checksum = torch.stack([p.detach().double().sum() for p in net.parameters()]).sum().reshape(1)
    gathered = [torch.zeros_like(checksum) for _ in range(world)]
    dist.all_gather(gathered, checksum)
    if not all(torch.equal(g, gathered[0]) for g in gathered):
        raise RuntimeError(f"DDP ranks diverged: parameter checksums {[float(g) for g in gathered]}")
    dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    """``python -m gtvlib.train --config run.yaml`` (also under ``torchrun``).

    run.yaml: ``run_dir``, ``cohort`` (folder of patient folders), ``training_patients``,
    ``validation_patients``, ``window``, ``crop`` ([row0, col0, row1, col1] or null), ``cache_dir``
    (optional) and ``config`` (TrainConfig fields, ``mode`` among them).
    """
    import argparse

    from gtvlib.data.slices.boxes import Box
    from gtvlib.data.slices.prepare import prepared_from_parts
    from gtvlib.models import model_spec
    from gtvlib.yamlfile import read_yaml

    parser = argparse.ArgumentParser(prog="python -m gtvlib.train")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    spec = read_yaml(args.config, "run configuration")
    required = ("run_dir", "cohort", "training_patients", "validation_patients", "config")
    missing = [key for key in required if not isinstance(spec, dict) or key not in spec]
    if missing:
        raise GtvError(f"{args.config}: {missing} missing; a run configuration needs {list(required)} "
                       "(and optionally window, crop, cache_dir)")
    try:
        config = TrainConfig(**spec.get("config", {}))
    except TypeError as exc:
        raise GtvError(f"{args.config}: config: {exc}; expected fields of TrainConfig") from None
    device, rank, world = init_distributed(pick_device(config.device))
    crop = spec.get("crop")
    data = prepared_from_parts(spec["cohort"], spec["training_patients"], spec["validation_patients"],
                               window=spec.get("window", "hcf_paper"), crop=Box(*crop) if crop else None,
                               size=model_spec(config.model).input_size, cache_dir=spec.get("cache_dir"), build=rank == 0)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()  # the other ranks wait for rank 0's slice cache
    train(config, data, RunRecord(spec["run_dir"], writer=rank == 0))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
