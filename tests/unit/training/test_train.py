"""Training loops: outputs, resume equivalence, supervised mode, options, DDP with two gloo processes."""

import csv

import numpy as np
import pytest
import torch
import yaml

from gtvlib import train
from gtvlib.data import slices
from gtvlib.data.slices.dataset import SliceDataset
from gtvlib.runs import RunRecord
from gtvlib.training import Training, stopped_early
from gtvlib.training.config import FitConfig, learning_rate_schedule
from gtvlib.training.objectives import gan_step
from gtvlib.util.errors import GtvError

TRAIN, VAL = ["SYNTH-001", "SYNTH-002"], ["SYNTH-003"]
CROP = slices.Box(16, 16, 112, 112)
SPACING = (5.0, 3.5 * 96 / 64, 3.5 * 96 / 64)  # 96 px of 3.5 mm resized to 64 px


@pytest.fixture(scope="module")
def data(small_cohort, tmp_path_factory):
    return slices.prepared_from_parts(small_cohort, TRAIN, VAL, crop=CROP, size=64, cache_dir=tmp_path_factory.mktemp("cache"))


def gan(data, **settings):
    return Training.of("slices", data, "adversarial", **settings)


def supervised(data, **settings):
    return Training.of("slices", data, "supervised", **settings)


@pytest.fixture(autouse=True)
def batch_mode(monkeypatch):
    monkeypatch.setenv("GTVLIB_BATCH", "1")


def _rows(path):
    return list(csv.DictReader(path.open()))


def test_model_grid_spacing_is_recorded_per_patient(data):
    assert data.spacing_mm == {pid: SPACING for pid in TRAIN + VAL}


def test_objectives_are_chosen_by_name(data, tmp_path):
    run = supervised(data, epochs=1).fit(RunRecord(tmp_path / "sup"))
    assert "train_d_loss" not in _rows(run.folder / "epochs.csv")[0]
    options = gan(data, epochs=1, generator_every=5, betas=(0.5, 0.999), discriminator_input="logits")
    run = options.fit(RunRecord(tmp_path / "authors"))
    assert float(_rows(run.folder / "epochs.csv")[0]["train_d_loss"]) > 0
    with pytest.raises(GtvError, match="objective 'gans'; expected one of \\['adversarial', 'classification', 'supervised'\\]"):
        Training.of("slices", data, "gans").fit(RunRecord(tmp_path / "x"))
    with pytest.raises(GtvError, match="'generator' is no setting of the loop .*, the slices route or the adversarial objective"):
        gan(data, generator=5)
    with pytest.raises(GtvError, match="discriminator_input='logit'"):
        gan(data, discriminator_input="logit").fit(RunRecord(tmp_path / "y"))
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_run_folder_key(data, tmp_path):
    """The same settings find the same run (more epochs continue it); other settings or patients never mix."""
    base = gan(data, epochs=2, name="gtv_samgan").run_for(tmp_path).folder
    assert gan(data, epochs=40, device="cpu", name="gtv_samgan").run_for(tmp_path).folder == base
    assert gan(data, seed=1, name="gtv_samgan").run_for(tmp_path).folder != base
    assert supervised(data, name="gtv_samgan").run_for(tmp_path).folder != base
    swapped = slices.PreparedSlices(VAL, TRAIN, data.cache, data.crop, None, data.size)
    assert gan(swapped, epochs=2, name="gtv_samgan").run_for(tmp_path).folder != base
    assert base.parent == tmp_path and base.name.startswith("gtv_samgan-")


def test_wrong_input_size_is_refused(small_cohort, tmp_path):
    wrong = slices.prepared_from_parts(small_cohort, TRAIN, VAL, window="lung", size=32, cache_dir=tmp_path)
    with pytest.raises(GtvError, match="takes 64 × 64"):
        gan(wrong, epochs=1).fit(RunRecord(tmp_path / "x"))


def test_gan_step_updates_both_networks_and_skips_the_generator_when_told(data):
    from gtvlib.models import build_model
    from gtvlib.models.discriminator import Discriminator

    torch.manual_seed(0)
    model, judge = build_model("sam_med2d_tiny"), Discriminator(64)
    optimizer_g, optimizer_d = torch.optim.Adam(model.parameters(), lr=1e-3), torch.optim.Adam(judge.parameters(), lr=1e-3)
    four = SliceDataset(data.cache, data.pairs("training")[:4], box_jitter_px=0)
    batch = next(iter(torch.utils.data.DataLoader(four, batch_size=4)))
    before_g = model.mask_decoder.iou_token.weight.detach().clone()
    before_d = judge.net[1].weight.detach().clone()
    loss_g, loss_d = gan_step(model, judge, optimizer_g, optimizer_d, batch["image"], batch["label"], batch["box"],
                                    update_generator=False)
    assert loss_g is None and 0 <= loss_d <= 2  # 1 − D(real) + D(fake) with D in (0, 1)
    assert torch.equal(model.mask_decoder.iou_token.weight, before_g) and not torch.equal(judge.net[1].weight, before_d)
    loss_g, _ = gan_step(model, judge, optimizer_g, optimizer_d, batch["image"], batch["label"], batch["box"])
    assert loss_g > 0 and not torch.equal(model.mask_decoder.iou_token.weight, before_g)


