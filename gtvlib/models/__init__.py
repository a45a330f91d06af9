"""Models: a registry of builder functions, one file per model family (as segment-anything's build_sam)."""

from __future__ import annotations

from gtvlib.errors import GtvError


def build_model(name: str):
    """Build a registered model by name (e.g. ``"sam_med2d_tiny"``, ``"sam_med2d_vit_b"``)."""
    from gtvlib.models.sam_med2d import REGISTRY

    if name not in REGISTRY:
        raise GtvError(f"model {name!r} is not registered; expected one of {sorted(REGISTRY)}")
    return REGISTRY[name]()
