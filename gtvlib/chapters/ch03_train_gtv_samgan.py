"""Chapter 03, training GTV-SAMGAN (seed 000, METHODS.md §1): the paper's published result on its local data, and this run's
last epoch beside it.

The paper: 112 patients, 1,139 training and 302 validation slices at 512 × 512; SAM-Med2D ViT-B at 256 px, 100 epochs;
Table 1 gives GTV-SAMGAN's Dice, sensitivity and specificity (%) on the validation slices.
"""

from __future__ import annotations

import pandas as pd

SOURCE = "GTV-SAMGAN paper, local data (Table 1)"
PAPER_COLUMN = "paper: GTV-SAMGAN, local data (Table 1)"
PAPER = {"Dice (%)": 83.74, "sensitivity (%)": 84.28, "specificity (%)": 99.98}
PAPER_SLICES = {"training": 1139, "validation": 302}
PAPER_EPOCHS = 100


def last_epoch_beside_paper(epochs: pd.DataFrame, label: str) -> pd.DataFrame:
    """The last epoch's validation slice scores of ``epochs`` (a run's ``epochs.csv``: Dice, sensitivity,
    specificity, Jaccard in %, HD95 in mm) in a column ``label``, beside the paper's (Table 1)."""
    last = epochs.iloc[-1]
    ours = pd.Series({"Dice (%)": 100 * last.val_slice_dice, "sensitivity (%)": 100 * last.val_slice_sensitivity,
                      "specificity (%)": 100 * last.val_slice_specificity, "Jaccard (%)": 100 * last.val_slice_jaccard,
                      "HD95 (mm)": last.val_slice_hd95_mm})
    return pd.DataFrame({label: ours.round(2), PAPER_COLUMN: pd.Series(PAPER)}
                        ).reindex(ours.index)


def margin_over_references(table: pd.DataFrame) -> dict:
    """The model's slice Dice (first row of :func:`gtvlib.evaluation.references_beside`'s table) against the best
    reference that needs no training: model, best reference (name and Dice) and the margin (positive: the model adds
    to what its prompt alone gives)."""
    model_row, references = table.iloc[0], table.iloc[1:]
    best = references.dice.idxmax()
    return {"model": float(model_row.dice), "reference": best.split(" ")[0], "reference_dice": float(references.dice.max()),
            "margin": float(model_row.dice - references.dice.max())}
