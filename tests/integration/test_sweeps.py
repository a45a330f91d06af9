"""Integration tier of tests/unit/test_sweeps.py: sweeps: grids, settings from the profiles, skip of finished runs, resume after a kill, the command line."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from gtvlib import sweeps
from tests.unit import test_sweeps as unit_tier  # the unit tier's fixtures and helpers, shared

_KILLED_SWEEP = unit_tier._KILLED_SWEEP
CROP = unit_tier.CROP
TRAIN = unit_tier.TRAIN
VAL = unit_tier.VAL
_settings = unit_tier._settings
data_for = unit_tier.data_for


@pytest.mark.slow
def test_a_killed_sweep_resumes_to_the_uninterrupted_result(small_cohort, data_for, tmp_path, root):
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-c", _KILLED_SWEEP, str(small_cohort), str(tmp_path / "cache"), str(killed),
                                str(torch.get_num_threads())],
                               cwd=root, env={**os.environ, "GTVLIB_BATCH": "1"})
    first = None
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        found = list(killed.glob("ablation/gan_mfit/*/checkpoints/epoch_001.pt"))
        if found:
            first = found[0]
            break
        time.sleep(0.2)
    assert first is not None, "the sweep wrote no checkpoint"
    process.send_signal(signal.SIGKILL)
    process.wait()
    run_folder = first.parents[1]
    assert not (run_folder / "checkpoints" / "epoch_003.pt").exists()
    settings = _settings(epochs=3, seeds=(0,))
    runs, _ = sweeps.run_sweep("ablation", settings, lambda crop: data_for("mfit"), killed, only=["gan_mfit"],
                               show_progress=False)
    assert list(runs.status) == ["resumed"] and Path(runs.run.iloc[0]) == run_folder
    straight, _ = sweeps.run_sweep("ablation", settings, lambda crop: data_for("mfit"), tmp_path / "straight",
                                   only=["gan_mfit"], show_progress=False)
    a = torch.load(run_folder / "checkpoints/epoch_003.pt", weights_only=True)
    b = torch.load(Path(straight.run.iloc[0]) / "checkpoints/epoch_003.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert runs.slice_dice.iloc[0] == pytest.approx(straight.slice_dice.iloc[0], abs=1e-6)
    assert len(pd.read_csv(run_folder / "epochs.csv")) == 3  # no epoch recorded twice
    assert [p.name for p in (run_folder / "checkpoints").iterdir()] == ["epoch_003.pt"]  # keep_checkpoints=1
