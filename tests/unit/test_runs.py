"""Run records: folder key, params, tables, checkpoints, resume truncation, and the non-writing DDP ranks."""

from types import SimpleNamespace

import pytest
import torch
import yaml

from gtvlib.runs import RunRecord
from gtvlib.util.errors import GtvError


def _evaluation(dice: float) -> SimpleNamespace:
    return SimpleNamespace(summary={"slice_dice": dice, "patient_dice": dice / 2},
                           per_patient=[{"patient": "P1", "dice": dice}, {"patient": "P2", "dice": 0.0}])


def test_named_runs_are_keyed_by_their_settings(tmp_path):
    a = RunRecord.named("gtv", {"lr": 1.0e-4, "seed": 0}, root=tmp_path)
    assert a.folder == RunRecord.named("gtv", {"seed": 0, "lr": 1.0e-4}, root=tmp_path).folder  # order does not matter
    assert a.folder != RunRecord.named("gtv", {"lr": 1.0e-4, "seed": 1}, root=tmp_path).folder
    assert a.folder.parent == tmp_path and a.name.startswith("gtv-") and len(a.name) == len("gtv-") + 10


def test_epochs_checkpoints_and_resume(tmp_path):
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    run = RunRecord(tmp_path / "run")
    run.start({"lr": 0.1}, training_patients=["P1"])
    assert run.params() == {"config": {"lr": 0.1}, "training_patients": ["P1"]}
    for epoch in (1, 2, 3):
        with torch.no_grad():
            layer.weight += 1.0
        row = run.end_epoch(epoch, {"train_loss": 1 / epoch}, _evaluation(0.1 * epoch), 1.234567, {"model": layer})
    assert row == {"epoch": 3, "train_loss": 0.333333, "val_slice_dice": 0.3, "val_patient_dice": 0.15, "seconds": 1.23}
    assert list(run.epochs().epoch) == [1, 2, 3] and list(run.epochs().columns) == list(row)
    assert list(run.per_patient().patient) == ["P1", "P2"] and run.per_patient(epoch=1).dice[0] == pytest.approx(0.1)
    assert [p.name for p in run.checkpoints()] == ["epoch_001.pt", "epoch_002.pt", "epoch_003.pt"]
    state = torch.load(run.checkpoint_path(2), weights_only=True)
    assert state["epoch"] == 2 and state["config"] == {"lr": 0.1}
    # a run cut off after the checkpoint of epoch 2: epoch 3's rows exist, its checkpoint does not
    run.checkpoint_path(3).unlink()
    fresh = torch.nn.Linear(3, 2)
    resumed = RunRecord(tmp_path / "run")
    assert resumed.resume({"model": fresh}) == 3
    assert torch.equal(fresh.weight, state["model"]["weight"])
    assert list(resumed.epochs().epoch) == [1, 2] and set(resumed.per_patient().patient) == {"P1", "P2"}
    assert RunRecord(tmp_path / "new").resume({"model": fresh}) == 1
    restored = resumed.restore(torch.nn.Linear(3, 2), epoch=1)
    assert torch.equal(restored.weight, torch.load(run.checkpoint_path(1), weights_only=True)["model"]["weight"])


def test_a_non_writing_rank_writes_nothing(tmp_path):
    run = RunRecord(tmp_path / "rank1", writer=False)
    run.start({"lr": 0.1})
    run.end_epoch(1, {"train_loss": 1.0}, _evaluation(0.5), 1.0, {"model": torch.nn.Linear(2, 2)})
    assert not (tmp_path / "rank1").exists()


def test_missing_records_and_checkpoints_are_named(tmp_path):
    run = RunRecord(tmp_path / "none")
    with pytest.raises(GtvError, match="no run record here"):
        run.params()
    with pytest.raises(GtvError, match="no such checkpoint; the run has none"):
        run.checkpoint_path()
    run.start({})
    run.save_checkpoint(1, {"model": torch.nn.Linear(2, 2)})
    with pytest.raises(GtvError, match=r"epoch_007\.pt: no such checkpoint; the run has \['epoch_001'\]"):
        run.checkpoint_path(7)
    assert yaml.safe_load((tmp_path / "none" / "params.yaml").read_text()) == {"config": {}}
