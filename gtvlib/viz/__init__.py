"""Figures for the book: static matplotlib figures that render everywhere, plotly for interaction,
ipywidgets for JupyterLab (frozen in the rendered book, so each widget has a static twin)."""

from gtvlib.viz.cohort import (
    balance_figure,
    convention_figure,
    location_figure,
    mfit_figure,
    slice_browser_figure,
    slice_explorer,
    volume_histogram,
)
from gtvlib.viz.evidence import autocorrelation_figure, box_violin, epoch_curves, epoch_table, model_overlays
from gtvlib.viz.hcf import slice_probability_figure, warp_figure, zero_offset_warp
from gtvlib.viz.images import contours_figure, hu_histogram, window_level_widget, windows_figure
from gtvlib.viz.training import evaluation_overlays, overlay_figure, training_curve, zoomed_inputs_figure

__all__ = [
    "balance_figure", "contours_figure", "evaluation_overlays", "convention_figure", "hu_histogram", "location_figure", "mfit_figure",
    "slice_browser_figure", "slice_explorer", "volume_histogram", "window_level_widget", "windows_figure",
    "overlay_figure", "training_curve", "autocorrelation_figure", "box_violin", "epoch_curves", "epoch_table",
    "model_overlays", "zoomed_inputs_figure", "slice_probability_figure", "warp_figure", "zero_offset_warp",
]
