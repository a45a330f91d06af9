"""Laying a trained model's grid on a new scan, and back.

A 2-D model was trained on slices windowed, cropped and resized to ``size`` × ``size`` pixels
(:class:`~gtvlib.data.slices.cache.SliceSpec`). On a new scan the same grid is laid *physically*: the same
square in mm, at the same offset from the image centre, as the training crop had on the training images
(their matrix and pixel size are recorded in the run, ``source_geometry``); without a crop the square is
the training images' whole field of view. So the model sees the anatomy at the pixel size it was trained on,
whatever the new scan's matrix and pixel size. Resampling is bilinear (after a Gaussian anti-aliasing filter
where a model pixel spans more than 2 scan pixels); outside the scan counts as air (−1024 HU). Predictions
(logits) are resampled back onto every CT pixel and thresholded at 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from gtvlib.data.volume import Volume
from gtvlib.data.windows import window_hu
from gtvlib.util.errors import GtvError

AIR_HU = -1024.0
OUTSIDE_LOGIT = -20.0  # what the model "says" outside its field of view: surely not tumour


@dataclass(frozen=True)
class ModelGrid:
    """The model's ``size`` × ``size`` grid on a scan's slices: model pixel (i, j) has its centre at CT pixel
    (``offset_rc[0] + scale_rc[0] * i``, ``offset_rc[1] + scale_rc[1] * j``) (rows, columns; pixel-centre
    coordinates). ``scale_rc``: CT pixels per model pixel. ``pixel_mm``: (dy, dx) of one model pixel."""

    size: int
    offset_rc: tuple[float, float]
    scale_rc: tuple[float, float]
    pixel_mm: tuple[float, float]

    def to_model_px(self, rows: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CT pixel coordinates (row, column) → model pixel coordinates."""
        return ((np.asarray(rows, float) - self.offset_rc[0]) / self.scale_rc[0],
                (np.asarray(columns, float) - self.offset_rc[1]) / self.scale_rc[1])

    def images(self, volume: Volume, window_center_hu: float, window_width_hu: float) -> np.ndarray:
        """The scan on the model grid: (z, size, size) float32 in [0, 1], windowed as in training."""
        hu = volume.hu
        # anti-aliasing where the model grid is much coarser than the scan (up to 2 × the training resize had none)
        sigma = [0.0, *[(s - 1.0) / 2.0 if s > 2.0 else 0.0 for s in self.scale_rc]]
        if max(sigma) > 0:
            hu = ndimage.gaussian_filter(hu, sigma, mode="nearest")
        resampled = ndimage.affine_transform(
            hu, matrix=[1.0, *self.scale_rc], offset=[0.0, *self.offset_rc],
            output_shape=(hu.shape[0], self.size, self.size), order=1, mode="constant", cval=AIR_HU)
        return window_hu(resampled, window_center_hu, window_width_hu)

    def mask_on_grid(self, mask: np.ndarray) -> np.ndarray:
        """A scan mask (z, rows, columns) bool sampled at the model pixels' centres (nearest scan pixel;
        outside the scan: False), (z, size, size) bool."""
        sampled = ndimage.affine_transform(np.asarray(mask, np.uint8), matrix=[1.0, *self.scale_rc],
                                           offset=[0.0, *self.offset_rc], output_shape=(mask.shape[0], self.size, self.size),
                                           order=0, mode="constant", cval=0)
        return sampled > 0

    def to_scan(self, logits: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
        """Model-grid logits (z, size, size) → a mask (z, rows, columns) bool on the scan (logit > 0)."""
        matrix = [1.0, 1.0 / self.scale_rc[0], 1.0 / self.scale_rc[1]]
        offset = [0.0, -self.offset_rc[0] / self.scale_rc[0], -self.offset_rc[1] / self.scale_rc[1]]
        back = ndimage.affine_transform(np.asarray(logits, np.float32), matrix=matrix, offset=offset, output_shape=shape,
                                        order=1, mode="constant", cval=OUTSIDE_LOGIT)
        return back > 0


def model_grid(volume: Volume, slice_spec: dict, source_geometry: dict | None) -> ModelGrid:
    """The grid of a model trained with ``slice_spec`` on images of ``source_geometry`` laid on ``volume``.

    ``source_geometry``: ``image_px`` (rows, columns) and ``pixel_mm`` (dy, dx) of the training images, or
    None, where the training crop (if any) cannot be placed and the whole scan is the field of view.
    """
    size = int(slice_spec["size"] or 0)
    if size <= 0:
        raise GtvError(f"slice_spec size {slice_spec.get('size')!r}: expected the model's input side in pixels")
    rows, columns = volume.shape[1:]
    dy, dx = (float(v) for v in volume.spacing_mm[1:])
    crop = slice_spec.get("crop")
    if source_geometry is None:
        if crop is not None:
            raise GtvError("the run crops its slices but does not record its training images' matrix and pixel size "
                           "(source_geometry in params.yaml; runs trained before it was recorded): the crop cannot be "
                           "placed on a new scan; retrain the run")
        centre_mm, side_mm = (0.0, 0.0), (rows * dy, columns * dx)
    else:
        (train_rows, train_columns), (train_dy, train_dx) = source_geometry["image_px"], source_geometry["pixel_mm"]
        r0, c0, r1, c1 = crop if crop is not None else (0, 0, train_rows, train_columns)
        centre_mm = (((r0 + r1) / 2 - train_rows / 2) * train_dy, ((c0 + c1) / 2 - train_columns / 2) * train_dx)
        side_mm = ((r1 - r0) * train_dy, (c1 - c0) * train_dx)
    scale = (side_mm[0] / dy / size, side_mm[1] / dx / size)
    # edge coordinates: the square starts at centre − side/2; model pixel i's centre is at start + (i + ½)·scale,
    # a CT pixel-centre coordinate half a pixel lower
    start = (rows / 2 + centre_mm[0] / dy - side_mm[0] / dy / 2, columns / 2 + centre_mm[1] / dx - side_mm[1] / dx / 2)
    offset = (start[0] + 0.5 * scale[0] - 0.5, start[1] + 0.5 * scale[1] - 0.5)
    return ModelGrid(size, offset, scale, (side_mm[0] / size, side_mm[1] / size))
