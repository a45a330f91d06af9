"""Figures of the recurrence chapter: a labelled lymph-node station map, recurrences by station drawn on the
anatomy, Kaplan–Meier curves, ROC curves and feature importances (matplotlib: static, renders everywhere)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gtvlib.data.windows import window_hu

STATION_COLOURS = {"1": "#8dd3c7", "2": "#ffffb3", "3": "#bebada", "4": "#fb8072", "5": "#80b1d3", "6": "#fdb462",
                   "7": "#b3de69", "8": "#fccde5", "10": "#bc80bd", "11": "#ccebc5"}


def _colour(station: str) -> str:
    return STATION_COLOURS[station.rstrip("LRAP")]


def _label_positions(masks: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    return {s: tuple(np.argwhere(m).mean(axis=0)) for s, m in masks.items() if m.any()}


def station_map(hu: np.ndarray, stations: dict[str, np.ndarray], spacing_mm, lung_window=(-600.0, 1600.0),
                mediastinal_window=(40.0, 400.0)):
    """Stations over the CT: two axial slices (the upper mediastinum and the carina's level) and a coronal slice,
    each station filled in its colour and labelled at its centroid in that plane, for checking against the
    IASLC map. ``hu`` (z, y, x) in HU, ``stations``: station → bool (z, y, x), ``spacing_mm`` (dz, dy, dx)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb

    dz, dy, dx = spacing_mm
    area = {s: m.sum(axis=(1, 2)) for s, m in stations.items()}
    upper = [s for s in ("2R", "2L", "4R", "4L", "3A", "3P") if s in stations]
    lower = [s for s in ("7", "10R", "10L", "8") if s in stations]
    levels = []
    for group in (upper, lower):
        if group:
            levels.append(int(np.argmax(sum(area[s] > 0 for s in group) * 1e6 + sum(area[s] for s in group))))
    any_station = np.logical_or.reduce(list(stations.values()))
    coronal_row = int(np.argmax(any_station.sum(axis=(0, 2))))
    views = [("axial", z, hu[z], {s: m[z] for s, m in stations.items()}, (dy, dx)) for z in levels]
    views.append(("coronal", coronal_row, hu[:, coronal_row, :][::-1],
                  {s: m[:, coronal_row, :][::-1] for s, m in stations.items()}, (dz, dx)))
    figure, axes = plt.subplots(1, len(views), figsize=(5.2 * len(views), 5.2))
    for axis, (kind, index, image, planes, (row_mm, column_mm)) in zip(np.atleast_1d(axes), views):
        grey = window_hu(image, *mediastinal_window)
        rgb = np.repeat(grey[..., None], 3, axis=2)
        for station, plane in planes.items():
            if plane.any():
                rgb[plane] = 0.45 * rgb[plane] + 0.55 * np.array(to_rgb(_colour(station)))
        axis.imshow(rgb, aspect=row_mm / column_mm, interpolation="nearest")
        for station, (r, c) in _label_positions(planes).items():
            axis.text(c, r, station, ha="center", va="center", fontsize=8, weight="bold", color="black",
                      bbox={"boxstyle": "round,pad=0.15", "fc": "white", "alpha": 0.7, "lw": 0})
        where = f"slice {index}" if kind == "axial" else f"row {index}"
        axis.set_title(f"{kind} ({where}; patient's right on the left)")
        axis.set_axis_off()
    figure.tight_layout()
    return figure


def station_heatmap(stations: dict[str, np.ndarray], spacing_mm, counts: dict[str, pd.Series],
                    backdrop: np.ndarray | None = None):
    """Recurrences by station on the anatomy: a coronal projection of one patient's stations, each coloured by its
    share of all recurrences, one panel per count series (e.g. ours and the paper's). ``backdrop``: bool (z, y, x)
    drawn in light grey behind them (e.g. the lungs)."""
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    dz, _, dx = spacing_mm
    order = sorted(stations, key=lambda s: stations[s].sum(), reverse=True)  # small stations drawn last, on top
    share = {name: series / max(float(series.sum()), 1.0) for name, series in counts.items()}
    top = max(float(s.max()) for s in share.values())
    union = np.logical_or.reduce([m.any(axis=1) for m in stations.values()])
    rows, columns = np.nonzero(union)
    pad = 6
    box = (slice(max(rows.min() - pad, 0), rows.max() + pad + 1), slice(max(columns.min() - 4 * pad, 0), columns.max() + 4 * pad + 1))
    figure, axes = plt.subplots(1, len(counts), figsize=(5.0 * len(counts) + 1.0, 6.0))
    cmap = colormaps["magma_r"]
    for axis, (name, values) in zip(np.atleast_1d(axes), share.items()):
        canvas = np.full(union.shape, np.nan)
        for station in order:
            canvas[stations[station].any(axis=1)] = values.get(station, 0.0)
        canvas = canvas[box][::-1]
        if backdrop is not None:
            grey = np.where(backdrop.any(axis=1)[box][::-1], 0.85, 1.0)
            axis.imshow(np.repeat(grey[..., None], 3, axis=2), aspect=dz / dx, interpolation="nearest")
        image = axis.imshow(canvas, cmap=cmap, vmin=0, vmax=top, aspect=dz / dx, interpolation="nearest")
        for station in order:
            r, c = np.argwhere(stations[station].any(axis=1)[box][::-1]).mean(axis=0)
            axis.text(c, r, station, ha="center", va="center", fontsize=7, color="black",
                      bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.55, "lw": 0})
        axis.set_title(f"{name}: share of recurrences")
        axis.set_axis_off()
    figure.colorbar(image, ax=axes, shrink=0.7, label="share of all recurrences")
    return figure


