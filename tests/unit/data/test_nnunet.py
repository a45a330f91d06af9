"""nnU-Net v2 export of a cohort, checked by nnunetv2's own dataset-integrity verification, and the import of its
predictions into per-patient scores."""

import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from gtvlib.data.cohort import Cohort
from gtvlib.data.dicom.patient import load_patient
from gtvlib.data.nnunet import export_nnunet, import_predictions
from gtvlib.metrics import dice
from gtvlib.util.errors import GtvError


@pytest.fixture(scope="module")
def cohort(small_cohort):
    ids = sorted(p.name for p in small_cohort.glob("SYNTH-*"))
    return Cohort("synthetic", "three synthetic patients", small_cohort, ids,
                  lambda pid, structures="rtstruct": load_patient(small_cohort / pid, structures))


@pytest.fixture(scope="module")
def exported(cohort, tmp_path_factory):
    return export_nnunet(cohort, tmp_path_factory.mktemp("nnUNet_raw"), dataset_id=7, name="GTV")


def test_export_keeps_hu_geometry_and_the_mask(exported, cohort):
    volume = cohort.load("SYNTH-002")
    image = sitk.ReadImage(str(exported / "imagesTr" / "SYNTH-002_0000.nii.gz"))
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(exported / "labelsTr" / "SYNTH-002.nii.gz")))
    assert image.GetSpacing() == pytest.approx(volume.spacing_mm[::-1]) and image.GetOrigin() == pytest.approx(volume.origin_xyz_mm)
    assert np.abs(sitk.GetArrayFromImage(image) - volume.hu).max() <= 0.5
    assert np.array_equal(label == 1, volume.masks["GTV-1"])


def test_import_scores_predictions_per_patient(exported, cohort, tmp_path):
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    for pid in ("SYNTH-001", "SYNTH-003"):
        shutil.copy(exported / "labelsTr" / f"{pid}.nii.gz", predictions / f"{pid}.nii.gz")
    shifted = sitk.ReadImage(str(exported / "labelsTr" / "SYNTH-003.nii.gz"))
    array = np.roll(sitk.GetArrayFromImage(shifted), 2, axis=2)  # 2 columns to the side
    moved = sitk.GetImageFromArray(array)
    moved.CopyInformation(shifted)
    sitk.WriteImage(moved, str(predictions / "SYNTH-003.nii.gz"))
    table = import_predictions(predictions, cohort).set_index("patient")
    assert table.loc["SYNTH-001", "dice"] == 1.0 and table.loc["SYNTH-001", "hd95_mm"] == 0.0
    truth = cohort.load("SYNTH-003").masks["GTV-1"]
    assert table.loc["SYNTH-003", "dice"] == pytest.approx(dice(np.roll(truth, 2, axis=2), truth))
    with pytest.raises(GtvError, match=r"no prediction for \['SYNTH-002'\]"):
        import_predictions(predictions, cohort, ["SYNTH-001", "SYNTH-002"])


def test_export_refuses_a_bad_dataset_id(cohort, tmp_path):
    with pytest.raises(GtvError, match="dataset id 1000: nnU-Net numbers datasets 1–999"):
        export_nnunet(cohort, tmp_path, dataset_id=1000)
    assert list(tmp_path.iterdir()) == []
