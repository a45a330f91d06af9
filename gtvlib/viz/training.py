"""Figures of the training chapter: validation curves and ground truth against prediction."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def training_curve(epochs, metric: str = "val_slice_dice", paper_value: float | None = None, paper_label: str = ""):
    """Plotly line of a validation metric per epoch (the paper's Figure 6), with the paper's value as a line."""
    import plotly.graph_objects as go

    figure = go.Figure(go.Scatter(x=epochs["epoch"], y=epochs[metric], mode="lines+markers", name="this run"))
    if "val_patient_dice" in epochs and metric == "val_slice_dice":
        figure.add_trace(go.Scatter(x=epochs["epoch"], y=epochs["val_patient_dice"], mode="lines+markers",
                                    name="per patient (3-D)", line=dict(dash="dot")))
    if paper_value is not None:
        figure.add_hline(y=paper_value, line_dash="dash", line_color="#c0392b", annotation_text=paper_label,
                         annotation_position="bottom right")
    figure.update_layout(xaxis_title="epoch", yaxis_title=metric.replace("_", " "), yaxis_range=[0, 1], height=360,
                         template="plotly_white", title="Validation per epoch", margin=dict(l=60, r=20, t=50, b=50))
    return figure


def overlay_figure(images: list[np.ndarray], references: list[np.ndarray], predictions: list[np.ndarray],
                   titles: list[str], zoom_px: int = 12):
    """Matplotlib panels: image (0–1) with ground truth in green and prediction in red, and a zoomed inset
    around the tumour, as in the GTV-SAMGAN paper's figures."""
    import matplotlib.pyplot as plt
    from mpl_toolkits.axes_grid1.inset_locator import inset_axes

    figure, axes = plt.subplots(1, len(images), figsize=(3.6 * len(images), 3.9), constrained_layout=True, squeeze=False)
    for axis, image, reference, prediction, title in zip(axes[0], images, references, predictions, titles):
        def draw(target):
            target.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            target.contour(reference, levels=[0.5], colors="#2ecc71", linewidths=1.5)
            if prediction.any():
                target.contour(prediction, levels=[0.5], colors="#e74c3c", linewidths=1.2)
        draw(axis)
        axis.set_title(title, fontsize=9)
        axis.axis("off")
        rows, columns = np.nonzero(reference) if reference.any() else np.nonzero(prediction)
        if rows.size:
            inset = inset_axes(axis, width="38%", height="38%", loc="lower right", borderpad=0.3)
            draw(inset)
            centre_r, centre_c = ndimage.center_of_mass(reference if reference.any() else prediction)
            inset.set_xlim(centre_c - zoom_px, centre_c + zoom_px)
            inset.set_ylim(centre_r + zoom_px, centre_r - zoom_px)
            inset.set_xticks([])
            inset.set_yticks([])
            for spine in inset.spines.values():
                spine.set_edgecolor("#f1c40f")
    return figure


def evaluation_overlays(cache, evaluation, count: int = 4):
    """:func:`overlay_figure` of ``count`` slices spread over an evaluation's predicted slices, titled with
    each slice's Dice. ``cache``: the slice cache evaluated; ``evaluation``: :class:`gtvlib.evaluation.Evaluation`."""
    from gtvlib.metrics import dice

    pairs = list(evaluation.predictions)
    shown = pairs[:: max(1, len(pairs) // count)][:count]
    images, references = cache.slices(shown)
    predictions = [evaluation.predictions[pair] for pair in shown]
    titles = [f"{pid}, slice {k}: Dice {dice(prediction, reference):.2f}"
              for (pid, k), prediction, reference in zip(shown, predictions, references)]
    return overlay_figure(images, references, predictions, titles)


def zoomed_inputs_figure(cache, pairs: list[tuple[str, int]], config, count: int = 4):
    """Top row: model-grid slices with the zoom window (yellow) around the ground-truth box (green); bottom
    row: the window as the model receives it, titled with its pixel size in mm. ``config``: the model's
    :class:`~gtvlib.models.sam_med2d.SamMed2DConfig`; ``pairs``: (patient, slice) of tumour slices."""
    import matplotlib.pyplot as plt
    import torch
    from matplotlib.patches import Rectangle

    from gtvlib.models.sam_med2d import boxes_from_labels, zoomed_inputs

    shown = pairs[:: max(1, len(pairs) // count)][:count]
    images, labels = (torch.from_numpy(array)[:, None] for array in cache.slices(shown))
    boxes = boxes_from_labels(labels.float())
    inputs, windows = zoomed_inputs(config, images, boxes)
    figure, axes = plt.subplots(2, len(shown), figsize=(2.6 * len(shown), 5.4), squeeze=False)
    size = images.shape[-1]
    for column, ((pid, k), box, window) in enumerate(zip(shown, boxes.tolist(), windows.tolist())):
        grid_mm = cache.spacing_mm(pid)[1]
        top, bottom = axes[0, column], axes[1, column]
        top.imshow(images[column, 0], cmap="gray", vmin=0, vmax=1)
        top.add_patch(Rectangle((box[0] - 0.5, box[1] - 0.5), box[2] - box[0] + 1, box[3] - box[1] + 1, fill=False, color="lime"))
        top.add_patch(Rectangle((window[0] - 0.5, window[1] - 0.5), window[2], window[2], fill=False, color="yellow"))
        top.set_title(f"{pid}, slice {k}\ngrid {grid_mm:.2f} mm/px", fontsize=8)
        bottom.imshow(inputs[column, 0], cmap="gray", vmin=0, vmax=1)
        bottom.set_title(f"model input: {grid_mm * window[2] / size:.2f} mm/px", fontsize=8)
        for axis in (top, bottom):
            axis.set_axis_off()
    figure.tight_layout()
    return figure
