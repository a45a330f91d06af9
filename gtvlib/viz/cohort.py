"""Figures of the data chapter: slice explorer, cohort statistics, GTV-MFIT, balance sampling, and the
RTSTRUCT rasterisation conventions. Images are (z, y, x) in HU; masks bool of the same shape."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gtvlib.data.windows import WINDOW_PRESETS_HU, window_hu

OVERLAY_RGB = (0, 255, 0)  # ground truth in green, as the GTV-SAMGAN paper's figures


def _outline(mask_2d: np.ndarray) -> np.ndarray:
    return mask_2d & ~ndimage.binary_erosion(mask_2d)


def _overlay_rgb(hu_2d: np.ndarray, mask_2d: np.ndarray | None, window: str) -> np.ndarray:
    w = WINDOW_PRESETS_HU[window]
    grey = (window_hu(hu_2d, w.center, w.width) * 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    if mask_2d is not None:
        rgb[_outline(mask_2d)] = OVERLAY_RGB
    return rgb


def slice_explorer(hu: np.ndarray, masks_by_source: dict[str, np.ndarray], spacing_mm, start: int | None = None):
    """JupyterLab explorer: slice slider, window preset, overlay on/off, overlay source (e.g. RTSTRUCT vs SEG)."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    first_mask = next(iter(masks_by_source.values()))
    tumour_slices = np.nonzero(first_mask.any(axis=(1, 2)))[0]
    start = int(tumour_slices[len(tumour_slices) // 2]) if start is None and len(tumour_slices) else (start or 0)
    index = widgets.IntSlider(value=start, min=0, max=hu.shape[0] - 1, description="slice", continuous_update=False)
    window = widgets.Dropdown(options=list(WINDOW_PRESETS_HU), value="lung", description="window")
    show = widgets.Checkbox(value=True, description="ground truth")
    source = widgets.ToggleButtons(options=list(masks_by_source), description="from")
    out = widgets.Output()
    dz, dy, dx = spacing_mm

    def draw(*_):
        with out:
            out.clear_output(wait=True)
            mask = masks_by_source[source.value][index.value] if show.value else None
            figure, axis = plt.subplots(figsize=(5.2, 5.2))
            axis.imshow(_overlay_rgb(hu[index.value], mask, window.value), extent=[0, hu.shape[2] * dx, hu.shape[1] * dy, 0])
            axis.set_title(f"slice {index.value}: {int(mask.sum()) if mask is not None else 0} GTV pixels")
            axis.set_xlabel("x (mm)")
            axis.set_ylabel("y (mm)")
            plt.show(figure)

    for control in (index, window, show, source):
        control.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([index, window]), widgets.HBox([show, source]), out])


def slice_browser_figure(hu: np.ndarray, mask: np.ndarray, window: str = "lung", max_slices: int = 24, title: str = ""):
    """Static-book twin of the explorer: a plotly slider over the tumour slices (± 2) with the contour burnt in."""
    import plotly.express as px

    rows = np.nonzero(mask.any(axis=(1, 2)))[0]
    low, high = (max(rows.min() - 2, 0), min(rows.max() + 3, hu.shape[0])) if len(rows) else (0, hu.shape[0])
    indices = np.arange(low, high)
    if len(indices) > max_slices:
        indices = indices[np.linspace(0, len(indices) - 1, max_slices).round().astype(int)]
    stack = np.stack([_overlay_rgb(hu[k], mask[k], window) for k in indices])
    figure = px.imshow(stack, animation_frame=0, binary_string=True, labels={"animation_frame": "slice"})
    figure.layout.sliders[0]["currentvalue"] = {"prefix": "slice index: "}
    for step, k in zip(figure.layout.sliders[0].steps, indices):
        step["label"] = str(int(k))
    figure.layout.updatemenus = []  # a slider, no autoplay
    middle = len(indices) // 2  # open on the middle of the tumour, not on its margin
    figure.update(data=figure.frames[middle].data)
    figure.layout.sliders[0]["active"] = middle
    figure.update_layout(title=title or f"{window} window, ground truth in green", height=520, margin=dict(l=10, r=10, t=50, b=10))
    figure.update_xaxes(showticklabels=False)
    figure.update_yaxes(showticklabels=False)
    return figure


