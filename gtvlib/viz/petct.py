"""Figures of the PET/CT chapter: PET over CT (fusion) as a plotly slider over axial slices and its static matplotlib
twin, and SUV profiles along the breathing axis.

Volumes are (z, y, x) on the CT grid: HU and SUVbw; masks bool. The CT is shown in a grey window, the PET in a
colour scale from 0 to ``suv_max`` blended over it (opaque where SUV ≥ ``suv_max``, transparent at 0), the way a
fusion viewer shows it.
"""

from __future__ import annotations

import numpy as np

from gtvlib.data.windows import WINDOW_PRESETS_HU, window_hu
from gtvlib.util.errors import GtvError

OUTLINES = {"gtv": (0, 220, 0), "igtv": (80, 170, 255)}  # planning GTV green, IGTV blue


def fusion_rgb(hu: np.ndarray, suv: np.ndarray, window="mediastinal", suv_max: float = 8.0, colormap: str = "hot",
               outlines: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """RGB uint8 (y, x, 3) of one axial slice: the CT (``hu`` (y, x)) in ``window`` (a preset's name, or (centre,
    width) in HU), the PET (``suv`` (y, x)) in ``colormap`` from 0 to ``suv_max`` with opacity SUV / ``suv_max``
    (capped at 1), and the outline of each mask of ``outlines`` (named as :data:`OUTLINES`)."""
    import matplotlib
    from scipy import ndimage

    hu, suv = np.asarray(hu, np.float32), np.asarray(suv, np.float32)
    if hu.ndim != 2 or hu.shape != suv.shape:
        raise GtvError(f"CT slice {hu.shape} and PET slice {suv.shape}; expected two (y, x) slices on one grid")
    if suv_max <= 0:
        raise GtvError(f"suv_max={suv_max}; expected a positive SUV for the top of the colour scale")
    centre, width = (WINDOW_PRESETS_HU[window].center, WINDOW_PRESETS_HU[window].width) if isinstance(window, str) else window
    grey = window_hu(hu, centre, width)[..., None].repeat(3, axis=-1)
    level = np.clip(suv / suv_max, 0, 1)
    colour = matplotlib.colormaps[colormap](level)[..., :3]
    rgb = ((1 - level[..., None]) * grey + level[..., None] * colour) * 255
    rgb = rgb.astype(np.uint8)
    for name, mask in (outlines or {}).items():
        mask = np.asarray(mask, bool)
        rgb[mask & ~ndimage.binary_erosion(mask)] = OUTLINES.get(name, (255, 255, 255))
    return rgb


def tumour_slices(mask: np.ndarray, count: int) -> list[int]:
    """``count`` axial slice indices spread evenly over the slices that hold ``mask``."""
    held = np.nonzero(np.asarray(mask, bool).any(axis=(1, 2)))[0]
    if not len(held):
        raise GtvError("empty mask; expected the IGTV to choose the slices shown")
    return sorted({int(held[int(round(i))]) for i in np.linspace(0, len(held) - 1, count)})


def fusion_slider_figure(case, slices: list[int], window: str = "mediastinal", suv_max: float = 8.0, title: str = ""):
    """Plotly slider over the axial ``slices`` of a :class:`~gtvlib.data.petct.PetCtCase`: PET over CT with the planning
    GTV and the IGTV outlined; square pixels."""
    import plotly.express as px

    frames = np.stack([fusion_rgb(case.ct_hu[z], case.suv[z], window, suv_max, outlines={"gtv": case.gtv[z], "igtv": case.igtv[z]})
                       for z in slices])
    figure = px.imshow(frames, animation_frame=0, binary_string=True, labels={"animation_frame": "slice"})
    for step, z in zip(figure.layout.sliders[0].steps, slices):
        step["label"] = str(z)
    figure.layout.sliders[0]["currentvalue"] = {"prefix": "axial slice: "}
    figure.layout.updatemenus = []  # a slider, no autoplay
    figure.update_yaxes(scaleanchor="x", scaleratio=float(case.spacing_mm[1]) / float(case.spacing_mm[2]), showticklabels=False)
    figure.update_xaxes(showticklabels=False)
    figure.update_layout(title=title, height=560, margin=dict(l=10, r=10, t=50, b=10))
    return figure


def fusion_panels(case, slices: list[int], window: str = "mediastinal", suv_max: float = 8.0, colormap: str = "hot"):
    """The slider's static twin: the axial ``slices`` side by side, in mm, with the SUV colour bar."""
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    _, dy, dx = (float(s) for s in case.spacing_mm)
    figure, axes = plt.subplots(1, len(slices), figsize=(3.3 * len(slices) + 0.8, 3.8))
    for axis, z in zip(np.atleast_1d(axes), slices):
        rgb = fusion_rgb(case.ct_hu[z], case.suv[z], window, suv_max, colormap, {"gtv": case.gtv[z], "igtv": case.igtv[z]})
        axis.imshow(rgb, extent=[0, rgb.shape[1] * dx, rgb.shape[0] * dy, 0])
        axis.set_title(f"slice {z}")
        axis.set_xlabel("right → left (mm)")
    np.atleast_1d(axes)[0].set_ylabel("anterior → posterior (mm)")
    figure.colorbar(ScalarMappable(Normalize(0, suv_max), colormap), ax=np.atleast_1d(axes).tolist(), label="SUVbw", shrink=0.8)
    return figure


def profile_figure(profiles: dict[str, "object"], amplitudes_mm: dict[str, float]):
    """SUV along the cranio-caudal axis through each patient's IGTV centre (:func:`gtvlib.chapters.ch09_petct_igtv.edge_profile`
    tables by patient), one line per patient labelled with its cranio-caudal motion; the IGTV's extent of each
    patient marked by a thicker stretch of its line."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for pid in sorted(profiles, key=lambda p: amplitudes_mm[p]):
        table = profiles[pid]
        line, = axis.plot(table.z_mm, table.suv, label=f"{pid}: {amplitudes_mm[pid]:.0f} mm of motion")
        inside = table[table.in_igtv]
        axis.plot(inside.z_mm, inside.suv, color=line.get_color(), linewidth=4, alpha=0.5)
    axis.set_xlabel("cranio-caudal distance from the IGTV's centre (mm)")
    axis.set_ylabel("SUVbw (3 × 3-pixel column mean)")
    axis.legend(fontsize=8)
    axis.set_title("thick: inside the IGTV")
    figure.tight_layout()
    return figure


def arm_figure(scores, metric: str = "dice", label: str = "IGTV Dice per test patient"):
    """One row per arm (in the order met), a dot per test patient and a bar at the median: ``scores`` rows of arm,
    patient and ``metric`` (:func:`gtvlib.chapters.ch09_petct_igtv.arm_scores` and its references)."""
    import matplotlib.pyplot as plt

    arms = list(dict.fromkeys(scores.arm))
    figure, axis = plt.subplots(figsize=(7.5, 0.45 * len(arms) + 1.2))
    for row, arm in enumerate(arms):
        values = scores[scores.arm == arm][metric].to_numpy(float)
        axis.plot(values, np.full(len(values), row), "o", color="tab:blue", alpha=0.7)
        axis.plot([np.nanmedian(values)] * 2, [row - 0.3, row + 0.3], color="black", linewidth=2)
    axis.set_yticks(range(len(arms)), arms)
    axis.invert_yaxis()
    axis.set_xlabel(label)
    axis.set_xlim(0, 1 if metric == "dice" else None)
    figure.tight_layout()
    return figure


def fusion_viewer(case, window: str = "mediastinal", suv_max: float = 8.0):
    """An ipywidgets fusion viewer of a :class:`~gtvlib.data.petct.PetCtCase`: axial slice, CT window (preset, centre,
    width in HU) and the top of the SUV scale. Live in JupyterLab; in the rendered book it is frozen at its
    initial state, so the chapter pairs it with :func:`fusion_panels` and :func:`fusion_slider_figure`."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    held = np.nonzero(case.igtv.any(axis=(1, 2)))[0]
    first = int(held[len(held) // 2]) if len(held) else case.ct_hu.shape[0] // 2
    chosen = WINDOW_PRESETS_HU[window]
    slice_index = widgets.IntSlider(value=first, min=0, max=case.ct_hu.shape[0] - 1, description="slice", continuous_update=False)
    presets = widgets.Dropdown(options=list(WINDOW_PRESETS_HU), value=window, description="CT preset")
    centre = widgets.IntSlider(value=int(chosen.center), min=-1200, max=1500, step=10, description="centre (HU)", continuous_update=False)
    width = widgets.IntSlider(value=int(chosen.width), min=10, max=4000, step=10, description="width (HU)", continuous_update=False)
    top = widgets.FloatSlider(value=suv_max, min=1.0, max=30.0, step=0.5, description="SUV max", continuous_update=False)
    image = widgets.Output()
    _, dy, dx = (float(v) for v in case.spacing_mm)

    def on_preset(change) -> None:
        centre.value, width.value = int(WINDOW_PRESETS_HU[change["new"]].center), int(WINDOW_PRESETS_HU[change["new"]].width)

    def draw(*_) -> None:
        z = slice_index.value
        rgb = fusion_rgb(case.ct_hu[z], case.suv[z], (centre.value, width.value), top.value,
                         outlines={"gtv": case.gtv[z], "igtv": case.igtv[z]})
        with image:
            image.clear_output(wait=True)
            figure, axis = plt.subplots(figsize=(5, 5))
            axis.imshow(rgb, extent=[0, rgb.shape[1] * dx, rgb.shape[0] * dy, 0])
            axis.set_title(f"slice {z}: CT C {centre.value} / W {width.value} HU, PET 0–{top.value:g} SUV")
            axis.set_xlabel("right → left (mm)")
            axis.set_ylabel("anterior → posterior (mm)")
            display(figure)
            plt.close(figure)

    presets.observe(on_preset, names="value")
    for control in (slice_index, centre, width, top):
        control.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([slice_index, top]), widgets.HBox([presets, centre, width]), image])
