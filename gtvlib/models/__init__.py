"""Models: a registry of builder functions, one file per model family (as segment-anything's build_sam)."""

from __future__ import annotations

from gtvlib.errors import GtvError


def model_config(name: str):
    """The configuration of a registered model, without building it."""
    from gtvlib.models.sam_med2d import CONFIGS

    if name not in CONFIGS:
        raise GtvError(f"model {name!r} is not registered; expected one of {sorted(CONFIGS)}")
    return CONFIGS[name]


def build_model(name: str):
    """Build a registered model by name (e.g. ``"sam_med2d_tiny"``, ``"sam_med2d_vit_b"``)."""
    from gtvlib.models.sam_med2d import SamMed2D

    return SamMed2D(model_config(name))
