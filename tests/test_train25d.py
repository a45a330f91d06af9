"""The 2.5-D PET/CT route (gtvlib.train25d): batches of slices with their neighbours, training with exact resume,
whole-volume validation in 3-D, and the transfer arm: a GTV run's weights as the start of an IGTV run."""

import csv
import shutil

import numpy as np
import pytest

from gtvlib import train25d
from gtvlib.errors import GtvError


@pytest.fixture(scope="module")
def petct(tmp_path_factory):
    from gtvlib.data.cohort import Cohort
    from gtvlib.data.dicom.patient import load_patient
    from gtvlib.data.petct import load_petct
    from gtvlib.data.synthetic import generate_cohort

    folder = generate_cohort(tmp_path_factory.mktemp("petct") / "c", "quick", seed=9, patients=3, pet_patients=3, workers=1)
    ids = ["SYNTH-001", "SYNTH-002", "SYNTH-003"]
    cohort = Cohort("synthetic", "three PET/CT patients", folder, ids, lambda pid, s: load_patient(folder / pid, structures=s))
    return train25d.PetCtSet({pid: load_petct(cohort, pid) for pid in ids}, ids[:2], ids[2:], "three PET/CT patients")


SMALL = dict(widths=(8, 16), epochs=2, steps_per_epoch=2, batch_size=2, device="cpu", keep_checkpoints=0)


def test_batches_hold_slices_with_their_neighbours(petct):
    config = train25d.PetCtConfig(batch_size=16, foreground_fraction=1.0, slices=5)
    inputs, labels = train25d.sample_batch(petct, config, np.random.default_rng(0))
    shape = petct.cases["SYNTH-001"].ct_hu.shape[1:]
    assert inputs.shape == (16, 2, 5, *shape) and labels.shape == (16, 1, *shape)
    assert labels.reshape(16, -1).any(axis=1).all()  # foreground fraction 1: every middle slice holds IGTV
    ct_only = train25d.PetCtConfig(batch_size=4, modalities=("CT",))
    assert train25d.sample_batch(petct, ct_only, np.random.default_rng(0))[0].shape[1] == 1


def test_training_resumes_exactly_and_validates_in_3d(petct, tmp_path):
    from gtvlib.runs import RunRecord

    config = train25d.PetCtConfig(**SMALL)
    whole = train25d.train_petct(config, petct, train25d.run_for(config, petct, tmp_path / "whole"))
    shutil.copytree(whole.folder, tmp_path / "cut")
    cut = RunRecord(tmp_path / "cut")
    cut.checkpoints()[-1].unlink()
    resumed = train25d.train_petct(config, petct, cut)
    rows = lambda run: [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(open(run.folder / "epochs.csv"))]
    assert rows(whole) == rows(resumed) and len(rows(whole)) == 2
    patient = whole.per_patient()
    case = petct.cases["SYNTH-003"]
    assert patient.patient.tolist() == ["SYNTH-003"]
    assert patient.reference_cm3[0] == pytest.approx(case.igtv.sum() * np.prod(case.spacing_mm) / 1000)


def test_a_gtv_run_starts_the_igtv_run(petct, tmp_path):
    import torch

    from gtvlib.models.checkpoints import load_checkpoint

    gtv = train25d.train_petct(train25d.PetCtConfig(name="gtv", target="gtv", **SMALL), petct,
                               train25d.run_for(train25d.PetCtConfig(name="gtv", target="gtv", **SMALL), petct, tmp_path))
    start = train25d.build_network(train25d.PetCtConfig(**SMALL))
    report = load_checkpoint(start, gtv.checkpoint_path())
    assert report.loaded == len(start.state_dict()) and not report.missing
    igtv_config = train25d.PetCtConfig(init_from=str(gtv.checkpoint_path()), **dict(SMALL, epochs=1))
    igtv = train25d.train_petct(igtv_config, petct, train25d.run_for(igtv_config, petct, tmp_path))
    scratch_config = train25d.PetCtConfig(**dict(SMALL, epochs=1))
    scratch = train25d.train_petct(scratch_config, petct, train25d.run_for(scratch_config, petct, tmp_path))
    assert igtv.folder != scratch.folder  # the starting weights are part of the run's key
    after_transfer, after_scratch = (train25d.build_network(scratch_config) for _ in range(2))
    igtv.restore(after_transfer)
    scratch.restore(after_scratch)
    assert not torch.equal(after_transfer.head.weight, after_scratch.head.weight)
    with pytest.raises(GtvError, match="target='itv'; expected one of"):
        train25d.train_petct(train25d.PetCtConfig(target="itv"), petct, run=object())
