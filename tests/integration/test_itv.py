"""Integration tier of tests/unit/test_itv.py: the motion-resolved targets of a synthetic 4D-CT (gtvlib.itv, chapter 8)."""

import json

import numpy as np
import pytest

from gtvlib import itv


@pytest.fixture(scope="module")
def four_d_cohort(motion_cohort):
    """The shared motion cohort (SYNTH-001 and SYNTH-002 with a 10-phase 4D-CT) as a Cohort."""
    from gtvlib.data.cohort import Cohort
    from gtvlib.data.dicom.patient import load_patient

    ids = ["SYNTH-001", "SYNTH-002", "SYNTH-003"]
    return Cohort("synthetic", "the motion cohort", motion_cohort, ids, lambda pid, s: load_patient(motion_cohort / pid, structures=s))


@pytest.mark.slow
def test_motion_itvs_of_a_4d_ct(four_d_cohort):
    """Every phase segmented (here by a soft-tissue threshold as the "model": a 1×1×1 convolution), the machine ITV
    the union of its phases, the true ITV equal to the one written on the AVG, the MIP and physician ITVs around it."""
    import torch

    from gtvlib.chapters import ch08_motion_itv as iseg

    assert iseg.four_d_patients(four_d_cohort) == ["SYNTH-001", "SYNTH-002"]
    threshold = torch.nn.Conv3d(1, 1, 1)
    with torch.no_grad():  # mediastinal window [−160, 240] HU → [0, 1]; logit > 0 above −100 HU
        threshold.weight.fill_(1.0)
        threshold.bias.fill_(-0.15)
    habit = itv.ObserverHabit(margin_mm=5.0, variation_sd_mm=1.0)
    result = iseg.motion_itvs(four_d_cohort, "SYNTH-001", [threshold], "mediastinal", (16, 32, 32), 0.25, habit,
                              np.random.default_rng(0))
    row, masks = result["itv"], result["masks"]
    volumes = result["volumes"]  # ten phases, AVG and MIP: one frame of reference and one grid
    assert sorted(volumes) == sorted([*itv.PHASE_NAMES, "AVG", "MIP"])
    assert len({v.metadata["frame_of_reference_uid"] for v in volumes.values()}) == 1
    itv.check_phases(volumes, expected=(*itv.PHASE_NAMES, "AVG", "MIP"))
    assert [r["phase"] for r in result["phases"]] == list(itv.PHASE_NAMES)
    assert np.array_equal(masks["machine"], np.logical_or.reduce(result["machine_phases"]))
    assert np.array_equal(masks["true"], np.logical_or.reduce(result["true_phases"]))
    assert row["written_itv_dice"] > 0.95  # the RTSTRUCT ITV on the AVG, rasterised, is the union of the phases
    assert row["true_cm3"] > max(r["reference_cm3"] for r in result["phases"])  # motion enlarges the target
    covered = lambda mask: (mask & masks["true"]).sum() / masks["true"].sum()
    assert covered(masks["MIP"]) > 0.95 and covered(masks["physician"]) > 0.97  # both draw around the envelope
    assert row["MIP_sensitivity"] == pytest.approx(covered(masks["MIP"]), abs=1e-9)
    assert row["physician_cm3"] > row["true_cm3"] and row["machine_cm3"] > row["true_cm3"]  # a threshold takes more
    motion = json.loads((four_d_cohort.folder / "4d" / "SYNTH-001" / "motion.json").read_text())
    assert row["amplitude_mm"] == pytest.approx(np.linalg.norm([motion[k] for k in ("tumour_si_mm", "tumour_ap_mm", "tumour_lr_mm")]))
