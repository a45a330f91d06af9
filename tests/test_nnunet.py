"""nnU-Net v2 export of a cohort, checked by nnunetv2's own dataset-integrity verification, and the import of its
predictions into per-patient scores."""

import json
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


@pytest.mark.slow
def test_export_passes_nnunets_own_integrity_check(exported, cohort):
    verify = pytest.importorskip("nnunetv2.experiment_planning.verify_dataset_integrity",
                                 reason="nnunetv2 is installed by `make setup` (--no-deps, without its CUDA torch)")
    assert exported.name == "Dataset007_GTV"
    assert sorted(p.name for p in (exported / "imagesTr").iterdir()) == [f"{pid}_0000.nii.gz" for pid in cohort.patient_ids]
    verify.verify_dataset_integrity(str(exported), num_processes=1)  # raises on any inconsistency
    description = json.loads((exported / "dataset.json").read_text())
    assert description["labels"] == {"background": 0, "GTV": 1} and description["numTraining"] == 3


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


@pytest.mark.slow
def test_structseg_export_reads_back_through_the_nifti_loader(cohort, tmp_path):
    """The HCF chapter's route: a cohort written in the StructSeg2019 Task 4 layout and read back by the NIfTI
    loader gives the same HU (to the int16 rounding), geometry and GTV."""
    from gtvlib.data.cohort import structseg_cohort
    from gtvlib.data.structseg import export_structseg

    folder = export_structseg(cohort, tmp_path / "Lung_GTV")
    assert sorted(p.name for p in folder.iterdir()) == ["1", "2", "3", "gtvlib_cases.json"]
    assert json.loads((folder / "gtvlib_cases.json").read_text())["cases"] == {"1": "SYNTH-001", "2": "SYNTH-002", "3": "SYNTH-003"}
    reread = structseg_cohort(folder, "exported")
    assert reread.patient_ids == ["1", "2", "3"] and reread.structures == "nifti"
    original, copy = cohort.load("SYNTH-002"), reread.load("2")
    assert copy.spacing_mm == pytest.approx(original.spacing_mm) and copy.origin_xyz_mm == pytest.approx(original.origin_xyz_mm)
    assert np.abs(copy.hu - original.hu).max() <= 0.5 and np.array_equal(copy.masks["GTV-1"], original.masks["GTV-1"])
    assert copy.slice_positions_mm == pytest.approx(original.slice_positions_mm, abs=1e-4)  # NIfTI keeps float32 geometry
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(GtvError, match="exists and is not a gtvlib StructSeg export; refusing to overwrite"):
        export_structseg(cohort, tmp_path / "other")
    with pytest.raises(GtvError, match="no case folder holding data.nii.gz"):
        structseg_cohort(tmp_path / "other", "x")
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]
