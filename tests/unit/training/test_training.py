"""The one training core (gtvlib.training): every route with its objective through one fit, the command line for
a 3-D U-Net, two processes on the patch route under torchrun, early stopping and validation cadence on any route."""

import csv

import numpy as np
import pytest
import yaml

from gtvlib.runs import RunRecord
from gtvlib.training import FitConfig, PatchRoute, StackRoute, Supervised, fit, run_for, stopped_early
from gtvlib.util.errors import GtvError

IDS = ["SYNTH-001", "SYNTH-002", "SYNTH-003"]


def _rows(path):
    return list(csv.DictReader(path.open()))


@pytest.fixture(scope="module")
def volumes(small_cohort):
    from gtvlib.data.cohort import Cohort
    from gtvlib.data.dicom.patient import load_patient
    from gtvlib.data.volumes import volume_set

    cohort = Cohort("synthetic", "three patients", small_cohort, IDS,
                    lambda pid, s: load_patient(small_cohort / pid, structures=s))
    return volume_set(cohort, IDS, window="mediastinal", validation_ids=["SYNTH-003"])


PATCH = dict(model="unet3d_small", epochs=2, steps_per_epoch=2, batch_size=2, lr=1.0e-3, optimizer="adamw",
             schedule="cosine", device="cpu")


def _patch_yaml(folder, small_cohort, run_dir, **config):
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"run_dir": str(run_dir), "config": {**PATCH, **config}, "route": {"kind": "patches", "patch": [16, 32, 32]},
            "objective": {"kind": "supervised", "loss": "dice_bce"},
            "data": {"cohort": str(small_cohort), "training_patients": IDS[:2], "validation_patients": IDS[2:],
                     "window": "mediastinal"}}
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_early_stopping_and_validation_cadence_on_the_patch_route(volumes, tmp_path):
    """A rate too small to change a float32 weight leaves the validation Dice unchanged: with patience 1 the run
    stops after the second validated epoch; epochs between validations record NaN and do not stop it."""
    still = dict(PATCH, lr=1.0e-12, epochs=6, validate_every=2, patience=1)
    run = fit(FitConfig(**still), PatchRoute(volumes, (16, 32, 32)), Supervised("dice_bce"), RunRecord(tmp_path / "still"))
    epochs = run.epochs()
    assert epochs.epoch.tolist() == [1, 2, 3, 4] and epochs.val_patient_dice.notna().tolist() == [False, True, False, True]
    assert stopped_early(run, 2, "val_patient_dice") and not stopped_early(run, 3, "val_patient_dice")


def test_stopped_early_passes_over_epochs_without_validation(tmp_path):
    run = RunRecord(tmp_path / "r")
    run.folder.mkdir()
    (run.folder / "epochs.csv").write_text("epoch,val_patient_dice\n1,\n2,0.5\n3,\n4,\n")
    assert not stopped_early(run, 2)  # nothing validated in the last two epochs: nothing to decide
    (run.folder / "epochs.csv").write_text("epoch,val_patient_dice\n1,\n2,0.5\n3,\n4,0.4\n")
    assert stopped_early(run, 2) and not stopped_early(run, 0)


def test_route_and_objective_options_are_checked_before_anything_is_written(volumes, tmp_path):
    from gtvlib.training import Adversarial, SliceClassification

    cases = [(FitConfig(**PATCH), PatchRoute(volumes, (16, 32, 32)), Adversarial(), "the adversarial objective judges 2-D masks"),
             (FitConfig(**PATCH), PatchRoute(volumes, (16, 32, 32)), SliceClassification(), "trains a slice classifier"),
             (FitConfig(**PATCH), PatchRoute(volumes, (16, 32, 32)), Supervised("hinge"), r"loss='hinge'; expected one of"),
             (FitConfig(**dict(PATCH, steps_per_epoch=0)), PatchRoute(volumes, (16, 32, 32)), Supervised("dice_bce"),
              "steps_per_epoch=0 with the patches route"),
             (FitConfig(**dict(PATCH, schedule="linear")), PatchRoute(volumes, (16, 32, 32)), Supervised("dice_bce"),
              "schedule='linear'; expected one of"),
             (FitConfig(**PATCH), StackRoute(volumes), Supervised("dice_bce"), "expected a 2.5-D PET/CT segmentation network"),
             (FitConfig(**dict(PATCH, init_from=str(tmp_path))), PatchRoute(volumes, (16, 32, 32)), Supervised("dice_bce"),
              "a folder without params.yaml")]
    for config, route, objective, message in cases:
        with pytest.raises(GtvError, match=message):
            fit(config, route, objective, RunRecord(tmp_path / "never"))
    assert not (tmp_path / "never").exists()


