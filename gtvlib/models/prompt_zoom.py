"""The geometry of a prompt-centred zoom (the "zoom-in" of interactive segmentation, e.g. RITM): square windows around
box prompts, the affine maps between an image and its windows, boxes and points carried into a window, bilinear
resampling there and back, and a box as mask-prompt logits. Pure tensor geometry: no model, no configuration
(:class:`~gtvlib.models.sam_med2d.SamMed2D` uses it when ``prompt_zoom`` is on).

Coordinates: pixel centres at integers, pixel i spanning [i − ½, i + ½] for boxes (x0, y0, x1, y1) inclusive, and
pixel-edge coordinates (pixel i spans [i, i + 1]) for windows (left, top, side).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def box_mask_logits(boxes: torch.Tensor, image_size: int, mask_size: int, value: float = 4.0) -> torch.Tensor:
    """Boxes (B, 4) as (x0, y0, x1, y1) pixels of an ``image_size`` input → mask-prompt logits
    (B, 1, mask_size, mask_size): +``value`` on low-res pixels whose centre lies inside the box, −``value`` elsewhere."""
    scale = mask_size / image_size
    centres = (torch.arange(mask_size, device=boxes.device, dtype=torch.float32) + 0.5) / scale - 0.5
    x0, y0, x1, y1 = (boxes[:, i, None] for i in range(4))
    inside_x = (centres[None] >= x0 - 0.5) & (centres[None] <= x1 + 0.5)
    inside_y = (centres[None] >= y0 - 0.5) & (centres[None] <= y1 + 0.5)
    inside = inside_y[:, :, None] & inside_x[:, None, :]
    return torch.where(inside, value, -value)[:, None].to(torch.float32)


ZOOM_BACKGROUND_LOGIT = -20.0  # what a zoomed model says outside its window


def zoom_windows(boxes: torch.Tensor, size: int, factor: float, min_px: float) -> torch.Tensor:
    """Square zoom windows (B, 3) as (left, top, side) in pixel-edge coordinates (pixel i spans [i, i + 1]) of
    boxes (B, 4) (x0, y0, x1, y1) inclusive pixels on a ``size`` image: side = ``factor`` × the box's longer
    side, clamped to [``min_px``, ``size``], centred on the box and moved inside the image."""
    boxes = boxes.detach().to(torch.float32)
    extent = torch.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) + 1.0
    side = (factor * extent).clamp(min=float(min(min_px, size)), max=float(size))
    corner = [((boxes[:, i] + boxes[:, i + 2]) / 2 + 0.5 - side / 2).clamp(min=0.0) for i in (0, 1)]
    corner = [torch.minimum(c, size - side) for c in corner]
    return torch.stack([corner[0], corner[1], side], dim=1)


def window_thetas(windows: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Affine matrices (B, 2, 3) for :func:`torch.nn.functional.affine_grid` (align_corners=False): image →
    window (sample the window from the image) and window → image (paste the window back)."""
    scale = windows[:, 2] / size
    shift = [(windows[:, 2] + 2 * windows[:, i]) / size - 1 for i in (0, 1)]
    zero = torch.zeros_like(scale)
    to_window = torch.stack([torch.stack([scale, zero, shift[0]], 1), torch.stack([zero, scale, shift[1]], 1)], 1)
    to_image = torch.stack([torch.stack([1 / scale, zero, -shift[0] / scale], 1),
                            torch.stack([zero, 1 / scale, -shift[1] / scale], 1)], 1)
    return to_window, to_image


def to_window_pixels(xy: torch.Tensor, windows: torch.Tensor, size: int) -> torch.Tensor:
    """Pixel coordinates (B, N, 2) (x, y) of the image → the same points in pixels of the resampled window."""
    scale = (size / windows[:, 2]).view(-1, 1, 1)
    return (xy + 0.5 - windows[:, None, :2]) * scale - 0.5


def box_in_window(boxes: torch.Tensor, windows: torch.Tensor, size: int) -> torch.Tensor:
    """Boxes (B, 4) (x0, y0, x1, y1) inclusive pixels of the image → inclusive pixels of the resampled window:
    the box's outer edges are mapped, so the zoomed box still encloses the zoomed tumour."""
    scale = (size / windows[:, 2])[:, None]
    corner = windows[:, :2].repeat(1, 2)
    edges = boxes.to(torch.float32) + torch.tensor([0.0, 0.0, 1.0, 1.0], device=boxes.device)
    return (edges - corner) * scale - torch.tensor([0.0, 0.0, 1.0, 1.0], device=boxes.device)


def resample(tensor: torch.Tensor, theta: torch.Tensor, out_px: int) -> torch.Tensor:
    """Bilinear resampling of (B, C, H, W) through ``theta`` (B, 2, 3) onto (B, C, out_px, out_px)."""
    grid = F.affine_grid(theta.to(tensor.dtype), [tensor.shape[0], tensor.shape[1], out_px, out_px], align_corners=False)
    return F.grid_sample(tensor, grid, mode="bilinear", padding_mode="border", align_corners=False)


def paste(logits: torch.Tensor, to_image: torch.Tensor, out_px: int) -> torch.Tensor:
    """Window logits (B, C, L, L) back in the image frame (B, C, out_px, out_px); outside the window
    :data:`ZOOM_BACKGROUND_LOGIT`."""
    grid = F.affine_grid(to_image.to(logits.dtype), [logits.shape[0], logits.shape[1], out_px, out_px], align_corners=False)
    sampled = F.grid_sample(logits, grid, mode="bilinear", padding_mode="border", align_corners=False)
    inside = (grid.abs() <= 1.0).all(dim=-1)[:, None]
    return torch.where(inside, sampled, torch.full_like(sampled, ZOOM_BACKGROUND_LOGIT))
