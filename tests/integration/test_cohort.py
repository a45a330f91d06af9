"""Integration tier of tests/unit/data/test_cohort.py: cohorts (gtvlib.data.cohort) and the tables over them (gtvlib.data.statistics)."""

import pytest

from gtvlib.data import statistics
from gtvlib.data.cohort import open_cohort
from gtvlib.data.synthetic import load_masks
from gtvlib.data.volume import volume_cm3
from gtvlib.util.errors import GtvError
from tests.unit.data import test_cohort as unit_tier  # the unit tier's fixtures and helpers, shared

IDS = unit_tier.IDS
cohort = unit_tier.cohort
roots = unit_tier.roots


@pytest.mark.slow
def test_an_absent_dataset_falls_back_to_the_synthetic_cohort_and_says_so(roots):
    cohort = open_cohort("nsclc_radiomics", patients=2)
    assert cohort.dataset == "synthetic" and cohort.patient_ids == ["SYNTH-001", "SYNTH-002"]
    assert "dataset 'nsclc_radiomics' is absent under" in cohort.note
    assert "python -m gtvlib.data verify nsclc_radiomics" in cohort.note
    assert "synthetic cohort" in cohort.source and "2 patients" in cohort.source
    assert cohort.folder.parent == roots / "cache" / "cohorts"
    assert cohort.parameters("SYNTH-001")["patient_id"] == "SYNTH-001"
    assert open_cohort("synthetic", patients=2).folder == cohort.folder  # cached, not generated twice


@pytest.mark.slow
def test_an_incomplete_dataset_is_not_used(roots):
    folder = roots / "data" / "msd" / "Task06_Lung"
    for sub in ("imagesTr", "labelsTr"):
        (folder / sub).mkdir(parents=True)
        (folder / sub / "lung_001.nii.gz").write_bytes(b"")
    cohort = open_cohort("msd_task06_lung", patients=1)
    assert cohort.dataset == "synthetic" and "'msd_task06_lung' is incomplete" in cohort.note


@pytest.mark.slow
def test_cohort_statistics_are_the_masks_in_cm3(cohort, small_cohort):
    table = statistics.cohort_statistics(cohort)
    assert list(table.patient) == IDS
    for row in table.itertuples():
        truth = load_masks(small_cohort / row.patient / "ground_truth.npz")["GTV-1"]
        spacing = cohort.load(row.patient, "none").spacing_mm
        assert row.gtv_cm3 == pytest.approx(volume_cm3(truth, spacing))
        assert row.tumour_slices == int(truth.any(axis=(1, 2)).sum())
        assert row.gtv_cm3 == pytest.approx(row.sampled_cm3, rel=0.15)  # voxelised against the sampled volume
    summary = statistics.cohort_summary(table)
    assert list(summary.index) == list(statistics.COHORT_TARGETS)
    assert summary.iloc[0, 0] == f"{table.gtv_cm3.median():.1f} [{table.gtv_cm3.min():.1f}–{table.gtv_cm3.max():.1f}]"
    with pytest.raises(GtvError, match="SYNTH-001: no GTV-9 mask"):
        statistics.cohort_statistics(cohort, label="GTV-9")


@pytest.mark.slow
def test_conventions_order_and_the_centre_rule_is_ours(cohort):
    table = statistics.convention_comparison(cohort)
    assert set(table.convention) == set(statistics.CONVENTIONS) and set(table.patient) == set(IDS)
    for pid, rows in table.groupby("patient"):
        volume = rows.set_index("convention").volume_cm3
        assert volume["fully inside"] <= volume["centre (ours)"] <= volume["any overlap"]
        centre = rows[rows.convention == "centre (ours)"].iloc[0]
        assert centre.dice_vs_centre == 1.0 and centre.volume_cm3 == pytest.approx(cohort.load(pid).mask_volume_cm3("GTV-1"))
    lines = statistics.convention_summary(table)
    assert len(lines) == 2 and lines[0].startswith("any overlap: median volume +")