def test_a_run_folder_starts_another_run_and_the_key_names_route_and_objective(volumes, tmp_path):
    import torch

    first = fit(FitConfig(**dict(PATCH, epochs=1)), PatchRoute(volumes, (16, 32, 32)), Supervised("dice_bce"),
                RunRecord(tmp_path / "first"))
    from gtvlib.models import model_spec
    from gtvlib.training.loop import build_for_training

    started = build_for_training(FitConfig(**dict(PATCH, init_from=str(first.folder))), model_spec("unet3d_small"))
    saved = torch.load(first.checkpoint_path(), weights_only=True)["model"]
    assert all(torch.equal(v, saved[k]) for k, v in started.state_dict().items())
    base = run_for(FitConfig(**PATCH), PatchRoute(volumes, (16, 32, 32)), Supervised("dice_bce"), tmp_path).folder
    assert run_for(FitConfig(**dict(PATCH, device="auto", keep_checkpoints=3)), PatchRoute(volumes, (16, 32, 32)),
                   Supervised("dice_bce"), tmp_path).folder == base  # where it computes is not part of the key
    assert run_for(FitConfig(**PATCH), PatchRoute(volumes, (16, 32, 32), negatives="anywhere"), Supervised("dice_bce"),
                   tmp_path).folder != base
    assert run_for(FitConfig(**PATCH), PatchRoute(volumes, (16, 32, 32)), Supervised("dice"), tmp_path).folder != base


def test_the_documented_run_file_is_a_valid_configuration(root):
    """book/how_to_run.md's run.yaml names a FitConfig, a route with its options and an objective the command reads."""
    import re

    from gtvlib.training.command import _parts
    from gtvlib.training.objectives import Adversarial
    from gtvlib.training.routes import SliceRoute

    page = (root / "book" / "how_to_run.md").read_text()
    text = re.search(r"```yaml\n(run_dir: runs/gtv_samgan_paper.*?)```", page, re.S).group(1)
    config, route_class, options, objective = _parts(yaml.safe_load(text), root / "book" / "how_to_run.md")
    assert config.model == "sam_med2d_vit_b" and config.init_from == "sam_med2d_b" and config.epochs == 100
    assert route_class is SliceRoute and options == {"box_jitter_px": 5} and isinstance(objective, Adversarial)


def _marking(run_folder, bias_key: str, value: float = 5.0) -> None:
    """Raise a run's last checkpoint's final bias so that the network marks what it sees: an export needs a mask."""
    import torch

    run = RunRecord(run_folder)
    path = run.checkpoint_path()
    state = torch.load(path, weights_only=True)
    state["model"][bias_key] += value
    torch.save(state, path)


def test_a_3d_run_at_another_spacing_predicts_on_the_scan_grid(small_cohort, tmp_path):
    """A run trained on volumes resampled to 2 × the in-plane spacing predicts on the resampled scan and maps its
    logits back onto the scan's own grid."""
    from gtvlib.data.cohort import Cohort
    from gtvlib.data.dicom.patient import load_patient
    from gtvlib.data.dicom.series import load_ct_series
    from gtvlib.data.volumes import volume_set
    from gtvlib.inference.inferers import PatchInferer
    from gtvlib.models.trained import load_trained

    cohort = Cohort("synthetic", "three patients", small_cohort, IDS, lambda pid, s: load_patient(small_cohort / pid, structures=s))
    native = load_ct_series(small_cohort / "SYNTH-003" / "CT")
    coarse_mm = (float(native.spacing_mm[0]), 2 * float(native.spacing_mm[1]), 2 * float(native.spacing_mm[2]))
    coarse = volume_set(cohort, IDS, window="mediastinal", validation_ids=["SYNTH-003"], spacing_mm=coarse_mm)
    run = fit(FitConfig(**dict(PATCH, epochs=1, steps_per_epoch=1)), PatchRoute(coarse, (16, 32, 32)), Supervised("dice_bce"),
              RunRecord(tmp_path / "coarse"))
    _marking(run.folder, "model.2.1.conv.unit0.conv.bias", 50.0)
    trained = load_trained(run.folder)
    assert trained.volume_spec["spacing_mm"] == list(coarse_mm) and trained.volume_spec["window"] == "mediastinal"
    mask = PatchInferer(trained)(native)
    assert mask.shape == native.shape
    # a network marking everything it sees marks the body's box on the coarse grid: on the scan, the same region
    inside = np.argwhere(mask.any(axis=0))
    rows, columns = coarse.boxes["SYNTH-003"].row0 * 2, coarse.boxes["SYNTH-003"].col0 * 2
    assert abs(int(inside[:, 0].min()) - rows) <= 2 and abs(int(inside[:, 1].min()) - columns) <= 2


def test_resampling_there_and_back_keeps_a_linear_field():
    from gtvlib.data.volumes import resample_to_shape

    z, y, x = np.indices((6, 20, 24)).astype(np.float32)
    field = 3 * y + 2 * x + z
    coarse = resample_to_shape(field, (1.0, 1.0, 1.0), (1.0, 2.0, 2.0), (6, 10, 12))
    back = resample_to_shape(coarse, (1.0, 2.0, 2.0), (1.0, 1.0, 1.0), field.shape)
    assert np.allclose(back[:, 2:-2, 2:-2], field[:, 2:-2, 2:-2], atol=1e-4)
