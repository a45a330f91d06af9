"""Metrics against MONAI and medpy on the same inputs, with anisotropic spacing and the edge cases."""

import numpy as np
import pytest
import torch
from medpy.metric import binary as medpy_binary
from monai.metrics import compute_dice, compute_hausdorff_distance
from scipy import ndimage

from gtvlib import metrics
from gtvlib.util.errors import GtvError


def _blob(rng, shape, centre, radii):
    grid = np.indices(shape).astype(float)
    r = sum(((grid[i] - centre[i]) / radii[i]) ** 2 for i in range(len(shape)))
    noise = rng.normal(0, 0.15, shape)
    return (r + noise) < 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_monai_and_medpy_3d_anisotropic(seed):
    rng = np.random.default_rng(seed)
    spacing = (3.0, 0.8, 1.3)
    reference = _blob(rng, (20, 40, 36), (10, 20, 18), (5, 12, 9))
    prediction = _blob(rng, (20, 40, 36), (11, 21, 16), (4, 10, 11))
    mine = metrics.score(prediction, reference, spacing)
    p, r = torch.from_numpy(prediction)[None, None].float(), torch.from_numpy(reference)[None, None].float()
    assert mine.dice == pytest.approx(float(compute_dice(p, r)), rel=1e-6)
    monai_hd95 = float(compute_hausdorff_distance(p, r, include_background=True, percentile=95, spacing=spacing))
    assert mine.hd95_mm == pytest.approx(monai_hd95, rel=1e-5)
    assert metrics.hd95_pooled(prediction, reference, spacing) == pytest.approx(medpy_binary.hd95(prediction, reference, voxelspacing=spacing), rel=1e-6)
    assert mine.jaccard == pytest.approx(medpy_binary.jc(prediction, reference))
    assert mine.sensitivity == pytest.approx(medpy_binary.sensitivity(prediction, reference))
    assert mine.specificity == pytest.approx(medpy_binary.specificity(prediction, reference))


def test_2d_slices_against_monai():
    rng = np.random.default_rng(7)
    reference = _blob(rng, (64, 64), (30, 30), (10, 14))
    prediction = _blob(rng, (64, 64), (33, 29), (11, 12))
    p, r = torch.from_numpy(prediction)[None, None].float(), torch.from_numpy(reference)[None, None].float()
    expected = float(compute_hausdorff_distance(p, r, include_background=True, percentile=95, spacing=(0.977, 0.977)))
    assert metrics.hd95(prediction, reference, (0.977, 0.977)) == pytest.approx(expected, rel=1e-5)


def test_single_voxel_and_one_slice_shift():
    reference = np.zeros((5, 9, 9), bool)
    reference[2, 4, 4] = True
    assert metrics.score(reference, reference, (3.0, 1.0, 1.0)).hd95_mm == 0.0
    shifted = np.roll(reference, 1, axis=0)
    scores = metrics.score(shifted, reference, (3.0, 1.0, 1.0))
    assert scores.dice == 0.0 and scores.hd95_mm == pytest.approx(3.0)  # one slice apart = the slice spacing
    slab = np.zeros((6, 10, 10), bool)
    slab[1:4, 2:8, 2:8] = True
    assert metrics.hd95(np.roll(slab, 1, axis=0), slab, (2.5, 0.7, 0.7)) == pytest.approx(2.5)


def test_empty_mask_policy():
    spacing = (1.0, 1.0)
    empty, tumour = np.zeros((8, 8), bool), np.zeros((8, 8), bool)
    tumour[2:5, 2:5] = True
    both = metrics.score(empty, empty, spacing)
    assert (both.dice, both.jaccard, both.flag) == (1.0, 1.0, "both_empty") and np.isnan(both.hd95_mm) and np.isnan(both.sensitivity)
    missed = metrics.score(empty, tumour, spacing)
    assert (missed.dice, missed.sensitivity, missed.flag) == (0.0, 0.0, "empty_prediction") and np.isnan(missed.hd95_mm)
    alarm = metrics.score(tumour, empty, spacing)
    assert (alarm.dice, alarm.flag) == (0.0, "empty_reference") and np.isnan(alarm.sensitivity)
    summary = metrics.summarise([missed, metrics.score(tumour, tumour, spacing)])
    assert summary.loc["dice", "mean"] == 0.5  # the missed tumour counts as 0, not dropped
    assert summary.loc["hd95_mm", "defined"] == 1 and summary.loc["hd95_mm", "undefined"] == 1
    assert summary.attrs["flags"] == {"empty_prediction": 1, "": 1}