def volume_histogram(volumes_cm3, median_cm3: float = 40.0, log_sd: float = 0.9):
    """Plotly histogram of GTV volumes (log axis) with the log-normal target density scaled to the counts."""
    import plotly.graph_objects as go

    volumes = np.asarray(volumes_cm3, dtype=float)
    edges = np.logspace(0, np.log10(600), 14)
    counts, _ = np.histogram(volumes, bins=edges)
    centres = np.sqrt(edges[:-1] * edges[1:])
    grid = np.logspace(0, np.log10(600), 200)
    density = np.exp(-0.5 * ((np.log(grid) - np.log(median_cm3)) / log_sd) ** 2) / (log_sd * np.sqrt(2 * np.pi))
    bin_log_width = np.log(edges[1] / edges[0])
    figure = go.Figure([
        go.Bar(x=centres, y=counts, width=np.diff(edges), name="this cohort", marker_color="#34495e"),
        go.Scatter(x=grid, y=density * len(volumes) * bin_log_width, name=f"target: log-normal, median {median_cm3:g} cm³",
                   line=dict(color="#e67e22")),
    ])
    figure.update_layout(xaxis_type="log", xaxis_title="GTV volume (cm³)", yaxis_title="patients", height=360,
                         template="plotly_white", title="GTV volumes", margin=dict(l=60, r=20, t=50, b=50))
    return figure


def location_figure(table):
    """Plotly bars: tumour side × lobe, and category (central / juxta-pleural / peripheral)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=2, subplot_titles=("side and lobe", "category"))
    for side, colour in (("right", "#2980b9"), ("left", "#c0392b")):
        subset = table[table.side == side]
        counts = subset.lobe.value_counts().reindex(["upper", "middle", "lower"], fill_value=0)
        figure.add_trace(go.Bar(x=counts.index, y=counts.values, name=side, marker_color=colour), row=1, col=1)
    categories = table.category.value_counts().reindex(["central", "juxta-pleural", "peripheral"], fill_value=0)
    figure.add_trace(go.Bar(x=categories.index, y=categories.values, name="category", marker_color="#7f8c8d", showlegend=False), row=1, col=2)
    figure.update_layout(barmode="stack", height=340, template="plotly_white", margin=dict(l=50, r=20, t=50, b=40))
    return figure


def mfit_figure(label_frequency: np.ndarray, union, crop, title: str = "GTV-MFIT"):
    """Matplotlib: how often each pixel is tumour over the training slices, the union box, the square crop."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    figure, axis = plt.subplots(figsize=(5.6, 5.6), constrained_layout=True)
    shown = np.ma.masked_equal(label_frequency, 0)
    axis.imshow(np.zeros_like(label_frequency), cmap="gray", vmin=0, vmax=1)
    image = axis.imshow(shown, cmap="magma", interpolation="nearest")
    figure.colorbar(image, ax=axis, fraction=0.046, label="training slices with tumour at this pixel")
    for box, colour, name in ((union, "#2ecc71", "union of tight boxes"), (crop, "#3498db", "MFIT square crop")):
        axis.add_patch(Rectangle((box.col0 - 0.5, box.row0 - 0.5), box.width, box.height, fill=False, lw=2, ec=colour, label=name))
    axis.legend(loc="lower left", fontsize=8)
    axis.set_title(title)
    axis.set_xlabel("column (pixel)")
    axis.set_ylabel("row (pixel)")
    return figure


def balance_figure(counts):
    """Plotly stacked bars of tumour and tumour-free training slices per balance-sampling strategy.

    ``counts``: DataFrame with columns strategy, tumour, free.
    """
    import plotly.graph_objects as go

    figure = go.Figure([go.Bar(x=counts.strategy, y=counts.tumour, name="with tumour", marker_color="#c0392b"),
                        go.Bar(x=counts.strategy, y=counts.free, name="tumour-free", marker_color="#95a5a6")])
    figure.update_layout(barmode="stack", yaxis_title="training slices", height=340, template="plotly_white",
                         title="Balance sampling", margin=dict(l=60, r=20, t=50, b=40))
    return figure


def convention_figure(table):
    """Plotly: voxel volume / polygon volume against polygon volume (log), one series per convention."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for name, group in table.groupby("convention", sort=False):
        figure.add_trace(go.Scatter(x=group.polygon_cm3, y=group.volume_ratio, mode="markers", name=name,
                                    hovertext=group.patient))
    figure.add_hline(y=1.0, line_dash="dot", line_color="#7f8c8d")
    figure.update_layout(xaxis_type="log", xaxis_title="GTV polygon volume (cm³)", yaxis_title="voxel volume / polygon volume",
                         height=380, template="plotly_white", title="Rasterisation conventions", margin=dict(l=60, r=20, t=50, b=50))
    return figure
