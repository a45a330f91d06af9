"""iSeg's 3-D U-Net (gtvlib.models.unet3d) and its patch training (gtvlib.train3d): sliding windows against a
whole-volume forward pass, patch sampling, exact resume, scores in 3-D, bad inputs named."""

import csv

import numpy as np
import pytest
import torch

from gtvlib import train3d
from gtvlib.errors import GtvError
from gtvlib.models import build_model
from gtvlib.models.unet3d import sliding_window_logits


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
    return train3d.VolumeSet(images, labels, spacing, ["A", "B"], ["C"], "three balls")


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


def test_patches_are_centred_on_the_gtv_as_often_as_asked(volumes):
    config = train3d.VolumeConfig(patch=(8, 16, 16), batch_size=64, foreground_fraction=1.0, augment=False)
    images, labels = train3d.sample_patches(volumes, config, np.random.default_rng(0))
    assert images.shape == labels.shape == (64, 1, 8, 16, 16) and labels.reshape(64, -1).any(axis=1).all()
    background = train3d.VolumeConfig(patch=(8, 16, 16), batch_size=64, foreground_fraction=0.0)
    _, labels = train3d.sample_patches(volumes, background, np.random.default_rng(0))
    assert 0 < labels.reshape(64, -1).any(axis=1).mean() < 0.9
    big = train3d.VolumeConfig(patch=(32, 48, 48), batch_size=2, augment=False)  # larger than the volume: zero-padded
    images, _ = train3d.sample_patches(volumes, big, np.random.default_rng(0))
    assert images.shape == (2, 1, 32, 48, 48) and (images[:, :, 20:] == 0).all() and (images[..., 36:] == 0).all()
    assert (images[:, :, :20, :36, :36] > 0).mean() > 0.9


def test_training_resumes_exactly_and_scores_whole_volumes(volumes, tmp_path, monkeypatch):
    monkeypatch.setenv("GTVLIB_BATCH", "1")
    import shutil

    from gtvlib.runs import RunRecord

    config = train3d.VolumeConfig(epochs=2, steps_per_epoch=3, patch=(16, 32, 32), device="cpu", keep_checkpoints=0)
    whole = train3d.train_volumes(config, volumes, train3d.run_for(config, volumes, tmp_path / "whole"))
    shutil.copytree(whole.folder, tmp_path / "cut")
    cut = RunRecord(tmp_path / "cut")
    cut.checkpoints()[-1].unlink()  # killed during epoch 2's checkpoint: resumes from epoch 1
    resumed = train3d.train_volumes(config, volumes, cut)
    rows = lambda run: list(csv.DictReader(open(run.folder / "epochs.csv")))
    same = lambda run: [{k: v for k, v in row.items() if k != "seconds"} for row in rows(run)]
    assert same(whole) == same(resumed) and len(rows(resumed)) == 2  # losses and validation scores equal
    patient = whole.per_patient()
    assert patient.patient.tolist() == ["C"] and {"dice", "hd95_mm", "predicted_cm3", "reference_cm3"} <= set(patient.columns)
    assert patient.reference_cm3[0] == pytest.approx(volumes.labels["C"].sum() * 2.0 * 1.5 * 1.5 / 1000)


def test_bad_settings_are_named(volumes, tmp_path):
    cases = [(dict(model="sanet_w16"), "model 'sanet_w16' is a segmentation model; expected a 3-D network"),
             (dict(patch=(16, 30, 32)), r"patch \(16, 30, 32\)"),
             (dict(foreground_fraction=1.5), "foreground_fraction=1.5")]
    for change, message in cases:
        with pytest.raises(GtvError, match=message):
            train3d.train_volumes(train3d.VolumeConfig(**change), volumes, run=object())
    with pytest.raises(GtvError, match="0 training and 1 validation patients"):
        train3d.train_volumes(train3d.VolumeConfig(), volumes.subset([], ["C"]), run=object())
    with pytest.raises(GtvError, match=r"patients \['Z'\] are not in this volume set"):
        volumes.subset(["Z"], ["C"])
