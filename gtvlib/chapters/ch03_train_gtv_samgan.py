"""Chapter 03, training GTV-SAMGAN (seed 000, METHODS.md §1) and scoring it out of fold with the prompts a clinic has.

The paper: 112 patients, 1,139 training and 302 validation slices at 512 × 512; SAM-Med2D ViT-B at 256 px, 100 epochs;
Table 1 gives GTV-SAMGAN's Dice, sensitivity and specificity (%) on the validation slices, each prompted with its
ground-truth box. Here: k patient-level folds of the graded cohort (every patient scored once, by the model that did
not see it), four prompts from the oracle box to a click, and the references that need no training on the same boxes.
"""

from __future__ import annotations

import pandas as pd

from gtvlib.util.errors import GtvError

SOURCE = "GTV-SAMGAN paper, local data (Table 1)"
PAPER_COLUMN = "paper: GTV-SAMGAN, local data (Table 1)"
PAPER = {"Dice (%)": 83.74, "sensitivity (%)": 84.28, "specificity (%)": 99.98}
PAPER_SLICES = {"training": 1139, "validation": 302}
PAPER_EPOCHS = 100

METHOD_LABELS = {"model": "GTV-SAMGAN (out of fold)", "prompt_box": "box itself", "prompt_ellipse": "inscribed ellipse",
                 "prompt_threshold": "Otsu threshold in the box"}


def median_table(scores: pd.DataFrame, value: str = "dice") -> pd.DataFrame:
    """Median [IQR] of ``value`` per prompt (rows, the order of :data:`gtvlib.prompts.PROMPT_LABELS`) and method (columns), with the
    prompts given per patient (median)."""
    from gtvlib.prompts import PROMPT_LABELS
    from gtvlib.stats import median_iqr

    table = scores.pivot_table(index="prompt", columns="method", values=value, aggfunc=median_iqr)
    table = table.reindex(index=[p for p in PROMPT_LABELS.values() if p in table.index],
                          columns=[m for m in METHOD_LABELS if m in table.columns]).rename(columns=METHOD_LABELS)
    cost = scores.groupby("prompt").prompts_per_patient.median()
    table.insert(0, "prompts per patient (median)", cost.reindex(table.index).astype(int))
    return table


def by_stratum(scores: pd.DataFrame, facts: pd.DataFrame, prompt: str, column: str) -> pd.DataFrame:
    """Median patient Dice per method under ``prompt`` in each group of ``facts[column]`` (e.g. ``size``,
    ``location``), with the number of patients in each."""
    chosen = scores[scores.prompt == prompt].join(facts[[column]], on="patient")
    if chosen.empty:
        raise GtvError(f"prompt {prompt!r} has no scores; expected one of {sorted(scores.prompt.unique())}")
    table = chosen.pivot_table(index=column, columns="method", values="dice", aggfunc="median")
    table = table[[m for m in METHOD_LABELS if m in table.columns]].rename(columns=METHOD_LABELS)
    table.insert(0, "patients", chosen[chosen.method == "model"].groupby(column).size())
    return table


def paired_with_references(scores: pd.DataFrame, prompt: str) -> pd.DataFrame:
    """The model against each reference under ``prompt``, per patient (:func:`gtvlib.stats.paired_against`)."""
    from gtvlib.stats import paired_against

    chosen = scores[scores.prompt == prompt]
    references = [m for m in METHOD_LABELS if m != "model" and m in set(chosen.method)]
    table = paired_against(chosen, "model", references)
    table["reference"] = table.reference.map(METHOD_LABELS)
    return table.set_index("reference")


def slice_scores_beside_paper(scores: pd.DataFrame, prompt: str) -> pd.DataFrame:
    """The model's patient Dice and sensitivity (%) under ``prompt`` (median over patients) beside the paper's slice
    scores (Table 1): not the same statistic, shown for scale, with the unit named in each column."""
    model = scores[(scores.prompt == prompt) & (scores.method == "model")]
    ours = pd.Series({"Dice (%)": 100 * model.dice.median(), "sensitivity (%)": 100 * model.sensitivity.median()})
    return pd.DataFrame({f"this run: median patient score, {prompt}, {model.patient.nunique()} patients out of fold":
                         ours.round(1), PAPER_COLUMN + ", validation slices": pd.Series(PAPER)}).reindex(ours.index)


def hd95_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Median [IQR] of the patient HD95 (mm) per prompt and method over the patients where it is defined, with the
    number where it is not (an empty prediction has no surface: :mod:`gtvlib.metrics` counts it, never averages it
    as a number or drops it silently)."""
    table = median_table(scores, "hd95_mm").drop(columns="prompts per patient (median)")
    undefined = scores.assign(undefined=scores.hd95_mm.isna()).pivot_table(index="prompt", columns="method",
                                                                          values="undefined", aggfunc="sum")
    for method, label in METHOD_LABELS.items():
        if label in table and method in undefined:
            counts = undefined[method].reindex(table.index).astype(int)
            table[label] = [f"{value} ({count} undefined)" if count else value for value, count in zip(table[label], counts)]
    return table
