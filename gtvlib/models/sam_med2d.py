"""SAM-Med2D (the GTV-SAMGAN generator) on segment-anything's own model classes.

segment-anything provides the official architecture and checkpoint keys (image encoder, prompt encoder,
mask decoder, two-way transformer). gtvlib adds only what SAM-Med2D changed:

* an ``Adapter`` in every image-encoder block, in parallel with the MLP on the same ``norm2`` output:
  ``x + MLP(norm2(x)) + Adapter(norm2(x))``. Inside (channels first): a channel gate (global average
  pool → Linear C→C/4 → ReLU → Linear C/4→C → Sigmoid, no biases) multiplied into the input; a spatial
  branch on the gated tensor (Conv 3×3 stride 2 → ReLU → ConvTranspose 4×4 stride 2 → ReLU, no biases);
  the adapter input plus the spatial output; then ``LayerNorm`` (``norm``). Keys:
  ``image_encoder.blocks.{i}.Adapter.{norm,channel.0,channel.2,spatial.0,spatial.2}``;
* a mask decoder that pairs B image embeddings one-to-one with B prompts (SAM repeats each image
  embedding per prompt);
* multimask output with the mask of highest *predicted* IoU kept per sample.

Images are (B, 3, H, W) in 0–255 (the CT window mapped to 0–255, replicated to 3 channels:
:func:`sam_input` makes them from the slice cache's (B, 1, S, S) in [0, 1]) and are normalised with SAM's
pixel mean and standard deviation. The family's registry entries (:data:`REGISTRY`) are ViT-B, the paper's
generator, and a CPU-sized tiny variant; both predict with a ground-truth box for evaluation
(:func:`predict_with_box_prompt`). Importing this module needs torch and segment-anything, never torchvision.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from dataclasses import asdict, dataclass, replace
from functools import partial

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from gtvlib.models.prompt_zoom import (  # noqa: F401
    ZOOM_BACKGROUND_LOGIT,
    box_in_window,
    box_mask_logits,
    paste,
    resample,
    to_window_pixels,
    window_thetas,
    zoom_windows,
)
from gtvlib.models.spec import ModelSpec
from gtvlib.prompts import box_from_mask
from gtvlib.util.errors import GtvError

PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


def sam_modeling() -> types.ModuleType:
    """``segment_anything.modeling``, imported without the package ``__init__`` when torchvision is missing.

    The package ``__init__`` imports the predictor, which needs torchvision; the model classes do not.
    """
    name = "segment_anything.modeling"
    if name in sys.modules:
        return sys.modules[name]
    try:
        return importlib.import_module(name)
    except ImportError:
        if name in sys.modules:  # the subpackage loaded before the parent's __init__ failed
            return sys.modules[name]
    spec = importlib.util.find_spec("segment_anything")
    if spec is None or not spec.submodule_search_locations:
        raise GtvError("segment-anything is not installed (pip install segment-anything); gtvlib builds SAM-Med2D on it")
    parent = types.ModuleType("segment_anything")
    parent.__path__ = list(spec.submodule_search_locations)
    parent.__spec__ = spec
    sys.modules["segment_anything"] = parent  # a bare package: no predictor, no torchvision
    return importlib.import_module(name)


class Adapter(nn.Module):
    """SAM-Med2D adapter on (B, H, W, C) tokens: channel gate, strided conv/deconv, skip, LayerNorm."""

    def __init__(self, dim: int, reduction: int = 4):
        super().__init__()
        self.channel = nn.Sequential(nn.Linear(dim, dim // reduction, bias=False), nn.ReLU(inplace=True),
                                     nn.Linear(dim // reduction, dim, bias=False), nn.Sigmoid())
        self.spatial = nn.Sequential(nn.Conv2d(dim, dim, 3, stride=2, padding=1, bias=False), nn.ReLU(inplace=True),
                                     nn.ConvTranspose2d(dim, dim, 4, stride=2, padding=1, bias=False), nn.ReLU(inplace=True))
        self.norm = nn.LayerNorm(dim)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels_first = x.permute(0, 3, 1, 2)  # (B, C, H, W)
        gate = self.channel(channels_first.mean(dim=(2, 3)))[:, :, None, None]
        spatial = self.spatial(channels_first * gate)
        if spatial.shape[-2:] != channels_first.shape[-2:]:
            raise GtvError(f"adapter needs an even token grid, got {tuple(channels_first.shape[-2:])}")
        return self.norm((channels_first + spatial).permute(0, 2, 3, 1))


def _adapter_block_forward(block, x: torch.Tensor) -> torch.Tensor:
    """SAM's Block.forward with the adapter beside the MLP on the same norm2 output."""
    modeling = sam_modeling()
    shortcut = x
    x = block.norm1(x)
    if block.window_size > 0:
        height, width = x.shape[1], x.shape[2]
        x, pad_hw = modeling.image_encoder.window_partition(x, block.window_size)
    x = block.attn(x)
    if block.window_size > 0:
        x = modeling.image_encoder.window_unpartition(x, block.window_size, pad_hw, (height, width))
    x = shortcut + x
    normed = block.norm2(x)
    return x + block.mlp(normed) + block.Adapter(normed)


