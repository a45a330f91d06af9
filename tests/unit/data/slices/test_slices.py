"""Splits, GTV-MFIT, body crop, balance sampling, slice cache and Dataset."""

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from gtvlib.data import slices
from gtvlib.data.dicom.nifti import load_nifti
from gtvlib.data.dicom.patient import load_patient
from gtvlib.data.slices.dataset import SliceDataset
from gtvlib.util.errors import GtvError

IDS = [f"P{i:03d}" for i in range(112)]


def test_patient_split_is_seeded_disjoint_and_four_to_one():
    training, validation = slices.patient_split(IDS, 0.2, seed=3)
    assert not set(training) & set(validation) and set(training) | set(validation) == set(IDS)
    assert len(validation) == 22 and len(training) == 90
    assert slices.patient_split(IDS, 0.2, seed=3) == (training, validation)
    assert slices.patient_split(IDS, 0.2, seed=4) != (training, validation)
    with pytest.raises(GtvError, match="between 0 and 1"):
        slices.patient_split(IDS, 1.5)


def test_kfold_validates_every_patient_once():
    folds = slices.kfold_splits(IDS, 5, seed=0)
    validated = [pid for _, validation in folds for pid in validation]
    assert sorted(validated) == IDS
    for training, validation in folds:
        assert not set(training) & set(validation) and len(training) + len(validation) == 112
    with pytest.raises(GtvError, match="folds=1"):
        slices.kfold_splits(IDS, 1)


def _labels_with_boxes(boxes, shape=(512, 512)):
    volume = np.zeros((len(boxes), *shape), dtype=bool)
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        volume[k, y0:y1, x0:x1] = True
    return volume


def test_mfit_reproduces_the_papers_boxes():
    """Local data: tumour boxes spanning [194, 161, 450, 417] give a 256 × 256 square (already a multiple of 64)."""
    labels = _labels_with_boxes([(194, 161, 300, 250), (350, 300, 450, 417), (200, 170, 260, 230)])
    union, crop = slices.mfit_box([labels], (512, 512), multiple=64)
    assert union.as_xyxy() == [194, 161, 450, 417]
    assert crop.as_xyxy() == [194, 161, 450, 417] and crop.width == crop.height == 256
    nsclc = _labels_with_boxes([(129, 94, 200, 200), (400, 300, 471, 436)])
    union, crop = slices.mfit_box([nsclc], (512, 512), multiple=64)
    assert union.as_xyxy() == [129, 94, 471, 436] and union.width == union.height == 342
    assert crop.width == 384  # the rule rounds 342 up; the paper used 342 and resized (multiple=1 gives that)
    assert slices.mfit_box([nsclc], (512, 512), multiple=1)[1].width == 342
    assert crop.row0 >= 0 and crop.row1 <= 512 and crop.col1 <= 512


def test_mfit_square_stays_inside_the_image():
    labels = _labels_with_boxes([(0, 0, 10, 70)], shape=(128, 128))
    _, crop = slices.mfit_box([labels], (128, 128), multiple=32)
    assert crop.as_xyxy() == [0, 0, 96, 96]
    with pytest.raises(GtvError, match="at least one training slice with tumour"):
        slices.mfit_box([np.zeros((3, 8, 8), bool)], (8, 8))


def test_balance_sampling_ratios():
    has_tumour = np.zeros(100, dtype=bool)
    has_tumour[40:50] = True
    counts = {s: len(slices.balance_sample(has_tumour, s, seed=1)) for s in slices.BALANCE_RATIOS}
    assert counts == {"theta0": 10, "theta1": 20, "theta2": 30, "theta4": 50, "thetan": 100}
    kept = slices.balance_sample(has_tumour, "theta2", seed=1)
    assert set(range(40, 50)) <= set(kept.tolist())
    np.testing.assert_array_equal(kept, slices.balance_sample(has_tumour, "theta2", seed=1))
    assert not np.array_equal(kept, slices.balance_sample(has_tumour, "theta2", seed=2))
    assert len(slices.balance_sample(has_tumour[35:60], "theta4")) == 25  # 10 tumour + all 15 free: capped
    with pytest.raises(GtvError, match="theta3"):
        slices.balance_sample(has_tumour, "theta3")


def test_body_box_excludes_the_couch(small_cohort):
    """The body is the largest region above -500 HU; the couch below it is a separate region."""
    from gtvlib.data.synthetic import load_masks

    volume = load_patient(small_cohort / "SYNTH-001", structures="none")
    body = load_masks(small_cohort / "SYNTH-001" / "ground_truth.npz")["Body"].any(axis=0)
    assert slices.body_box(volume.hu, margin_px=0) == slices.tight_box(body)
    dense_rows = np.nonzero((volume.hu > -500).any(axis=(0, 2)))[0]
    assert dense_rows.max() > slices.tight_box(body).row1  # the couch is there, below the body
    with_margin = slices.body_box(volume.hu, margin_px=12)
    assert with_margin.row0 == max(slices.tight_box(body).row0 - 12, 0)
    assert with_margin.row1 == min(slices.tight_box(body).row1 + 12, volume.shape[1])


