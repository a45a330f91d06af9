"""Models: a registry of builder functions, one file per model family (as segment-anything's build_sam).

==================  =============================================================================
``spec``            :class:`~gtvlib.models.spec.ModelSpec`: what the registry knows of a model
``sam_med2d``       SAM-Med2D (the GTV-SAMGAN generator): adapters, one-to-one decoder; ViT-B and tiny
``prompt_zoom``     the geometry of a prompt-centred zoom: windows around boxes, resampling there and back
``baselines``       prompt-free MONAI networks of the paper's Table 1 (UNet, UNet++, SwinUNETR, DynUNet, …)
``references``      what the box prompt alone gives, no training: the box, its inscribed ellipse, a threshold
``hcf``             HCF (seed 001): SANet and its ablations; the ResNet18 slice classifier that gates it
``unet3d``          iSeg's 3-D U-Net (MONAI UNet in 3-D) and its sliding-window inference on whole volumes
``igtv``            seed 004's 2.5-D PET/CT network, its slice interaction module and the ablations' variants
``discriminator``   the GTV-SAMGAN mask discriminator
``checkpoints``     loading SAM, SAM-Med2D and gtvlib checkpoints (resize, report, pickle opt-in)
``trained``         a trained model of any route ready to predict, from a run folder, a checkpoint or a
                    weights file
==================  =============================================================================

A new family is a new module with builder functions and a ``REGISTRY`` dict of specs, named in
:data:`FAMILIES`; ``build_model("its_name")`` then works everywhere (training, evaluation, the chapters).
Nothing here imports torch until a model is looked up. Pretrained weights named in ``data_manifest.yaml``
are found by :mod:`gtvlib.data.weights`.
"""

from __future__ import annotations

import importlib

from gtvlib.util.errors import GtvError

# One module per model family under gtvlib.models, each holding a REGISTRY of ModelSpec by name.
FAMILIES = ("sam_med2d", "baselines", "references", "hcf", "unet3d", "igtv")


def model_registry() -> dict:
    """Every registered model: {name: ModelSpec}, gathered from the family modules."""
    registry = {}
    for family in FAMILIES:
        module = importlib.import_module(f"gtvlib.models.{family}")
        for name, spec in module.REGISTRY.items():
            if name in registry:
                raise GtvError(f"model {name!r} is registered by both {registry[name].family} and {family}")
            registry[name] = spec
    return registry


def model_spec(name: str):
    """The :class:`~gtvlib.models.spec.ModelSpec` of a registered model, without building it."""
    registry = model_registry()
    if name not in registry:
        raise GtvError(f"model {name!r} is not registered; expected one of {sorted(registry)}")
    return registry[name]


def build_model(name: str):
    """Build a registered model by name (e.g. ``"sam_med2d_tiny"``, ``"sam_med2d_vit_b"``), randomly initialised."""
    return model_spec(name).build()


def describe_model(name: str, model) -> str:
    """One line: the model, its input, and its parameters (all, trained, and per parameter group)."""
    spec = model_spec(name)
    total = sum(p.numel() for p in model.parameters())
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    groups = [f"{sum(p.numel() for n, p in model.named_parameters() if marker in n):,} in {group}"
              for group, marker in spec.parameter_groups.items()]
    size = f"input {spec.input_size} px" if spec.input_size else "input of any size (sides multiples of 8)"
    return (f"{name}: {spec.description}, {size}; {total:,} parameters, {trained:,} trained"
            + (f" ({', '.join(groups)})" if groups else ""))
