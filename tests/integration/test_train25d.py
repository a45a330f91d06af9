"""The 2.5-D PET/CT route (the stack route of gtvlib.training, gtvlib.data.petct): batches of slices with their neighbours, training with exact resume,
whole-volume validation in 3-D, and the transfer arm: a GTV run's weights as the start of an IGTV run."""

import copy
import csv
import shutil

import numpy as np
import pytest
import torch

from gtvlib.data.petct import PetCtSet, sample_stacks, stack_25d
from gtvlib.inference.inferers import predict_stacks
from gtvlib.models import build_model, model_spec
from gtvlib.models.trained import load_run
from gtvlib.training import Training
from gtvlib.util.errors import GtvError

pytestmark = pytest.mark.slow  # an integration module: every test here is of the slow tier


@pytest.fixture(scope="module")
def petct_folder(motion_cohort):
    return motion_cohort  # three patients with a PET


@pytest.fixture(scope="module")
def petct(petct_folder):
    from gtvlib.data.cohort import Cohort
    from gtvlib.data.dicom.patient import load_patient
    from gtvlib.data.petct import load_petct

    folder = petct_folder
    ids = ["SYNTH-001", "SYNTH-002", "SYNTH-003"]
    cohort = Cohort("synthetic", "three PET/CT patients", folder, ids, lambda pid, s: load_patient(folder / pid, structures=s))
    return PetCtSet({pid: load_petct(cohort, pid) for pid in ids}, ids[:2], ids[2:], "three PET/CT patients")


SMALL = dict(model="igtv_small", patch_px=32, epochs=2, steps_per_epoch=2, batch_size=2, device="cpu", keep_checkpoints=0)
LOOP = dict(model="igtv_small", epochs=10, steps_per_epoch=20, batch_size=8, lr=1.0e-3, optimizer="adamw", weight_decay=1.0e-4,
            schedule="cosine", keep_checkpoints=1)  # chapter 9's loop settings


def stacks(data, **settings):
    """The stack route's training of ``data`` with Dice + BCE and chapter 9's loop settings, changed by ``settings``."""
    return Training.of("stacks", data, "supervised", loss="dice_bce", **{**LOOP, **settings})


def sample(data, rng, batch_size: int, model: str = "igtv_small", **route):
    settings = model_spec(model).settings
    return sample_stacks(data, rng, batch_size, settings["slices"], settings["modalities"], **route)


def predict(model, case, name: str = "igtv_small", window: str = "mediastinal", suv_scale: float = 10.0):
    return predict_stacks(model, case, model_spec(name).settings, window, suv_scale)


def load(folder):
    """(network, the record's route settings) of a PET/CT run."""
    trained = load_run(folder, route="stacks", what="a 2.5-D PET/CT run")
    return trained.model, trained.route


def test_batches_hold_slices_with_their_neighbours(petct):
    inputs, labels = sample(petct, np.random.default_rng(0), 16, foreground_fraction=1.0)
    shape = petct.cases["SYNTH-001"].ct_hu.shape[1:]
    assert inputs.shape == (16, 2, 3, *shape) and labels.shape == (16, 1, *shape)
    assert labels.reshape(16, -1).any(axis=1).all()  # foreground fraction 1: every middle slice holds IGTV
    inputs, labels = sample(petct, np.random.default_rng(0), 16, "igtv_ct_small", foreground_fraction=1.0, patch_px=32)
    assert inputs.shape == (16, 1, 3, 32, 32) and labels.shape == (16, 1, 32, 32)  # CT only, 32² crops
    assert labels[:, 0, 16, 16].mean() > 0.5  # centred on an IGTV pixel unless clamped at the slice's edge
    assert labels.reshape(16, -1).any(axis=1).all()
    inputs, labels = sample(petct, np.random.default_rng(1), 16, foreground_fraction=0.0, patch_px=32)
    assert (inputs[:, 1, 1].reshape(16, -1) > 0).mean(axis=1).min() > 0.05  # centred on body: every crop holds tissue


