"""Patient-level k-fold cross-validation (gtvlib.crossval), the HCF chapter's trainings and ablation rows
(gtvlib.chapters.ch07_hcf_cascade), the StructSeg route, and a cascade's mask back on the scan."""

import numpy as np
import pandas as pd
import pytest

from gtvlib import crossval
from gtvlib.chapters import ch07_hcf_cascade as hcf
from gtvlib.data import slices
from gtvlib.data.cohort import Cohort
from gtvlib.data.dicom.patient import load_patient
from gtvlib.evaluation import cascade
from gtvlib.evaluation.results import ClassifierEvaluation
from gtvlib.training import Training
from gtvlib.util.errors import GtvError

IDS = ["SYNTH-001", "SYNTH-002", "SYNTH-003"]


@pytest.fixture(scope="module")
def cohort(small_cohort):
    return Cohort("synthetic", "three synthetic patients", small_cohort, IDS,
                  lambda pid, structures="rtstruct": load_patient(small_cohort / pid, structures))


@pytest.fixture(scope="module")
def data(small_cohort, tmp_path_factory):
    return slices.prepared_from_parts(small_cohort, IDS[:2], IDS[2:], size=64, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def batch_mode(monkeypatch):
    monkeypatch.setenv("GTVLIB_BATCH", "1")


def test_folds_validate_each_training_patient_once_and_never_the_test_patients(data):
    folds = crossval.fold_data(data, 2, seed=0)
    assert sorted(p for f in folds for p in f.validation_ids) == IDS[:2]
    for fold in folds:
        assert set(fold.training_ids) | set(fold.validation_ids) == set(IDS[:2]) and not set(fold.training_ids) & set(fold.validation_ids)
        assert fold.cache is data.cache and "SYNTH-003" not in fold.patient_ids
    with pytest.raises(GtvError, match="folds=3 with 2 patients"):
        crossval.fold_data(data, 3)


SEGMENTER = dict(model="sanet_w16", loss="cr", balance="theta1", optimizer="adamw", epochs=1, batch_size=8, lr=1.0e-3,
                 schedule="warm_restarts", restart_epochs=1, validation_slices="all", keep_checkpoints=1)
CLASSIFIER = dict(model="hcf_classifier_w16", balance="theta1", optimizer="adamw", epochs=1, batch_size=8, keep_checkpoints=1)


def segmenter(data):
    return Training.of("slices", data, "supervised", **SEGMENTER)


def classifier(data):
    return Training.of("slices", data, "classification", **CLASSIFIER)


def test_a_cascade_mask_goes_back_onto_the_scan(data, tmp_path, small_cohort):
    from gtvlib.metrics import dice
    from gtvlib.models.trained import load_trained
    from gtvlib.segment import grid_mask_on_scan

    fold = data.subset(["SYNTH-001"], ["SYNTH-002"])
    table = crossval.train_jobs([crossval.Job("sanet", 0, segmenter(fold))], tmp_path, show_progress=False)
    trained = load_trained(table.run[0])
    volume = load_patient(small_cohort / "SYNTH-003")
    on_scan = grid_mask_on_scan(trained, volume, np.asarray(data.cache.load("SYNTH-003")[1], bool))
    assert on_scan.shape == volume.shape and dice(on_scan, volume.masks["GTV-1"]) > 0.8  # the label, resized twice
    with pytest.raises(GtvError, match=r"mask of shape \(2, 64, 64\); expected"):
        grid_mask_on_scan(trained, volume, np.zeros((2, 64, 64), bool))


def test_gating_voting_and_the_mean_over_folds():
    a = np.zeros((4, 8, 8), bool)
    a[1:3, 2:5, 2:5] = True
    b = a.copy()
    b[0, 6:, 6:] = True  # a false positive on one fold only
    masks = [{"p": a}, {"p": b}, {"p": a}]
    assert np.array_equal(cascade.voted(masks)["p"], a)  # 2 of 3 agree on a; b's extra voxels have 1 vote
    assert np.array_equal(cascade.gated({"p": b}, {"p": np.array([False, True, True, True])})["p"], a)
    assert cascade.gated({"p": b}, None)["p"] is b
    with pytest.raises(GtvError, match="no fold predictions"):
        cascade.voted([])
    scores = pd.DataFrame({"variant": "x", "fold": [0, 0, 1, 1], "patient": ["p", "q", "p", "q"],
                           "dice": [0.2, 0.4, 0.6, 1.0], "hd95_mm": [1.0, np.nan, 3.0, 5.0], "jaccard": 0.5})
    row = cascade.over_folds(scores).loc["x"]
    assert row.dice_mean == pytest.approx(0.55) and row.dice_sd == pytest.approx(np.std([0.3, 0.8], ddof=1))
    assert row.hd95_mm_mean == pytest.approx((1.0 + 4.0) / 2) and (row.folds, row.patients) == (2, 2)


def test_the_chapter_trains_each_distinct_configuration_once(data):
    folds = crossval.fold_data(data, 2)
    jobs = hcf.hcf_jobs(segmenter(data), classifier(data), folds, 1)
    labels = [(job.label, job.fold) for job in jobs]
    assert len(labels) == len(set(labels)) == 2 + 2 + 10  # classifier and full model on both folds, 10 ablations on one
    models = {job.training.config.model for job in jobs}
    assert models == {"hcf_classifier_w16", "sanet_w16", "sanet_no_alignment_w16", "sanet_no_ppm_w16"}
    full = [job for job in jobs if job.label == hcf.FULL]
    assert [(j.training.route.balance, j.training.objective.loss) for j in full] == [("theta1", "cr")] * 2
    assert [j.training.route.data for j in full] == folds  # each fold's job on its own fold
    assert {job.training.route.balance for job in jobs if job.label.endswith(" cr") and "sanet" in job.label} == \
        {"theta0", "theta1", "theta2", "theta4", "thetan"}
    assert hcf.variant_model("sanet", "no_ppm") == "sanet_no_ppm" and hcf.variant_model("sanet_w16", "") == "sanet_w16"
    with pytest.raises(GtvError, match="ablation_folds=3 with 2 folds"):
        hcf.hcf_jobs(segmenter(data), classifier(data), folds, 3)
    with pytest.raises(GtvError, match="segmenter 'unet'"):
        hcf.variant_model("unet", "")


def test_each_ablation_row_reads_its_training_and_gate(data):
    label = np.asarray(data.cache.load("SYNTH-003")[1], bool)
    tumour = label.reshape(len(label), -1).any(axis=1)
    noisy = label.copy()
    noisy[np.nonzero(~tumour)[0][:2], :3, :3] = True  # false positives on two tumour-free slices
    masks = {hcf.training_label(a): [{"SYNTH-003": np.zeros_like(label)}] for a in hcf.ABLATIONS}
    masks[hcf.FULL] = [{"SYNTH-003": noisy}, {"SYNTH-003": noisy}]  # the full model has a second fold, not read
    gate = ClassifierEvaluation({("SYNTH-003", k): float(t) for k, t in enumerate(tumour)})
    scores = hcf.ablation_scores(masks, [gate], data.cache, ["SYNTH-003"], keep_components=0)
    by_row = scores.set_index("row")
    assert by_row.loc["full", "dice"] == 1.0 and by_row.loc["without HCF", "dice"] < 1.0  # the gate removes the noise
    assert by_row.loc["without HCF", "fp_slices"] == 2 and by_row.loc["θ0", "dice"] == 0.0
    assert (scores.groupby("row").fold.nunique() == 1).all()  # every row on the folds all trainings share
    table = hcf.ablation_table(scores, "components")
    assert table.loc["full", "our rank"] == 1 and table.loc["full", "paper DSC (%)"] == 58.6 and table.loc["full", "DSC (%)"] == "100.0"


def test_the_structseg_route_exports_once_and_reads_nifti(cohort, tmp_path, monkeypatch):
    import gtvlib.data.cohort as cohorts
    import gtvlib.util.paths as paths
    from gtvlib.data.structseg import structseg_route

    monkeypatch.setattr(cohorts, "open_cohort", lambda dataset, preset="quick", seed=0: cohort)
    monkeypatch.setattr(paths, "cache_dir", lambda: tmp_path)
    routed = structseg_route("synthetic")
    assert routed.patient_ids == ["1", "2", "3"] and routed.structures == "nifti" and "NIfTI loader" in routed.note
    written = routed.folder / "1" / "data.nii.gz"
    stamp = written.stat().st_mtime_ns
    assert structseg_route("synthetic").folder == routed.folder and written.stat().st_mtime_ns == stamp  # not rewritten
    with pytest.raises(GtvError, match="dataset 'nsclc_radiomics' for the StructSeg route"):
        structseg_route("nsclc_radiomics")


def test_the_registry_has_the_published_and_the_quick_width():
    from gtvlib.models import model_spec

    assert model_spec("sanet").input_size == 512 and model_spec("sanet_w16").input_size == 64
    assert model_spec("sanet_w16").settings == {"architecture": "SANet", "width": 16, "channels": 32}
    assert model_spec("hcf_classifier_w16").task == "slice classification"
    from gtvlib.models import build_model

    narrow = build_model("sanet_w16")
    assert narrow.encoder.channels == [16, 32, 64, 128] and sum(p.numel() for p in narrow.parameters()) < 1_000_000
