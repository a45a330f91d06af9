"""Inference with SAM-Med2D, including the clinical case without a ground-truth box.

Images are (S, S) arrays in [0, 1] (the windowed CT at the model input); masks (S, S) bool.
"""

from __future__ import annotations

import numpy as np
import torch

from gtvlib.metrics import score
from gtvlib.prompts import box_around_point, click_from_error, sample_points


def _as_batch(image: np.ndarray, device) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32) * 255.0)[None, None].expand(1, 3, -1, -1).to(device)


@torch.no_grad()
def segment(model, image: np.ndarray, box=None, points=None, labels=None, mask_logits=None):
    """One prompted prediction: (mask (S, S) bool, low-res logits (1, 1, L, L))."""
    device = next(model.parameters()).device
    model.eval()
    box_t = None if box is None else torch.as_tensor(np.asarray(box, np.float32))[None].to(device)
    point_t = None if points is None else (torch.as_tensor(np.asarray(points, np.float32))[None].to(device),
                                           torch.as_tensor(np.asarray(labels))[None].to(device))
    out = model(_as_batch(image, device), boxes=box_t, points=point_t, mask_inputs=mask_logits)
    return (out["masks"][0, 0] > 0).cpu().numpy(), out["low_res"]


def refine_with_clicks(model, image: np.ndarray, reference: np.ndarray, clicks: int = 3, seed: int = 0) -> list[float]:
    """Dice after each click: the first a random tumour pixel, each next one deepest in the largest error;
    the previous low-res prediction's sigmoid is fed back as the mask prompt (SAM-Med2D's refinement)."""
    points, labels = sample_points(reference, 1, np.random.default_rng(seed))
    points, labels = list(points), list(labels)
    dice, previous = [], None
    for _ in range(clicks):
        mask, low_res = segment(model, image, points=np.array(points), labels=np.array(labels),
                                mask_logits=None if previous is None else torch.sigmoid(previous))
        dice.append(score(mask, reference, (1.0, 1.0)).dice)
        previous = low_res
        click = click_from_error(mask, reference)
        if click is None:
            dice += [dice[-1]] * (clicks - len(dice))
            break
        points.append(click[0])
        labels.append(click[1])
    return dice


def segment_from_click(model, image: np.ndarray, click_xy, box_size_px: float):
    """What a clinic can do without a ground truth: one click on the tumour, a box of a typical size around it."""
    return segment(model, image, box=box_around_point(click_xy, box_size_px, image.shape[-1]))[0]
