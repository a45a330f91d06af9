"""Training loops: outputs, resume equivalence, supervised mode, DDP with two gloo processes."""

import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from gtvlib import train
from gtvlib.data import slices

TRAIN, VAL = ["SYNTH-001", "SYNTH-002"], ["SYNTH-003"]
SPACING = (5.0, 3.5 * 96 / 64, 3.5 * 96 / 64)
CROP = slices.Box(16, 16, 112, 112)


@pytest.fixture(scope="module")
def cache(small_cohort, tmp_path_factory):
    cache = slices.SliceCache(small_cohort, slices.SliceSpec.from_window("hcf_paper", crop=CROP, size=64),
                              cache_dir=tmp_path_factory.mktemp("cache"))
    cache.build(TRAIN + VAL)
    return cache


def _rows(path):
    return list(csv.DictReader(path.open()))


def test_gan_run_writes_its_record_and_resumes_exactly(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("GTVLIB_BATCH", "1")
    config = train.TrainConfig(epochs=2, seed=3)
    straight = train.train_gan(config, cache, TRAIN, VAL, tmp_path / "straight", SPACING)
    assert sorted(p.name for p in (straight / "checkpoints").iterdir()) == ["epoch_001.pt", "epoch_002.pt"]
    params = yaml.safe_load((straight / "params.yaml").read_text())
    assert params["config"]["model"] == "sam_med2d_tiny" and params["validation_patients"] == VAL
    epochs = _rows(straight / "epochs.csv")
    assert [r["epoch"] for r in epochs] == ["1", "2"] and 0 <= float(epochs[-1]["val_slice_dice"]) <= 1
    assert [r["patient"] for r in _rows(straight / "per_patient.csv")] == VAL * 2
    # interrupted after epoch 1, then resumed: the same weights and the same validation numbers
    train.train_gan(train.TrainConfig(epochs=1, seed=3), cache, TRAIN, VAL, tmp_path / "resumed", SPACING)
    train.train_gan(config, cache, TRAIN, VAL, tmp_path / "resumed", SPACING)
    a = torch.load(straight / "checkpoints/epoch_002.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed/checkpoints/epoch_002.pt", weights_only=True)
    for part in ("model", "discriminator"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    assert strip(_rows(tmp_path / "resumed/epochs.csv")) == strip(epochs)
    # a different seed is a different run
    other = train.train_gan(train.TrainConfig(epochs=1, seed=4), cache, TRAIN, VAL, tmp_path / "other", SPACING)
    c = torch.load(other / "checkpoints/epoch_001.pt", weights_only=True)
    first = torch.load(straight / "checkpoints/epoch_001.pt", weights_only=True)
    assert not all(torch.equal(first["model"][k], c["model"][k]) for k in c["model"])


def test_supervised_mode_and_authors_options(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("GTVLIB_BATCH", "1")
    run = train.train_supervised(train.TrainConfig(epochs=1), cache, TRAIN, VAL, tmp_path / "sup", SPACING)
    assert "train_d_loss" not in _rows(run / "epochs.csv")[0]
    options = train.TrainConfig(epochs=1, generator_every=5, betas=(0.5, 0.999), discriminator_input="logits")
    run = train.train_gan(options, cache, TRAIN, VAL, tmp_path / "authors", SPACING)
    assert float(_rows(run / "epochs.csv")[0]["train_d_loss"]) > 0


def test_training_learns_on_repeated_data(cache, tmp_path, monkeypatch):
    """A few epochs on the training patients must lower the generator loss (the loop optimises)."""
    monkeypatch.setenv("GTVLIB_BATCH", "1")
    run = train.train_supervised(train.TrainConfig(epochs=6, lr=1.0e-3), cache, TRAIN, TRAIN, tmp_path / "fit", SPACING)
    losses = [float(r["train_g_loss"]) for r in _rows(run / "epochs.csv")]
    assert losses[-1] < 0.7 * losses[0]


def test_wrong_input_size_is_refused(small_cohort, tmp_path):
    wrong = slices.SliceCache(small_cohort, slices.SliceSpec.from_window("lung", size=32), cache_dir=tmp_path)
    wrong.build(TRAIN + VAL)
    with pytest.raises(Exception, match="takes 64 × 64"):
        train.train_gan(train.TrainConfig(epochs=1), wrong, TRAIN, VAL, tmp_path / "x", SPACING)


def test_ddp_two_gloo_processes(small_cohort, tmp_path):
    config = {"mode": "gan", "run_dir": str(tmp_path / "ddp"), "cohort": str(small_cohort), "training_patients": TRAIN,
              "validation_patients": VAL, "window": "hcf_paper", "crop": [16, 16, 112, 112], "spacing_mm": list(SPACING),
              "cache_dir": str(tmp_path / "cache"), "config": {"epochs": 2, "batch_size": 2, "device": "cpu"}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, GTVLIB_BATCH="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
                           "-m", "gtvlib.train", "--config", str(tmp_path / "run.yaml")],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [r["epoch"] for r in _rows(tmp_path / "ddp/epochs.csv")] == ["1", "2"]
    assert (tmp_path / "ddp/checkpoints/epoch_002.pt").is_file()


def test_augmentation_is_seeded_and_keeps_box_and_label_together(cache):
    pairs = train.tumour_pairs(cache, TRAIN)[:12]
    dataset = train.PromptedSlices(cache, pairs, jitter_px=0, seed=1, augment=True)
    from gtvlib.prompts import box_from_mask

    seen = set()
    for index in range(len(pairs)):
        item = dataset[index]
        label = item["label"][0].numpy().astype(bool)
        assert torch.equal(item["box"], torch.from_numpy(box_from_mask(label)))
        assert label.sum() == np.asarray(cache.load(pairs[index][0])[1][pairs[index][1]]).sum()  # a flip keeps the area
        assert torch.equal(dataset[index]["image"], item["image"])  # same (seed, epoch, index): same transform
        seen.add(item["image"][0].numpy().tobytes() == (np.asarray(cache.load(pairs[index][0])[0][pairs[index][1]], np.float32) * 255).tobytes())
    assert seen == {True, False}  # some slices transformed, some not


def test_train_encoder_option(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("GTVLIB_BATCH", "1")
    with pytest.raises(Exception, match="train_encoder='some'"):
        train.train_gan(train.TrainConfig(epochs=1, train_encoder="some"), cache, TRAIN, VAL, tmp_path / "x", SPACING)
    run = train.train_supervised(train.TrainConfig(epochs=1, train_encoder="all"), cache, TRAIN, VAL, tmp_path / "all", SPACING)
    state = torch.load(run / "checkpoints/epoch_001.pt", weights_only=True)
    torch.manual_seed(0)
    from gtvlib.models import build_model

    initial = build_model("sam_med2d_tiny").state_dict()
    assert not torch.equal(state["model"]["image_encoder.blocks.0.attn.qkv.weight"], initial["image_encoder.blocks.0.attn.qkv.weight"])