def test_slice_cache_and_dataloader(small_cohort, tmp_path):
    spec = slices.SliceSpec.from_window("lung", crop=slices.Box(16, 16, 112, 112), size=64)
    cache = slices.SliceCache(small_cohort, spec, cache_dir=tmp_path)
    counts = cache.build(["SYNTH-001", "SYNTH-002"])
    images, labels = cache.load("SYNTH-001")
    assert images.dtype == np.float16 and labels.dtype == np.uint8 and images.shape[1:] == (64, 64)
    assert images.shape[0] == counts["SYNTH-001"] and 0 <= float(images.min()) and float(images.max()) <= 1
    stamp = (cache.folder / "SYNTH-001.images.npy").stat().st_mtime_ns
    cache.build(["SYNTH-001"])
    assert (cache.folder / "SYNTH-001.images.npy").stat().st_mtime_ns == stamp  # built once
    pairs = cache.index(["SYNTH-001", "SYNTH-002"], "theta1", seed=0)
    tumour = sum(int(np.asarray(cache.load(p)[1][k]).any()) for p, k in pairs)
    assert len(pairs) == 2 * tumour
    loader = torch.utils.data.DataLoader(SliceDataset(cache, pairs), batch_size=5, num_workers=2)
    seen = 0
    for batch in loader:
        assert batch["image"].shape[1:] == (1, 64, 64) and batch["image"].dtype == torch.float32
        first_pid, first_k = batch["patient"][0], int(batch["slice_index"][0])
        np.testing.assert_array_equal(batch["label"][0, 0].numpy(), np.asarray(cache.load(first_pid)[1][first_k], dtype=np.float32))
        seen += len(batch["image"])
    assert seen == len(pairs)
    picked = [pairs[3], pairs[0], pairs[-1]]  # two patients, out of order
    picked_images, picked_labels = cache.slices(picked)
    assert picked_images.dtype == np.float32 and picked_labels.dtype == bool and picked_images.shape == (3, 64, 64)
    for i, (pid, k) in enumerate(picked):
        np.testing.assert_array_equal(picked_images[i], np.asarray(cache.load(pid)[0][k], dtype=np.float32))
        np.testing.assert_array_equal(picked_labels[i], np.asarray(cache.load(pid)[1][k]) > 0)
    other = slices.SliceCache(small_cohort, slices.SliceSpec.from_window("mediastinal"), cache_dir=tmp_path)
    assert other.folder != cache.folder


def test_nifti_is_reoriented_to_lps(tmp_path):
    """A RAS-oriented NIfTI (as MSD ships) reads as the same (z, y, x) LPS arrays as DICOM."""
    array = np.zeros((6, 20, 30), dtype=np.int16)  # (z, y, x) in the file's own index order
    array[2, 5, 7] = 1000
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.9, 2.5))
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))  # RAS: index x grows to the patient's right
    image.SetOrigin((10.0, 20.0, -30.0))
    sitk.WriteImage(image, str(tmp_path / "ct.nii.gz"))
    label = sitk.GetImageFromArray((array > 0).astype(np.uint8))
    label.CopyInformation(image)
    sitk.WriteImage(label, str(tmp_path / "label.nii.gz"))
    volume = load_nifti(tmp_path / "ct.nii.gz", tmp_path / "label.nii.gz")
    physical = image.TransformIndexToPhysicalPoint((7, 5, 2))  # LPS mm of the marked voxel
    k, i, j = np.argwhere(volume.hu == 1000)[0]
    expected = np.array(volume.origin_xyz_mm) + np.array([j * volume.spacing_mm[2], i * volume.spacing_mm[1], k * volume.spacing_mm[0]])
    np.testing.assert_allclose(expected, physical, atol=1e-4)
    assert volume.spacing_mm == pytest.approx((2.5, 0.9, 0.8))
    assert volume.masks["GTV-1"][k, i, j] and volume.masks["GTV-1"].sum() == 1
    with pytest.raises(GtvError, match=r"missing\.nii\.gz: no such NIfTI file"):
        load_nifti(tmp_path / "missing.nii.gz")


def _cohort(folder, ids):
    from gtvlib.data.cohort import Cohort

    return Cohort("synthetic", "test cohort", folder, ids, lambda pid, structures: load_patient(folder / pid, structures=structures))


def test_prepare_without_a_crop_is_the_whole_image(small_cohort, tmp_path):
    data = slices.prepare(_cohort(small_cohort, ["SYNTH-001", "SYNTH-002"]), crop="none", validation_fraction=0.5,
                          cache_dir=tmp_path)
    assert data.crop is None and data.cache.folder == data.full.folder and data.spacing_mm["SYNTH-001"] == (5.0, 3.5, 3.5)
    with pytest.raises(GtvError, match="crop='lungs'; expected one of"):
        slices.prepare(_cohort(small_cohort, ["SYNTH-001", "SYNTH-002"]), crop="lungs", cache_dir=tmp_path)
