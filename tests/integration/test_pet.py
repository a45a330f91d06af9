"""Integration tier of tests/unit/data/dicom/test_pet.py: pET series (issue 12, first parts): SUVbw from the headers against a hand calculation, the same series rules as CT,"""

import numpy as np
import pydicom
import pytest

from gtvlib.data.dicom.series import load_pet_series
from gtvlib.util.errors import GtvError


@pytest.mark.slow
def test_a_cohort_patient_with_pet_and_4d_ct_shares_one_frame_and_one_breathing(motion_cohort):
    """The PET of a synthetic patient lies in its CT's frame of reference and study, and the IGTV (union of the PET's
    phase GTVs, on the CT grid) is the 4D-CT's ITV: one breathing motion for both."""
    import json

    from gtvlib.data.dicom.patient import load_patient
    from gtvlib.data.synthetic.truth import load_masks
    from gtvlib.metrics import dice

    folder = motion_cohort  # SYNTH-001 has a PET and a 4D-CT
    ct = load_patient(folder / "SYNTH-001")
    pet = load_pet_series(folder / "pet" / "SYNTH-001" / "PT")
    assert pet.metadata["frame_of_reference_uid"] == ct.metadata["frame_of_reference_uid"]
    first = pydicom.dcmread(sorted((folder / "pet" / "SYNTH-001" / "PT").glob("*.dcm"))[0], stop_before_pixels=True)
    assert first.StudyInstanceUID == pydicom.dcmread(sorted((folder / "SYNTH-001" / "CT").glob("*.dcm"))[0]).StudyInstanceUID
    igtv = load_masks(folder / "pet" / "SYNTH-001" / "ground_truth_ct.npz")["IGTV"]
    itv = load_masks(folder / "4d" / "SYNTH-001" / "ground_truth.npz")["ITV"]
    assert dice(igtv, itv) > 0.98
    facts = json.loads((folder / "pet" / "SYNTH-001" / "pet.json").read_text())
    four_d_motion = json.loads((folder / "4d" / "SYNTH-001" / "motion.json").read_text())
    assert facts["motion"]["tumour_si_mm"] == pytest.approx(four_d_motion["tumour_si_mm"])
    assert pet.metadata["weight_kg"] == pytest.approx(facts["acquisition"]["weight_kg"], rel=1e-3)
    pet_igtv = load_masks(folder / "pet" / "SYNTH-001" / "ground_truth_pet.npz")["IGTV"]
    assert pet_igtv.shape == pet.shape and pet.hu[pet_igtv].max() > facts["uptake_suv"]["liver"]  # the tumour is hot
    from scipy import ndimage

    from gtvlib.data.volume import resample_onto

    on_ct = resample_onto(pet.hu, pet.spacing_mm, pet.origin_xyz_mm, ct.shape, ct.spacing_mm, ct.origin_xyz_mm)
    around = ndimage.binary_dilation(igtv, iterations=6) & ~ndimage.binary_dilation(igtv, iterations=3)
    assert on_ct[igtv].mean() > 1.5 * on_ct[around].mean()  # the PET's hot tumour lies on the CT's IGTV


@pytest.mark.slow
def test_petct_cases_and_their_25d_stacks(motion_cohort, small_cohort):
    from gtvlib.data.cohort import Cohort
    from gtvlib.data.dicom.patient import load_patient
    from gtvlib.data.petct import load_petct, stack_25d

    folder = motion_cohort
    cohort = Cohort("synthetic", "two patients", folder, ["SYNTH-001", "SYNTH-002"],
                    lambda pid, s: load_patient(folder / pid, structures=s))
    case = load_petct(cohort, "SYNTH-001")
    assert case.suv.shape == case.ct_hu.shape == case.igtv.shape == case.gtv.shape
    assert (case.gtv & case.igtv).sum() >= 0.8 * case.gtv.sum() and case.igtv.sum() > case.gtv.sum()  # it moves around it
    z = int(np.nonzero(case.igtv.any(axis=(1, 2)))[0].mean())
    stack = stack_25d(case, z, slices=3)
    assert stack.shape == (2, 3, *case.ct_hu.shape[1:])
    np.testing.assert_allclose(stack[0, 1], case.suv[z] / 10.0, rtol=1e-6)  # PET first, divided by the SUV scale
    assert 0.0 <= stack[1].min() and stack[1].max() <= 1.0  # CT windowed
    edge = stack_25d(case, 0, slices=5, modalities=("CT",))
    assert edge.shape == (1, 5, *case.ct_hu.shape[1:]) and np.array_equal(edge[0, 0], edge[0, 2])  # the end repeated
    with pytest.raises(GtvError, match=r"modalities \['MR'\]; expected a non-empty subset"):
        stack_25d(case, z, modalities=("MR",))
    without_pet = Cohort("synthetic", "no PET", small_cohort, ["SYNTH-001"], lambda pid, s: load_patient(small_cohort / pid, structures=s))
    with pytest.raises(GtvError, match="no PT series; expected a cohort generated with pet_patients"):
        load_petct(without_pet, "SYNTH-001")
