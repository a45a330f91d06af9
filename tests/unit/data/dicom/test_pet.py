"""PET series (issue 12, first parts): SUVbw from the headers against a hand calculation, the same series rules as CT,
one frame of reference with the CT, bad headers named, and what dciodvfy says of a written PET image."""

from datetime import datetime

import numpy as np
import pydicom
import pytest

from gtvlib.data.dicom.conformance import find_dciodvfy, verify_dicom
from gtvlib.data.dicom.pet import F18_HALF_LIFE_S, PetAcquisition, pet_acquisition
from gtvlib.data.dicom.series import load_pet_series
from gtvlib.data.dicom.writers import deterministic_uid, pt_datasets, write_datasets
from gtvlib.util.errors import GtvError

PATIENT = {"name": "SYNTHETIC^PET", "id": "SYNTH-PET", "sex": "O", "study_date": "20200101",
           "study_uid": deterministic_uid("pet-test", "study"), "frame_uid": deterministic_uid("pet-test", "frame")}
ACQUISITION = PetAcquisition(weight_kg=70.0, dose_bq=370e6, half_life_s=F18_HALF_LIFE_S,
                             injection=datetime(2020, 1, 1, 9, 0, 0), scan_start=datetime(2020, 1, 1, 10, 0, 0))
SPACING, ORIGIN = (4.0, 4.5, 4.5), (-90.0, -90.0, -200.0)


def _activity():
    activity = np.full((6, 40, 40), 2000.0)  # Bq/ml of background
    activity[2:4, 18:22, 18:22] = 20000.0  # a hot spot
    return activity


@pytest.fixture()
def pet_folder(tmp_path):
    write_datasets(pt_datasets(_activity(), SPACING, ORIGIN, PATIENT, deterministic_uid("pet-test", "pt"), ACQUISITION),
                   tmp_path / "PT")
    return tmp_path / "PT"


def test_suv_from_the_headers_equals_the_hand_calculation(pet_folder):
    volume = load_pet_series(pet_folder)
    decayed = 370e6 * 0.5 ** (3600.0 / 6586.2)  # Bq left at the scan's start, one hour after the injection
    suv_per_bq_ml = 70.0 * 1000.0 / decayed  # g / Bq
    assert volume.metadata["suv_per_bq_ml"] == pytest.approx(suv_per_bq_ml, rel=1e-6)
    assert suv_per_bq_ml == pytest.approx(2.7632e-4, rel=1e-4)  # 70 kg, 370 MBq, 60 min of F-18
    expected = _activity() * suv_per_bq_ml
    np.testing.assert_allclose(volume.hu, expected, rtol=2e-4)  # int16 with a slope per slice
    assert volume.hu[3, 20, 20] == pytest.approx(20000.0 * suv_per_bq_ml, rel=1e-4)  # ≈ 5.53
    assert volume.metadata["units"] == "SUVbw" and volume.metadata["uptake_min"] == pytest.approx(60.0)


def test_pet_and_ct_share_the_frame_and_the_patient_coordinates(pet_folder):
    volume = load_pet_series(pet_folder)
    assert volume.metadata["frame_of_reference_uid"] == PATIENT["frame_uid"]  # the CT's frame of reference
    assert volume.spacing_mm == pytest.approx(SPACING) and volume.origin_xyz_mm == pytest.approx(ORIGIN)
    np.testing.assert_allclose(volume.slice_positions_mm, ORIGIN[2] + SPACING[0] * np.arange(6))
    first = pydicom.dcmread(sorted(pet_folder.glob("*.dcm"))[0])
    assert first.Modality == "PT" and first.SOPClassUID == "1.2.840.10008.5.1.4.1.1.128"  # PET Image Storage


def test_the_injection_time_without_a_date_is_taken_on_the_series_date(pet_folder, tmp_path):
    without_date = _with(pet_folder, lambda ds: delattr(ds.RadiopharmaceuticalInformationSequence[0],
                                                        "RadiopharmaceuticalStartDateTime"), tmp_path)
    assert load_pet_series(without_date).metadata["suv_per_bq_ml"] == pytest.approx(
        load_pet_series(pet_folder).metadata["suv_per_bq_ml"])


def _with(folder, change, tmp_path):
    """The series with ``change(ds)`` applied to every slice, written to a new folder."""
    out = tmp_path / "changed"
    out.mkdir()
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        change(ds)
        ds.save_as(out / path.name, enforce_file_format=True)
    return out