def test_specificity_inside_a_region_is_telling():
    reference = np.zeros((100, 100), bool)
    reference[40:50, 40:50] = True
    prediction = reference.copy()
    prediction[60:70, 60:70] = True  # a false positive as large as the tumour
    body = np.zeros_like(reference)
    body[30:80, 30:80] = True
    scores = metrics.score(prediction, reference, (1.0, 1.0), region=body)
    assert scores.specificity > 0.98 and scores.specificity_in_region == pytest.approx(1 - 100 / 2400)


def test_bad_shapes():
    with pytest.raises(GtvError, match="differs from reference shape"):
        metrics.score(np.zeros((3, 3)), np.zeros((3, 4)), (1, 1))
    with pytest.raises(GtvError, match="has 2 values for 3-D masks"):
        metrics.hd95(np.ones((2, 2, 2)), np.ones((2, 2, 2)), (1, 1))


def _whole_array_distances(source, target, spacing):
    """The definition without cropping: the whole array's distance transform to the target's surface."""
    return ndimage.distance_transform_edt(~metrics.surface(target), sampling=spacing)[metrics.surface(source)]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_cropped_tree_distances_equal_the_whole_array_transform_even_at_the_border(seed):
    rng = np.random.default_rng(seed)
    shape, spacing = (12, 30, 26), (2.5, 0.9, 1.1)
    reference = _blob(rng, shape, (6, 4, 20), (5, 8, 9))  # reaches the array's border on several faces
    prediction = _blob(rng, shape, (3, 20, 5), (3, 6, 6))
    forward, backward = metrics.surface_distances(prediction, reference, spacing)
    assert np.allclose(np.sort(forward), np.sort(_whole_array_distances(prediction, reference, spacing)), rtol=1e-12, atol=0)
    assert np.allclose(np.sort(backward), np.sort(_whole_array_distances(reference, prediction, spacing)), rtol=1e-12, atol=0)
    box = metrics.joint_box(prediction, reference)
    assert (prediction | reference)[box].sum() == (prediction | reference).sum()


def test_small_tumour_in_a_large_volume_against_monai():
    rng = np.random.default_rng(5)
    shape, spacing = (60, 256, 256), (3.0, 0.977, 0.977)
    reference = np.zeros(shape, bool)
    prediction = np.zeros(shape, bool)
    reference[20:40, 100:160, 90:140] = _blob(rng, (20, 60, 50), (10, 30, 25), (8, 25, 20))
    prediction[21:41, 103:163, 88:138] = _blob(rng, (20, 60, 50), (10, 30, 25), (8, 24, 22))
    p, r = torch.from_numpy(prediction)[None, None].float(), torch.from_numpy(reference)[None, None].float()
    expected = float(compute_hausdorff_distance(p, r, include_background=True, percentile=95, spacing=spacing))
    assert metrics.hd95(prediction, reference, spacing) == pytest.approx(expected, rel=1e-5)
    empty = np.zeros((4, 4), bool)
    assert metrics.joint_box(empty, empty) == (slice(0, 0), slice(0, 0))


def test_one_patient_row_with_volumes_in_cm3():
    """The book's one per-patient vocabulary: a 4 × 4 × 4 cube against the same cube moved by one voxel along x, on
    2 × 1 × 0.5 mm voxels (1 mm³ each): 64 mm³ each, 48 mm³ shared, 16 mm³ false positive."""
    from gtvlib.metrics import PATIENT_COLUMNS, patient_row

    reference = np.zeros((8, 8, 8), bool)
    reference[2:6, 2:6, 2:6] = True
    prediction = np.roll(reference, 1, axis=2)
    row = patient_row("P1", prediction, reference, (2.0, 1.0, 0.5))
    assert tuple(row) == PATIENT_COLUMNS
    assert row["dice"] == pytest.approx(48 / 64) and row["sensitivity"] == pytest.approx(48 / 64)
    assert (row["predicted_cm3"], row["reference_cm3"], row["false_positive_cm3"]) == pytest.approx((0.064, 0.064, 0.016))
    assert row["jaccard"] == pytest.approx(48 / 80) and row["flag"] == ""


def test_every_per_patient_table_speaks_the_one_vocabulary():
    """The 2-D evaluation, the whole-volume scorer and the cascade table give the columns of patient_row."""
    from gtvlib.evaluation.volumes import patient_scores
    from gtvlib.metrics import PATIENT_COLUMNS

    mask = np.zeros((4, 6, 6), bool)
    mask[1:3, 2:4, 2:4] = True
    rows = patient_scores({"A": mask}, {"A": mask}, {"A": (1.0, 1.0, 1.0)}).per_patient
    assert tuple(rows[0]) == PATIENT_COLUMNS and rows[0]["dice"] == 1.0 and rows[0]["false_positive_cm3"] == 0.0
