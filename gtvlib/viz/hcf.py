"""Figures of the HCF chapter: the warp at a zero offset, the classifier's slice probabilities, the cascade."""

from __future__ import annotations

import numpy as np


def zero_offset_warp(image: np.ndarray) -> dict[str, np.ndarray]:
    """``image`` (H, W) resampled by both warps of :func:`gtvlib.models.hcf.warp` at a zero offset field:
    {"corrected": …, "authors": …}, each (H, W)."""
    import torch

    from gtvlib.models.hcf import warp

    x = torch.as_tensor(np.asarray(image, np.float32))[None, None]
    zero = torch.zeros(1, 2, *x.shape[-2:])
    return {"corrected": warp(x, zero)[0, 0].numpy(), "authors": warp(x, zero, authors=True)[0, 0].numpy()}


def warp_figure(image: np.ndarray, pixel_mm: float):
    """Matplotlib: a slice, the authors' warp of it at zero offset, and the difference (authors' − input); the
    corrected warp returns the input exactly."""
    import matplotlib.pyplot as plt

    warped = zero_offset_warp(image)["authors"]
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.8), constrained_layout=True)
    extent = [0, image.shape[1] * pixel_mm, image.shape[0] * pixel_mm, 0]
    for axis, data, title, cmap, limits in ((axes[0], image, "input (= corrected warp, zero offset)", "gray", (0, 1)),
                                            (axes[1], warped, "authors' warp, zero offset", "gray", (0, 1)),
                                            (axes[2], warped - image, "authors' − input", "RdBu_r", (-0.5, 0.5))):
        shown = axis.imshow(data, cmap=cmap, vmin=limits[0], vmax=limits[1], extent=extent, interpolation="nearest")
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("mm")
    figure.colorbar(shown, ax=axes[2], shrink=0.8)
    return figure


def slice_probability_figure(probabilities: dict[int, float], truth: np.ndarray, threshold: float = 0.5, title: str = ""):
    """Plotly: the classifier's P(GTV) per slice of one patient (one line per fold model), the slices that hold GTV
    shaded, the gate's threshold dashed. ``probabilities``: fold label → (z,) array."""
    import plotly.graph_objects as go

    figure = go.Figure()
    z = np.arange(len(truth))
    for index in np.nonzero(truth)[0]:
        figure.add_vrect(x0=index - 0.5, x1=index + 0.5, fillcolor="#2ecc71", opacity=0.18, line_width=0)
    for label, values in probabilities.items():
        figure.add_trace(go.Scatter(x=z, y=values, mode="lines+markers", name=label))
    figure.add_hline(y=threshold, line_dash="dash", line_color="#c0392b", annotation_text="gate")
    figure.update_layout(xaxis_title="slice", yaxis_title="P(GTV)", yaxis_range=[0, 1], height=340, template="plotly_white",
                         title=title or "Slice classifier (green: slices holding GTV)", margin=dict(l=60, r=20, t=50, b=50))
    return figure
