"""Cohorts (gtvlib.data.cohort) and the tables over them (gtvlib.data.statistics)."""

import shutil

import numpy as np
import pytest

from gtvlib.data import statistics
from gtvlib.data.cohort import Cohort, open_cohort
from gtvlib.data.dicom.patient import load_patient
from gtvlib.data.synthetic import load_masks
from gtvlib.util.errors import GtvError

IDS = ["SYNTH-001", "SYNTH-002", "SYNTH-003"]


@pytest.fixture(scope="module")
def cohort(small_cohort) -> Cohort:
    return Cohort("synthetic", "three synthetic patients", small_cohort, IDS,
                  lambda pid, structures: load_patient(small_cohort / pid, structures=structures))


@pytest.fixture
def roots(tmp_path, monkeypatch):
    monkeypatch.setenv("GTVLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("GTVLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_an_unknown_dataset_is_refused(roots):
    with pytest.raises(GtvError, match="dataset 'lidc' is not in data_manifest.yaml; expected one of .*'nsclc_radiomics'"):
        open_cohort("lidc")


def test_a_local_export_in_place_is_used_under_pseudonyms(roots, small_cohort):
    """A clinic's folders are often named after their patients: the chapters see LOCAL-001, never the names."""
    names = {"DOE^JANE_0012345": "SYNTH-001", "ROE^RICHARD_0067890": "SYNTH-002"}
    for name, pid in names.items():
        shutil.copytree(small_cohort / pid, roots / "data" / "local" / name)
    cohort = open_cohort("local")
    assert cohort.dataset == "local" and cohort.note == "" and cohort.patient_ids == ["LOCAL-001", "LOCAL-002"]
    assert "licence your institution's terms" in cohort.source and "shown under pseudonyms" in cohort.source
    volume = cohort.load("LOCAL-002")
    truth = load_masks(small_cohort / "SYNTH-002" / "ground_truth.npz")
    np.testing.assert_array_equal(volume.masks["GTV-1"], truth["GTV-1"])
    assert "ROE" not in str(volume.metadata) and volume.metadata["patient_folder"] == "LOCAL-002"
    table = statistics.cohort_statistics(cohort)
    assert list(table.patient) == ["LOCAL-001", "LOCAL-002"] and "DOE" not in table.to_string()
    assert open_cohort("local", patients=1).patient_ids == ["LOCAL-001"]
    (roots / "data" / "local" / "DOE^JANE_0012345" / "RTSTRUCT.dcm").unlink()
    with pytest.raises(GtvError, match=r"<patient LOCAL-001>: no RTSTRUCT found") as raised:
        cohort.load("LOCAL-001")
    assert "DOE" not in str(raised.value)


def test_structure_agreement_counts_differing_voxels(cohort):
    from_rtstruct, from_seg = cohort.load("SYNTH-001"), cohort.load("SYNTH-001", "seg")
    agreement = statistics.structure_agreement(from_rtstruct, from_seg).set_index("structure")
    assert agreement.loc["GTV-1", "voxels (RTSTRUCT)"] == from_rtstruct.masks["GTV-1"].sum()
    assert agreement.loc["GTV-1", "voxels that differ"] == int((from_rtstruct.masks["GTV-1"] != from_seg.masks["GTV-1"]).sum())
    index = tuple(np.argwhere(from_seg.masks["Heart"])[0])
    from_seg.masks["Heart"][index] = False
    changed = statistics.structure_agreement(from_rtstruct, from_seg).set_index("structure")
    assert changed.loc["Heart", "voxels that differ"] == agreement.loc["Heart", "voxels that differ"] + 1
    del from_seg.masks["Heart"]
    with pytest.raises(GtvError, match="'Heart' is in the RTSTRUCT but not in the SEG"):
        statistics.structure_agreement(from_rtstruct, from_seg)


def _counting(cohort: Cohort) -> list[str]:
    """Wrap ``cohort.loader`` so that every decode of a patient's files is recorded."""
    decodes, loader = [], cohort.loader
    cohort.loader = lambda pid, structures: decodes.append(pid) or loader(pid, structures)
    return decodes


def test_a_patient_is_decoded_once_and_the_cache_gives_the_same_volume(roots, small_cohort):
    """Every later load (this chapter's or the next's) reads the decoded arrays, equal to the DICOM's."""
    shutil.copytree(small_cohort / "SYNTH-001", roots / "data" / "local" / "DOE^JANE_0012345")
    cohort = open_cohort("local")
    decodes = _counting(cohort)
    first = cohort.load("LOCAL-001")
    from gtvlib.data.manifest import load_manifest

    reference = load_patient(roots / "data" / "local" / "DOE^JANE_0012345", roi_map=load_manifest()["local"]["roi_map"])
    again = open_cohort("local")  # a new cohort object (the next chapter): same cache
    decodes_again = _counting(again)
    second = again.load("LOCAL-001")
    assert decodes == ["LOCAL-001"] and decodes_again == []
    for volume in (first, second):
        np.testing.assert_array_equal(volume.hu, reference.hu)
        assert volume.hu.dtype == np.float32
        assert volume.spacing_mm == pytest.approx(reference.spacing_mm)
        assert volume.origin_xyz_mm == pytest.approx(reference.origin_xyz_mm)
        np.testing.assert_array_equal(volume.slice_positions_mm, reference.slice_positions_mm)
        assert list(volume.masks) == list(reference.masks) and len(reference.masks) > 10
        for name, mask in reference.masks.items():
            np.testing.assert_array_equal(volume.masks[name], mask)
        assert volume.metadata == first.metadata and volume.metadata["patient_folder"] == "LOCAL-001"
    assert "sop_instance_uids" in reference.metadata and "sop_instance_uids" not in second.metadata
    second_seg = again.load("LOCAL-001", "seg")  # another structures source: its masks are decoded, once
    assert decodes_again == ["LOCAL-001"] and again.load("LOCAL-001", "seg").masks.keys() == second_seg.masks.keys()
    assert decodes_again == ["LOCAL-001"]
    # nothing in the cache names the patient's folder or carries the series' UIDs
    written = b"".join(p.read_bytes() for p in (roots / "cache" / "volumes").rglob("*") if p.is_file())
    assert b"DOE" not in written and reference.metadata["series_instance_uid"].encode() not in written
    assert reference.metadata["sop_instance_uids"][0].encode() not in written


def test_an_edited_patient_is_decoded_again_and_a_broken_entry_is_not_trusted(roots, small_cohort):
    folder = roots / "data" / "local" / "SMITH"
    shutil.copytree(small_cohort / "SYNTH-002", folder)
    cohort = open_cohort("local")
    decodes = _counting(cohort)
    before = cohort.load("LOCAL-001")
    rtstruct = folder / "RTSTRUCT.dcm"
    import pydicom  # the physician removes the GTV's last contour

    ds = pydicom.dcmread(rtstruct)
    gtv = next(item for item in ds.StructureSetROISequence if item.ROIName.upper().startswith("GTV"))
    contours = next(item for item in ds.ROIContourSequence if item.ReferencedROINumber == gtv.ROINumber).ContourSequence
    removed_z = float(contours[-1].ContourData[2])
    del contours[-1]
    ds.save_as(rtstruct)
    after = cohort.load("LOCAL-001")
    assert decodes == ["LOCAL-001", "LOCAL-001"]
    k = int(np.argmin(np.abs(before.slice_positions_mm - removed_z)))
    assert before.masks["GTV-1"][k].any() and not after.masks["GTV-1"][k].any()
    # an entry whose array is missing (a killed write) is decoded again, never half-read
    next(cohort.decoded.folder.glob("LOCAL-001.hu.npy")).unlink()
    np.testing.assert_array_equal(cohort.load("LOCAL-001").hu, before.hu)
    assert decodes == ["LOCAL-001"] * 3
