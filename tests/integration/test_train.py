"""Integration tier of tests/unit/training/test_train.py: training loops: outputs, resume equivalence, supervised mode, options, DDP with two gloo processes."""

import os
import subprocess
import sys

import pytest
import torch
import yaml

from gtvlib.data import slices
from gtvlib.runs import RunRecord
from tests.unit.training import test_train as unit_tier  # the unit tier's fixtures and helpers, shared

CROP = unit_tier.CROP
HCF = unit_tier.HCF
TRAIN = unit_tier.TRAIN
VAL = unit_tier.VAL
_rows = unit_tier._rows
data = unit_tier.data
gan = unit_tier.gan
supervised = unit_tier.supervised


@pytest.mark.slow
def test_gan_run_writes_its_record_and_resumes_exactly(data, tmp_path):
    config = gan(data, epochs=2, seed=3)
    straight = config.fit(RunRecord(tmp_path / "straight")).folder
    assert sorted(p.name for p in (straight / "checkpoints").iterdir()) == ["epoch_001.pt", "epoch_002.pt"]
    params = yaml.safe_load((straight / "params.yaml").read_text())
    assert params["config"]["model"] == "sam_med2d_tiny" and params["validation_patients"] == VAL
    epochs = _rows(straight / "epochs.csv")
    assert [r["epoch"] for r in epochs] == ["1", "2"] and 0 <= float(epochs[-1]["val_slice_dice"]) <= 1
    assert [r["patient"] for r in _rows(straight / "per_patient.csv")] == VAL * 2
    # interrupted after epoch 1, then resumed: the same weights and the same validation numbers
    gan(data, epochs=1, seed=3).fit(RunRecord(tmp_path / "resumed"))
    config.fit(RunRecord(tmp_path / "resumed"))
    a = torch.load(straight / "checkpoints/epoch_002.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed/checkpoints/epoch_002.pt", weights_only=True)
    for part in ("model", "discriminator"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    assert strip(_rows(tmp_path / "resumed/epochs.csv")) == strip(epochs)
    # a different seed is a different run
    other = gan(data, epochs=1, seed=4).fit(RunRecord(tmp_path / "other")).folder
    c = torch.load(other / "checkpoints/epoch_001.pt", weights_only=True)
    first = torch.load(straight / "checkpoints/epoch_001.pt", weights_only=True)
    assert not all(torch.equal(first["model"][k], c["model"][k]) for k in c["model"])


@pytest.mark.slow
def test_training_learns_on_repeated_data(data, tmp_path):
    """A few epochs on the training patients must lower the generator loss (the loop optimises)."""
    fit = slices.PreparedSlices(TRAIN, TRAIN, data.cache, data.crop, None, data.size)
    run = supervised(fit, epochs=10, lr=3.0e-3).fit(RunRecord(tmp_path / "fit"))
    rows = _rows(run.folder / "epochs.csv")
    losses = [float(r["train_g_loss"]) for r in rows]
    assert losses[-1] < 0.7 * losses[0]
    assert float(rows[-1]["val_slice_dice"]) > 0.7  # validated on its own training slices: it fits them


@pytest.mark.slow
def test_ddp_two_gloo_processes(small_cohort, tmp_path):
    config = {"run_dir": str(tmp_path / "ddp"), "config": {"model": "sam_med2d_tiny", "epochs": 2, "batch_size": 2, "device": "cpu"},
              "route": {"kind": "slices"}, "objective": {"kind": "adversarial"},
              "data": {"cohort": str(small_cohort), "training_patients": TRAIN, "validation_patients": VAL,
                       "window": "hcf_paper", "crop": [16, 16, 112, 112], "cache_dir": str(tmp_path / "cache")}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, GTVLIB_BATCH="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
                           "-m", "gtvlib.train", "--config", str(tmp_path / "run.yaml")],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert [r["epoch"] for r in _rows(tmp_path / "ddp/epochs.csv")] == ["1", "2"]
    assert (tmp_path / "ddp/checkpoints/epoch_002.pt").is_file()
    assert yaml.safe_load((tmp_path / "ddp/params.yaml").read_text())["method"] == "slices/adversarial"


@pytest.mark.slow
def test_sanet_trains_on_balanced_slices_with_the_cr_loss_and_resumes_exactly(data, tmp_path):
    """HCF's training (METHODS.md §2): θ1 slices (tumour-free ones included, no box), the CR loss, AdamW, warm
    restarts, validation on every slice; an interrupted run resumed gives the uninterrupted run's numbers."""
    from gtvlib.models import model_spec

    config = supervised(data, epochs=2, **HCF)
    config.route.prepare(config.config, model_spec("sanet_w16"))
    dataset = config.route.dataset
    tumour = [data.cache.has_tumour(pid)[k] for pid, k in dataset.pairs]
    assert sum(tumour) == len(tumour) - sum(tumour) > 0 and "box" not in dataset[0]  # θ1: 1 tumour-free per tumour slice
    whole = config.fit(RunRecord(tmp_path / "whole"))
    first = supervised(data, epochs=1, **HCF).fit(RunRecord(tmp_path / "parts"))
    resumed = config.fit(RunRecord(first.folder))
    assert _rows(whole.folder / "epochs.csv")[-1]["train_g_loss"] == _rows(resumed.folder / "epochs.csv")[-1]["train_g_loss"]
    assert len(whole.per_patient()) == 1 and "val_slice_dice" in whole.epochs().columns
