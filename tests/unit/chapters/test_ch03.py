"""Chapter 3's tables from an out-of-fold scores table: medians per prompt and method, the undefined HD95 counted."""

import numpy as np
import pandas as pd
import pytest

from gtvlib.chapters import ch03_train_gtv_samgan as chapter
from gtvlib.util.errors import GtvError


def _scores():
    rows = []
    for prompt, cost in (("exact box per slice (oracle)", 6), ("one box per lesion", 1)):
        for method, dice in (("model", [0.8, 0.0, 0.9]), ("prompt_box", [0.6, 0.5, 0.7])):
            for patient, value in zip("ABC", dice):
                rows.append({"prompt": prompt, "method": method, "patient": patient, "dice": value,
                             "sensitivity": value, "hd95_mm": np.nan if value == 0 else 10 * (1 - value),
                             "prompts_per_patient": cost})
    return pd.DataFrame(rows)


def test_tables_keep_the_prompt_order_and_count_what_cannot_be_averaged():
    scores = _scores()
    medians = chapter.median_table(scores)
    assert list(medians.index) == ["exact box per slice (oracle)", "one box per lesion"]
    assert list(medians["prompts per patient (median)"]) == [6, 1]
    assert medians.loc["one box per lesion", "GTV-SAMGAN (out of fold)"] == "0.80 [0.40–0.85]"
    hd95 = chapter.hd95_table(scores)
    assert hd95.loc["one box per lesion", "GTV-SAMGAN (out of fold)"] == "1.50 [1.25–1.75] (1 undefined)"
    assert "undefined" not in hd95.loc["one box per lesion", "box itself"]
    paired = chapter.paired_with_references(scores, "one box per lesion")
    assert paired.loc["box itself", "n"] == 3 and paired.loc["box itself", "wins"] == 2
    with pytest.raises(GtvError, match="no scores"):
        chapter.by_stratum(scores, pd.DataFrame({"size": ["< 5 cm³"] * 3}, index=list("ABC")), "click", "size")