def test_training_resumes_exactly_and_validates_in_3d(petct, tmp_path):
    from gtvlib.runs import RunRecord

    config = stacks(petct, **SMALL)
    whole = config.fit(config.run_for(tmp_path / "whole"))
    shutil.copytree(whole.folder, tmp_path / "cut")
    cut = RunRecord(tmp_path / "cut")
    cut.checkpoints()[-1].unlink()
    resumed = config.fit(cut)
    rows = lambda run: [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(open(run.folder / "epochs.csv"))]
    assert rows(whole) == rows(resumed) and len(rows(whole)) == 2
    patient = whole.per_patient()
    case = petct.cases["SYNTH-003"]
    assert patient.patient.tolist() == ["SYNTH-003"]
    assert patient.reference_cm3[0] == pytest.approx(case.igtv.sum() * np.prod(case.spacing_mm) / 1000)


def test_a_gtv_run_starts_the_igtv_run(petct, tmp_path):
    import torch

    from gtvlib.models.checkpoints import load_checkpoint

    gtv_training = stacks(petct, name="gtv", target="gtv", **SMALL)
    gtv = gtv_training.fit(gtv_training.run_for(tmp_path))
    start = build_model("igtv_small")
    report = load_checkpoint(start, gtv.checkpoint_path())
    assert report.loaded == len(start.state_dict()) and not report.missing
    igtv_config = stacks(petct, init_from=str(gtv.checkpoint_path()), **dict(SMALL, epochs=1))
    igtv = igtv_config.fit(igtv_config.run_for(tmp_path))
    scratch_config = stacks(petct, **dict(SMALL, epochs=1))
    scratch = scratch_config.fit(scratch_config.run_for(tmp_path))
    assert igtv.folder != scratch.folder  # the starting weights are part of the run's key
    after_transfer, after_scratch = (build_model("igtv_small") for _ in range(2))
    igtv.restore(after_transfer)
    scratch.restore(after_scratch)
    assert not torch.equal(after_transfer.head.weight, after_scratch.head.weight)
    with pytest.raises(GtvError, match="target='itv'; expected one of"):
        stacks(petct, target="itv").fit(run=object())
    with pytest.raises(GtvError, match=r"patch_px=36; expected a multiple of 8 from 8 to the smallest slice side \(128 px\)"):
        stacks(petct, patch_px=36).fit(run=object())
    with pytest.raises(GtvError, match="model 'unet3d' is a volume segmentation model; expected a 2.5-D PET/CT"):
        stacks(petct, model="unet3d").fit(run=object())


