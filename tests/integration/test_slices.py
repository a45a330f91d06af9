"""Integration tier of tests/unit/data/slices/test_slices.py: splits, GTV-MFIT, body crop, balance sampling, slice cache and Dataset."""

import pytest

from gtvlib.data import slices
from gtvlib.util.errors import GtvError
from tests.unit.data.slices import test_slices as unit_tier  # the unit tier's fixtures and helpers, shared

_cohort = unit_tier._cohort


@pytest.mark.slow
def test_prepare_splits_crops_and_records_the_model_grid(small_cohort, tmp_path):
    ids = ["SYNTH-001", "SYNTH-002", "SYNTH-003"]
    data = slices.prepare(_cohort(small_cohort, ids), window="hcf_paper", mfit_multiple=32, size=64,
                          validation_fraction=0.34, seed=2, cache_dir=tmp_path)
    assert (data.training_ids, data.validation_ids) == slices.patient_split(ids, 0.34, seed=2)
    training_labels = data.full.labels(data.training_ids)
    union, crop = slices.mfit_box(training_labels, training_labels[0].shape[1:], multiple=32)
    assert (data.union, data.crop) == (union, crop) and crop.width % 32 == 0
    assert all(crop.crop(label).sum() == label.sum() for label in training_labels)  # every training tumour pixel inside
    assert data.cache.spec.crop == (crop.row0, crop.col0, crop.row1, crop.col1) and data.cache.spec.size == 64
    assert data.cache.load(ids[0])[0].shape[1:] == (64, 64)
    assert data.spacing_mm[ids[0]] == (5.0, 3.5 * crop.height / 64, 3.5 * crop.width / 64)
    assert data.pairs("training") == data.cache.index(data.training_ids, "theta0")
    outside, total = data.pixels_outside_crop(data.validation_ids)
    assert total == sum(int(label.sum()) for label in data.full.labels(data.validation_ids)) and 0 <= outside <= total
    assert "model grid (z, y, x): 5.00 × " in data.describe()
    again = slices.prepare(_cohort(small_cohort, ids), window="hcf_paper", mfit_multiple=32, size=64,
                           validation_fraction=0.34, seed=2, cache_dir=tmp_path)
    assert again.cache.folder == data.cache.folder  # the same request finds the same cache
    with pytest.raises(GtvError, match="split 'test' is unknown"):
        data.pairs("test")


@pytest.mark.slow
def test_prepare_with_the_hcf_body_crop(small_cohort, tmp_path):
    """HCF's body crop: one square around every training patient's body box (HU > −500 ± 12 px), couch left out."""
    cohort = _cohort(small_cohort, ["SYNTH-001", "SYNTH-002", "SYNTH-003"])
    data = slices.prepare(cohort, crop="body", size=64, validation_fraction=0.34, seed=2, cache_dir=tmp_path)
    bodies = [slices.body_box(cohort.load(pid).hu) for pid in data.training_ids]
    crop = data.crop
    assert crop.height == crop.width == max(max(b.row1 for b in bodies) - min(b.row0 for b in bodies),
                                            max(b.col1 for b in bodies) - min(b.col0 for b in bodies))
    assert all(crop.row0 <= b.row0 and b.row1 <= crop.row1 and crop.col0 <= b.col0 and b.col1 <= crop.col1 for b in bodies)
    assert crop.width < 128 and data.cache.load("SYNTH-001")[0].shape[1:] == (64, 64)
    assert data.spacing_mm["SYNTH-001"][1] == pytest.approx(3.5 * crop.width / 64)


@pytest.mark.slow
def test_a_split_without_tumour_slices_is_named_before_training(small_cohort, tmp_path):
    """Three patients, split 2:1 (seed 1): the 32-px GTV-MFIT crop found on the two training tumours leaves the third's
    outside, so validation would have nothing to score (a ValueError deep in a figure, before this check)."""
    ids = ["SYNTH-001", "SYNTH-002", "SYNTH-003"]
    data = slices.prepare(_cohort(small_cohort, ids), mfit_multiple=32, size=64, seed=1, cache_dir=tmp_path)
    outside, total = data.pixels_outside_crop(data.validation_ids)
    assert data.pairs("validation") == [] and outside == total > 0
    with pytest.raises(GtvError, match=rf"the validation patients \['{data.validation_ids[0]}'\] have no tumour slice "
                                       r"inside the GTV-MFIT crop \[.*\] \(32 px, found on the 2 training patients\); "
                                       r"expected at least one \(use more patients"):
        data.require_tumour_slices()
    whole = slices.prepare(_cohort(small_cohort, ids), crop="none", size=64, seed=1, cache_dir=tmp_path)
    whole.require_tumour_slices()  # without the crop every tumour is in
    assert whole.pairs("validation")
