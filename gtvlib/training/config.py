"""What every training shares, whatever its data and its objective: :class:`FitConfig`, the optimiser and the
learning-rate schedule built from it, the start weights (``init_from``) and the run's key.

An option lives on the object that uses it: the data's options on the route (:mod:`gtvlib.training.routes`), the
step's on the objective (:mod:`gtvlib.training.objectives`), and here only what the one loop
(:func:`gtvlib.training.loop.fit`) itself uses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from gtvlib.util.errors import GtvError

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "warm_restarts")
TRAIN_ENCODER = ("adapters", "all")
WARMUP_FRACTION = 0.05


@dataclass
class FitConfig:
    """The settings of the loop itself (written to ``params.yaml`` as ``config``).

    ``steps_per_epoch``: optimiser steps per epoch; 0 is one pass over the route's training items (the slice route:
    every balance-sampled slice once; the patch and stack routes draw batches and need a number). ``optimizer``:
    ``"adam"`` (GTV-SAMGAN) or ``"adamw"`` with ``weight_decay``, ``betas`` of both; or ``"sgd"`` with Nesterov
    ``momentum`` (nnU-Net's: 0.99) and ``weight_decay``. ``schedule``: ``"constant"``
    (the paper), ``"cosine"`` (decay to 0 over all steps), ``"warmup_cosine"`` (a linear warm-up over the first 5 %
    of the steps, then cosine decay) or ``"warm_restarts"`` (cosine from the full rate to 0, restarting every
    ``restart_epochs``; HCF). ``patience``: stop after that many epochs without a better monitored validation score
    (the objective's; 0: off). ``validate_every``: validate after every n-th epoch and after the last (the others
    record NaN). ``init_from``: the start weights: a name of ``data_manifest.yaml``'s weights, a weights file, a
    run folder (its last checkpoint) or one of its checkpoints; "" for a random start. ``train_encoder``:
    ``"adapters"`` keeps what the model's builder froze (SAM-Med2D: the pretrained encoder but its adapters),
    ``"all"`` trains every parameter. ``keep_checkpoints``: 0 keeps every epoch's, N the last N."""

    name: str = "run"
    model: str = "sam_med2d_tiny"
    epochs: int = 2
    batch_size: int = 4
    steps_per_epoch: int = 0
    lr: float = 1.0e-4
    optimizer: str = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.99
    weight_decay: float = 0.0
    schedule: str = "constant"
    restart_epochs: int = 20
    patience: int = 0
    validate_every: int = 1
    init_from: str = ""
    allow_unsafe_pickle: bool = False
    train_encoder: str = "adapters"
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    keep_checkpoints: int = 0

    def check(self) -> None:
        """A :class:`GtvError` naming the first setting out of its range."""
        choices = [("optimizer", self.optimizer, OPTIMIZERS), ("schedule", self.schedule, SCHEDULES),
                   ("train_encoder", self.train_encoder, TRAIN_ENCODER)]
        for name, value, allowed in choices:
            if value not in allowed:
                raise GtvError(f"{name}={value!r}; expected one of {list(allowed)}")
        counts = [("epochs", self.epochs, 1), ("batch_size", self.batch_size, 1), ("steps_per_epoch", self.steps_per_epoch, 0),
                  ("validate_every", self.validate_every, 1), ("patience", self.patience, 0),
                  ("restart_epochs", self.restart_epochs, 1), ("keep_checkpoints", self.keep_checkpoints, 0)]
        for name, value, least in counts:
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise GtvError(f"{name}={value!r}; expected an integer ≥ {least}")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise GtvError(f"lr={self.lr!r}; expected a positive learning rate")
        if not 0 <= self.momentum < 1:
            raise GtvError(f"momentum={self.momentum!r}; expected a fraction from 0 to below 1")

    def key_settings(self) -> dict:
        """The settings that determine the run's arithmetic: all but where it computes, how many workers load
        its data and how many checkpoints it keeps, the momentum of an optimiser without it, and, at the constant
        rate, the epoch count (more epochs continue the same run)."""
        ignored = (("num_workers", "device", "keep_checkpoints") + (("epochs",) if self.schedule == "constant" else ())
                   + (("momentum",) if self.optimizer != "sgd" else ()))
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if k not in ignored}


def optimizer_for(parameters, config: FitConfig):
    """``config.optimizer`` over the trainable ``parameters``: Adam (GTV-SAMGAN), AdamW with ``weight_decay`` or SGD with
    Nesterov momentum (``foreach``: all tensors updated together, the same update as PyTorch's per-tensor loop, its
    CPU default)."""
    import torch

    trainable = [p for p in parameters if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(trainable, lr=config.lr, momentum=config.momentum, nesterov=config.momentum > 0,
                               weight_decay=config.weight_decay, foreach=True)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(trainable, lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay,
                                 foreach=True)
    return torch.optim.Adam(trainable, lr=config.lr, betas=tuple(config.betas), foreach=True)


def learning_rate_schedule(optimizer, config: FitConfig, steps_per_epoch: int):
    """A per-step scheduler of ``optimizer`` for ``config.schedule`` over ``config.epochs`` × ``steps_per_epoch``
    steps (:data:`SCHEDULES`)."""
    import torch

    total = max(config.epochs * steps_per_epoch, 1)
    warmup = max(int(WARMUP_FRACTION * total), 1)
    restart = max(config.restart_epochs * steps_per_epoch, 1)

    def factor(step: int) -> float:
        if config.schedule == "constant":
            return 1.0
        if config.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
        if config.schedule == "warm_restarts":  # SGDR: cosine from the full rate to 0, restarting every restart_epochs
            return 0.5 * (1 + math.cos(math.pi * (step % restart) / restart))
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(step - warmup, total - warmup) / max(total - warmup, 1)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def start_weights(config: FitConfig) -> Path | None:
    """The file ``config.init_from`` names: a run folder's last checkpoint, a checkpoint or weights file on disk,
    or a weights entry of ``data_manifest.yaml`` (checked against its recorded SHA-256 when unpickling is
    allowed); None for a random start. A name that resolves to nothing is a :class:`GtvError` saying where to
    place the file."""
    from gtvlib.data.weights import resolve_weights

    if not config.init_from:
        return None
    path = Path(config.init_from).expanduser()
    if path.is_dir():
        if not (path / "params.yaml").is_file():
            raise GtvError(f"init_from={config.init_from!r}: a folder without params.yaml; expected a run folder, a "
                           "checkpoint or weights file, or a weights name of data_manifest.yaml")
        from gtvlib.runs import RunRecord

        return RunRecord(path, writer=False).checkpoint_path()
    if path.is_file():
        return path
    weights = resolve_weights(config.init_from)
    return weights.require_trusted() if config.allow_unsafe_pickle else weights.require()
