"""The IGTV network of seed 004 (METHODS.md §5): 2.5-D PET/CT segmentation with a slice interaction module.

Input (B, M, S, H, W): M modalities (PET SUV and windowed CT, or one of them) on S adjacent slices, the slice to
segment in the middle; output: logits (B, 1, H, W) of the middle slice. A shared 2-D encoder turns every slice into
features at each level (B, S, C, h, w); the **slice interaction module** (:class:`SliceInteraction`) fuses them into
the middle slice's features with two attention branches built from depthwise convolutions, one over channels (each
channel's response across the slices) and one over space (each channel's slices seen together), added to the middle
slice through a gate that starts at 0, so an untrained module is the identity; a U-shaped decoder with skip
connections returns to full resolution. ``slice_interaction=False`` is the plain 2.5-D U-Net the paper compares
with: the S × M slices enter as channels of one 2-D encoder.

The paper's network is a multimodal interactive perception network with Mamba blocks; its widths are not given,
so ``widths`` is a stated choice. Transfer from a GTV model to the IGTV task loads the same architecture's weights
with :func:`gtvlib.models.checkpoints.load_checkpoint`.

The registry names the ablations' networks (3 slices; ``_small``: 8–64 channels for the quick profile, else 16–128):

=================  ====================================================================
``igtv``           PET/CT with the slice interaction module (depthwise-convolution branch)
``igtv_mamba``     the same with a Mamba channel branch (``mambapy``)
``igtv_plain``     PET/CT without it: the plain 2.5-D U-Net, slices as channels
``igtv_ct``        CT only, with the module
``igtv_pet``       PET only, with the module
=================  ====================================================================
"""

from __future__ import annotations

import torch
from torch import nn

