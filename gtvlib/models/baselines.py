"""Prompt-free baselines of GTV-SAMGAN's Table 1, built from MONAI's networks (not written by hand).

All are 2-D, one input channel (the windowed CT slice in [0, 1]), one output channel (tumour logits), and
train on the same split, crop and model grid as SAM-Med2D; they never see a prompt. Their sizes are scaled
to the CPU profile (widths 8–128, about half of MONAI's examples, to keep the quick sweep's 18 runs short); the paper
does not give the baselines' widths.

====================  ==========================================================================
``unet``              MONAI ``UNet``: 4 levels (16–128 channels), 2 residual units per level
``unetpp``            MONAI ``BasicUNetPlusPlus`` (UNet++), features 8–64
``unetpp_ds``         the same with deep supervision (every nested decoder output is trained)
``swin_unetr``        MONAI ``SwinUNETR`` in 2-D (feature size 12; the paper's SwinU-Net is a relative)
``dynunet``           MONAI ``DynUNet``: nnU-Net's architecture (5 levels 8–128, deep supervision ×2)
``attention_unet``    MONAI ``AttentionUnet``: attention gates on the skip connections, 8–64
====================  ==========================================================================

Training outputs (:func:`training_outputs`) are a list of full-size logits: one for most networks, one per
supervised head with deep supervision (the losses are averaged over the heads, as nnU-Net does with
equal weights here). Prediction (:func:`predict_without_prompt`) uses the main output only.
"""

from __future__ import annotations

import torch

from gtvlib.models.spec import ModelSpec

INPUT_SIZE = 64  # the quick profile's model grid, shared with sam_med2d_tiny


def _monai():
    from monai.networks import nets

    return nets


def build_unet():
    return _monai().UNet(spatial_dims=2, in_channels=1, out_channels=1, channels=(16, 32, 64, 128), strides=(2, 2, 2),
                         num_res_units=2)


def build_unetpp(deep_supervision: bool = False):
    return _monai().BasicUNetPlusPlus(spatial_dims=2, in_channels=1, out_channels=1, features=(8, 8, 16, 32, 64, 8),
                                      deep_supervision=deep_supervision)


def build_swin_unetr():
    return _monai().SwinUNETR(spatial_dims=2, in_channels=1, out_channels=1, feature_size=12)


def build_dynunet():
    return _monai().DynUNet(spatial_dims=2, in_channels=1, out_channels=1, kernel_size=[3] * 5, strides=[1, 2, 2, 2, 2],
                            upsample_kernel_size=[2, 2, 2, 2], filters=(8, 16, 32, 64, 128), deep_supervision=True,
                            deep_supr_num=2)


def build_attention_unet():
    return _monai().AttentionUnet(spatial_dims=2, in_channels=1, out_channels=1, channels=(8, 16, 32, 64),
                                  strides=(2, 2, 2))


def _as_list(output) -> list[torch.Tensor]:
    """A network's output as a list of (B, 1, S, S) logits, the main output first."""
    if isinstance(output, (list, tuple)):
        return list(output)
    if output.ndim == 5:  # DynUNet in training: (B, heads, 1, S, S)
        return list(output.unbind(dim=1))
    return [output]


def training_outputs(model, images: torch.Tensor, boxes=None) -> tuple[list[torch.Tensor], None]:
    """(logits per supervised head, no IoU prediction) of images (B, 1, S, S) in [0, 1]; ``boxes`` unused."""
    return _as_list(model(images)), None


def predict_without_prompt(model, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Main-output logits (B, 1, S, S); ``labels`` are ignored (no prompt)."""
    return _as_list(model(images))[0]


def _spec(name: str, build, description: str) -> ModelSpec:
    return ModelSpec(name=name, family="baselines", build=build, input_size=INPUT_SIZE, prompt="none",
                     predict=predict_without_prompt, description=description, training_outputs=training_outputs,
                     settings={"architecture": description})


REGISTRY = {
    "unet": _spec("unet", build_unet, "MONAI UNet, 16–128 channels, 2 residual units per level"),
    "unetpp": _spec("unetpp", build_unetpp, "MONAI BasicUNetPlusPlus (UNet++), features 8–64"),
    "unetpp_ds": _spec("unetpp_ds", lambda: build_unetpp(True), "MONAI BasicUNetPlusPlus with deep supervision"),
    "swin_unetr": _spec("swin_unetr", build_swin_unetr, "MONAI SwinUNETR, 2-D, feature size 12"),
    "dynunet": _spec("dynunet", build_dynunet, "MONAI DynUNet (nnU-Net's architecture), 8–128, deep supervision ×2"),
    "attention_unet": _spec("attention_unet", build_attention_unet, "MONAI AttentionUnet, 8–64 channels"),
}
