"""HCF (seed 001, METHODS.md §2): a ResNet18 slice classifier and SANet, the segmenter of the slices it keeps.

=====================  ====================================================================================
``sanet``              SANet as published: ResNet18 encoder (1-channel 7×7 stem, last stage dilated, output
                       stride 16), pyramid pooling (bins 1/2/3/6), three spatial alignment modules, fusion at
                       stride 4, ×4 upsampling; 2 classes. The corrected identity warp.
``sanet_authors_warp`` the same with the authors' warp (a ``linspace`` grid sampled with
                       ``align_corners=False``: not an identity even at zero offset)
``sanet_no_alignment`` the component ablations: upsampling in place of the alignment modules,
``sanet_no_ppm``       and the deepest map through a 1×1 conv in place of the pyramid pooling
=====================  ====================================================================================

``hcf_classifier`` (:func:`build_slice_classifier`) is the slice classifier that gates SANet in the cascade: a
registry entry of task "slice classification" (one logit per slice), trained by the ``classifier`` loop. Both use :class:`ResNet18` (written here, not torchvision's, which ``gtvlib`` must not
import; its layout and parameter count equal torchvision's and MONAI's ResNet18, which the tests check).

Inputs are (B, 1, S, S) slices in [0, 1] with S a multiple of 32 (the encoder's strides); SANet returns
2-class logits (B, 2, S, S), and :func:`predict_foreground` the foreground log-odds (B, 1, S, S) that the
rest of the library thresholds at 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gtvlib.models.spec import ModelSpec, one_head_outputs
from gtvlib.util.errors import GtvError

PAPER_INPUT = 512  # the paper's model grid (body crop resized to 512²)


def _bn_relu(channels: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]


class BasicBlock(nn.Module):
    """Two 3×3 convs with BN and a residual; a 1×1 conv + BN on the shortcut when the shape changes."""

    def __init__(self, inputs: int, outputs: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut = (nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))
                         if stride != 1 or inputs != outputs else nn.Identity())

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x), inplace=True)


class ResNet18(nn.Module):
    """ResNet18 with a 1-channel 7×7 stem. ``dilate_last``: the last stage at stride 1 with dilation 2 (output
    stride 16, SANet's encoder). ``classes``: a dropout + linear head on the pooled features (the slice
    classifier); 0 for none. ``forward`` returns the head's logits, or with ``features=True`` the four stage maps."""

    def __init__(self, classes: int = 0, dropout: float = 0.2, dilate_last: bool = False, width: int = 64):
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width]
        self.stem = nn.Sequential(nn.Conv2d(1, width, 7, 2, 3, bias=False), *_bn_relu(width), nn.MaxPool2d(3, 2, 1))
        stages, inputs = [], width
        for index, outputs in enumerate(widths):
            last = index == 3
            stride = 1 if index == 0 or (last and dilate_last) else 2
            dilation = 2 if last and dilate_last else 1
            stages.append(nn.Sequential(BasicBlock(inputs, outputs, stride, 1 if stride == 2 else dilation),
                                        BasicBlock(outputs, outputs, 1, dilation)))
            inputs = outputs
        self.stages = nn.ModuleList(stages)
        self.channels = widths
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(widths[-1], classes)) if classes else None

    def forward(self, x, features: bool = False):
        _check_input(x, 32)
        x = self.stem(x)
        maps = []
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        if features:
            return maps
        if self.head is None:
            raise GtvError("this ResNet18 has no classification head (classes=0); call it with features=True")
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _check_input(x: torch.Tensor, multiple: int) -> None:
    if x.ndim != 4 or x.shape[1] != 1:
        raise GtvError(f"input of shape {tuple(x.shape)}; expected (batch, 1, S, S): one windowed CT slice per item")
    if x.shape[-1] % multiple or x.shape[-2] % multiple or min(x.shape[-2:]) < 2 * multiple:
        raise GtvError(f"input of {x.shape[-2]} × {x.shape[-1]} px; expected sides that are multiples of {multiple} "
                       f"and at least {2 * multiple} px (the encoder's strides)")


