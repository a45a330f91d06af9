"""Synthetic 4D-CT: breathing model, phases, MIP/AVG, per-phase GTVs and the ITV."""

import json

import numpy as np
import pydicom
import pytest

from gtvlib.data import synthetic
from gtvlib.data.dicom.patient import load_patient
from gtvlib.data.synthetic import fourd, motion
from gtvlib.util.errors import GtvError

pytestmark = pytest.mark.slow  # an integration module: every test here is of the slow tier


@pytest.fixture(scope="module")
def cohort_4d(motion_cohort):
    return motion_cohort  # SYNTH-001 and SYNTH-002 have a 4D-CT


def test_breathing_model():
    amplitudes = {"tumour_si_mm": 12.0, "tumour_ap_mm": 3.0, "tumour_lr_mm": -2.0, "hysteresis": 0.08}
    inhale, exhale = motion.tumour_displacement(amplitudes, 0.0), motion.tumour_displacement(amplitudes, 0.5)
    assert inhale[2] == pytest.approx(-12.0) and inhale[0] == pytest.approx(-2.0)  # inferior and lateral at end-inhale
    assert exhale[2] == pytest.approx(0.0, abs=1e-12) and exhale[0] == pytest.approx(0.0, abs=1e-12)
    si = [motion.breathing_state(k / 10) for k in range(10)]
    assert si[0] == 1.0 and min(si) == si[5] and si[3] == pytest.approx(si[7])  # symmetric in SI
    ap_in, ap_out = motion.tumour_displacement(amplitudes, 0.3)[1], motion.tumour_displacement(amplitudes, 0.7)[1]
    assert ap_in != pytest.approx(ap_out)  # hysteresis: AP differs between inhale and exhale at equal SI
    rng = np.random.default_rng(0)
    lower = [motion.sample_motion(rng, "lower", "right")["tumour_si_mm"] for _ in range(500)]
    upper = [motion.sample_motion(rng, "upper", "right")["tumour_si_mm"] for _ in range(500)]
    assert 5 <= min(lower) and max(lower) <= 20 and max(upper) <= 8 and np.mean(lower) > np.mean(upper)


def test_phases_share_one_frame_and_move(cohort_4d):
    volumes = fourd.load_4d(cohort_4d / "4d" / "SYNTH-001")
    assert set(volumes) == {f"phase_{10 * k:02d}" for k in range(10)} | {"AVG", "MIP"}
    series = {v.metadata["series_instance_uid"] for v in volumes.values()}
    assert len(series) == 12
    recorded = json.loads((cohort_4d / "4d" / "SYNTH-001" / "motion.json").read_text())
    dz = volumes["phase_00"].spacing_mm[0]
    centroid = {k: np.nonzero(v.masks["GTV-1"])[0].mean() * dz for k, v in volumes.items() if k.startswith("phase")}
    assert centroid["phase_00"] == min(centroid.values())  # end-inhale: most inferior
    assert centroid["phase_50"] - centroid["phase_00"] == pytest.approx(recorded["tumour_si_mm"], abs=dz / 2)
    planning = load_patient(cohort_4d / "SYNTH-001").masks["GTV-1"]
    np.testing.assert_array_equal(volumes["phase_50"].masks["GTV-1"], planning)  # end-exhale = the planning position
    ct = pydicom.dcmread(next((cohort_4d / "4d" / "SYNTH-001" / "phase_00" / "CT").iterdir()))
    assert "end-inhale" in ct.SeriesDescription


def test_mip_avg_and_itv(cohort_4d):
    folder = cohort_4d / "4d" / "SYNTH-001"
    volumes = fourd.load_4d(folder)
    stack = np.stack([volumes[f"phase_{10 * k:02d}"].hu for k in range(10)])
    np.testing.assert_allclose(volumes["MIP"].hu, stack.max(axis=0), atol=0.5)  # int16 storage rounds
    np.testing.assert_allclose(volumes["AVG"].hu, stack.mean(axis=0), atol=1.0)  # rounded mean of unrounded phases
    itv = volumes["AVG"].masks["ITV"]
    truth = synthetic.load_masks(folder / "ground_truth.npz")
    assert (itv != truth["ITV"]).sum() <= 2
    np.testing.assert_array_equal(truth["ITV"], np.logical_or.reduce([truth[f"GTV-1_phase_{10 * k:02d}"] for k in range(10)]))


def test_itv_grows_with_amplitude(cohort_4d):
    ratios = {}
    for pid in ("SYNTH-001", "SYNTH-002"):
        recorded = json.loads((cohort_4d / "4d" / pid / "motion.json").read_text())
        ratios[recorded["tumour_si_mm"]] = recorded["itv_cm3"] / np.mean(recorded["gtv_cm3_per_phase"])
    amplitudes = sorted(ratios)
    assert amplitudes[1] > amplitudes[0] + 2 and ratios[amplitudes[1]] > ratios[amplitudes[0]] > 1.0


def test_4d_is_reproducible(tmp_path):
    first = synthetic.generate_cohort(tmp_path / "a", "quick", seed=5, patients=1, four_d_patients=1, workers=1)
    second = synthetic.generate_cohort(tmp_path / "b", "quick", seed=5, patients=1, four_d_patients=1, workers=1)
    assert (first / "SHA256SUMS").read_text() == (second / "SHA256SUMS").read_text()
    assert "4d/SYNTH-001/phase_90/RTSTRUCT.dcm" in (first / "SHA256SUMS").read_text()


def test_load_4d_rejects_other_folders(tmp_path):
    with pytest.raises(GtvError, match="no phase_XX folders"):
        fourd.load_4d(tmp_path)


def test_the_cohort_bytes_equal_the_recorded_golden_list(root, tmp_path):
    """Any change to the generator that alters one byte of the cohort (CT, RTSTRUCT, SEG, masks, parameters,
    4D-CT, clinical table) fails here; a deliberate change bumps GENERATOR_VERSION and records a new list.

    Bytes depend on the numerical libraries and on the CPU's SIMD kernels (numpy's AVX-512 exp/log differ
    in the last bit from its baseline ones), so the comparison runs where those match the recording; the
    same seed on the same machine always gives the same bytes (test_4d_is_reproducible).
    """
    from importlib.metadata import version

    from numpy._core._multiarray_umath import __cpu_features__

    golden = root / "tests" / "data" / "golden_cohort"
    facts = json.loads((golden / "environment.json").read_text())
    here = {"packages": {name: version(name) for name in facts["packages"]},
            "numpy_cpu_features": sorted(k for k, v in __cpu_features__.items() if v)}
    if here["packages"] != facts["packages"] or here["numpy_cpu_features"] != facts["numpy_cpu_features"]:
        pytest.skip(f"golden list recorded with {facts['packages']} on CPU features {facts['numpy_cpu_features']}; "
                    f"this machine has {here}")
    assert synthetic.GENERATOR_VERSION == facts["cohort"]["generator_version"]
    cohort_4d = synthetic.generate_cohort(tmp_path / "c", "quick", seed=0, patients=2, four_d_patients=2)
    expected = (golden / "quick_seed0_2patients_4d.SHA256SUMS").read_text().splitlines()
    actual = (cohort_4d / "SHA256SUMS").read_text().splitlines()
    changed = sorted(set(expected) ^ set(actual))
    assert not changed, f"{len(changed)} lines differ, e.g. {changed[:4]}"
