"""The 2.5-D PET/CT recipe (seed 004, METHODS.md §5): a registered ``igtv``-family network (:mod:`gtvlib.models.igtv`:
its modalities, slices and widths) on a slice and its neighbours per modality, the middle slice's IGTV (or GTV)
out; Dice + binary cross entropy; AdamW with cosine decay; validation on every slice of the validation patients
within the body's box, scored in 3-D with the CT's spacing. ``init_from``: a checkpoint (e.g. a GTV model's run) to
start from: the transfer-learning arm. :class:`PetCtConfig` is the chapter's flat vocabulary; :func:`plan` lays it
out as the one loop's parts (:class:`~gtvlib.training.StackRoute`) and :func:`train_petct` runs
:func:`gtvlib.training.fit`. The cases themselves are :mod:`gtvlib.data.petct`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from gtvlib.data.petct import TARGETS, PetCtSet, target_of as _target_of  # noqa: F401
from gtvlib.util.errors import GtvError
from gtvlib.training import FitConfig, StackRoute, Supervised, fit
from gtvlib.training import run_for as run_for_parts

TASK = "2.5-D PET/CT segmentation"


@dataclass
class PetCtConfig:
    """A 2.5-D PET/CT run in the chapter's flat vocabulary. ``model``: a registered ``igtv``-family network;
    ``target``: ``"igtv"`` or ``"gtv"``; ``patch_px``: side of the square training crops (a multiple of 8; 0: whole
    slices); ``suv_scale``: SUV divided by it; ``validate_every``: validate after every n-th epoch and after the
    last; ``patience``: early stopping on the validation patient Dice (0: off)."""

    name: str = "igtv"
    target: str = "igtv"
    model: str = "igtv_small"
    patch_px: int = 0
    epochs: int = 10
    steps_per_epoch: int = 20
    batch_size: int = 8
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-4
    foreground_fraction: float = 0.5
    window: str = "mediastinal"
    suv_scale: float = 10.0
    init_from: str = ""
    validate_every: int = 1
    patience: int = 0
    seed: int = 0
    keep_checkpoints: int = 1
    device: str = "auto"


def architecture(config: PetCtConfig) -> dict:
    """The registered settings of ``config.model`` (modalities, slices, widths, slice interaction, mixer)."""
    from gtvlib.models import model_spec

    spec = model_spec(config.model)
    if spec.task != TASK:
        raise GtvError(f"model {config.model!r} is a {spec.task} model; expected a {TASK} network of the igtv family "
                       "(e.g. igtv_small)")
    return spec.settings


def build_network(config: PetCtConfig):
    """The :class:`~gtvlib.models.igtv.IGTVNet` of ``config.model`` (random initialisation)."""
    from gtvlib.models import build_model

    architecture(config)
    return build_model(config.model)


def plan(config: PetCtConfig, data: PetCtSet) -> tuple[FitConfig, StackRoute, Supervised]:
    """The loop's settings (AdamW, cosine decay over all steps, ``init_from``), the stack route over ``data`` and
    Dice + BCE."""
    fit_config = FitConfig(name=config.name, model=config.model, epochs=config.epochs, batch_size=config.batch_size,
                           steps_per_epoch=config.steps_per_epoch, lr=config.lr, optimizer="adamw",
                           weight_decay=config.weight_decay, schedule="cosine", patience=config.patience,
                           validate_every=config.validate_every, init_from=config.init_from, seed=config.seed,
                           device=config.device, keep_checkpoints=config.keep_checkpoints)
    route = StackRoute(data, config.target, config.patch_px, config.foreground_fraction, config.window, config.suv_scale)
    return fit_config, route, Supervised("dice_bce")


def run_for(config: PetCtConfig, data: PetCtSet, root=None):
    """The run record of these settings (:func:`gtvlib.training.run_for` of :func:`plan`)."""
    return run_for_parts(*plan(config, data), root)


def train_petct(config: PetCtConfig, data: PetCtSet, run=None):
    """Train the network of ``config`` on ``data``'s training patients (from ``init_from``'s weights when given);
    validate on the validation patients' whole volumes after every ``validate_every``-th epoch and the last."""
    return fit(*plan(config, data), run)


def target_of(case, config: PetCtConfig) -> np.ndarray:
    """The label volume the run learns: the IGTV or the planning GTV."""
    return _target_of(case, config.target)


def stack_of(case, z: int, config: PetCtConfig, settings: dict | None = None) -> np.ndarray:
    """The network's input (M, S, H, W) of slice ``z`` of ``case``: the model's modalities and slices."""
    from gtvlib.data.petct import stack_25d

    settings = settings or architecture(config)
    return stack_25d(case, z, settings["slices"], tuple(settings["modalities"]), config.window, config.suv_scale)


def sample_batch(data: PetCtSet, config: PetCtConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (B, M, S, H, W) and middle-slice labels (B, 1, H, W) of ``config`` (:func:`gtvlib.data.petct.sample_stacks`)."""
    from gtvlib.data.petct import sample_stacks

    settings = architecture(config)
    return sample_stacks(data, rng, config.batch_size, settings["slices"], settings["modalities"], config.target,
                         config.patch_px, config.foreground_fraction, config.window, config.suv_scale)


def predict_case(model, case, config: PetCtConfig, device=None, batch: int = 16) -> np.ndarray:
    """The model's mask (z, y, x) bool of every slice of ``case`` within the body's box
    (:func:`gtvlib.evaluate.predict_stacks`)."""
    from gtvlib.evaluate import predict_stacks

    return predict_stacks(model, case, architecture(config), config.window, config.suv_scale, device, batch)


def evaluate_cases(model, data: PetCtSet, patient_ids, config: PetCtConfig, device=None):
    """Whole-volume predictions of ``patient_ids`` scored in 3-D (:func:`gtvlib.evaluate.evaluate_stacks`)."""
    from gtvlib.evaluate import evaluate_stacks

    return evaluate_stacks(model, data, patient_ids, architecture(config), config.target, config.window, config.suv_scale,
                           device)


def load_petct_model(run_folder, epoch: int | None = None):
    """(network, config) of a 2.5-D PET/CT run (the stack route's record): the registered network with its weights of
    ``epoch`` (default: the last checkpoint), in evaluation mode on the CPU
    (:func:`gtvlib.models.trained.load_trained`), and the run's :class:`PetCtConfig`."""
    from gtvlib.models.trained import load_run
    from gtvlib.runs import RunRecord

    trained = load_run(run_folder, epoch, "stacks", "a 2.5-D PET/CT run")
    saved = {**(RunRecord(run_folder, writer=False).params().get("config") or {}), **trained.route}
    return trained.model, PetCtConfig(**{f.name: saved[f.name] for f in fields(PetCtConfig) if f.name in saved})