def test_a_crop_trained_network_predicts_whole_slices_within_the_body_box(petct):
    import torch

    from gtvlib.data.slices.boxes import body_box

    torch.manual_seed(0)
    model = build_model("igtv_plain_small").eval()
    with torch.no_grad():
        model.head.bias.fill_(5.0)  # a network that marks every pixel it sees
    case = petct.cases["SYNTH-003"]
    mask = predict(model, case, "igtv_plain_small")
    box = body_box(case.ct_hu, margin_px=4)
    inside = np.zeros(case.ct_hu.shape, bool)
    inside[:, box.row0:box.row1, box.col0:box.col1] = True
    assert mask.shape == case.ct_hu.shape and box.height % 8 and mask[:, ~inside[0]].sum() == 0
    torch.manual_seed(1)
    random = build_model("igtv_plain_small").eval()
    z = int(np.nonzero(case.igtv.any(axis=(1, 2)))[0][0])
    settings = model_spec("igtv_plain_small").settings
    full = stack_25d(case, z, settings["slices"], tuple(settings["modalities"]))[..., box.row0:box.row1, box.col0:box.col1]
    height, width = -(-box.height // 8) * 8, -(-box.width // 8) * 8
    padded = np.zeros((*full.shape[:2], height, width), np.float32)
    padded[..., :box.height, :box.width] = full
    with torch.no_grad():
        direct = random(torch.from_numpy(padded)[None])[0, 0].numpy()[:box.height, :box.width] > 0
    assert np.array_equal(predict(random, case, "igtv_plain_small")[z, box.row0:box.row1, box.col0:box.col1], direct)


def test_cross_validation_trains_and_reuses_petct_folds(petct, tmp_path):
    from gtvlib import crossval

    ids = sorted(petct.cases)
    folds = crossval.fold_data(PetCtSet(petct.cases, ids, [], "three PET/CT patients"), 3, seed=0)
    assert sorted(pid for fold in folds for pid in fold.validation_ids) == ids
    jobs = [crossval.Job("igtv_small", 0, stacks(folds[0], **dict(SMALL, epochs=1, steps_per_epoch=1)))]
    first = crossval.train_jobs(jobs, tmp_path, show_progress=False)
    again = crossval.train_jobs(jobs, tmp_path, show_progress=False)
    assert first.status.tolist() == ["trained"] and again.status.tolist() == ["reused"]
    assert first.run[0] == again.run[0] and (tmp_path / first.run[0]).is_dir()


def test_a_run_loads_back_and_scores_as_an_ablation_arm(petct, tmp_path):
    import torch

    from gtvlib.chapters import ch09_petct_igtv as igtv

    config = stacks(petct, **dict(SMALL, epochs=1, keep_checkpoints=1))
    run = config.fit(config.run_for(tmp_path))
    model, route = load(run.folder)
    assert route == {"kind": "stacks", **config.route.settings()}
    trained = build_model("igtv_small")
    run.restore(trained)
    case = petct.cases["SYNTH-003"]
    assert np.array_equal(predict(model, case, window=route["window"], suv_scale=route["suv_scale"]), predict(trained, case))
    scores = igtv.arm_scores({"arm": run.folder})
    assert scores.patient.tolist() == ["SYNTH-003"] and scores.dice[0] == pytest.approx(run.per_patient().dice[0])
    clicked = igtv.clicked_scores(run.folder, {"SYNTH-003": case}, "arm at the click")
    assert clicked.predicted_cm3[0] <= scores.predicted_cm3[0] + 1e-9  # one component of the same mask
    transfer = igtv.transfer_config(config, run.folder, "_small")
    assert transfer.config.init_from == str(run.checkpoint_path()) and transfer.route.target == "igtv"
    references = igtv.reference_scores({"SYNTH-003": case})
    assert references.arm.tolist() == ["40% of SUVmax from a click (no training)", "SUV ≥ 2.5 (no training)"]
    assert references.dice[0] > 0.3  # the click-grown region finds the lesion of a real synthetic PET
    with pytest.raises(GtvError, match="not a 2.5-D PET/CT run"):
        (tmp_path / "fake").mkdir()
        (tmp_path / "fake" / "params.yaml").write_text("config:\n  mode: volume\n")
        load(tmp_path / "fake")
    assert torch.equal(model.head.weight, trained.head.weight)


def test_the_arms_train_in_two_rounds_the_transfer_arm_from_the_pretraining(petct, tmp_path):
    import yaml

    from gtvlib.chapters import ch09_petct_igtv as igtv

    base = stacks(petct, **dict(SMALL, epochs=1, steps_per_epoch=1, keep_checkpoints=1))
    trained = igtv.train_arms(base, "_small", mamba=False, root=tmp_path, workers=1)
    assert trained.label.tolist()[:3] == list(igtv.FIRST_STAGE) and trained.label.tolist()[-1] == igtv.TRANSFER
    assert set(trained.label) == (set(igtv.ARMS) - {"PET/CT + SIM, Mamba branch"}) | {igtv.PRETRAINING}
    assert set(trained.status) == {"trained"}
    runs = dict(zip(trained.label, trained.run))
    transfer = yaml.safe_load(open(f"{runs[igtv.TRANSFER]}/params.yaml"))
    assert transfer["config"]["init_from"].startswith(runs[igtv.PRETRAINING]) and transfer["route"]["target"] == "igtv"
    assert set(igtv.train_arms(base, "_small", mamba=False, root=tmp_path, workers=1).status) == {"reused"}


def test_the_command_trains_a_petct_network_and_its_record_loads_back(petct_folder, tmp_path, monkeypatch):
    """``python -m gtvlib.train --config`` on the stack route: the PET/CT cases read from the cohort folder, the run
    recorded by route and objective, loaded back with its route's settings."""
    import yaml

    from gtvlib.train import main

    monkeypatch.setenv("GTVLIB_BATCH", "1")
    spec = {"run_dir": str(tmp_path / "cli"),
            "config": {"model": "igtv_small", "epochs": 1, "steps_per_epoch": 2, "batch_size": 2, "optimizer": "adamw",
                       "weight_decay": 1.0e-4, "lr": 1.0e-3, "schedule": "cosine", "device": "cpu"},
            "route": {"kind": "stacks", "target": "igtv", "patch_px": 32},
            "objective": {"kind": "supervised", "loss": "dice_bce"},
            "data": {"cohort": str(petct_folder), "training_patients": ["SYNTH-001", "SYNTH-002"],
                     "validation_patients": ["SYNTH-003"]}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(spec))
    assert main(["--config", str(tmp_path / "run.yaml")]) == 0
    params = yaml.safe_load((tmp_path / "cli/params.yaml").read_text())
    assert params["method"] == "stacks/supervised" and params["route"]["patch_px"] == 32
    rows = list(csv.DictReader((tmp_path / "cli/per_patient.csv").open()))
    assert [r["patient"] for r in rows] == ["SYNTH-003"] and 0 <= float(rows[0]["dice"]) <= 1
    model, route = load(tmp_path / "cli")
    assert route["patch_px"] == 32 and route["target"] == "igtv" and not model.training


def test_segment_exports_a_petct_run_with_its_pet(petct, petct_folder, tmp_path):
    """``python -m gtvlib.segment --pet``: the PET series put on the CT's grid, every slice predicted within the body's
    box; the IGTV-auto SEG holds exactly what the network predicts on the chapter's case, and dciodvfy accepts the
    exports; without the PET the network is refused."""
    import json
    import os
    import subprocess
    import sys

    import torch

    from gtvlib.data.dicom.conformance import find_dciodvfy, verify_dicom
    from gtvlib.data.dicom.seg import load_seg_masks
    from gtvlib.data.dicom.series import load_ct_series
    from gtvlib.runs import RunRecord
    from gtvlib.segment import segment_study
    from gtvlib.segment.export import IGTV_ROI_NAME, output_files

    run = stacks(petct, **dict(SMALL, epochs=1, steps_per_epoch=1)).fit(RunRecord(tmp_path / "run"))
    state = torch.load(run.checkpoint_path(), weights_only=True)
    state["model"]["head.bias"] += 5.0  # a network that marks what it sees within the body's box: an export needs a mask
    torch.save(state, run.checkpoint_path())
    out, files = tmp_path / "out", output_files(IGTV_ROI_NAME)
    done = subprocess.run([sys.executable, "-m", "gtvlib.segment", str(petct_folder / "SYNTH-003"), "--out", str(out),
                           "--model", str(run.folder), "--pet", str(petct_folder / "pet" / "SYNTH-003" / "PT")],
                          capture_output=True, text=True, env={**os.environ, "GTVLIB_BATCH": "1"})
    assert done.returncode == 0, done.stderr
    assert "PET: " in done.stdout and sorted(p.name for p in out.iterdir()) == sorted(files.values())
    model, _ = load(run.folder)
    expected = predict(model, petct.cases["SYNTH-003"])
    exported = load_seg_masks(out / files["seg"], load_ct_series(petct_folder / "SYNTH-003" / "CT"))[IGTV_ROI_NAME]
    assert expected.any() and np.array_equal(exported, expected)
    assert json.loads((out / files["summary"]).read_text())["roi"] == IGTV_ROI_NAME
    if find_dciodvfy():
        assert [verify_dicom(out / files[k]).errors for k in ("rtstruct", "seg")] == [[], []]
    with pytest.raises(GtvError, match="reads PET and CT; give the PET series"):
        segment_study(petct_folder / "SYNTH-003", tmp_path / "x", run.folder, verbose=False)
    assert not (tmp_path / "x").exists()


def test_two_processes_train_the_stack_route_as_one_process_does(petct_folder, tmp_path, monkeypatch):
    """DDP on the 2.5-D PET/CT route: each rank takes its share of every global batch; the network's batch
    normalisation pools its statistics over the ranks (gtvlib.training.sync_norm: torch's SyncBatchNorm needs a GPU),
    and the loss is the mean of its samples' losses, so two gloo processes end with the weights and running
    statistics of one process on the whole batch, to float rounding."""
    import os
    import subprocess
    import sys

    import yaml

    from gtvlib.train import main

    monkeypatch.setenv("GTVLIB_BATCH", "1")
    spec = {"run_dir": str(tmp_path / "ddp"),
            "config": {"model": "igtv_small", "epochs": 2, "steps_per_epoch": 2, "batch_size": 4, "optimizer": "sgd",
                       "lr": 1.0e-2, "schedule": "cosine", "device": "cpu", "keep_checkpoints": 0},
            "route": {"kind": "stacks", "target": "igtv", "patch_px": 32},
            "objective": {"kind": "supervised", "loss": "dice_bce_per_sample"},
            "data": {"cohort": str(petct_folder), "training_patients": ["SYNTH-001", "SYNTH-002"],
                     "validation_patients": ["SYNTH-003"]}}
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "one.yaml").write_text(yaml.safe_dump({**spec, "run_dir": str(tmp_path / "one")}))
    env = dict(os.environ, GTVLIB_BATCH="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29547",
                           "-m", "gtvlib.train", "--config", str(tmp_path / "two.yaml")], capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank: the same float reductions
    try:
        assert main(["--config", str(tmp_path / "one.yaml")]) == 0
    finally:
        torch.set_num_threads(threads)
    rows = list(csv.DictReader((tmp_path / "ddp" / "epochs.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and 0 <= float(rows[-1]["val_patient_dice"]) <= 1
    assert yaml.safe_load((tmp_path / "ddp" / "params.yaml").read_text())["method"] == "stacks/supervised"
    final = {name: torch.load(tmp_path / name / "checkpoints" / "epoch_002.pt", weights_only=True)["model"]
             for name in ("ddp", "one")}
    assert any("running_var" in k for k in final["one"])  # the network normalises by batch statistics
    far = {k: float((final["ddp"][k].double() - final["one"][k].double()).abs().max()) for k in final["one"]}
    assert max(far.values()) < 1e-4, sorted(far.items(), key=lambda kv: -kv[1])[:3]
    first = torch.load(tmp_path / "ddp" / "checkpoints" / "epoch_001.pt", weights_only=True)["model"]
    assert any(not torch.equal(first[k], final["ddp"][k]) for k in first if k.endswith("weight"))  # the weights moved


def test_global_batch_norm_is_batch_norm_in_one_process():
    """Without a process group the pooled layer is the plain one: the same output and running statistics."""
    from gtvlib.training.sync_norm import GlobalBatchNorm, synchronise_batch_norm

    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))
    pooled = synchronise_batch_norm(copy.deepcopy(plain), "cpu")
    assert isinstance(pooled[1], GlobalBatchNorm) and set(pooled.state_dict()) == set(plain.state_dict())
    x = torch.randn(4, 2, 8, 8)
    assert torch.equal(plain(x), pooled(x))
    assert torch.equal(plain[1].running_var, pooled[1].running_var)
