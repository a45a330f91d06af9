"""iSeg's 3-D U-Net (gtvlib.models.unet3d) and its patch training (gtvlib.data.volumes, the patch route): sliding windows against a
whole-volume forward pass, patch sampling, exact resume, scores in 3-D, bad inputs named."""

import csv

import numpy as np
import pytest
import torch

from gtvlib.data.volumes import VolumeSet, resample, sample_patches
from gtvlib.evaluation.volumes import evaluate_volumes
from gtvlib.inference.inferers import ensemble_mask
from gtvlib.models import build_model
from gtvlib.models.trained import load_volume_model
from gtvlib.models.unet3d import sliding_window_logits
from gtvlib.training import Training
from gtvlib.util.errors import GtvError

LOOP = dict(model="unet3d_small", epochs=10, steps_per_epoch=20, batch_size=2, lr=1.0e-3, optimizer="adamw",
            weight_decay=1.0e-5, schedule="cosine", keep_checkpoints=1)  # chapter 8's loop settings


def patches(data, **settings):
    """The patch route's training of ``data`` with Dice + BCE and chapter 8's loop settings, changed by ``settings``."""
    return Training.of("patches", data, "supervised", loss="dice_bce", **{**LOOP, **settings})


def _ball(shape, centre, radius):
    z, y, x = np.indices(shape)
    return (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= radius ** 2


@pytest.fixture(scope="module")
def volumes():
    rng = np.random.default_rng(0)
    images, labels, spacing = {}, {}, {}
    for k, pid in enumerate(["A", "B", "C"]):
        label = _ball((20, 36, 36), (10, 14 + k, 18), 4)
        images[pid] = np.clip(0.3 + 0.5 * label + 0.05 * rng.standard_normal(label.shape), 0, 1).astype(np.float32)
        labels[pid], spacing[pid] = label, (2.0, 1.5, 1.5)
    return VolumeSet(images, labels, spacing, ["A", "B"], ["C"], "three balls")


def test_sliding_windows_equal_a_whole_volume_forward_where_both_fit():
    torch.manual_seed(0)
    model = build_model("unet3d_small").eval()
    image = np.random.default_rng(1).random((16, 32, 32)).astype(np.float32)
    with torch.no_grad():
        whole = model(torch.from_numpy(image)[None, None])[0, 0].numpy()
    assert np.allclose(sliding_window_logits(model, image, (16, 32, 32)), whole, atol=1e-5)
    pointwise = torch.nn.Conv3d(1, 1, 1)  # a network without context: any tiling gives the same answer
    tiled = sliding_window_logits(pointwise, np.pad(image, ((0, 3), (0, 5), (0, 0))), (8, 16, 16), overlap=0.5)
    with torch.no_grad():
        direct = pointwise(torch.from_numpy(np.pad(image, ((0, 3), (0, 5), (0, 0))))[None, None])[0, 0].numpy()
    assert tiled.shape == (19, 37, 32) and np.allclose(tiled, direct, atol=1e-5)
    for bad, message in ((dict(patch=(10, 32, 32)), r"patch \(10, 32, 32\); expected three sides"),
                         (dict(overlap=1.0), r"overlap=1.0; expected a fraction in \[0, 1\)")):
        with pytest.raises(GtvError, match=message):
            sliding_window_logits(model, image, **{"patch": (16, 32, 32), **bad})
    with pytest.raises(GtvError, match=r"image of shape \(32, 32\)"):
        sliding_window_logits(model, image[0], (16, 32, 32))


def test_windows_confined_to_a_body_box_leave_the_air_outside_it():
    from gtvlib.data.slices.boxes import Box
    from gtvlib.models.unet3d import OUTSIDE_LOGIT

    torch.manual_seed(0)
    model = build_model("unet3d_small").eval()
    image = np.random.default_rng(2).random((16, 40, 48)).astype(np.float32)
    box = Box(row0=3, col0=5, row1=35, col1=45)  # rows 3–35, columns 5–45
    confined = sliding_window_logits(model, image, (16, 32, 32), box=box)
    inside = sliding_window_logits(model, image[:, 3:35, 5:45], (16, 32, 32))
    assert confined.shape == image.shape and np.array_equal(confined[:, 3:35, 5:45], inside)
    outside = np.ones(image.shape, bool)
    outside[:, 3:35, 5:45] = False
    assert np.all(confined[outside] == OUTSIDE_LOGIT)
    with pytest.raises(GtvError, match=r"box rows 3–35, columns 5–60; expected a non-empty box inside the slices of 40 × 48"):
        sliding_window_logits(model, image, (16, 32, 32), box=Box(3, 5, 35, 60))


def test_patches_are_centred_on_the_gtv_as_often_as_asked(volumes):
    images, labels = sample_patches(volumes, np.random.default_rng(0), 64, (8, 16, 16), 1.0, augment=False)
    assert images.shape == labels.shape == (64, 1, 8, 16, 16) and labels.reshape(64, -1).any(axis=1).all()
    _, labels = sample_patches(volumes, np.random.default_rng(0), 64, (8, 16, 16), 0.0)
    assert 0 < labels.reshape(64, -1).any(axis=1).mean() < 0.9
    images, _ = sample_patches(volumes, np.random.default_rng(0), 2, (32, 48, 48), 0.5, augment=False)  # zero-padded
    assert images.shape == (2, 1, 32, 48, 48) and (images[:, :, 20:] == 0).all() and (images[..., 36:] == 0).all()
    assert (images[:, :, :20, :36, :36] > 0).mean() > 0.9


def test_training_resumes_exactly_and_scores_whole_volumes(volumes, tmp_path, monkeypatch):
    monkeypatch.setenv("GTVLIB_BATCH", "1")
    import shutil

    from gtvlib.runs import RunRecord

    config = patches(volumes, epochs=2, steps_per_epoch=3, patch=(16, 32, 32), device="cpu", keep_checkpoints=0)
    whole = config.fit(config.run_for(tmp_path / "whole"))
    shutil.copytree(whole.folder, tmp_path / "cut")
    cut = RunRecord(tmp_path / "cut")
    cut.checkpoints()[-1].unlink()  # killed during epoch 2's checkpoint: resumes from epoch 1
    resumed = config.fit(cut)
    rows = lambda run: list(csv.DictReader(open(run.folder / "epochs.csv")))
    same = lambda run: [{k: v for k, v in row.items() if k != "seconds"} for row in rows(run)]
    assert same(whole) == same(resumed) and len(rows(resumed)) == 2  # losses and validation scores equal
    patient = whole.per_patient()
    assert patient.patient.tolist() == ["C"] and {"dice", "hd95_mm", "predicted_cm3", "reference_cm3"} <= set(patient.columns)
    assert patient.reference_cm3[0] == pytest.approx(volumes.labels["C"].sum() * 2.0 * 1.5 * 1.5 / 1000)
    assert patient.false_positive_cm3[0] == pytest.approx(patient.predicted_cm3[0] - patient.dice[0] * (
        patient.predicted_cm3[0] + patient.reference_cm3[0]) / 2, abs=1e-6)  # predicted − true positives
    sparse = patches(volumes, epochs=3, steps_per_epoch=1, patch=(16, 32, 32), device="cpu", validate_every=2)
    epochs = sparse.fit(sparse.run_for(tmp_path / "sparse")).epochs()
    assert epochs.val_patient_dice.notna().tolist() == [False, True, True]  # epochs 2 and 3 (the last) validated


def test_bad_settings_are_named(volumes, tmp_path):
    cases = [(dict(model="sanet_w16"), "model 'sanet_w16' is a segmentation model; expected a 3-D network"),
             (dict(patch=(16, 30, 32)), r"patch \(16, 30, 32\)"),
             (dict(foreground_fraction=1.5), "foreground_fraction=1.5"),
             (dict(validate_every=0), "validate_every=0; expected an integer ≥ 1")]
    for change, message in cases:
        with pytest.raises(GtvError, match=message):
            patches(volumes, **change).fit(run=object())
    with pytest.raises(GtvError, match="0 training and 1 validation patients"):
        patches(volumes.subset([], ["C"])).fit(run=object())
    with pytest.raises(GtvError, match=r"patients \['Z'\] are not in this volume set"):
        volumes.subset(["Z"], ["C"])


def test_tissue_negatives_are_centred_on_tissue_outside_the_gtv(volumes):
    slab = np.zeros(volumes.images["A"].shape, bool)
    slab[8:12, 28:32, 4:8] = True  # away from every ball (y 10–20, x 14–22) and from the borders
    marked = {pid: np.where(slab, 2.0, image).astype(np.float32) for pid, image in volumes.images.items()}
    tissue = {pid: np.flatnonzero(slab).astype(np.int32) for pid in marked}
    data = VolumeSet(marked, volumes.labels, volumes.spacing_mm, ["A", "B"], ["C"], "marked", tissue)
    assert data.subset(["A"], ["C"]).tissue is tissue  # folds keep the candidates
    images, labels = sample_patches(data, np.random.default_rng(0), 64, (8, 8, 8), 0.0, augment=False)
    assert (images[:, 0, 4, 4, 4] == 2.0).all() and not labels.any()  # every centre on a candidate, no GTV
    images, _ = sample_patches(data, np.random.default_rng(0), 64, (8, 8, 8), 0.0, "anywhere", augment=False)
    assert (images[:, 0, 4, 4, 4] == 2.0).mean() < 0.1  # 64 of 25,920 voxels are candidates
    with pytest.raises(GtvError, match="negatives='lungs'; expected one of"):
        patches(data, negatives="lungs").fit(run=object())


def test_resampling_keeps_geometry_volume_and_linear_intensities():
    shape, spacing = (20, 40, 40), (5.0, 3.5, 3.5)
    z, y, x = np.indices(shape)
    ramp = (10.0 * z + 2.0 * y - 3.0 * x).astype(np.float32)  # linear: trilinear interpolation reproduces it
    ball = ((z - 10) * 5.0) ** 2 + ((y - 20) * 3.5) ** 2 + ((x - 20) * 3.5) ** 2 <= 25.0 ** 2
    hu, label = resample(ramp, ball, spacing, (2.5, 1.75, 1.75))
    assert hu.shape == label.shape == (40, 80, 80)
    zz, yy, xx = np.indices(hu.shape)
    inside = (zz % 39 > 0) & (yy % 79 > 0) & (xx % 79 > 0)  # beyond the outer source voxels the edge value is repeated
    source_index = lambda i: (i + 0.5) / 2 - 0.5  # target voxel i's centre in source voxels (edges aligned)
    expected = 10.0 * source_index(zz) + 2.0 * source_index(yy) - 3.0 * source_index(xx)
    assert np.allclose(hu[inside], expected[inside], atol=1e-3)
    analytic_cm3 = 4 / 3 * np.pi * 25.0 ** 3 / 1000
    assert ball.sum() * 5.0 * 3.5 * 3.5 / 1000 == pytest.approx(analytic_cm3, rel=0.03)
    assert label.sum() * 2.5 * 1.75 * 1.75 / 1000 == pytest.approx(analytic_cm3, rel=0.03)
    with pytest.raises(GtvError, match=r"spacing_mm=\(0.0, 1.0, 1.0\); expected three positive"):
        resample(ramp, ball, spacing, (0.0, 1.0, 1.0))


def test_trained_volume_models_load_and_ensemble(volumes, tmp_path):
    config = patches(volumes, epochs=1, steps_per_epoch=2, patch=(16, 32, 32), device="cpu")
    run = config.fit(config.run_for(tmp_path))
    model = load_volume_model(run.folder)
    image = volumes.images["C"]
    single = sliding_window_logits(model, image, (16, 32, 32)) > 0
    assert np.array_equal(ensemble_mask([model, model], image, (16, 32, 32)), single)
    evaluation = evaluate_volumes(model, volumes, ["C"], (16, 32, 32))
    assert np.array_equal(evaluation.masks["C"], single)
    with pytest.raises(GtvError, match="not a 3-D training run"):
        (tmp_path / "fake").mkdir()
        (tmp_path / "fake" / "params.yaml").write_text("config:\n  mode: supervised\n  model: sanet_w16\n")
        load_volume_model(tmp_path / "fake")
    with pytest.raises(GtvError, match="no models to predict with"):
        ensemble_mask([], image, (16, 32, 32))