def add_adapters(image_encoder: nn.Module) -> nn.Module:
    """Give every block of a SAM ``ImageEncoderViT`` an ``Adapter`` and the adapter-aware forward."""
    Block = sam_modeling().image_encoder.Block

    class AdapterBlock(Block):
        forward = _adapter_block_forward

    for block in image_encoder.blocks:
        block.Adapter = Adapter(block.norm2.normalized_shape[0])
        block.__class__ = AdapterBlock
    return image_encoder


def one_to_one_decoder(decoder: nn.Module) -> nn.Module:
    """Turn SAM's ``MaskDecoder`` into SAM-Med2D's: B image embeddings pair with B prompts (no repetition)."""
    MaskDecoder = sam_modeling().mask_decoder.MaskDecoder

    def predict_masks(self, image_embeddings, image_pe, sparse_prompt_embeddings, dense_prompt_embeddings):
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        output_tokens = output_tokens.unsqueeze(0).expand(sparse_prompt_embeddings.size(0), -1, -1)
        tokens = torch.cat((output_tokens, sparse_prompt_embeddings), dim=1)
        if image_embeddings.shape[0] != tokens.shape[0]:
            raise GtvError(f"one-to-one decoding needs as many prompts as images: {tokens.shape[0]} prompts, "
                           f"{image_embeddings.shape[0]} images")
        src = image_embeddings + dense_prompt_embeddings
        pos_src = image_pe.expand(src.shape[0], -1, -1, -1)
        b, c, h, w = src.shape
        hs, src = self.transformer(src, pos_src, tokens)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1:(1 + self.num_mask_tokens), :]
        upscaled = self.output_upscaling(src.transpose(1, 2).view(b, c, h, w))
        hyper_in = torch.stack([mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], dim=1)
        b, c, h, w = upscaled.shape
        masks = (hyper_in @ upscaled.view(b, c, h * w)).view(b, -1, h, w)
        return masks, self.iou_prediction_head(iou_token_out)

    class OneToOneMaskDecoder(MaskDecoder):
        pass

    OneToOneMaskDecoder.predict_masks = predict_masks
    decoder.__class__ = OneToOneMaskDecoder
    return decoder


@dataclass(frozen=True)
class SamMed2DConfig:
    """The numbers that distinguish variants (as segment-anything's build_sam: the signature is the config)."""

    image_size: int = 256
    patch_size: int = 16
    encoder_embed_dim: int = 768
    encoder_depth: int = 12
    encoder_num_heads: int = 12
    encoder_global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11)
    window_size: int = 14
    prompt_embed_dim: int = 256
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    iou_head_hidden_dim: int = 256
    # Not SAM-Med2D: also hand the box to the decoder as a dense prompt (the box rasterised as low-res mask
    # logits through SAM's mask-prompt path), so a model trained from scratch need not first learn where a
    # box's corner tokens point. False for the paper's ViT-B.
    box_as_mask_prompt: bool = False
    # Not SAM-Med2D: a prompt-centred zoom (the "zoom-in" of interactive segmentation, e.g. RITM, Sofiiuk et
    # al. 2022). With a box prompt, the model sees a square window of side ``prompt_zoom`` × the box's longer
    # side (at least ``zoom_min_px``, at most the image), centred on the box and resampled to the full input,
    # and its logits are resampled back (background outside the window). The token grid then spans the
    # tumour instead of the thorax, so a 4-px patch is a fraction of a CT pixel. 0 = off (the paper's).
    prompt_zoom: float = 0.0
    zoom_min_px: int = 16


