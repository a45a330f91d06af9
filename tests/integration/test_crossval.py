"""Integration tier of tests/unit/test_crossval.py: patient-level k-fold cross-validation (gtvlib.crossval), the HCF chapter's trainings and ablation rows"""

import pytest

from gtvlib import crossval, evaluation
from gtvlib.data import slices
from gtvlib.evaluation import cascade
from gtvlib.util.errors import GtvError
from tests.unit import test_crossval as unit_tier  # the unit tier's fixtures and helpers, shared

CLASSIFIER = unit_tier.CLASSIFIER
IDS = unit_tier.IDS
SEGMENTER = unit_tier.SEGMENTER
classifier = unit_tier.classifier
cohort = unit_tier.cohort
data = unit_tier.data
segmenter = unit_tier.segmenter


@pytest.mark.slow
def test_prepare_takes_a_given_test_set(cohort, tmp_path):
    prepared = slices.prepare(cohort, crop="body", size=64, validation_ids=["SYNTH-002"], cache_dir=tmp_path)
    assert prepared.validation_ids == ["SYNTH-002"] and prepared.training_ids == ["SYNTH-001", "SYNTH-003"]
    for bad, message in ((["SYNTH-009"], r"unknown \['SYNTH-009'\]"), (IDS, "no training patient left"), ([], "no training")):
        with pytest.raises(GtvError, match=message):
            slices.prepare(cohort, crop="body", size=64, validation_ids=bad, cache_dir=tmp_path)


@pytest.mark.slow
def test_jobs_train_in_parallel_are_reused_and_predict(data, tmp_path):
    fold = data.subset(["SYNTH-001"], ["SYNTH-002"])
    jobs = [crossval.Job("sanet", 0, segmenter(fold)), crossval.Job("classifier", 0, classifier(fold))]
    first = crossval.train_jobs(jobs, tmp_path, workers=2, show_progress=False)
    assert first.status.tolist() == ["trained", "trained"] and first.label.tolist() == ["sanet", "classifier"]
    again = crossval.train_jobs(jobs, tmp_path, workers=1, show_progress=False)
    assert again.status.tolist() == ["reused", "reused"] and again.run.tolist() == first.run.tolist()
    masks = evaluation.fold_masks(first.run[:1], data.cache, ["SYNTH-003"])
    gates = evaluation.fold_gates(first.run[1:], data.cache, ["SYNTH-003"])
    slices_003 = len(data.cache.has_tumour("SYNTH-003"))
    assert masks[0]["SYNTH-003"].shape == (slices_003, 64, 64) and len(gates[0].probabilities) == slices_003
    assert cascade.decisions_of(gates[0], data.cache, ["SYNTH-003"])["SYNTH-003"].shape == (slices_003,)
    with pytest.raises(GtvError, match=r"jobs repeat a \(label, fold\)"):
        crossval.train_jobs(jobs + jobs[:1], tmp_path)
    with pytest.raises(GtvError, match="no training jobs"):
        crossval.train_jobs([], tmp_path)
