"""Evaluation, generic over the model: predictors with known answers, stitching, the two slice protocols."""

import numpy as np
import pytest
import torch

from gtvlib.data import slices
from gtvlib.evaluation.slices import evaluate, stitch
from gtvlib.metrics import score
from gtvlib.util.errors import GtvError

TRAIN, VAL = ["SYNTH-001", "SYNTH-002"], ["SYNTH-003"]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data(small_cohort, tmp_path_factory):
    return slices.prepared_from_parts(small_cohort, TRAIN, VAL, crop=slices.Box(16, 16, 112, 112), size=64,
                                      cache_dir=tmp_path_factory.mktemp("cache"))


class Stub(torch.nn.Module):
    """No weights to learn: the predictor function decides. eval() must still be callable."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))


def perfect(model, images, labels):
    return (labels * 2 - 1) * model.scale


def empty(model, images, labels):
    return -torch.ones_like(labels)


def shifted(model, images, labels):
    """The ground truth moved one column to the right."""
    return torch.roll(labels, shifts=1, dims=-1) * 2 - 1


def everywhere(model, images, labels):
    return torch.ones_like(labels)


def test_a_perfect_predictor_scores_one_and_an_empty_one_is_counted(data):
    result = evaluate(Stub(), data.cache, VAL, CPU, perfect)
    assert result.summary["slice_dice"] == 1.0 and result.summary["patient_dice"] == 1.0
    assert result.summary["slice_hd95_mm"] == 0.0 and result.summary["slice_hd95_undefined"] == 0
    assert len(result.per_slice) == len(data.pairs("validation")) > 0
    missed = evaluate(Stub(), data.cache, VAL, CPU, empty)
    assert missed.summary["slice_dice"] == 0.0 and missed.summary["slice_sensitivity"] == 0.0
    assert missed.summary["slice_hd95_undefined"] == len(missed.per_slice)  # counted, never averaged as 0 mm
    assert np.isnan(missed.summary["slice_hd95_mm"])
    assert missed.per_patient[0]["flag"] == "empty_prediction"


def test_scores_equal_the_metrics_on_the_model_grid(data):
    """A one-column shift: slice scores use the in-plane spacing, patient scores the 3-D spacing of the grid."""
    result = evaluate(Stub(), data.cache, VAL, CPU, shifted)
    spacing = data.cache.spacing_mm("SYNTH-003")
    labels = np.asarray(data.cache.load("SYNTH-003")[1], dtype=bool)
    for row in result.per_slice:
        expected = score(np.roll(labels[row["slice_index"]], 1, axis=-1), labels[row["slice_index"]], spacing[1:])
        assert row["dice"] == expected.dice and row["hd95_mm"] == pytest.approx(expected.hd95_mm)
    assert all(row["hd95_mm"] > 0 for row in result.per_slice)  # a shifted mask is never at distance 0
    predicted = np.zeros_like(labels)
    tumour = labels.any(axis=(1, 2))
    predicted[tumour] = np.roll(labels[tumour], 1, axis=-1)
    assert result.per_patient[0]["dice"] == score(predicted, labels, spacing).dice
    np.testing.assert_array_equal(stitch(result.predictions, "SYNTH-003", labels.shape), predicted)


def test_the_protocol_decides_which_slices_count(data):
    """Predicting tumour everywhere: on tumour slices only (the box protocol) the tumour-free slices stay empty;
    on all slices (a prompt-free model as a clinic runs it) they become false positives."""
    tumour_only = evaluate(Stub(), data.cache, VAL, CPU, everywhere, slices="tumour")
    every_slice = evaluate(Stub(), data.cache, VAL, CPU, everywhere, slices="all")
    labels = np.asarray(data.cache.load("SYNTH-003")[1], dtype=bool)
    assert len(every_slice.per_slice) == labels.shape[0] > len(tumour_only.per_slice)
    assert every_slice.per_patient[0]["dice"] < tumour_only.per_patient[0]["dice"]
    assert every_slice.per_patient[0]["dice"] == pytest.approx(2 * labels.sum() / (labels.sum() + labels.size))
    with pytest.raises(GtvError, match="slices='some'"):
        evaluate(Stub(), data.cache, VAL, CPU, everywhere, slices="some")


def test_sam_with_ground_truth_boxes_is_evaluated_in_eval_mode(data):
    from gtvlib.models import build_model, model_spec

    torch.manual_seed(0)
    model = build_model("sam_med2d_tiny").train()
    result = evaluate(model, data.cache, VAL, CPU, model_spec("sam_med2d_tiny").predict)
    assert not model.training
    masks = list(result.predictions.values())
    assert masks[0].shape == (64, 64) and masks[0].dtype == bool
    assert 0.0 <= result.summary["slice_dice"] <= 1.0
