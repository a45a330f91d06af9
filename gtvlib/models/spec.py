"""What the registry knows of a model: how to build it, its input, its prompt and how it predicts.

A model family is one module under ``gtvlib.models`` with builder functions and a ``REGISTRY`` dict of
:class:`ModelSpec` (as segment-anything's ``sam_model_registry``); :mod:`gtvlib.models` collects them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    ``build()`` returns the torch module (random initialisation; weights are loaded separately).
    ``input_size``: side of the square input in pixels. ``prompt``: ``"box"`` when every slice needs a box
    (SAM-Med2D), ``"none"`` for a prompt-free network. ``predict(model, images, labels)``: logits
    (B, 1, S, S) of images (B, 1, S, S) in [0, 1]; ``labels`` (B, 1, S, S) serve only to draw a prompt
    where the model needs one (evaluation with ground-truth prompts). ``weights``: names of the
    ``weights:`` section of ``data_manifest.yaml`` that fit this model. ``parameter_groups``: name → a
    substring of parameter names, counted separately when the model is described (e.g. the adapters).
    ``training_outputs(model, images, boxes)``: what training sees, ``(list of logits (B, 1, S, S), one per
    supervised head, the main one first; predicted IoU (B,) or None)``; None for a model that is not trained
    (the prompt references). ``settings``: the numbers of the architecture (e.g. a SAM-Med2D config), part of
    a training run's key, so a changed architecture never reuses a run trained with the old one. ``task``:
    ``"segmentation"``, or ``"slice classification"`` for a network whose ``predict`` returns the foreground
    log-odds of each slice (B,), trained by the ``classifier`` loop (HCF's gate); ``"volume segmentation"`` for a 3-D
    network on (B, 1, Z, Y, X) patches and volumes (the patch route of :mod:`gtvlib.training`; ``input_size`` 0: any multiple of 8);
    ``"2.5-D PET/CT segmentation"`` for a network on stacks (B, M modalities, S slices, H, W) giving the middle slice's
    logits (B, 1, H, W) (the stack route of :mod:`gtvlib.training`; ``settings`` name the modalities and slices it reads).
    """

    name: str
    family: str
    build: Callable
    input_size: int
    prompt: str
    predict: Callable
    description: str
    weights: tuple[str, ...] = ()
    parameter_groups: dict[str, str] = field(default_factory=dict)
    training_outputs: Callable | None = None
    settings: dict = field(default_factory=dict)
    task: str = "segmentation"  # or "slice classification" (HCF's gate): predict gives one logit per slice


def direct_logits(model, images, labels=None):
    """``predict`` of a network whose output is the logits itself (e.g. (B, 1, Z, Y, X) of a 3-D U-Net, (B, 1, H, W)
    of a 2.5-D stack's middle slice); ``labels`` unused (no prompt)."""
    return model(images)


def one_head_outputs(model, images, boxes=None):
    """``training_outputs`` of a network with one supervised head and no IoU prediction: ([its output], None);
    ``boxes`` unused."""
    return [model(images)], None
