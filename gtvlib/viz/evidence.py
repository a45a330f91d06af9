"""Figures of the evidence chapters: per-epoch curves of several runs (Figure 6), one overlay row per model
(Figures 3 and 5), box-violin plots of epoch-wise Dice (Figure 7) and an autocorrelation plot."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gtvlib.viz.training import overlay_figure

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def epoch_table(runs: pd.DataFrame, metric: str = "val_slice_dice") -> pd.DataFrame:
    """Long table (label, seed, epoch, value) of ``metric`` per epoch for every run of a sweep's runs table."""
    from gtvlib.runs import RunRecord

    frames = []
    for row in runs.itertuples():
        epochs = RunRecord(row.run).epochs()
        frames.append(pd.DataFrame({"label": row.label, "seed": row.seed, "epoch": epochs.epoch, "value": epochs[metric]}))
    return pd.concat(frames, ignore_index=True)


def epoch_curves(runs: pd.DataFrame, metric: str = "val_slice_dice", paper: dict | None = None):
    """Plotly: mean ``metric`` over seeds per epoch and model, with a band from the lowest to the highest seed
    (the paper's Figure 6 shows one run per model); ``paper``: {label: final value} drawn as dotted lines."""
    import plotly.graph_objects as go

    table = epoch_table(runs, metric)
    figure = go.Figure()
    for colour, (label, group) in zip(PALETTE, table.groupby("label", sort=False)):
        stats = group.groupby("epoch").value.agg(["mean", "min", "max"]).reset_index()
        figure.add_trace(go.Scatter(x=list(stats.epoch) + list(stats.epoch[::-1]), y=list(stats["max"]) + list(stats["min"][::-1]),
                                    fill="toself", fillcolor=colour, opacity=0.15, line=dict(width=0), hoverinfo="skip",
                                    showlegend=False, legendgroup=label))
        figure.add_trace(go.Scatter(x=stats.epoch, y=stats["mean"], mode="lines+markers", name=label,
                                    line=dict(color=colour), legendgroup=label))
    for colour, (label, value) in zip(PALETTE, (paper or {}).items()):
        figure.add_hline(y=value, line_dash="dot", line_color=colour, opacity=0.6)
    figure.update_layout(xaxis_title="epoch", yaxis_title=metric.replace("_", " ") + " (mean over seeds; band: min–max)",
                         yaxis_range=[0, 1], height=420, template="plotly_white",
                         title="Validation per epoch (dotted: the paper's final values)", margin=dict(l=60, r=20, t=50, b=50))
    return figure


def model_overlays(rows: list[tuple[str, object, object]], pairs: list[tuple[str, int]]):
    """One overlay figure per model on the same (patient, slice) ``pairs``: ``rows`` = [(label, slice cache,
    evaluation)], each model on its own input grid (crops differ between models)."""
    from gtvlib.metrics import dice

    figures = []
    for label, cache, evaluation in rows:
        images, references = cache.slices(pairs)
        predictions = [evaluation.predictions[(pid, k)] for pid, k in pairs]
        titles = [f"{label}\n{pid} slice {k}: Dice {dice(p, r):.2f}" for (pid, k), p, r in zip(pairs, predictions, references)]
        figures.append(overlay_figure(images, references, predictions, titles))
    return figures


def box_violin(samples: dict[str, np.ndarray], comparisons: pd.DataFrame | None = None, ylabel: str = "validation Dice"):
    """Seaborn box-violin plot as the paper's Figure 7: violin (density), box = IQR with whiskers at
    1.5 × IQR, centre dot = mean, points = the values (epoch-wise Dice); ``comparisons`` (a, b, stars) are
    drawn as brackets above the violins."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    long = pd.DataFrame([(name, v) for name, values in samples.items() for v in values], columns=["model", "value"])
    figure, axis = plt.subplots(figsize=(1.9 * len(samples) + 2, 4.6), constrained_layout=True)
    sns.violinplot(data=long, x="model", y="value", hue="model", inner=None, cut=0, linewidth=0.8, palette=PALETTE[:len(samples)],
                   legend=False, ax=axis)
    for collection in axis.collections:
        collection.set_alpha(0.35)
    sns.boxplot(data=long, x="model", y="value", width=0.18, whis=1.5, showcaps=True, fliersize=0,
                boxprops=dict(facecolor="white", zorder=3), ax=axis)
    sns.stripplot(data=long, x="model", y="value", size=2.5, color="#333333", alpha=0.6, jitter=0.08, ax=axis, zorder=4)
    means = long.groupby("model", sort=False).value.mean()
    axis.scatter(range(len(means)), means.to_numpy(), s=36, color="#c0392b", zorder=5, label="mean")
    if comparisons is not None and len(comparisons):
        names = list(samples)
        top, step = long.value.max(), 0.04 * (long.value.max() - long.value.min() + 1e-9)
        for i, row in enumerate(comparisons.itertuples()):
            a, b = names.index(row.a), names.index(row.b)
            y = top + step * (1.5 + 2.2 * i)
            axis.plot([a, a, b, b], [y - step / 2, y, y, y - step / 2], color="black", linewidth=0.8)
            axis.text((a + b) / 2, y, row.stars, ha="center", va="bottom", fontsize=8)
    axis.set_xlabel("")
    axis.set_ylabel(ylabel)
    axis.legend(loc="lower right", fontsize=8)
    axis.tick_params(axis="x", labelsize=8)
    return figure


def autocorrelation_figure(series: dict[str, np.ndarray], max_lag: int = 10):
    """Matplotlib stem plots of each series' autocorrelation (lags 1..max_lag) with the ±1.96/√n band that
    independent values would stay within."""
    import matplotlib.pyplot as plt

    from gtvlib.stats import autocorrelation

    figure, axis = plt.subplots(figsize=(7, 3.4), constrained_layout=True)
    width = 0.8 / max(len(series), 1)
    for i, (label, values) in enumerate(series.items()):
        r = autocorrelation(values, max_lag)[1:]
        axis.bar(np.arange(1, r.size + 1) + (i - (len(series) - 1) / 2) * width, r, width=width, label=label, color=PALETTE[i])
    band = 1.96 / np.sqrt(min(len(values) for values in series.values()))  # the widest band: the shortest series
    axis.axhspan(-band, band, color="grey", alpha=0.2, label="±1.96/√n (independent values)")
    axis.axhline(0, color="black", linewidth=0.6)
    axis.set_xlabel("lag (epochs)")
    axis.set_ylabel("autocorrelation")
    axis.legend(fontsize=7)
    return figure
