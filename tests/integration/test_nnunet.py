"""Integration tier of tests/unit/data/test_nnunet.py: nnU-Net v2 export of a cohort, checked by nnunetv2's own dataset-integrity verification, and the import of its"""

import json

import numpy as np
import pytest

from gtvlib.util.errors import GtvError
from tests.unit.data import test_nnunet as unit_tier  # the unit tier's fixtures and helpers, shared

cohort = unit_tier.cohort
exported = unit_tier.exported


@pytest.mark.slow
def test_export_passes_nnunets_own_integrity_check(exported, cohort):
    verify = pytest.importorskip("nnunetv2.experiment_planning.verify_dataset_integrity",
                                 reason="nnunetv2 is installed by `make setup` (--no-deps, without its CUDA torch)")
    assert exported.name == "Dataset007_GTV"
    assert sorted(p.name for p in (exported / "imagesTr").iterdir()) == [f"{pid}_0000.nii.gz" for pid in cohort.patient_ids]
    verify.verify_dataset_integrity(str(exported), num_processes=1)  # raises on any inconsistency
    description = json.loads((exported / "dataset.json").read_text())
    assert description["labels"] == {"background": 0, "GTV": 1} and description["numTraining"] == 3


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