def km_figure(comparison, at_months: float = 36.0, paper_rates: dict[str, float] | None = None, title: str = ""):
    """Kaplan–Meier curves with 95 % bands and censoring ticks; the rate at ``at_months`` marked, the paper's
    rates (label → rate) as open markers."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for colour, (label, fitter) in zip(("#1f77b4", "#d62728", "#2ca02c"), comparison.fitters.items()):
        fitter.plot_survival_function(ax=axis, ci_show=True, show_censors=True, color=colour,
                                      censor_styles={"ms": 4, "marker": "|"})
        axis.plot([at_months], [fitter.predict(at_months)], "o", color=colour)
        if paper_rates and label in paper_rates:
            axis.plot([at_months], [paper_rates[label]], "D", mfc="none", color=colour, ms=8,
                      label=f"paper, {label}: {100 * paper_rates[label]:.1f} %")
    axis.axvline(at_months, color="grey", lw=0.8, ls=":")
    axis.set_xlabel("months")
    axis.set_ylabel("local control")
    axis.set_ylim(0, 1.02)
    axis.set_title(title or f"local control (log-rank P = {comparison.logrank_p:.3g})")
    axis.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    return figure


def roc_figure(curves: dict[str, tuple[np.ndarray, np.ndarray, dict]], paper_auc: float | None = None):
    """ROC curves: label → (outcome 0/1, score, AUC dict with ``auc``, ``low``, ``high``)."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    figure, axis = plt.subplots(figsize=(5.2, 5.0))
    for label, (y, score, auc) in curves.items():
        fpr, tpr, _ = roc_curve(y, score)
        axis.plot(fpr, tpr, label=f"{label}: AUC {auc['auc']:.3f} [{auc['low']:.3f}–{auc['high']:.3f}]")
    axis.plot([0, 1], [0, 1], color="grey", ls=":", lw=0.8, label="chance")
    if paper_auc is not None:
        axis.plot([], [], " ", label=f"paper: AUC {paper_auc:.2f} (80/20 split)")
    axis.set_xlabel("1 − specificity")
    axis.set_ylabel("sensitivity")
    axis.legend(fontsize=8, loc="lower right")
    axis.set_aspect("equal")
    figure.tight_layout()
    return figure


def importance_figure(importances: pd.DataFrame, truth: set[str], top: int = 20):
    """The kept features' importances (largest ``top``), the ones the simulation gave an effect in red."""
    import matplotlib.pyplot as plt

    shown = importances.head(top).iloc[::-1]
    figure, axis = plt.subplots(figsize=(7, 0.28 * len(shown) + 1.2))
    colours = ["#d62728" if f in truth else "#7f7f7f" for f in shown.feature]
    axis.barh(shown.feature, shown.importance, color=colours)
    axis.set_xlabel("impurity importance in the chosen forest")
    axis.set_title("kept features (red: a true effect of the simulation)")
    figure.tight_layout()
    return figure
