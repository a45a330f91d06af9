"""The 2-D recipe: the flat settings chapters 03, 04 and 07 speak in (:class:`TrainConfig`, the notebooks'
parameters), laid out as the one loop's parts — :func:`plan` gives the :class:`~gtvlib.training.FitConfig`, the
:class:`~gtvlib.training.SliceRoute` and the objective, and :func:`train` runs :func:`gtvlib.training.fit`.

* ``gan``: GTV-SAMGAN, the generator loss plus an adversarial term from the mask discriminator
  (:class:`~gtvlib.training.Adversarial`);
* ``supervised``: SAM-Med2D fine-tuned with the generator loss alone, a baseline, or a prompt-free 2-class network
  (SANet) with an HCF loss (:class:`~gtvlib.training.Supervised`);
* ``classifier``: HCF's slice classifier (:class:`~gtvlib.training.SliceClassification`).

Optimiser: Adam, lr 1e-4, batch 4 (the paper); the authors' code choices are named options (``generator_every=5``,
``betas=(0.5, 0.999)``, ``discriminator_input="logits"``). ``python -m gtvlib.train --config run.yaml`` trains any
route and objective (:mod:`gtvlib.training.command`), under ``torchrun`` too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from gtvlib.util.errors import GtvError
from gtvlib.losses import LossWeights
from gtvlib.runs import RunRecord
from gtvlib.training import Adversarial, FitConfig, SliceClassification, SliceRoute, Supervised, fit
from gtvlib.training import run_for as run_for_parts
from gtvlib.training.config import learning_rate_schedule  # noqa: F401  (the chapters' and tests' name)
from gtvlib.training.loop import stopped_early  # noqa: F401
from gtvlib.training.objectives import GENERATOR_LOSS, classifier_step, gan_step, supervised_step  # noqa: F401

MODES = ("classifier", "gan", "supervised")


@dataclass
class TrainConfig:
    """A 2-D training in the chapters' flat vocabulary (each field goes to the part that uses it: see :func:`plan`).
    ``loss``: "" is the GTV-SAMGAN generator loss with ``weights``, else one of :data:`gtvlib.losses.HCF_LOSSES`;
    ``checkpoint``: the start weights (a weights name of ``data_manifest.yaml``, a file or a run folder)."""

    name: str = "gtv_samgan"
    mode: str = "gan"  # one of MODES: "gan" (GTV-SAMGAN), "supervised" (SAM-Med2D, baselines, SANet), "classifier"
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
    checkpoint: str = ""
    allow_unsafe_pickle: bool = False
    train_encoder: str = "adapters"  # "all" from random weights (the quick profile); not in the paper
    augment: bool = False  # random flips and transposes (seeded); not in the paper, used by the quick profile
    shift_px: int = 0  # random translation of image and label by up to ± shift_px (not in the paper; quick profile)
    schedule: str = "constant"  # or "warmup_cosine", "warm_restarts" (gtvlib.training.config.SCHEDULES)
    keep_checkpoints: int = 0  # 0 = every epoch (the paper saves each), N = the last N
    loss: str = ""
    balance: str = "theta0"
    optimizer: str = "adam"
    weight_decay: float = 0.0
    restart_epochs: int = 20
    patience: int = 0
    validation_slices: str = "tumour"


def plan(config: TrainConfig, data) -> tuple[FitConfig, SliceRoute, object]:
    """The loop's settings, the slice route over ``data`` (:class:`~gtvlib.data.slices.prepare.PreparedSlices`) and the
    objective of ``config.mode``; a mode that does not fit the model's task is a :class:`GtvError`."""
    from gtvlib.models import model_spec
    from gtvlib.losses import HCF_LOSSES

    if config.mode not in MODES:
        raise GtvError(f"training mode {config.mode!r} is unknown; expected one of {list(MODES)}")
    if config.loss not in ("", *HCF_LOSSES):
        raise GtvError(f"loss={config.loss!r}; expected one of {['', *HCF_LOSSES]}")
    task = model_spec(config.model).task
    if (task == "slice classification") != (config.mode == "classifier"):
        raise GtvError(f"mode {config.mode!r} with {config.model}, a {task} model; expected mode 'classifier' for a "
                       "slice classifier and 'gan' or 'supervised' for a segmentation model")
    fit_config = FitConfig(name=config.name, model=config.model, epochs=config.epochs, batch_size=config.batch_size,
                           lr=config.lr, optimizer=config.optimizer, betas=tuple(config.betas),
                           weight_decay=config.weight_decay, schedule=config.schedule,
                           restart_epochs=config.restart_epochs, patience=config.patience, init_from=config.checkpoint,
                           allow_unsafe_pickle=config.allow_unsafe_pickle, train_encoder=config.train_encoder,
                           seed=config.seed, device=config.device, num_workers=config.num_workers,
                           keep_checkpoints=config.keep_checkpoints)
    route = SliceRoute(data, balance=config.balance, box_jitter_px=config.box_jitter_px, augment=config.augment,
                       shift_px=config.shift_px, validation_slices=config.validation_slices)
    if config.mode == "classifier":
        objective = SliceClassification()
    elif config.mode == "gan":
        objective = Adversarial(dict(config.weights), config.generator_every, config.discriminator_input)
    else:
        objective = Supervised(config.loss or GENERATOR_LOSS, dict(config.weights))
    return fit_config, route, objective


def run_for(config: TrainConfig, data, root=None) -> RunRecord:
    """The run record of these settings (:func:`gtvlib.training.run_for` of :func:`plan`)."""
    return run_for_parts(*plan(config, data), root)


def train(config: TrainConfig, data, run: RunRecord | None = None) -> RunRecord:
    """Train by ``config.mode`` (:data:`MODES`) with :func:`gtvlib.training.fit`; return the run record."""
    return fit(*plan(config, data), run)


def train_gan(config: TrainConfig, data, run: RunRecord | None = None) -> RunRecord:
    """GTV-SAMGAN: the generator loss plus an adversarial term from the mask discriminator."""
    return train(replace(config, mode="gan"), data, run)


def train_supervised(config: TrainConfig, data, run: RunRecord | None = None) -> RunRecord:
    """Fine-tune with the generator loss only (no discriminator): the SAM-Med2D baseline."""
    return train(replace(config, mode="supervised"), data, run)


def sam_for_training(config: TrainConfig, data):
    """The model a run of ``config`` starts from (checked as :func:`gtvlib.training.fit` checks it; ``data`` None
    skips the slices' checks): the registered model, its start weights, the trained parts chosen."""
    from gtvlib.models import model_spec
    from gtvlib.training.loop import build_for_training

    fit_config, route, objective = plan(config, data)
    fit_config.check()
    spec = model_spec(config.model)
    objective.check(spec)
    if data is not None:
        route.check(fit_config, spec)
    return build_for_training(fit_config, spec)


def training_slices(config: TrainConfig, data):
    """The training patients' slices of ``config``'s route after balance sampling, with the seeded augmentation."""
    from gtvlib.models import model_spec

    fit_config, route, _ = plan(config, data)
    route.prepare(fit_config, model_spec(config.model))
    return route.dataset


def main(argv: list[str] | None = None) -> int:
    """``python -m gtvlib.train --config run.yaml`` (also under ``torchrun``): :func:`gtvlib.training.command.main`."""
    from gtvlib.training.command import main as command

    return command(argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