class SamMed2D(nn.Module):
    """SAM-Med2D: adapters in a (frozen) ViT image encoder, SAM's prompt encoder, a one-to-one decoder.

    ``forward(images, boxes=None, points=None, mask_inputs=None)`` takes images (B, 3, S, S) in 0–255,
    boxes (B, 4) as (x0, y0, x1, y1) pixels, points as ((B, N, 2) pixels, (B, N) labels 1/0) and low-res
    mask logits (B, 1, L, L), where L = 4 · S / patch (64 at 256 px with 16-px patches). It returns a dict:
    ``masks`` (B, 1, S, S) logits of the kept mask, ``low_res`` (B, 1, L, L), ``iou_pred`` (B,) of the
    kept mask, ``all_masks`` (B, 3, L, L) and ``all_iou`` (B, 3).
    """

    def __init__(self, config: SamMed2DConfig = SamMed2DConfig()):
        super().__init__()
        modeling = sam_modeling()
        self.config = config
        grid = config.image_size // config.patch_size
        self.image_encoder = add_adapters(modeling.ImageEncoderViT(
            depth=config.encoder_depth, embed_dim=config.encoder_embed_dim, img_size=config.image_size,
            mlp_ratio=4, norm_layer=partial(nn.LayerNorm, eps=1e-6), num_heads=config.encoder_num_heads,
            patch_size=config.patch_size, qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=config.encoder_global_attn_indexes, window_size=config.window_size,
            out_chans=config.prompt_embed_dim,
        ))
        self.prompt_encoder = modeling.PromptEncoder(
            embed_dim=config.prompt_embed_dim, image_embedding_size=(grid, grid),
            input_image_size=(config.image_size, config.image_size), mask_in_chans=16,
        )
        self.mask_decoder = one_to_one_decoder(modeling.MaskDecoder(
            num_multimask_outputs=3,
            transformer=modeling.TwoWayTransformer(depth=config.decoder_depth, embedding_dim=config.prompt_embed_dim,
                                                   mlp_dim=config.decoder_mlp_dim, num_heads=config.decoder_num_heads),
            transformer_dim=config.prompt_embed_dim, iou_head_depth=3, iou_head_hidden_dim=config.iou_head_hidden_dim,
        ))
        self.register_buffer("pixel_mean", torch.tensor(PIXEL_MEAN).view(-1, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(PIXEL_STD).view(-1, 1, 1), persistent=False)
        self.freeze_encoder()

    def freeze_encoder(self) -> None:
        """Freeze the image encoder except its adapters (SAM-Med2D fine-tuning)."""
        for name, parameter in self.image_encoder.named_parameters():
            parameter.requires_grad = ".Adapter." in name

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Image embeddings (B, prompt_embed_dim, S/16, S/16) of images (B, 3, S, S) in 0–255."""
        size = self.config.image_size
        if images.shape[-2:] != (size, size) or images.shape[1] != 3:
            raise GtvError(f"images of shape {tuple(images.shape)}; expected (B, 3, {size}, {size}) in 0–255")
        return self.image_encoder((images - self.pixel_mean) / self.pixel_std)

    def forward(self, images, boxes=None, points=None, mask_inputs=None) -> dict:
        if self.config.prompt_zoom > 0 and boxes is not None:
            return self._forward_zoomed(images, boxes, points, mask_inputs)
        return self._forward(images, boxes, points, mask_inputs)

    def _forward_zoomed(self, images, boxes, points, mask_inputs) -> dict:
        """``forward`` inside each box's zoom window (:func:`zoom_windows`); every output in the input's frame."""
        size = images.shape[-1]
        windows = zoom_windows(boxes, size, self.config.prompt_zoom, self.config.zoom_min_px)
        to_window, to_image = window_thetas(windows, size)
        low = 4 * self.prompt_encoder.image_embedding_size[0]
        if points is not None:
            points = (to_window_pixels(points[0], windows, size), points[1])
        if mask_inputs is not None:
            mask_inputs = resample(mask_inputs, to_window, low)
        out = self._forward(resample(images, to_window, size), box_in_window(boxes, windows, size), points, mask_inputs)
        return {**out, "masks": paste(out["low_res"], to_image, size), "low_res": paste(out["low_res"], to_image, low),
                "all_masks": paste(out["all_masks"], to_image, low)}

    def _forward(self, images, boxes, points, mask_inputs) -> dict:
        embeddings = self.encode(images)
        if self.config.box_as_mask_prompt and boxes is not None and mask_inputs is None:
            mask_inputs = box_mask_logits(boxes, images.shape[-1], 4 * self.prompt_encoder.image_embedding_size[0])
        sparse, dense = self.prompt_encoder(points=points, boxes=boxes, masks=mask_inputs)
        if sparse.shape[0] == 1 and embeddings.shape[0] > 1:  # no prompt at all: one empty prompt per image
            sparse = sparse.expand(embeddings.shape[0], -1, -1)
            dense = dense.expand(embeddings.shape[0], -1, -1, -1)
        all_masks, all_iou = self.mask_decoder(image_embeddings=embeddings, image_pe=self.prompt_encoder.get_dense_pe(),
                                               sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                               multimask_output=True)
        best = all_iou.argmax(dim=1)
        rows = torch.arange(all_masks.shape[0], device=all_masks.device)
        low_res = all_masks[rows, best][:, None]  # only the kept mask receives gradient
        masks = F.interpolate(low_res, size=images.shape[-2:], mode="bilinear", align_corners=False)
        return {"masks": masks, "low_res": low_res, "iou_pred": all_iou[rows, best], "all_masks": all_masks, "all_iou": all_iou}


# The paper's generator: SAM-Med2D ViT-B at 256 px.
VIT_B = SamMed2DConfig()
# CPU-sized, for the quick profile: 64 px in 4-px patches, so the token grid is 16 × 16 as ViT-B's at 256 px;
# 2 blocks of width 32, a 32-wide decoder, trained from random weights. Two named departures from SAM-Med2D:
# * box_as_mask_prompt (the box also as a dense mask prompt): measured 2026-11-24 (20 epochs, supervised, no
#   zoom), validation slice Dice 0.77 with it against 0.66 without; the all-background phase ends sooner;
# * prompt_zoom = 2 (a window twice the box, at least 4 px): without it the model sees the tumour on the
#   5.25-mm model grid and its 4-px tokens are 21 mm. benchmarks/quick_profile_choices.py (GAN, 12 epochs,
#   3 seeds): slice Dice 0.59 without the zoom (0.65 with the earlier 4 blocks of width 64), 0.80 with
#   windows of at least 16 px, 0.92 with at least 4 px, against 0.91 for the ellipse inscribed in the box.
TINY = SamMed2DConfig(image_size=64, patch_size=4, encoder_embed_dim=32, encoder_depth=2, encoder_num_heads=2,
                      encoder_global_attn_indexes=(1,), window_size=8, prompt_embed_dim=32, decoder_depth=2,
                      decoder_mlp_dim=64, decoder_num_heads=2, iou_head_hidden_dim=32, box_as_mask_prompt=True,
                      prompt_zoom=2.0, zoom_min_px=4)


def build_sam_med2d_vit_b() -> SamMed2D:
    """SAM-Med2D ViT-B/16 at 256 px with adapters (GTV-SAMGAN's generator)."""
    return SamMed2D(VIT_B)


def build_sam_med2d_tiny() -> SamMed2D:
    """A CPU-sized SAM-Med2D with the same structure and a 16 × 16 token grid (the quick profile)."""
    return SamMed2D(TINY)


# The tiny model without the zoom: it sees the crop's own pixels, so GTV-MFIT (which sets how many mm a pixel of the
# model input is) can change what the tumour looks like at the input (chapter 4's GTV-MFIT arms).
TINY_NO_ZOOM = replace(TINY, prompt_zoom=0.0)


def build_sam_med2d_tiny_no_zoom() -> SamMed2D:
    """The tiny SAM-Med2D without the prompt-centred zoom (the input is the crop resized to 64 px)."""
    return SamMed2D(TINY_NO_ZOOM)


def input_windows(config: SamMed2DConfig, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """The windows (B, 3) (left, top, side) a model of ``config`` sees on a ``size`` image for boxes (B, 4):
    :func:`zoom_windows` with ``prompt_zoom``, else the whole image."""
    if config.prompt_zoom > 0:
        return zoom_windows(boxes, size, config.prompt_zoom, config.zoom_min_px)
    return torch.tensor([[0.0, 0.0, float(size)]]).expand(boxes.shape[0], 3)


@torch.no_grad()
def zoomed_inputs(config: SamMed2DConfig, images: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What a model of ``config`` sees: (windows resampled to the input (B, 1, S, S) in [0, 1], windows (B, 3)
    as (left, top, side) pixels, :func:`input_windows`) of images (B, 1, S, S) with boxes (B, 4). A window's
    pixel size in mm is the grid's pixel size × side / S."""
    size = images.shape[-1]
    windows = input_windows(config, boxes, size)
    return resample(images.to(torch.float32), window_thetas(windows, size)[0], size), windows


def zoomed_input_pixel_mm(config: SamMed2DConfig, cache, pairs: list[tuple[str, int]]):
    """pandas Series of the in-plane pixel size (mm) at the model input per (patient, slice) of tumour slices
    ``pairs`` of a slice cache, prompted with their ground-truth boxes: the grid's pixel size × window / S."""
    import pandas as pd

    labels = torch.from_numpy(cache.slices(pairs)[1]).float()[:, None]
    sides = input_windows(config, boxes_from_labels(labels), labels.shape[-1])[:, 2].tolist()
    return pd.Series([cache.spacing_mm(pid)[1] * side / labels.shape[-1] for (pid, _), side in zip(pairs, sides)],
                     index=pd.MultiIndex.from_tuples(pairs, names=["patient", "slice_index"]), name="input_pixel_mm")


def sam_input(images: torch.Tensor) -> torch.Tensor:
    """(B, 1, S, S) windowed CT in [0, 1] → (B, 3, S, S) in 0–255, the input SAM was trained on."""
    return (images * 255.0).expand(-1, 3, -1, -1)


def boxes_from_labels(labels: torch.Tensor) -> torch.Tensor:
    """(B, 4) box prompts (x0, y0, x1, y1) of the largest component of each label (B, 1, S, S), no jitter:
    the ground-truth box the paper evaluates with. An empty label is a :class:`GtvError` (no box exists)."""
    masks = labels[:, 0].detach().cpu().numpy() > 0.5
    return torch.from_numpy(np.stack([box_from_mask(mask) for mask in masks])).to(labels.device)


def predict_with_box_prompt(model: SamMed2D, images: torch.Tensor, labels: torch.Tensor,
                            boxes: torch.Tensor | None = None) -> torch.Tensor:
    """Mask logits (B, 1, S, S) of images (B, 1, S, S) in [0, 1], each prompted with its ``boxes`` (B, 4) row, or
    its ground-truth box when None."""
    return model(sam_input(images), boxes=boxes_from_labels(labels) if boxes is None else boxes)["masks"]


def sam_training_outputs(model: SamMed2D, images: torch.Tensor, boxes: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """([mask logits (B, 1, S, S)], predicted IoU (B,)) of images (B, 1, S, S) in [0, 1] with box prompts (B, 4)."""
    out = model(sam_input(images), boxes=boxes)
    return [out["masks"]], out["iou_pred"]


def _spec(name: str, build, config: SamMed2DConfig, description: str, weights: tuple[str, ...]) -> ModelSpec:
    return ModelSpec(name=name, family="sam_med2d", build=build, input_size=config.image_size, prompt="box",
                     predict=predict_with_box_prompt, description=description, weights=weights,
                     parameter_groups={"the adapters": ".Adapter."}, training_outputs=sam_training_outputs,
                     settings=asdict(config))


REGISTRY = {
    "sam_med2d_vit_b": _spec("sam_med2d_vit_b", build_sam_med2d_vit_b, VIT_B,
                             "SAM-Med2D ViT-B/16 with adapters, 12 encoder blocks of width 768",
                             ("sam_med2d_b", "sam_vit_b")),
    "sam_med2d_tiny": _spec("sam_med2d_tiny", build_sam_med2d_tiny, TINY,
                            "SAM-Med2D tiny with adapters, 2 encoder blocks of width 32, prompt-centred zoom ×2", ()),
    "sam_med2d_tiny_no_zoom": _spec("sam_med2d_tiny_no_zoom", build_sam_med2d_tiny_no_zoom, TINY_NO_ZOOM,
                                    "SAM-Med2D tiny with adapters, 2 encoder blocks of width 32, no zoom", ()),
}