class PyramidPooling(nn.Module):
    """PPM: per bin an adaptive average pool → 1×1 conv (no bias) → BN, upsampled and concatenated with the input,
    then 1×1 conv → BN → ReLU → Dropout2d(0.1)."""

    def __init__(self, inputs: int, outputs: int = 128, bins=(1, 2, 3, 6)):
        super().__init__()
        self.bins = bins
        self.branches = nn.ModuleList(nn.Sequential(nn.Conv2d(inputs, outputs, 1, bias=False), nn.BatchNorm2d(outputs))
                                      for _ in bins)
        self.bottleneck = nn.Sequential(nn.Conv2d(inputs + len(bins) * outputs, outputs, 1, bias=False),
                                        *_bn_relu(outputs), nn.Dropout2d(0.1))

    def forward(self, x):
        size = x.shape[-2:]
        pooled = [F.interpolate(branch(F.adaptive_avg_pool2d(x, b)), size, mode="bilinear", align_corners=False)
                  for b, branch in zip(self.bins, self.branches)]
        return self.bottleneck(torch.cat([x, *pooled], dim=1))


def identity_grid(height: int, width: int, like: torch.Tensor, authors: bool = False) -> torch.Tensor:
    """Sampling grid (1, H, W, 2) in grid_sample's (x, y) ∈ [−1, 1]. Corrected: pixel centres for
    ``align_corners=False`` (an exact identity). ``authors``: ``linspace(−1, 1)`` (pixel centres only for
    ``align_corners=True``), which the authors then sample with ``align_corners=False``."""
    if authors:
        ys, xs = torch.linspace(-1, 1, height), torch.linspace(-1, 1, width)
    else:
        ys = (torch.arange(height) + 0.5) / height * 2 - 1
        xs = (torch.arange(width) + 0.5) / width * 2 - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1)[None].to(like.device, like.dtype)


def warp(x: torch.Tensor, offset: torch.Tensor, authors: bool = False) -> torch.Tensor:
    """``x`` (B, C, H, W) resampled at the identity grid + ``offset`` (B, 2, H, W; (x, y) in grid units),
    bilinear, zeros outside, ``align_corners=False``."""
    grid = identity_grid(x.shape[-2], x.shape[-1], x, authors) + offset.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class SpatialAlignment(nn.Module):
    """SAM: compress the lateral (shallow) map and the upsampled deep map to 64 channels (1×1, no bias),
    predict a 2-channel offset from their concatenation (3×3, no bias, no activation), warp the upsampled deep
    map with it and add the lateral. ``align=False``: plain upsampling (the ablation)."""

    def __init__(self, channels: int = 128, compressed: int = 64, authors_warp: bool = False, align: bool = True):
        super().__init__()
        self.align, self.authors_warp = align, authors_warp
        if align:
            self.lateral = nn.Conv2d(channels, compressed, 1, bias=False)
            self.deep = nn.Conv2d(channels, compressed, 1, bias=False)
            self.offset = nn.Conv2d(2 * compressed, 2, 3, padding=1, bias=False)

    def forward(self, lateral, deep):
        up = F.interpolate(deep, lateral.shape[-2:], mode="bilinear", align_corners=False)
        if not self.align:
            return lateral + up
        offset = self.offset(torch.cat([self.lateral(lateral), self.deep(up)], dim=1))
        return lateral + warp(up, offset, self.authors_warp)


