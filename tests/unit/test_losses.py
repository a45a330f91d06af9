"""GTV-SAMGAN losses against values computed by hand."""

import math

import pytest
import torch

from gtvlib import losses


def test_focal_loss_by_hand():
    logits = torch.tensor([[[[2.0, -1.0]]]])
    target = torch.tensor([[[[1.0, 0.0]]]])
    p = [1 / (1 + math.exp(-2.0)), 1 / (1 + math.exp(1.0))]
    positive = 0.25 * (1 - p[0]) ** 2 * -math.log(p[0])
    negative = 0.75 * p[1] ** 2 * -math.log(1 - p[1])
    assert float(losses.focal_loss(logits, target)) == pytest.approx((positive + negative) / 2, rel=1e-6)


def test_dice_over_the_batch_as_one_set_and_per_sample():
    logits = torch.tensor([[[[10.0, 10.0]]], [[[-10.0, -10.0]]]])  # sigmoid ≈ 1, 1 | 0, 0
    target = torch.tensor([[[[1.0, 0.0]]], [[[1.0, 1.0]]]])
    s = torch.sigmoid(logits)
    inter, psum, tsum = float((s * target).sum()), float(s.sum()), float(target.sum())
    assert float(losses.dice_loss(logits, target)) == pytest.approx(1 - (2 * inter + 1) / (psum + tsum + 1), rel=1e-6)
    first = 1 - (2 * float((s[0] * target[0]).sum()) + 1) / (float(s[0].sum()) + 1 + 1)
    second = 1 - (2 * float((s[1] * target[1]).sum()) + 1) / (float(s[1].sum()) + 2 + 1)
    assert float(losses.dice_loss(logits, target, per_sample=True)) == pytest.approx((first + second) / 2, rel=1e-6)


def test_mask_iou_loss_and_generator_total():
    logits = torch.zeros(2, 1, 2, 2)  # probabilities 0.5 everywhere
    target = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]], [[[1.0, 0.0], [0.0, 0.0]]]])
    iou = (0.5 * 3) / (0.5 * 8 + 3 - 0.5 * 3)  # soft IoU of the whole batch
    predicted = torch.tensor([0.2, 0.6])
    expected = ((iou - 0.2) ** 2 + (iou - 0.6) ** 2) / 2
    assert float(losses.mask_iou_loss(logits, target, predicted)) == pytest.approx(expected, rel=1e-5)
    d_fake = torch.full((2, 9), 0.25)
    total, parts = losses.generator_loss(logits, target, predicted, d_fake)
    assert parts["mean"] == pytest.approx(0.75)
    assert float(total) == pytest.approx(20 * parts["focal"] + parts["dice"] + parts["iou"] + 0.75, rel=1e-5)
    weighted, _ = losses.generator_loss(logits, target, predicted, d_fake, losses.LossWeights(10, 1, 1, 0.1))
    assert float(weighted) == pytest.approx(10 * parts["focal"] + parts["dice"] + parts["iou"] + 0.075, rel=1e-5)
    supervised, parts = losses.generator_loss(logits, target, predicted)
    assert "mean" not in parts


def test_discriminator_loss():
    assert float(losses.discriminator_loss(torch.full((3, 9), 0.9), torch.full((3, 9), 0.2))) == pytest.approx(0.3)


def test_losses_have_gradients():
    logits = torch.randn(2, 1, 8, 8, requires_grad=True)
    target = (torch.rand(2, 1, 8, 8) > 0.7).float()
    total, _ = losses.generator_loss(logits, target, torch.rand(2))
    total.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
