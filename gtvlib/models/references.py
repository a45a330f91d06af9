"""References that need no training: what the box prompt alone gives.

Every box-prompted Dice (the paper's 83.74 % included) contains what the prompt itself already says: where
the tumour is and how large it is. These "models" answer the same prompt as SAM-Med2D, the ground-truth box
of the slice's largest tumour component (:func:`gtvlib.prompts.box_from_mask`), without learning anything:

* ``prompt_box``: every pixel inside the box is tumour;
* ``prompt_ellipse``: the ellipse inscribed in the box (a round tumour's best guess from its box);
* ``prompt_threshold``: inside the box, the pixels brighter than Otsu's threshold of the box's own
  intensities (tumour is soft tissue in aerated lung; the threshold fails where the tumour touches the
  mediastinum or the chest wall, which is what a model must learn).

Volume references (no prompt, or a click) for the 3-D and PET chapters: :func:`threshold_reference` (soft
tissue), :func:`suv_region_reference` (40 % of SUVmax grown from the lesion's hottest voxel) and
:func:`absolute_suv_reference` (SUV ≥ 2.5).

The 2-D ones are registered like any model (:mod:`gtvlib.models`), so :func:`gtvlib.evaluation.evaluate` scores them
on exactly the slices and with exactly the metrics of the trained models. ``input_size`` is 0: they work
on any grid.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gtvlib.models.spec import ModelSpec
from gtvlib.prompts import box_from_mask
from gtvlib.util.errors import GtvError


class PromptReference(nn.Module):
    """A parameter-free 'model': ``forward(images (B, 1, S, S) in [0, 1], boxes (B, 4))`` → logits (B, 1, S, S)
    (+10 inside the predicted mask, −10 outside). ``rule`` is one of ``box``, ``ellipse``, ``threshold``."""

    RULES = ("box", "ellipse", "threshold")

    def __init__(self, rule: str):
        super().__init__()
        if rule not in self.RULES:
            raise GtvError(f"reference rule {rule!r} is unknown; expected one of {self.RULES}")
        self.rule = rule

    def forward(self, images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        masks = [reference_mask(self.rule, image[0], box) for image, box in
                 zip(images.detach().float().cpu().numpy(), boxes.detach().cpu().numpy())]
        logits = np.where(np.stack(masks)[:, None], 10.0, -10.0).astype(np.float32)
        return torch.from_numpy(logits).to(images.device)


def reference_mask(rule: str, image: np.ndarray, box) -> np.ndarray:
    """The (S, S) bool mask of ``rule`` for one image (S, S) and its box (x0, y0, x1, y1), inclusive pixels."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    mask = np.zeros(image.shape, dtype=bool)
    if rule == "box":
        mask[y0:y1 + 1, x0:x1 + 1] = True
    elif rule == "ellipse":
        rows, columns = np.mgrid[y0:y1 + 1, x0:x1 + 1]
        centre_y, centre_x = (y0 + y1) / 2, (x0 + x1) / 2
        radius_y, radius_x = (y1 - y0 + 1) / 2, (x1 - x0 + 1) / 2
        mask[y0:y1 + 1, x0:x1 + 1] = ((rows - centre_y) / radius_y) ** 2 + ((columns - centre_x) / radius_x) ** 2 <= 1.0
    else:
        inside = image[y0:y1 + 1, x0:x1 + 1]
        mask[y0:y1 + 1, x0:x1 + 1] = inside > otsu_threshold(inside)
    return mask


def box_per_slice(mask: np.ndarray) -> np.ndarray:
    """The ``box`` reference on a whole scan: on every slice of ``mask`` (bool (z, y, x)) with tumour, the filled
    bounding box of all its tumour pixels; elsewhere nothing. What a box prompt per slice tells a model."""
    mask = np.asarray(mask, bool)
    if mask.ndim != 3:
        raise GtvError(f"mask of shape {mask.shape}; expected a volume (z, y, x)")
    out = np.zeros_like(mask)
    for z in np.nonzero(mask.any(axis=(1, 2)))[0]:
        rows, columns = np.nonzero(mask[z])
        out[z, rows.min():rows.max() + 1, columns.min():columns.max() + 1] = True
    return out