def test_train_command_refuses_unknown_or_missing_settings(tmp_path):
    data = {"cohort": "c", "training_patients": ["A"], "validation_patients": ["B"]}
    complete = {"route": {"kind": "slices"}, "objective": {"kind": "adversarial"}, "data": data}
    cases = [({**complete, "config": {"epoch": 2}}, r"run\.yaml: config: .*'epoch'.*expected fields of FitConfig"),
             ({"config": {"epochs": 2}}, r"run\.yaml: \['route', 'objective', 'data'\] missing"),
             ({**complete, "config": {}, "route": {"kind": "voxels"}}, r"route kind 'voxels'; expected one of \['patches', 'slices', 'stacks'\]"),
             ({**complete, "config": {}, "route": {"kind": "slices", "patch": [8, 8, 8]}},
              r"route 'slices': \['patch'\] are not its options"),
             ({**complete, "config": {}, "objective": {"kind": "gan"}}, r"objective kind 'gan'; expected one of"),
             ({**complete, "config": {}, "objective": {"kind": "adversarial", "generator": 5}}, r"objective 'adversarial': .*'generator'"),
             ({**complete, "config": {}, "data": {"cohort": "c"}}, r"data: \['training_patients', 'validation_patients'\] missing")]
    for content, expected in cases:
        (tmp_path / "run.yaml").write_text(yaml.safe_dump(content))
        with pytest.raises(GtvError, match=expected):
            train.main(["--config", str(tmp_path / "run.yaml")])


def test_resuming_another_mode_or_a_damaged_checkpoint_is_refused(data, tmp_path):
    run = supervised(data, epochs=1).fit(RunRecord(tmp_path / "run"))
    with pytest.raises(GtvError, match=r"this run was trained by 'slices/supervised'; continuing it by 'slices/adversarial'"):
        gan(data, epochs=2).fit(RunRecord(run.folder))
    checkpoint = run.checkpoint_path()
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(GtvError, match=r"epoch_001\.pt: unreadable checkpoint .*delete it to resume from the epoch before"):
        supervised(data, epochs=2).fit(RunRecord(run.folder))


def test_augmentation_is_seeded_and_keeps_box_and_label_together(data):
    from gtvlib.prompts import box_from_mask

    pairs = data.pairs("training")[:12]
    dataset = SliceDataset(data.cache, pairs, seed=1, augment=True, box_jitter_px=0)
    seen = set()
    for index in range(len(pairs)):
        item = dataset[index]
        label = item["label"][0].numpy().astype(bool)
        assert torch.equal(item["box"], torch.from_numpy(box_from_mask(label)))
        assert label.sum() == np.asarray(data.cache.load(pairs[index][0])[1][pairs[index][1]]).sum()  # a flip keeps the area
        assert torch.equal(dataset[index]["image"], item["image"])  # same (seed, epoch, index): same transform
        original = np.asarray(data.cache.load(pairs[index][0])[0][pairs[index][1]], np.float32)
        seen.add(item["image"][0].numpy().tobytes() == original.tobytes())
    assert seen == {True, False}  # some slices transformed, some not
    dataset.set_epoch(1)
    assert any(not torch.equal(dataset[i]["image"], SliceDataset(data.cache, pairs, seed=1, augment=True)[i]["image"])
               for i in range(len(pairs)))  # another epoch draws other transforms


def test_train_encoder_option(data, tmp_path):
    with pytest.raises(GtvError, match="train_encoder='some'"):
        gan(data, epochs=1, train_encoder="some").fit(RunRecord(tmp_path / "x"))
    run = supervised(data, epochs=1, train_encoder="all").fit(RunRecord(tmp_path / "all"))
    state = torch.load(run.checkpoint_path(), weights_only=True)
    torch.manual_seed(0)
    from gtvlib.models import build_model

    initial = build_model("sam_med2d_tiny").state_dict()
    key = "image_encoder.blocks.0.attn.qkv.weight"
    assert not torch.equal(state["model"][key], initial[key])


def test_named_weights_that_are_absent_say_where_to_place_them(data, tmp_path, monkeypatch):
    monkeypatch.setenv("GTVLIB_DATA", str(tmp_path / "data"))
    with pytest.raises(GtvError, match=r"weights 'sam_med2d_b' not found at .*data/weights/sam-med2d_b\.pth: place the file"):
        gan(data, epochs=1, init_from="sam_med2d_b").fit(RunRecord(tmp_path / "w"))


