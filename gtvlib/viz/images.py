"""Figures for the book: static matplotlib figures that render everywhere, plotly for interaction,
ipywidgets for JupyterLab (frozen in the rendered book, so each widget has a static twin).

Images are (rows, columns) = (y, x) arrays in HU; extents are drawn in mm so that a reader sees true
sizes.
"""

from __future__ import annotations

import numpy as np

from gtvlib.data.windows import WINDOW_PRESETS_HU, WindowHU, window_hu

# Approximate HU ranges of thoracic tissues, for orientation on histograms (DATA.md's targets).
TISSUE_BANDS_HU: dict[str, tuple[float, float]] = {
    "air": (-1024, -950),
    "lung": (-950, -600),
    "fat": (-150, -50),
    "soft tissue / blood": (0, 100),
    "bone": (200, 1500),
}


def _extent_mm(shape: tuple[int, int], pixel_spacing_mm: tuple[float, float]) -> list[float]:
    """imshow extent (left, right, bottom, top) in mm, pixel centres at integer × spacing."""
    rows, columns = shape
    dy, dx = pixel_spacing_mm
    return [-dx / 2, (columns - 0.5) * dx, (rows - 0.5) * dy, -dy / 2]


def windows_figure(hu: np.ndarray, pixel_spacing_mm: tuple[float, float], windows: dict[str, WindowHU] | None = None):
    """One matplotlib panel per window (plus the full HU range) of a (rows, columns) HU image."""
    import matplotlib.pyplot as plt

    windows = windows or {name: WINDOW_PRESETS_HU[name] for name in ("lung", "mediastinal")}
    panels = {"full range": WindowHU(center=float(hu.min() + hu.max()) / 2, width=float(np.ptp(hu)) or 1.0), **windows}
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.4), constrained_layout=True)
    for axis, (name, window) in zip(np.atleast_1d(axes), panels.items()):
        axis.imshow(window_hu(hu, window.center, window.width), cmap="gray", vmin=0, vmax=1,
                    extent=_extent_mm(hu.shape, pixel_spacing_mm), interpolation="nearest")
        axis.set_title(f"{name}\nC {window.center:g} / W {window.width:g} HU", fontsize=10)
        axis.set_xlabel("x (mm)")
    np.atleast_1d(axes)[0].set_ylabel("y (mm)")
    return figure


def hu_histogram(hu: np.ndarray, bins: int = 120, title: str = "HU histogram", mask: np.ndarray | None = None):
    """Plotly histogram of HU values (log counts) with the thoracic tissue bands shaded.

    ``mask`` (same shape, bool) restricts the histogram, e.g. to exclude padding pixels.
    """
    import plotly.graph_objects as go

    values = np.asarray(hu)[mask] if mask is not None else np.asarray(hu).ravel()
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    figure = go.Figure(go.Bar(x=centres, y=counts, width=np.diff(edges), marker_color="#34495e", name="pixels",
                              hovertemplate="%{x:.0f} HU: %{y} pixels<extra></extra>"))
    palette = ["#d6eaf8", "#aed6f1", "#fcf3cf", "#fadbd8", "#e5e8e8"]
    for (name, (low, high)), colour in zip(TISSUE_BANDS_HU.items(), palette):
        figure.add_vrect(x0=low, x1=high, fillcolor=colour, opacity=0.55, layer="below", line_width=0,
                         annotation_text=name, annotation_position="top left", annotation_font_size=10)
    figure.update_layout(title=title, xaxis_title="Hounsfield units", yaxis_title="pixels (log scale)",
                         yaxis_type="log", bargap=0, height=380, margin=dict(l=60, r=20, t=50, b=50),
                         template="plotly_white", showlegend=False)
    return figure


def window_level_widget(hu: np.ndarray, pixel_spacing_mm: tuple[float, float]):
    """An ipywidgets control (preset, centre, width) over a (rows, columns) HU image.

    Live in JupyterLab; in the rendered book it is frozen at its initial state, so chapters pair it
    with :func:`windows_figure`.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    presets = widgets.Dropdown(options=list(WINDOW_PRESETS_HU), value="lung", description="preset")
    centre = widgets.IntSlider(value=-600, min=-1200, max=1500, step=10, description="centre (HU)", continuous_update=False)
    width = widgets.IntSlider(value=1500, min=10, max=4000, step=10, description="width (HU)", continuous_update=False)
    image = widgets.Output()

    def on_preset(change) -> None:
        window = WINDOW_PRESETS_HU[change["new"]]
        centre.value, width.value = int(window.center), int(window.width)

    def draw(*_) -> None:
        with image:
            image.clear_output(wait=True)
            figure, axis = plt.subplots(figsize=(4.6, 4.6))
            axis.imshow(window_hu(hu, centre.value, width.value), cmap="gray", vmin=0, vmax=1,
                        extent=_extent_mm(hu.shape, pixel_spacing_mm), interpolation="nearest")
            axis.set_title(f"C {centre.value} / W {width.value} HU")
            axis.set_xlabel("x (mm)")
            axis.set_ylabel("y (mm)")
            plt.show(figure)

    presets.observe(on_preset, names="value")
    centre.observe(draw, names="value")
    width.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([presets, centre, width]), image])


def contours_figure(contours_by_roi: dict[str, list[tuple[str, np.ndarray]]], title: str = "RTSTRUCT contours"):
    """Plotly 3-D view of RTSTRUCT contours: closed polygons as rings, POINT ROIs as markers (mm, LPS)."""
    import plotly.graph_objects as go

    figure = go.Figure()
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    for index, (roi_name, contours) in enumerate(contours_by_roi.items()):
        colour = colours[index % len(colours)]
        for number, (kind, points) in enumerate(contours):
            closed = np.vstack([points, points[:1]]) if kind == "CLOSED_PLANAR" else points
            figure.add_trace(go.Scatter3d(
                x=closed[:, 0], y=closed[:, 1], z=closed[:, 2],
                mode="lines" if kind == "CLOSED_PLANAR" else "markers",
                line=dict(color=colour, width=4), marker=dict(color=colour, size=5),
                name=roi_name, legendgroup=roi_name, showlegend=number == 0,
            ))
    figure.update_layout(title=title, height=460, margin=dict(l=0, r=0, t=40, b=0),
                         scene=dict(xaxis_title="x (mm)", yaxis_title="y (mm)", zaxis_title="z (mm)",
                                    aspectmode="data"))
    return figure
