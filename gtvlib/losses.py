"""GTV-SAMGAN losses (METHODS.md §1).

Generator: ``G = w_focal·FL + w_dice·Dice + w_iou·MaskIoU + w_mean·Mean_Loss`` with the paper's weights
20, 1, 1, 1. Discriminator: ``D = 1 − mean D(real) + mean D(fake)``.

Faithful default reductions (SAM-Med2D's reference implementation): focal loss averaged over every pixel
of the batch; Dice and the IoU inside MaskIoU computed over the whole batch as one set. ``per_sample=True``
computes them per image and averages instead. Tensors: logits and targets (B, 1, H, W); targets in {0, 1}.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Sigmoid focal loss, α for positives (1 − α for negatives), mean over all pixels of the batch."""
    p = torch.sigmoid(logits)
    cross_entropy = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_true = p * target + (1 - p) * (1 - target)
    alpha_true = alpha * target + (1 - alpha) * (1 - target)
    return (alpha_true * (1 - p_true) ** gamma * cross_entropy).mean()


def _sums(probability, target, per_sample):
    dims = tuple(range(1, probability.ndim)) if per_sample else tuple(range(probability.ndim))
    return (probability * target).sum(dims), probability.sum(dims), target.sum(dims)


def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0, per_sample: bool = False) -> torch.Tensor:
    """1 − soft Dice of sigmoid probabilities (smooth 1), over the batch as one set (or per sample, averaged)."""
    intersection, predicted, reference = _sums(torch.sigmoid(logits), target, per_sample)
    return (1 - (2 * intersection + smooth) / (predicted + reference + smooth)).mean()


def soft_iou(logits: torch.Tensor, target: torch.Tensor, per_sample: bool = False, eps: float = 1e-7) -> torch.Tensor:
    """Soft IoU of sigmoid probabilities and the label: a scalar (batch as one set) or (B,)."""
    intersection, predicted, reference = _sums(torch.sigmoid(logits), target, per_sample)
    return (intersection + eps) / (predicted + reference - intersection + eps)


def mask_iou_loss(logits: torch.Tensor, target: torch.Tensor, predicted_iou: torch.Tensor, per_sample: bool = False) -> torch.Tensor:
    """mean((IoU − predicted IoU)²): teaches the decoder's IoU head to predict the mask's quality."""
    return ((soft_iou(logits, target, per_sample) - predicted_iou) ** 2).mean()


@dataclass(frozen=True)
class LossWeights:
    """Generator loss weights; the paper's 20 FL + 1 Dice + 1 MaskIoU + 1 Mean_Loss (Table 4 varies them)."""

    focal: float = 20.0
    dice: float = 1.0
    iou: float = 1.0
    mean: float = 1.0


def generator_loss(logits, target, predicted_iou, d_fake=None, weights: LossWeights = LossWeights(),
                   per_sample: bool = False) -> tuple[torch.Tensor, dict[str, float]]:
    """G loss and its parts. ``d_fake``: discriminator outputs (B, 9) on generated masks, or None (supervised).
    ``predicted_iou`` None (a network without an IoU head, e.g. the MONAI baselines): no MaskIoU term."""
    parts = {
        "focal": focal_loss(logits, target),
        "dice": dice_loss(logits, target, per_sample=per_sample),
    }
    total = weights.focal * parts["focal"] + weights.dice * parts["dice"]
    if predicted_iou is not None:
        parts["iou"] = mask_iou_loss(logits, target, predicted_iou, per_sample=per_sample)
        total = total + weights.iou * parts["iou"]
    if d_fake is not None:
        parts["mean"] = 1 - d_fake.mean()
        total = total + weights.mean * parts["mean"]
    return total, {name: float(value.detach()) for name, value in parts.items()}


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """D = 1 − mean D(real) + mean D(fake)."""
    return 1 - d_real.mean() + d_fake.mean()
