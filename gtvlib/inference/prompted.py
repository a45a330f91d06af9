"""Prompted inference with SAM-Med2D, including the clinical case without a ground-truth box.

Images are (S, S) arrays in [0, 1] (the windowed CT at the model input); masks (S, S) bool. The prompts a
clinic can give (one click, a box around it) and the interactive refinement with corrective clicks are
compared with the ground-truth box by :func:`prompt_comparison`.
"""

from __future__ import annotations

import numpy as np
import torch

from gtvlib.metrics import dice
from gtvlib.models.sam_med2d import sam_input
from gtvlib.prompts import box_around_point, click_from_error, sample_points


@torch.no_grad()
def segment(model, image: np.ndarray, box=None, points=None, labels=None, mask_logits=None):
    """One prompted prediction: (mask (S, S) bool, low-res logits (1, 1, L, L)).

    ``box``: (x0, y0, x1, y1) pixels; ``points``: (N, 2) (x, y) pixels with ``labels`` (N,) 1 = tumour,
    0 = background; ``mask_logits``: a previous low-res prediction fed back as the mask prompt.
    """
    device = next(model.parameters()).device
    model.eval()
    box_t = None if box is None else torch.as_tensor(np.asarray(box, np.float32))[None].to(device)
    point_t = None if points is None else (torch.as_tensor(np.asarray(points, np.float32))[None].to(device),
                                           torch.as_tensor(np.asarray(labels))[None].to(device))
    images = sam_input(torch.from_numpy(np.asarray(image, dtype=np.float32))[None, None].to(device))
    out = model(images, boxes=box_t, points=point_t, mask_inputs=mask_logits)
    return (out["masks"][0, 0] > 0).cpu().numpy(), out["low_res"]


def refine_with_clicks(model, image: np.ndarray, reference: np.ndarray, clicks: int = 3, seed: int = 0) -> list[float]:
    """Dice after each click: the first a random tumour pixel, each next one deepest in the largest error;
    the previous low-res prediction's sigmoid is fed back as the mask prompt (SAM-Med2D's refinement)."""
    points, labels = sample_points(reference, 1, np.random.default_rng(seed))
    points, labels = list(points), list(labels)
    scores, previous = [], None
    for _ in range(clicks):
        mask, low_res = segment(model, image, points=np.array(points), labels=np.array(labels),
                                mask_logits=None if previous is None else torch.sigmoid(previous))
        scores.append(dice(mask, reference))
        previous = low_res
        click = click_from_error(mask, reference)
        if click is None:
            scores += [scores[-1]] * (clicks - len(scores))
            break
        points.append(click[0])
        labels.append(click[1])
    return scores


def segment_from_click(model, image: np.ndarray, click_xy, box_size_px: float):
    """What a clinic can do without a ground truth: one click on the tumour, a box of a typical size around it."""
    return segment(model, image, box=box_around_point(click_xy, box_size_px, image.shape[-1]))[0]


def prompt_comparison(model, cache, pairs: list[tuple[str, int]], predictions: dict, clicks: int = 3, seed: int = 0):
    """Dice per slice under each prompt, one row per (patient, slice) of ``pairs``.

    Columns: the ground-truth box (``predictions``, e.g. :attr:`gtvlib.evaluation.Evaluation.predictions`),
    one click at the tumour's centre with a box twice the tumour's extent around it (a deliberately loose
    prompt), and 1 … ``clicks`` point clicks with corrective refinement.
    """
    import pandas as pd

    rows = []
    for pid, k in pairs:
        images, labels = cache.load(pid)
        image, reference = np.asarray(images[k], np.float32), np.asarray(labels[k], bool)
        tumour = np.argwhere(reference)
        centre_xy, extent_px = tumour.mean(axis=0)[::-1], max(np.ptp(tumour, axis=0)) + 1
        loose_box = segment_from_click(model, image, centre_xy, 2 * extent_px)
        refined = refine_with_clicks(model, image, reference, clicks, seed)
        rows.append({"ground-truth box": dice(predictions[(pid, k)], reference),
                     "one click, box twice the tumour's extent": dice(loose_box, reference),
                     **{f"{n} click(s)": score for n, score in enumerate(refined, start=1)}})
    return pd.DataFrame(rows)