@pytest.mark.parametrize(("content", "expected"), [
    ("random bytes", r"weights\.pth: not a readable torch checkpoint"),
    ("wrong shapes", r"weights\.pth: .*cannot be resized: \['"),
])
def test_training_from_weights_that_do_not_fit_is_refused_before_any_epoch(data, tmp_path, content, expected):
    from gtvlib.models import build_model

    path = tmp_path / "weights.pth"
    if content == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    else:  # every tensor of the architecture, each of a shape it cannot take (another model's file)
        torch.save({"model": {name: torch.zeros(7, 3, 5) for name in build_model("sam_med2d_tiny").state_dict()}}, path)
    run = RunRecord(tmp_path / "run")
    with pytest.raises(GtvError, match=expected):
        gan(data, epochs=1, init_from=str(path)).fit(run)
    assert not any(p.is_file() for p in (tmp_path / "run").rglob("*"))  # no record, no checkpoint of a run that never began


HCF = dict(model="sanet_w16", loss="cr", balance="theta1", optimizer="adamw", weight_decay=1.0e-4,
           schedule="warm_restarts", restart_epochs=1, validation_slices="all", lr=1.0e-3, batch_size=4, augment=False)


def test_warm_restarts_schedule_and_early_stopping(data, tmp_path):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = learning_rate_schedule(optimizer, FitConfig(schedule="warm_restarts", restart_epochs=2), 3)
    rates = []
    for _ in range(12):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == rates[6] == 1.0 and rates[3] == pytest.approx(0.5) and rates[5] < rates[4] < rates[3]  # restarts every 6 steps
    run = RunRecord(tmp_path / "stopping")
    run.folder.mkdir(parents=True)
    (run.folder / "epochs.csv").write_text("epoch,val_patient_dice\n1,0.5\n2,0.7\n3,0.6\n4,0.65\n")
    assert stopped_early(run, 2) and not stopped_early(run, 3) and not stopped_early(run, 0)


def test_hcf_options_are_checked(data, tmp_path):
    for field, value, message in [("loss", "hinge", r"loss='hinge'; expected one of \['generator', 'dice', 'ce', 'focal', 'dice_ce', 'cr', "
                                                    r"'dice_bce', 'dice_bce_per_sample'\]"),
                                  ("optimizer", "rmsprop", "optimizer='rmsprop'; expected one of"),
                                  ("validation_slices", "some", "validation_slices='some'; expected one of")]:
        with pytest.raises(GtvError, match=message):
            supervised(data, **{**HCF, field: value}).fit(RunRecord(tmp_path / field))
    with pytest.raises(GtvError, match="balance='theta1' with sam_med2d_tiny, which needs a box on every slice"):
        gan(data, balance="theta1").fit(RunRecord(tmp_path / "sam"))
    # an option at its default leaves the run's key as it was before the option existed
    assert gan(data, epochs=2, patience=0).run_for(tmp_path).folder == gan(data, epochs=2).run_for(tmp_path).folder
    assert gan(data, epochs=2, patience=5).run_for(tmp_path).folder != gan(data, epochs=2).run_for(tmp_path).folder


def test_the_slice_classifier_trains_validates_by_recall_and_resumes_exactly(data, tmp_path):
    from gtvlib.models.trained import load_trained
    from gtvlib.segment import predict_on_scan

    options = dict(model="hcf_classifier_w16", balance="theta1", optimizer="adamw", weight_decay=1.0e-4,
                   lr=1.0e-3, batch_size=8)
    classifier = lambda **changes: Training.of("slices", data, "classification", **{**options, **changes})
    whole = classifier(epochs=2).fit(RunRecord(tmp_path / "whole"))
    first = classifier(epochs=1).fit(RunRecord(tmp_path / "parts"))
    resumed = classifier(epochs=2).fit(RunRecord(first.folder))
    rows = _rows(whole.folder / "epochs.csv")
    assert rows[-1]["train_loss"] == _rows(resumed.folder / "epochs.csv")[-1]["train_loss"]
    assert {"val_slice_recall", "val_slice_precision", "val_slice_accuracy", "val_slice_f1"} <= set(rows[0])
    patient = whole.per_patient()
    truth = data.cache.has_tumour("SYNTH-003")
    assert patient.patient.tolist() == ["SYNTH-003"] and patient.tumour_slices[0] == truth.sum()
    assert 0 <= float(rows[-1]["val_slice_accuracy"]) <= 1
    with pytest.raises(GtvError, match="model 'hcf_classifier_w16' is a slice classifier; expected the SliceClassification"):
        supervised(data, **options).fit(RunRecord(tmp_path / "wrong"))
    hcf_options = {k: v for k, v in HCF.items() if k not in ("loss", "validation_slices")}
    with pytest.raises(GtvError, match="model 'sanet_w16' is a segmentation model; the classification objective trains a slice"):
        classifier(**hcf_options).fit(RunRecord(tmp_path / "wrong2"))
    from gtvlib.data.dicom.patient import load_patient

    with pytest.raises(GtvError, match="hcf_classifier_w16 is a slice classification model"):
        predict_on_scan(load_trained(whole.folder), load_patient(data.cache.cohort / "SYNTH-003"))
