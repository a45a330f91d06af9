"""Every patient scored once, out of fold, by the model and the no-training references under the same box prompts
(chapter 3's protocol), on a small graded cohort."""

import numpy as np
import pandas as pd
import pytest
import torch

from gtvlib import crossval
from gtvlib.chapters import ch03_train_gtv_samgan as chapter
from gtvlib.data.cohort import open_cohort
from gtvlib.data.slices.prepare import mfit_from_cache
from gtvlib.data.statistics import case_facts
from gtvlib.evaluation.slices import evaluate, out_of_fold
from gtvlib.models import build_model, model_spec
from gtvlib.prompts import PROMPT_LABELS, BoxPrompt, prompt_boxes, prompt_makers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def graded():
    return open_cohort("synthetic", preset="graded", seed=0, patients=6)


def test_every_patient_is_scored_once_by_the_fold_that_held_it_out(graded):
    folds = crossval.prepared_folds(graded, 2, 0, window="hcf_paper", mfit_multiple=32, size=64)
    held_out = [pid for fold in folds for pid in fold.validation_ids]
    assert sorted(held_out) == graded.patient_ids and len(set(held_out)) == 6
    for fold in folds:
        assert not set(fold.training_ids) & set(fold.validation_ids)
        _, crop = mfit_from_cache(fold.full, fold.training_ids, multiple=32)
        assert crop == fold.crop  # GTV-MFIT from the fold's own training labels
    training = {"model": "sam_med2d_tiny", "objective": "adversarial", "epochs": 1, "batch_size": 8, "lr": 2e-3,
                "schedule": "warmup_cosine", "train_encoder": "all", "augment": True, "shift_px": 8, "box_jitter_px": 1}
    runs = crossval.train_folds({"gtv_samgan": crossval.slice_fold_trainings(folds, training, "lesion", 3.0)},
                                show_progress=False)
    assert list(runs.status) == ["trained", "trained"]
    scores = out_of_fold(list(zip(folds, runs.run)), prompt_makers(3.0))
    counts = scores.groupby(["prompt", "method", "patient"]).size()
    assert (counts == 1).all() and len(counts) == 4 * 4 * 6
    assert set(scores.prompt) == set(PROMPT_LABELS.values())
    lesion = scores[scores.prompt == PROMPT_LABELS["lesion"]]
    assert (lesion.prompts_per_patient == 1).all()
    exact = scores[scores.prompt == PROMPT_LABELS["truth"]]
    slices_with_tumour = {pid: int(fold.cache.has_tumour(pid).sum()) for fold in folds for pid in fold.validation_ids}
    assert exact.set_index("patient").prompts_per_patient.groupby(level=0).first().to_dict() == slices_with_tumour
    # the references answer the very boxes the model got: re-scoring one fold's box reference gives the same Dice
    fold = folds[0]
    boxes = prompt_boxes(BoxPrompt("lesion", 3.0), fold.cache, fold.validation_ids)
    again = evaluate(build_model("prompt_box"), fold.cache, fold.validation_ids, torch.device("cpu"),
                     model_spec("prompt_box").predict, prompts=boxes)
    table = lesion[lesion.method == "prompt_box"].set_index("patient").dice
    for row in again.per_patient:
        assert table[row["patient"]] == pytest.approx(row["dice"])
    # a loose box per lesion fills more background than the exact box per slice: the box itself loses Dice
    box = scores[scores.method == "prompt_box"].pivot_table(index="patient", columns="prompt", values="dice")
    assert (box[PROMPT_LABELS["lesion"]] <= box[PROMPT_LABELS["truth"]] + 1e-9).all()
    assert chapter.median_table(scores).shape == (4, 5)
    assert isinstance(chapter.paired_with_references(scores, PROMPT_LABELS["lesion"]), pd.DataFrame)


def test_case_facts_name_what_makes_each_patient_hard(graded):
    facts = case_facts(graded)
    assert list(facts.index) == graded.patient_ids
    assert list(facts["size"][:3]) == ["< 5 cm³", "5–30 cm³", "> 30 cm³"]
    assert set(facts.location) <= {"central", "juxta-pleural", "peripheral"}
    params = graded.parameters(graded.patient_ids[0])
    assert facts.gtv_cm3.iloc[0] == pytest.approx(params["tumour"]["volume_cm3"])
    assert facts.atelectasis.iloc[0] == (params["tumour"]["companions"]["atelectasis"] is not None)
    assert np.isfinite(facts.gtv_cm3).all()
