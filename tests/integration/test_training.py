"""Integration tier of tests/unit/training/test_training.py: the one training core (gtvlib.training): every route with its objective through one fit, the command line for"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from gtvlib.runs import RunRecord
from gtvlib.training import FitConfig, PatchRoute, Supervised, fit
from gtvlib.util.errors import GtvError
from tests.unit.training import test_training as unit_tier  # the unit tier's fixtures and helpers, shared

IDS = unit_tier.IDS
PATCH = unit_tier.PATCH
_marking = unit_tier._marking
_patch_yaml = unit_tier._patch_yaml
_rows = unit_tier._rows
volumes = unit_tier.volumes


@pytest.mark.slow
def test_the_command_trains_a_3d_unet_from_a_cohort_folder(small_cohort, volumes, tmp_path, monkeypatch):
    """``python -m gtvlib.train --config`` on the patch route equals the same fit called from Python."""
    from gtvlib.models.trained import load_volume_model
    from gtvlib.train import main

    monkeypatch.setenv("GTVLIB_BATCH", "1")
    assert main(["--config", str(_patch_yaml(tmp_path, small_cohort, tmp_path / "cli"))]) == 0
    params = yaml.safe_load((tmp_path / "cli/params.yaml").read_text())
    assert params["method"] == "patches/supervised" and params["route"]["patch"] == [16, 32, 32]
    assert [r["epoch"] for r in _rows(tmp_path / "cli/epochs.csv")] == ["1", "2"]
    assert [r["patient"] for r in _rows(tmp_path / "cli/per_patient.csv")] == ["SYNTH-003"] * 2
    direct = fit(FitConfig(**PATCH), PatchRoute(volumes, (16, 32, 32)), Supervised("dice_bce"), RunRecord(tmp_path / "py"))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    assert strip(_rows(tmp_path / "cli/epochs.csv")) == strip(_rows(direct.folder / "epochs.csv"))
    model = load_volume_model(tmp_path / "cli")
    assert sum(p.numel() for p in model.parameters()) > 0 and not model.training


@pytest.mark.slow
def test_two_processes_train_the_patch_route_as_one_process_does(small_cohort, tmp_path, monkeypatch):
    """DDP on the 3-D route: each rank takes its share of every global batch (drawn from the same seeded generator);
    with a loss that is the mean of its samples' losses (per-sample Dice + BCE; the U-Net normalises per instance) the
    averaged gradients of two gloo processes are the one process's gradient on the whole batch, so both end with the
    same weights, to float rounding (the all-reduce sums in another order)."""
    import torch

    from gtvlib.train import main

    monkeypatch.setenv("GTVLIB_BATCH", "1")
    loss = {"kind": "supervised", "loss": "dice_bce_per_sample"}
    one = _patch_yaml(tmp_path / "one", small_cohort, tmp_path / "one" / "run", batch_size=4, keep_checkpoints=0,
                      optimizer="sgd", lr=1.0e-2)  # SGD: Adam would turn the bias's ~0 gradients (instance norm) into steps
    spec = yaml.safe_load(one.read_text())
    spec["objective"] = loss
    one.write_text(yaml.safe_dump(spec))
    two = tmp_path / "two.yaml"
    two.write_text(yaml.safe_dump({**spec, "run_dir": str(tmp_path / "ddp")}))
    env = dict(os.environ, GTVLIB_BATCH="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29541",
                           "-m", "gtvlib.train", "--config", str(two)], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank: the same float reductions
    try:
        assert main(["--config", str(one)]) == 0
    finally:
        torch.set_num_threads(threads)
    rows = {name: _rows(tmp_path / name / "epochs.csv") for name in ("ddp", "one/run")}
    assert [r["epoch"] for r in rows["ddp"]] == ["1", "2"] and 0 <= float(rows["ddp"][-1]["val_patient_dice"]) <= 1
    for name in ("ddp", "one/run"):
        assert yaml.safe_load((tmp_path / name / "params.yaml").read_text())["method"] == "patches/supervised"
    # rank 0's epoch losses are the mean over its half of each batch; compare the weights, which see every sample
    final = {name: torch.load(tmp_path / name / "checkpoints" / "epoch_002.pt", weights_only=True)["model"]
             for name in ("ddp", "one/run")}
    assert all(torch.allclose(final["ddp"][k], final["one/run"][k], atol=1e-5) for k in final["ddp"])
    first = torch.load(tmp_path / "ddp" / "checkpoints" / "epoch_001.pt", weights_only=True)["model"]
    assert any(not torch.equal(first[k], final["ddp"][k]) for k in first)  # the weights moved


@pytest.mark.slow
def test_segment_exports_a_3d_run_as_rtstruct_and_seg(small_cohort, volumes, tmp_path):
    """``python -m gtvlib.segment`` from a 3-D U-Net's run: the scan windowed as in training, sliding windows within
    the body's box; the exported SEG and RTSTRUCT hold exactly the inferer's mask, and dciodvfy accepts them."""
    from gtvlib.data.dicom.conformance import find_dciodvfy, verify_dicom
    from gtvlib.data.dicom.seg import load_seg_masks
    from gtvlib.data.dicom.series import load_ct_series
    from gtvlib.data.volumes import inference_box
    from gtvlib.data.windows import window_hu, window_preset
    from gtvlib.models.trained import load_volume_model
    from gtvlib.models.unet3d import sliding_window_logits
    from gtvlib.segment import segment_study
    from gtvlib.segment.export import OUTPUT_FILES, ROI_NAME

    run = fit(FitConfig(**dict(PATCH, epochs=1, steps_per_epoch=1)), PatchRoute(volumes, (16, 32, 32)), Supervised("dice_bce"),
              RunRecord(tmp_path / "run"))
    _marking(run.folder, "model.2.1.conv.unit0.conv.bias")
    done = subprocess.run([sys.executable, "-m", "gtvlib.segment", str(small_cohort / "SYNTH-003"), "--out",
                           str(tmp_path / "out"), "--model", str(run.folder)], capture_output=True, text=True,
                          env={**os.environ, "GTVLIB_BATCH": "1"})
    assert done.returncode == 0, done.stderr
    ct = load_ct_series(small_cohort / "SYNTH-003" / "CT")
    window = window_preset("mediastinal")
    expected = sliding_window_logits(load_volume_model(run.folder), window_hu(ct.hu, window.center, window.width),
                                     (16, 32, 32), 0.25, box=inference_box(ct.hu)) > 0
    exported = load_seg_masks(tmp_path / "out" / OUTPUT_FILES["seg"], ct)[ROI_NAME]
    assert expected.any() and np.array_equal(exported, expected)
    summary = json.loads((tmp_path / "out" / OUTPUT_FILES["summary"]).read_text())
    assert summary["model"] == "unet3d_small" and summary["prompt"].startswith("none")
    if find_dciodvfy():
        assert [verify_dicom(tmp_path / "out" / OUTPUT_FILES[k]).errors for k in ("rtstruct", "seg")] == [[], []]
    with pytest.raises(GtvError, match="reads no PET; --pet applies"):
        segment_study(small_cohort / "SYNTH-003", tmp_path / "x", run.folder, pet=small_cohort, verbose=False)