@pytest.mark.parametrize("change, message", [
    (lambda ds: delattr(ds, "PatientWeight"), "PatientWeight missing; expected the weight in kg"),
    (lambda ds: setattr(ds, "PatientWeight", "70000"), "PatientWeight 70000 kg; expected a body weight in kg"),
    (lambda ds: setattr(ds, "Units", "CNTS"), "Units 'CNTS'; expected 'BQML'"),
    (lambda ds: setattr(ds, "DecayCorrection", "NONE"), "DecayCorrection 'NONE'; expected 'START'"),
    (lambda ds: setattr(ds, "CorrectedImage", ["NORM"]), r"CorrectedImage \['NORM'\] lacks \['ATTN', 'DECY'\]"),
    (lambda ds: delattr(ds.RadiopharmaceuticalInformationSequence[0], "RadionuclideTotalDose"),
     "RadionuclideTotalDose missing in RadiopharmaceuticalInformationSequence"),
    (lambda ds: setattr(ds.RadiopharmaceuticalInformationSequence[0], "RadiopharmaceuticalStartDateTime", "20200101113000"),
     r"lies -1.50 h before the series' start"),
    (lambda ds: setattr(ds, "RescaleSlope", None), "RescaleSlope missing on 6 of 6 slices; expected it on every PT slice"),
])
def test_bad_pet_headers_are_named(pet_folder, tmp_path, change, message):
    with pytest.raises(GtvError, match=message):
        load_pet_series(_with(pet_folder, change, tmp_path))


def test_one_acquisition_per_series(pet_folder, tmp_path):
    def heavier_on_one(ds):
        if int(ds.InstanceNumber) == 3:
            ds.PatientWeight = "80"

    with pytest.raises(GtvError, match="weight, dose, half-life or times differ from the series' first slice"):
        load_pet_series(_with(pet_folder, heavier_on_one, tmp_path))
    ct_like = pydicom.dcmread(sorted(pet_folder.glob("*.dcm"))[0])
    ct_like.Modality = "CT"
    with pytest.raises(GtvError, match="Modality 'CT'; expected 'PT'"):
        pet_acquisition(ct_like)


@pytest.mark.skipif(find_dciodvfy() is None, reason="dciodvfy (Debian's dicom3tools) is not installed")
def test_a_written_pet_image_has_no_dciodvfy_error(pet_folder):
    verification = verify_dicom(sorted(pet_folder.glob("*.dcm"))[0])
    assert verification.errors == [] and verification.warnings == []


def test_a_pet_resampled_onto_its_ct_grid_keeps_positions_and_linear_values():
    from gtvlib.data.volume import resample_onto

    shape, spacing, origin = (10, 20, 20), (4.0, 4.0, 4.0), (-40.0, -40.0, -20.0)  # origin (x, y, z) of voxel 0
    z, y, x = np.indices(shape)
    ramp = (origin[2] + 4.0 * z) + 2.0 * (origin[1] + 4.0 * y) - (origin[0] + 4.0 * x)  # linear in patient mm
    target_shape, target_spacing, target_origin = (12, 30, 30), (2.5, 2.0, 2.0), (-30.0, -30.0, -14.0)  # inside it
    out = resample_onto(ramp, spacing, origin, target_shape, target_spacing, target_origin)
    tz, ty, tx = np.indices(target_shape)
    expected = (target_origin[2] + 2.5 * tz) + 2.0 * (target_origin[1] + 2.0 * ty) - (target_origin[0] + 2.0 * tx)
    assert np.allclose(out, expected, atol=1e-3)  # trilinear reproduces a linear field at every target centre
    hot = np.zeros(shape)
    hot[5, 10, 10] = 1.0  # at (x, y, z) = (0, 0, 0) mm
    nearest = resample_onto(hot, spacing, origin, (5, 5, 5), (1.0, 1.0, 1.0), (-2.0, -2.0, -2.0), order=0)
    assert nearest[2, 2, 2] == 1.0  # the same patient point
    far = resample_onto(hot, spacing, origin, (1, 1, 1), (1.0, 1.0, 1.0), (500.0, 0.0, 0.0), outside=-1.0)
    assert far[0, 0, 0] == -1.0
    with pytest.raises(GtvError, match="order=3; expected 0"):
        resample_onto(hot, spacing, origin, (1, 1, 1), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), order=3)