class SANet(nn.Module):
    """SANet (METHODS.md §2): (B, 1, S, S) → 2-class logits (B, 2, S, S)."""

    def __init__(self, classes: int = 2, channels: int = 128, authors_warp: bool = False, align: bool = True,
                 ppm: bool = True, width: int = 64):
        super().__init__()
        self.encoder = ResNet18(dilate_last=True, width=width)
        c1, c2, c3, c4 = self.encoder.channels
        self.context = (PyramidPooling(c4, channels) if ppm else
                        nn.Sequential(nn.Conv2d(c4, channels, 1, bias=False), *_bn_relu(channels)))
        self.laterals = nn.ModuleList(nn.Sequential(nn.Conv2d(c, channels, 1), *_bn_relu(channels)) for c in (c1, c2, c3))
        self.align = nn.ModuleList(SpatialAlignment(channels, channels // 2, authors_warp, align) for _ in range(3))
        self.outputs = nn.ModuleList(nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                                   *_bn_relu(channels)) for _ in range(3))
        self.fuse = nn.Sequential(nn.Conv2d(4 * channels, channels, 3, padding=1, bias=False), *_bn_relu(channels),
                                  nn.Conv2d(channels, classes, 1))

    def forward(self, x):
        _check_input(x, 32)
        maps = self.encoder(x, features=True)  # strides 4, 8, 16, 16
        deep = self.context(maps[3])
        pyramid = [deep]
        for level in (2, 1, 0):  # deep to shallow
            deep = self.align[level](self.laterals[level](maps[level]), deep)
            pyramid.append(self.outputs[level](deep))
        size = maps[0].shape[-2:]
        fused = torch.cat([F.interpolate(p, size, mode="bilinear", align_corners=False) for p in pyramid[::-1]], dim=1)
        return F.interpolate(self.fuse(fused), scale_factor=4, mode="bilinear", align_corners=False)


def build_slice_classifier(width: int = 64) -> ResNet18:
    """The HCF slice classifier: ResNet18, 1-channel 7×7 stem, dropout 0.2, 2 classes (GTV-free, GTV)."""
    return ResNet18(classes=2, dropout=0.2, width=width)


def predict_foreground(model, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Foreground log-odds (B, 1, S, S) = logit(GTV) − logit(background) of the 2-class output; ``labels`` unused."""
    logits = model(images)
    return logits[:, 1:2] - logits[:, 0:1]


def _spec(name: str, description: str, size: int, **options) -> ModelSpec:
    return ModelSpec(name=name, family="hcf", build=lambda: SANet(**options), input_size=size, prompt="none",
                     predict=predict_foreground, description=description,
                     training_outputs=one_head_outputs,  # the 2-class logits (B, 2, S, S)
                     settings={"architecture": "SANet", **options})


def predict_slice(model, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """The classifier's foreground log-odds per slice (B,) = logit(GTV) − logit(GTV-free); ``labels`` unused."""
    logits = model(images)
    return logits[:, 1] - logits[:, 0]


QUICK_WIDTH = 16  # the quick profile's encoder width (ResNet18: 64); the decoder keeps width × 2 channels (SANet: 128)
# The quick grid, 64² (7 mm pixels on the quick cohort): cheap enough for the ablation grid on a 2-core CPU, but
# SANet predicts at stride 4, so the median GTV section (~20 px) is 1–2 px there. On 128² the same 12 epochs
# reached a validation patient Dice of 0.35 against 0.12 on 64², for 2.4× the time (one fold, no augmentation;
# benchmarks/hcf_grid_size.py, benchmarks/RESULTS.md).
QUICK_INPUT = 64
QUICK_SUFFIX = f"_w{QUICK_WIDTH}"


def _classifier_spec(name: str, width: int, size: int) -> ModelSpec:
    return ModelSpec(name=name, family="hcf", build=lambda: build_slice_classifier(width), input_size=size,
                     prompt="none", predict=predict_slice, training_outputs=one_head_outputs,  # slice logits (B, 2)
                     description="HCF slice classifier: ResNet18" + (f" (width {width})" if width != 64 else "")
                     + ", 1-channel 7×7 stem, dropout 0.2, 2 classes",
                     settings={"architecture": "ResNet18 slice classifier", **({"width": width} if width != 64 else {})},
                     task="slice classification")


def _variants(suffix: str = "", width: int = 64, size: int = PAPER_INPUT) -> dict[str, ModelSpec]:
    """SANet and its ablations at encoder ``width`` (decoder 2 × width channels) on a ``size``² grid, named with
    ``suffix``, and the slice classifier of the same width."""
    narrow = {"width": width, "channels": 2 * width} if width != 64 else {}
    where = f" (width {width}, {2 * width} decoder channels)" if narrow else ""
    variants = {
        "sanet": ("SANet: ResNet18 (dilated, OS 16), PPM 1/2/3/6, 3 spatial alignment modules, identity warp", {}),
        "sanet_authors_warp": ("SANet with the authors' warp (linspace grid, align_corners=False)", {"authors_warp": True}),
        "sanet_no_alignment": ("SANet without spatial alignment (bilinear upsampling)", {"align": False}),
        "sanet_no_ppm": ("SANet without pyramid pooling (1×1 conv on the deepest map)", {"ppm": False}),
    }
    specs = {name + suffix: _spec(name + suffix, text + where, size, **narrow, **options) for name, (text, options) in variants.items()}
    specs["hcf_classifier" + suffix] = _classifier_spec("hcf_classifier" + suffix, width, size)
    return specs


# The published networks, and the same at a quarter of the width (about 1/16 of the parameters and of the
# compute) for the quick profile on a CPU: the architecture and its ablations are unchanged, only narrower.
REGISTRY = {**_variants(), **_variants(QUICK_SUFFIX, QUICK_WIDTH, QUICK_INPUT)}