from gtvlib.models.spec import ModelSpec, direct_logits, one_head_outputs
from gtvlib.util.errors import GtvError


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True), nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class SliceInteraction(nn.Module):
    """Fuse slice features (B, S, C, H, W) into the middle slice's (B, C, H, W):

    ``middle + γ · a_c · a_s · context``, where ``a_c`` (B, C, 1, 1) = σ(a depthwise 1-D convolution over each
    channel's S pooled responses), ``a_s`` (B, C, H, W) = σ(a depthwise k × k convolution over each channel's S
    slices), ``context`` = a depthwise 1 × 1 mixing of each channel's S slices, and γ a learnt gate that starts at 0.
    With γ = 0 the module passes the middle slice through unchanged; with neutral attention (a_c = a_s = 1) it adds
    the plain slice mixture. ``mixer="mamba"``: the channel branch reads the slices as a sequence with a Mamba block
    (``mambapy``, pure PyTorch) instead of the depthwise convolution, a_c from the middle slice's output token."""

    MIXERS = ("conv", "mamba")

    def __init__(self, channels: int, slices: int, kernel: int = 7, mixer: str = "conv"):
        super().__init__()
        if slices < 1 or slices % 2 == 0:
            raise GtvError(f"slices={slices}; expected an odd number ≥ 1 (the segmented slice in the middle)")
        if mixer not in self.MIXERS:
            raise GtvError(f"mixer={mixer!r}; expected one of {list(self.MIXERS)}")
        self.channels, self.slices, self.mixer = channels, slices, mixer
        if mixer == "mamba":
            from mambapy.mamba import Mamba, MambaConfig

            self.channel_attention = Mamba(MambaConfig(d_model=channels, n_layers=1))
        else:
            self.channel_attention = nn.Conv1d(channels, channels, kernel_size=slices, groups=channels)
        self.spatial_attention = nn.Conv2d(channels * slices, channels, kernel, padding=kernel // 2, groups=channels)
        self.context = nn.Conv2d(channels * slices, channels, 1, groups=channels)
        self.gate = nn.Parameter(torch.zeros(1))

    def attention(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(a_c (B, C, 1, 1), a_s (B, C, H, W), context (B, C, H, W)) of slice features (B, S, C, H, W)."""
        b, s, c, h, w = features.shape
        if (s, c) != (self.slices, self.channels):
            raise GtvError(f"slice features of shape {tuple(features.shape)}; expected (B, {self.slices}, "
                           f"{self.channels}, H, W)")
        by_channel = features.transpose(1, 2)  # B, C, S, H, W: each channel's slices together
        pooled = by_channel.mean(dim=(3, 4))  # B, C, S
        if self.mixer == "mamba":
            a_c = torch.sigmoid(self.channel_attention(pooled.transpose(1, 2))[:, s // 2])[..., None, None]  # B, C, 1, 1
        else:
            a_c = torch.sigmoid(self.channel_attention(pooled))[..., None]  # B, C, 1, 1
        grouped = by_channel.reshape(b, c * s, h, w)
        return a_c, torch.sigmoid(self.spatial_attention(grouped)), self.context(grouped)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        a_c, a_s, context = self.attention(features)
        return features[:, self.slices // 2] + self.gate * a_c * a_s * context


class IGTVNet(nn.Module):
    """2.5-D U-shaped network on (B, M, S, H, W) → logits (B, 1, H, W); H and W multiples of 2^(levels − 1)."""

    def __init__(self, modalities: int = 2, slices: int = 3, widths: tuple[int, ...] = (16, 32, 64, 128),
                 slice_interaction: bool = True, mixer: str = "conv"):
        super().__init__()
        self.modalities, self.slices, self.widths = modalities, slices, tuple(widths)
        self.slice_interaction = slice_interaction
        first = modalities if slice_interaction else modalities * slices
        channels = [first, *self.widths]
        self.encoder = nn.ModuleList(_block(a, b) for a, b in zip(channels[:-1], channels[1:]))
        self.interaction = (nn.ModuleList(SliceInteraction(width, slices, mixer=mixer) for width in self.widths)
                            if slice_interaction else None)
        self.up = nn.ModuleList(nn.ConvTranspose2d(deep, shallow, 2, stride=2) for deep, shallow in
                                zip(self.widths[:0:-1], self.widths[-2::-1]))
        self.decoder = nn.ModuleList(_block(2 * shallow, shallow) for shallow in self.widths[-2::-1])
        self.head = nn.Conv2d(self.widths[0], 1, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, m, s, h, w = x.shape
        if (m, s) != (self.modalities, self.slices):
            raise GtvError(f"input of shape {tuple(x.shape)}; expected (B, {self.modalities} modalities, {self.slices} "
                           "slices, H, W)")
        step = 2 ** (len(self.widths) - 1)
        if h % step or w % step:
            raise GtvError(f"input of {h} × {w} px; expected sides that are multiples of {step}")
        if self.slice_interaction:
            features = x.transpose(1, 2).reshape(b * s, m, h, w)  # every slice through the shared encoder
        else:
            features = x.reshape(b, m * s, h, w)  # the plain 2.5-D input: slices as channels
        skips = []
        for level, block in enumerate(self.encoder):
            features = block(features if level == 0 else self.pool(features))
            if self.slice_interaction:
                c, fh, fw = features.shape[1:]
                skips.append(self.interaction[level](features.reshape(b, s, c, fh, fw)))
            else:
                skips.append(features)
        out = skips[-1]
        for up, block, skip in zip(self.up, self.decoder, skips[-2::-1]):
            out = block(torch.cat([up(out), skip], dim=1))
        return self.head(out)


SLICES = 3  # the segmented slice and one neighbour on each side
WIDTHS = {"": (16, 32, 64, 128), "_small": (8, 16, 32, 64)}  # the paper profile's widths; the quick profile's
VARIANTS = {  # name stem → (modalities, slice interaction module, its channel branch, what it is)
    "igtv": (("PET", "CT"), True, "conv", "PET/CT with the slice interaction module"),
    "igtv_mamba": (("PET", "CT"), True, "mamba", "PET/CT with the slice interaction module, a Mamba channel branch"),
    "igtv_plain": (("PET", "CT"), False, "conv", "PET/CT, plain 2.5-D U-Net (slices as channels, no slice interaction)"),
    "igtv_ct": (("CT",), True, "conv", "CT only with the slice interaction module"),
    "igtv_pet": (("PET",), True, "conv", "PET only with the slice interaction module"),
}


def _spec(name: str, modalities: tuple[str, ...], interaction: bool, mixer: str, description: str, widths) -> ModelSpec:
    return ModelSpec(name=name, family="igtv", input_size=0, prompt="none", predict=direct_logits,
                     build=lambda: IGTVNet(modalities=len(modalities), slices=SLICES, widths=widths,
                                           slice_interaction=interaction, mixer=mixer),
                     description=f"2.5-D IGTV network, {description}, {widths[0]}–{widths[-1]} channels",
                     training_outputs=one_head_outputs, task="2.5-D PET/CT segmentation",
                     settings={"architecture": "IGTVNet", "modalities": list(modalities), "slices": SLICES,
                               "widths": list(widths), "slice_interaction": interaction, "mixer": mixer},
                     parameter_groups={"slice interaction": "interaction."} if interaction else {})


REGISTRY = {f"{stem}{suffix}": _spec(f"{stem}{suffix}", *variant, widths)
            for suffix, widths in WIDTHS.items() for stem, variant in VARIANTS.items()}
