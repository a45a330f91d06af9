"""Chapter 04, the GTV-SAMGAN ablations: the paper's Tables 1 (baselines), 3 (ablation) and 4 (loss weights) beside
the sweeps of :mod:`gtvlib.sweeps` that retrain them, our ranking against the paper's, each configuration's margin over
the box references that need no training, and the final models' evaluations for overlays.

The published numbers are GTV-SAMGAN's (METHODS.md §1), validation sets; Dice, specificity and sensitivity in %.
Local data: 112 patients, 1,139 training and 302 validation slices at 512 × 512; SAM-Med2D ViT-B at 256 px, 100 epochs.
"""

from __future__ import annotations

import pandas as pd

from gtvlib.sweeps import GRIDS, SweepSettings, default_data, training_of

SOURCE = "GTV-SAMGAN paper, local data"

# Table 1: baselines (Dice, specificity, sensitivity)
TABLE1 = {
    "U-Net": (48.79, 99.92, 57.42), "UNet++": (27.23, 99.98, 23.42), "UNet++ deep supervision": (50.94, 99.89, 64.05),
    "SwinU-Net": (73.03, 99.98, 74.13), "nnU-Net": (60.63, 99.97, 62.97), "SAM-Med2D": (76.05, 99.98, 76.53),
    "xLSTM-UNet": (7.37, 98.43, 38.63), "SEA-Net": (72.03, 99.96, 78.26), "GTV-SAMGAN": (83.74, 99.98, 84.28),
}
# Table 3: ablation
TABLE3 = {"SAM-Med2D": (76.05, 99.98, 76.53), "+GTV-MFIT": (81.40, 99.98, 82.51), "+GAN": (77.63, 99.98, 77.71),
          "+GAN+GTV-MFIT": (83.74, 99.98, 84.28)}
# Table 4: loss weights FL/Dice/MaskIoU/Mean (Dice only)
TABLE4 = {"10FL+1Dice+1MaskIoU+1Mean": 83.40, "20FL+0.5Dice+0.5MaskIoU+1Mean": 82.54,
          "20FL+1Dice+1MaskIoU+0.1Mean": 83.60, "20FL+1Dice+1MaskIoU+1Mean": 83.74}

# our grid configurations → the paper's row names
ABLATION_ROWS = {"sam_med2d": "SAM-Med2D", "mfit": "+GTV-MFIT", "gan": "+GAN", "gan_mfit": "+GAN+GTV-MFIT"}
LOSS_ROWS = {"fl10_d1_i1_m1": "10FL+1Dice+1MaskIoU+1Mean", "fl20_d05_i05_m1": "20FL+0.5Dice+0.5MaskIoU+1Mean",
             "fl20_d1_i1_m01": "20FL+1Dice+1MaskIoU+0.1Mean", "fl20_d1_i1_m1": "20FL+1Dice+1MaskIoU+1Mean"}
BASELINE_ROWS = {"unet": "U-Net", "unetpp": "UNet++", "unetpp_ds": "UNet++ deep supervision", "swin_unetr": "SwinU-Net",
                 "dynunet": "nnU-Net", "attention_unet": None, "sam_med2d": "SAM-Med2D", "gan_mfit": "GTV-SAMGAN"}


def beside(summary: pd.DataFrame, published: dict, rows: dict[str, str | None], ours: pd.DataFrame) -> pd.DataFrame:
    """Our formatted summary (``ours``: :func:`gtvlib.sweeps.format_summary` of ``summary``) with the
    paper's Dice / specificity / sensitivity for the row each configuration corresponds to ('—' where the
    paper has none)."""
    table = ours.copy()
    paper_rows = [rows.get(config) for config in summary["config"]]
    values = [published.get(row) if row else None for row in paper_rows]
    if any(isinstance(v, tuple) for v in values):
        for i, name in enumerate(("Dice", "specificity", "sensitivity")):
            table[f"paper: {name} (%)"] = [f"{v[i]:.2f}" if isinstance(v, tuple) else "—" for v in values]
    else:
        table["paper: Dice (%)"] = [f"{v:.2f}" if v is not None else "—" for v in values]
    table["paper's row"] = [row or "—" for row in paper_rows]
    return table


def final_evaluations(runs: pd.DataFrame, settings: SweepSettings, seed: int = 0, data_for=None) -> list[tuple]:
    """[(label, slice cache, :class:`~gtvlib.evaluation.Evaluation`)] of each configuration's last-epoch model
    of ``seed`` on its own validation slices (for overlays and per-slice comparisons)."""
    import torch

    from gtvlib.evaluation.slices import evaluate
    from gtvlib.models import build_model, model_spec
    from gtvlib.runs import RunRecord

    data_for = data_for or default_data(settings)
    points = {p.name: p for points in GRIDS.values() for p in points}
    out = []
    for row in runs[runs.seed == seed].itertuples():
        data = data_for(points[row.config].crop)
        name = training_of(points[row.config], settings, seed, data).config.model
        model = RunRecord(row.run).restore(build_model(name))
        evaluation = evaluate(model, data.cache, data.validation_ids, torch.device("cpu"), model_spec(name).predict)
        out.append((row.label, data.cache, evaluation))
    return out


def ordering(summary: pd.DataFrame, published: dict, rows: dict, metric: str = "slice_dice") -> pd.DataFrame:
    """Our ranking of the configurations by mean ``metric`` over seeds beside the paper's ranking by Dice,
    with our mean ± SD and the paper's value: where the two orders disagree, a chapter must say why."""
    table = summary[["config", "label", f"{metric}_mean", f"{metric}_sd"]].copy()
    paper = [published.get(rows.get(c)) if rows.get(c) else None for c in table.config]
    table["paper_dice"] = [v[0] if isinstance(v, tuple) else v for v in paper]
    table["our_rank"] = table[f"{metric}_mean"].rank(ascending=False).astype(int)
    table["paper_rank"] = table.paper_dice.rank(ascending=False)
    return table.sort_values("our_rank").reset_index(drop=True)


def reference_margins(summary: pd.DataFrame, settings: SweepSettings, data_for=None, device=None) -> pd.DataFrame:
    """Each configuration of ``summary`` beside the best no-training box reference on the same slices
    (:func:`gtvlib.evaluation.references_beside` on the configuration's crop): mean slice Dice and mean of the
    median patient Dice over seeds, the best reference's, and the margins (positive: the model adds to its
    prompt). Rows of any grid (configuration names are unique over :data:`GRIDS`)."""
    import torch

    from gtvlib.evaluation.slices import references_beside

    data_for = data_for or default_data(settings)
    crops = {point.name: point.crop for points in GRIDS.values() for point in points}
    references = {}
    rows = []
    for row in summary.itertuples():
        crop = crops[row.config]
        if crop not in references:
            data = data_for(crop)
            references[crop] = references_beside({}, data.cache, data.validation_ids, device or torch.device("cpu"))
        table = references[crop]
        best_slice, best_patient = table.dice.idxmax(), table.patient_dice_median.idxmax()
        rows.append({"config": row.config, "label": row.label, "crop": crop,
                     "slice_dice": row.slice_dice_mean, "best_reference_slice_dice": table.dice.max(),
                     "slice_margin": row.slice_dice_mean - table.dice.max(), "best_slice_reference": best_slice.split(" ")[0],
                     "patient_dice_median": row.patient_dice_median_mean,
                     "best_reference_patient_dice_median": table.patient_dice_median.max(),
                     "patient_margin": row.patient_dice_median_mean - table.patient_dice_median.max(),
                     "best_patient_reference": best_patient.split(" ")[0]})
    return pd.DataFrame(rows)
