"""Figures of the motion chapter: the breathing phases of a 4D-CT in a coronal view (a plotly slider, and its static
matplotlib twin), the four ITVs on one view, and Dice against motion amplitude.

Volumes are (z, y, x) in HU with spacing (dz, dy, dx) mm; masks bool of the same shape. Coronal views show the
superior end at the top, in mm on both axes.
"""

from __future__ import annotations

import numpy as np

from gtvlib.data.windows import WINDOW_PRESETS_HU, window_hu
from gtvlib.util.errors import GtvError

COLOURS = {"true": (0, 200, 0), "machine": (255, 60, 60), "MIP": (60, 140, 255), "physician": (255, 200, 0)}
DRAW_ORDER = ("physician", "MIP", "machine", "true")  # later outlines cover earlier ones: the truth on top


def coronal_index(mask: np.ndarray) -> int:
    """The y index (anterior–posterior row) through the centre of ``mask``'s voxels: where a coronal view cuts it."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        raise GtvError("empty mask; expected the GTV or ITV to centre the coronal view on")
    return int(round(np.argwhere(mask)[:, 1].mean()))


def _superior_up(image: np.ndarray, slice_positions_mm) -> np.ndarray:
    """Rows (z) ordered so that the most superior slice comes first (drawn at the top)."""
    positions = np.asarray(slice_positions_mm, float)
    return image[::-1] if len(positions) > 1 and positions[-1] > positions[0] else image


def coronal_rgb(hu: np.ndarray, outlines: dict[str, np.ndarray], y_index: int, slice_positions_mm, window: str = "lung") -> np.ndarray:
    """RGB (z, x, 3) uint8 of the coronal plane ``y_index`` of ``hu`` in ``window``, with the outline of each mask of
    ``outlines`` (named as :data:`COLOURS`) burnt in, in :data:`DRAW_ORDER`."""
    from scipy import ndimage

    chosen = WINDOW_PRESETS_HU[window]
    grey = (window_hu(hu[:, y_index, :], chosen.center, chosen.width) * 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    for name in sorted(outlines, key=DRAW_ORDER.index):
        plane = np.asarray(outlines[name], bool)[:, y_index, :]
        rgb[plane & ~ndimage.binary_erosion(plane)] = COLOURS[name]
    return _superior_up(rgb, slice_positions_mm)


def phase_slider_figure(phases_hu: list[np.ndarray], outlines_by_phase: list[dict[str, np.ndarray]], spacing_mm,
                        slice_positions_mm, phase_labels: list[str], y_index: int, title: str = ""):
    """Plotly slider over the breathing phases: one coronal plane per phase, the outlines burnt in; the axes in
    voxels, stretched so that a millimetre is as long across as down."""
    import plotly.express as px

    frames = np.stack([coronal_rgb(hu, outlines, y_index, slice_positions_mm) for hu, outlines in zip(phases_hu, outlines_by_phase)])
    figure = px.imshow(frames, animation_frame=0, binary_string=True, labels={"animation_frame": "phase"})
    for step, label in zip(figure.layout.sliders[0].steps, phase_labels):
        step["label"] = label
    figure.layout.sliders[0]["currentvalue"] = {"prefix": "breathing phase: "}
    figure.layout.updatemenus = []  # a slider, no autoplay
    figure.update_yaxes(scaleanchor="x", scaleratio=float(spacing_mm[0]) / float(spacing_mm[2]), showticklabels=False)
    figure.update_xaxes(showticklabels=False)
    figure.update_layout(title=title, height=560, margin=dict(l=10, r=10, t=50, b=10))
    return figure


def phase_panels(phases_hu: list[np.ndarray], outlines_by_phase: list[dict[str, np.ndarray]], spacing_mm,
                 slice_positions_mm, phase_labels: list[str], y_index: int, show: tuple[int, ...] = (0, 2, 5, 7)):
    """The slider's static twin: the coronal plane at the phases ``show`` (indices), side by side, in mm."""
    import matplotlib.pyplot as plt

    dz, _, dx = (float(s) for s in spacing_mm)
    figure, axes = plt.subplots(1, len(show), figsize=(3.2 * len(show), 4.2))
    for axis, k in zip(np.atleast_1d(axes), show):
        rgb = coronal_rgb(phases_hu[k], outlines_by_phase[k], y_index, slice_positions_mm)
        axis.imshow(rgb, extent=[0, rgb.shape[1] * dx, 0, rgb.shape[0] * dz])
        axis.set_title(phase_labels[k])
        axis.set_xlabel("left–right (mm)")
    np.atleast_1d(axes)[0].set_ylabel("inferior → superior (mm)")
    figure.tight_layout()
    return figure


def itv_figure(hu: np.ndarray, itvs: dict[str, np.ndarray], spacing_mm, slice_positions_mm, title: str = ""):
    """The ITVs of one patient (named as :data:`COLOURS`) on a coronal plane through the true ITV, with a legend."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    dz, _, dx = (float(s) for s in spacing_mm)
    y_index = coronal_index(itvs["true"])
    rgb = coronal_rgb(hu, itvs, y_index, slice_positions_mm)
    figure, axis = plt.subplots(figsize=(5.5, 5.5))
    axis.imshow(rgb, extent=[0, rgb.shape[1] * dx, 0, rgb.shape[0] * dz])
    axis.legend(handles=[Line2D([], [], color=np.array(COLOURS[name]) / 255, label=name) for name in itvs], loc="lower right")
    axis.set_xlabel("left–right (mm)")
    axis.set_ylabel("inferior → superior (mm)")
    axis.set_title(title)
    figure.tight_layout()
    return figure


def amplitude_figure(table, x: str = "amplitude_mm", columns: dict[str, str] | None = None):
    """Dice against the tumour's motion amplitude (mm), one marker per patient and kind of Dice."""
    import matplotlib.pyplot as plt

    columns = columns or {"phase_dice_median": "machine, median over phases", "machine_dice": "machine ITV vs true ITV"}
    figure, axis = plt.subplots(figsize=(6, 4))
    for column, label in columns.items():
        axis.plot(table[x], table[column], "o", label=label)
    axis.set_xlabel("3-D motion amplitude of the primary (mm)")
    axis.set_ylabel("Dice")
    axis.set_ylim(0, 1)
    axis.legend()
    figure.tight_layout()
    return figure