SOFT_TISSUE_HU = (-100.0, 200.0)  # fat's upper edge to enhanced blood: where a solid tumour's HU lies


def threshold_reference(hu: np.ndarray, low_hu: float = SOFT_TISSUE_HU[0], high_hu: float = SOFT_TISSUE_HU[1]) -> np.ndarray:
    """The no-prompt, no-training reference of a 3-D segmenter: every voxel of ``hu`` (z, y, x) from ``low_hu`` to
    ``high_hu`` (soft tissue) is called tumour. A network must beat it to have learnt more than intensity."""
    if not low_hu < high_hu:
        raise GtvError(f"low_hu={low_hu}, high_hu={high_hu}; expected low < high (HU)")
    hu = np.asarray(hu)
    return (hu >= low_hu) & (hu <= high_hu)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of ``values``: the cut of a ``bins``-bin histogram that maximises the between-class
    variance. A constant input returns its value (nothing is above it)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return low
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_below = np.cumsum(counts)[:-1]
    weight_above = values.size - weight_below
    sum_below = np.cumsum(counts * centres)[:-1]
    mean_below = sum_below / weight_below.clip(min=1)
    mean_above = (np.sum(counts * centres) - sum_below) / weight_above.clip(min=1)
    between = weight_below * weight_above * (mean_below - mean_above) ** 2
    return float(edges[1:-1][int(np.argmax(between))])


def predict_reference(model: PromptReference, images: torch.Tensor, labels: torch.Tensor,
                      boxes: torch.Tensor | None = None) -> torch.Tensor:
    """Logits (B, 1, S, S) of the reference for images (B, 1, S, S) with ``boxes`` (B, 4), or their ground-truth
    boxes when None."""
    if boxes is None:
        masks = labels[:, 0].detach().cpu().numpy() > 0.5
        boxes = torch.from_numpy(np.stack([box_from_mask(mask) for mask in masks]))
    return model(images, boxes)


def _spec(rule: str, description: str) -> ModelSpec:
    return ModelSpec(name=f"prompt_{rule}", family="references", build=lambda: PromptReference(rule), input_size=0,
                     prompt="box", predict=predict_reference, description=description)


REGISTRY = {
    "prompt_box": _spec("box", "the ground-truth box itself (every pixel inside it), no training"),
    "prompt_ellipse": _spec("ellipse", "the ellipse inscribed in the ground-truth box, no training"),
    "prompt_threshold": _spec("threshold", "Otsu's threshold inside the ground-truth box, no training"),
}


def suv_region_reference(suv: np.ndarray, seed_zyx, fraction: float = 0.4) -> np.ndarray:
    """The PET reference that needs no training: the region of ``suv`` (z, y, x) at or above ``fraction`` of the
    lesion's SUVmax, grown (26-connected) from ``seed_zyx``, the voxel a physician clicks (here the hottest voxel of
    the lesion); 40 % of SUVmax is the common fixed-threshold PET contour. Bool (z, y, x)."""
    from gtvlib.util.components import components_at

    if not 0 < fraction < 1:
        raise GtvError(f"fraction={fraction}; expected a share of SUVmax between 0 and 1")
    suv = np.asarray(suv, np.float32)
    seed = tuple(int(i) for i in seed_zyx)
    if len(seed) != suv.ndim or not all(0 <= i < n for i, n in zip(seed, suv.shape)):
        raise GtvError(f"seed {seed}; expected a voxel index inside the volume of shape {suv.shape}")
    return components_at(suv >= fraction * suv[seed], seed, "full")


def absolute_suv_reference(suv: np.ndarray, threshold_suv: float = 2.5) -> np.ndarray:
    """Every voxel at or above ``threshold_suv`` (SUV 2.5: the classic malignancy cut), with neither click nor
    training: it also takes the heart, the liver and the other physiological uptake. Bool (z, y, x)."""
    return np.asarray(suv) >= threshold_suv
