"""The 3-D recipe (iSeg, seed 002, METHODS.md §3): a 3-D network on patches of whole volumes, Dice + binary cross
entropy, AdamW with cosine decay, validation on whole volumes by sliding windows, scored in 3-D with the true
spacing. :class:`VolumeConfig` is the chapter's flat vocabulary; :func:`plan` lays it out as the one loop's parts
(:class:`~gtvlib.training.FitConfig`, :class:`~gtvlib.training.PatchRoute`, :class:`~gtvlib.training.Supervised`)
and :func:`train_volumes` runs :func:`gtvlib.training.fit`. The volumes themselves are
:mod:`gtvlib.data.volumes`'; the folds' models as one predictor are :func:`ensemble_mask`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gtvlib.data.volumes import (BODY_MARGIN_VOXELS, NEGATIVES, TISSUE_HU, VolumeSet, inference_box,  # noqa: F401
                                 resample, volume_set)
from gtvlib.util.errors import GtvError
from gtvlib.evaluate import VolumeEvaluation, evaluate_volumes, patient_scores  # noqa: F401
from gtvlib.training import FitConfig, PatchRoute, Supervised, fit
from gtvlib.training import run_for as run_for_parts


@dataclass
class VolumeConfig:
    """A 3-D run in the chapter's flat vocabulary. ``patch``: (z, y, x) voxels, each a multiple of 8;
    ``foreground_fraction``: the share of patches centred on a GTV voxel; ``negatives``: where the others are centred
    (``"tissue"``: a voxel above −500 HU outside the GTV; ``"anywhere"``); ``overlap``: of the sliding windows at
    validation; ``validate_every``: validate after every n-th epoch and after the last; ``patience``: early stopping
    on the validation patient Dice (0: off)."""

    name: str = "unet3d"
    model: str = "unet3d_small"
    epochs: int = 10
    steps_per_epoch: int = 20
    batch_size: int = 2
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-5
    patch: tuple[int, int, int] = (16, 32, 32)
    foreground_fraction: float = 0.5
    negatives: str = "tissue"
    augment: bool = True
    overlap: float = 0.25
    validate_every: int = 1
    patience: int = 0
    seed: int = 0
    keep_checkpoints: int = 1
    device: str = "auto"


def plan(config: VolumeConfig, data: VolumeSet) -> tuple[FitConfig, PatchRoute, Supervised]:
    """The loop's settings (AdamW, cosine decay over all steps), the patch route over ``data`` and Dice + BCE."""
    fit_config = FitConfig(name=config.name, model=config.model, epochs=config.epochs, batch_size=config.batch_size,
                           steps_per_epoch=config.steps_per_epoch, lr=config.lr, optimizer="adamw",
                           weight_decay=config.weight_decay, schedule="cosine", patience=config.patience,
                           validate_every=config.validate_every, seed=config.seed, device=config.device,
                           keep_checkpoints=config.keep_checkpoints)
    route = PatchRoute(data, tuple(config.patch), config.foreground_fraction, config.negatives, config.augment, config.overlap)
    return fit_config, route, Supervised("dice_bce")


def run_for(config: VolumeConfig, data: VolumeSet, root=None):
    """The run record of these settings (:func:`gtvlib.training.run_for` of :func:`plan`)."""
    return run_for_parts(*plan(config, data), root)


def train_volumes(config: VolumeConfig, data: VolumeSet, run=None):
    """Train ``config.model`` on patches of ``data``'s training patients; validate on its validation patients' whole
    volumes after every ``validate_every``-th epoch and the last. Returns the :class:`~gtvlib.runs.RunRecord`."""
    return fit(*plan(config, data), run)


def sample_patches(data: VolumeSet, config: VolumeConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One batch of ``config``'s patches (:func:`gtvlib.data.volumes.sample_patches`)."""
    from gtvlib.data.volumes import sample_patches as sample

    return sample(data, rng, config.batch_size, config.patch, config.foreground_fraction, config.negatives, config.augment)


def load_volume_model(run_folder, epoch: int | None = None):
    """The 3-D network of a run of the patch route with its weights of ``epoch`` (default: the last checkpoint), in
    evaluation mode on the CPU (:func:`gtvlib.models.trained.load_trained`)."""
    from gtvlib.models.trained import load_run

    return load_run(run_folder, epoch, "patches", "a 3-D training run").model


def ensemble_mask(models, image: np.ndarray, patch, overlap: float = 0.25, box=None) -> np.ndarray:
    """GTV mask (z, y, x) bool of ``image`` (windowed, [0, 1]): the mean of the ``models``' sliding-window logits > 0
    (the folds' models as one predictor, as nnU-Net ensembles its folds), windows confined to the in-plane ``box``
    where given (the body's; :func:`~gtvlib.models.unet3d.sliding_window_logits`)."""
    from gtvlib.models.unet3d import sliding_window_logits

    if not models:
        raise GtvError("no models to predict with; expected the trained models of the folds")
    return np.mean([sliding_window_logits(m, image, patch, overlap, box=box) for m in models], axis=0) > 0


def ensemble_masks(models, data: VolumeSet, patch, overlap: float = 0.25) -> dict[str, np.ndarray]:
    """:func:`ensemble_mask` of every patient of ``data``, each within its body box: patient → bool (z, y, x)."""
    return {pid: ensemble_mask(models, data.images[pid], patch, overlap, data.boxes.get(pid)) for pid in data.images}
