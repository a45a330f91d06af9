"""Losses: GTV-SAMGAN's (METHODS.md §1) and HCF's 2-class losses with the CR loss (METHODS.md §2).

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


# HCF (METHODS.md §2): 2-class softmax logits (B, 2, H, W), targets (B, 1, H, W) or (B, H, W) in {0, 1}.

def _classes(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    target = target[:, 0] if target.ndim == 4 else target
    return target.long()


def softmax_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 − soft Dice of the foreground softmax probability, per sample (smooth 1), averaged over the batch."""
    probability = torch.softmax(logits, dim=1)[:, 1]
    target = _classes(logits, target).float()
    intersection = (probability * target).flatten(1).sum(1)
    total = probability.flatten(1).sum(1) + target.flatten(1).sum(1)
    return (1 - (2 * intersection + smooth) / (total + smooth)).mean()


def softmax_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross entropy, mean over pixels and the batch."""
    return F.cross_entropy(logits, _classes(logits, target))


def uniform_cross_entropy(logits: torch.Tensor) -> torch.Tensor:
    """ε: cross entropy against the uniform distribution, −mean log p over pixels and classes (a confidence
    penalty: it grows as the prediction moves away from uniform)."""
    return -torch.log_softmax(logits, dim=1).mean()


def softmax_focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Focal loss −(1 − p_t)^γ log p_t of the true class's softmax probability, mean over pixels and the batch."""
    log_p = torch.log_softmax(logits, dim=1).gather(1, _classes(logits, target)[:, None])[:, 0]
    return (-(1 - log_p.exp()) ** gamma * log_p).mean()


def cr_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.1) -> torch.Tensor:
    """The CR loss: Dice + (1 − α)·CE + α·ε (α = 0.1)."""
    return (softmax_dice_loss(logits, target) + (1 - alpha) * softmax_cross_entropy(logits, target)
            + alpha * uniform_cross_entropy(logits))


HCF_LOSSES = {
    "dice": softmax_dice_loss,
    "ce": softmax_cross_entropy,
    "focal": softmax_focal_loss,
    "dice_ce": lambda logits, target: softmax_dice_loss(logits, target) + softmax_cross_entropy(logits, target),
    "cr": cr_loss,
}
