"""iSeg's network (seed 002, METHODS.md §3): a 3-D U-Net, here MONAI's ``UNet`` in three dimensions (residual
units, strided convolutions down, transposed convolutions up), one input channel (the windowed CT in [0, 1]) and
one output channel (GTV logits). Trained on patches (the patch route of :mod:`gtvlib.training`) and run on whole volumes by MONAI's
sliding-window inference (:func:`sliding_window_logits`).

====================  ==========================================================================
``unet3d``            4 levels of 16–128 channels, 2 residual units per level (the paper profile)
``unet3d_small``      4 levels of 8–64 channels, 1 residual unit (the quick profile on a CPU)
====================  ==========================================================================

The paper does not give its U-Net's widths; both are stated choices. Every spatial side the network sees must be a
multiple of 8 (three stride-2 levels): :func:`sliding_window_logits` pads the volume and crops the result.
"""

from __future__ import annotations

import numpy as np

from gtvlib.models.spec import ModelSpec, direct_logits, one_head_outputs
from gtvlib.util.errors import GtvError

MULTIPLE = 8  # 2³: three stride-2 levels
PATCH = 32  # the quick profile's patch edge along y and x (voxels); z: PATCH // 2
OUTSIDE_LOGIT = -20.0  # logit outside the body box (sigmoid ≈ 2e-9: certainly not GTV)


def _unet(channels: tuple[int, ...], residual_units: int):
    import torch
    from monai.networks.nets import UNet

    network = UNet(spatial_dims=3, in_channels=1, out_channels=1, channels=channels, strides=(2,) * (len(channels) - 1),
                   num_res_units=residual_units)
    return network.to(memory_format=torch.channels_last_3d)  # channels-last 3-D convolutions: faster in oneDNN and cuDNN


def _spec(name: str, description: str, channels: tuple[int, ...], residual_units: int) -> ModelSpec:
    return ModelSpec(name=name, family="unet3d", build=lambda: _unet(channels, residual_units), input_size=0,
                     prompt="none", predict=direct_logits, description=description, training_outputs=one_head_outputs,
                     settings={"architecture": "MONAI UNet 3-D", "channels": list(channels), "residual_units": residual_units},
                     task="volume segmentation")


REGISTRY = {
    "unet3d": _spec("unet3d", "3-D U-Net (MONAI UNet, 16–128 channels, 2 residual units per level)", (16, 32, 64, 128), 2),
    "unet3d_small": _spec("unet3d_small", "3-D U-Net (MONAI UNet, 8–64 channels, 1 residual unit per level)", (8, 16, 32, 64), 1),
}


def sliding_window_logits(model, image: np.ndarray, patch: tuple[int, int, int], overlap: float = 0.25,
                          batch_size: int = 4, device=None, box=None) -> np.ndarray:
    """GTV logits (z, y, x) float32 of ``image`` (z, y, x) in [0, 1], by MONAI's sliding-window inference with windows
    of ``patch`` voxels (each a multiple of 8) overlapping by ``overlap`` and blended with Gaussian weights. The
    volume is padded with zeros (air in any window) to at least the patch and a multiple of 8, and the result
    cropped back. Where the volume is one patch, this is one forward pass of the whole volume. ``box``: an in-plane
    :class:`~gtvlib.data.slices.boxes.Box` (rows, columns; the body's, :func:`~gtvlib.data.slices.boxes.body_box`) to
    which the windows are confined on every slice; outside it the logits are ``OUTSIDE_LOGIT`` (no GTV in the air
    around the patient; a third of a chest CT's square field of view)."""
    image = np.asarray(image, np.float32)
    if image.ndim != 3:
        raise GtvError(f"image of shape {image.shape}; expected one volume (z, y, x)")
    if box is not None:
        rows, columns = slice(int(box.row0), int(box.row1)), slice(int(box.col0), int(box.col1))
        if not (0 <= rows.start < rows.stop <= image.shape[1] and 0 <= columns.start < columns.stop <= image.shape[2]):
            raise GtvError(f"box rows {rows.start}–{rows.stop}, columns {columns.start}–{columns.stop}; expected a "
                           f"non-empty box inside the slices of {image.shape[1]} × {image.shape[2]} pixels")
        logits = np.full(image.shape, OUTSIDE_LOGIT, np.float32)
        logits[:, rows, columns] = sliding_window_logits(model, image[:, rows, columns], patch, overlap, batch_size, device)
        return logits
    import torch
    from monai.inferers import sliding_window_inference

    if len(patch) != 3 or any(int(p) <= 0 or int(p) % MULTIPLE for p in patch):
        raise GtvError(f"patch {tuple(patch)}; expected three sides in voxels, each a positive multiple of {MULTIPLE}")
    if not 0 <= overlap < 1:
        raise GtvError(f"overlap={overlap}; expected a fraction in [0, 1)")
    padded_shape = [max(int(p), -(-s // MULTIPLE) * MULTIPLE) for s, p in zip(image.shape, patch)]
    padded = np.zeros(padded_shape, np.float32)
    padded[tuple(slice(0, s) for s in image.shape)] = image
    device = device or next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        logits = sliding_window_inference(torch.from_numpy(padded)[None, None].to(device), tuple(int(p) for p in patch),
                                          batch_size, model, overlap=overlap, mode="gaussian")
    return logits[0, 0].float().cpu().numpy()[tuple(slice(0, s) for s in image.shape)]
