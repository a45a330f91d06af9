"""Integration tier of tests/unit/data/synthetic/test_synthetic.py: the synthetic cohort: genuine DICOM, reproducible bytes, realism targets of DATA.md."""

import subprocess
import sys

import numpy as np
import pytest

from gtvlib.data import synthetic
from gtvlib.data.synthetic import anatomy, tumour


@pytest.mark.slow
def test_regeneration_is_byte_identical(small_cohort, tmp_path):
    again = synthetic.generate_cohort(tmp_path / "again", "quick", seed=0, patients=2, workers=2)  # same bytes in parallel
    def sums(folder, patients):
        lines = (folder / "SHA256SUMS").read_text().splitlines()
        return [line for line in lines if line.split("  ")[1].split("/")[0] in patients]
    assert sums(again, {"SYNTH-001", "SYNTH-002"}) == sums(small_cohort, {"SYNTH-001", "SYNTH-002"})
    other = synthetic.generate_cohort(tmp_path / "other", "quick", seed=1, patients=1)
    assert sums(other, {"SYNTH-001"}) != sums(small_cohort, {"SYNTH-001"})


@pytest.mark.slow
def test_tumour_population_follows_the_targets():
    rng = np.random.default_rng(0)
    forms = [tumour.sample_tumour_form(rng, False) for _ in range(3000)]
    volumes = np.array([f["volume_cm3"] for f in forms])
    assert volumes.min() >= 1 and volumes.max() <= 600
    assert 34 <= np.median(volumes) <= 46
    assert 0.25 <= np.mean([f["spiculated"] for f in forms]) <= 0.45
    rng = np.random.default_rng(1)
    shapes = anatomy.build_anatomy(anatomy.sample_anatomy(rng))
    forbidden = anatomy.forbidden_organs(shapes)
    placed = [tumour.place_tumour(rng, tumour.sample_tumour_form(rng, False), shapes, forbidden) for _ in range(300)]
    share = lambda key, value: np.mean([p[key] == value for p in placed])
    assert 0.28 <= share("category", "central") <= 0.42
    assert share("side", "right") > 0.5 and share("lobe", "upper") > share("lobe", "lower")


@pytest.mark.slow
def test_cached_cohort_is_reused_and_keyed_by_parameters(tmp_path):
    first = synthetic.synthetic_cohort("quick", 0, cache_dir=tmp_path, patients=1)
    stamp = (first / "cohort.json").stat().st_mtime_ns
    assert synthetic.synthetic_cohort("quick", 0, cache_dir=tmp_path, patients=1) == first
    assert (first / "cohort.json").stat().st_mtime_ns == stamp
    assert synthetic.synthetic_cohort("quick", 3, cache_dir=tmp_path, patients=1) != first
    assert not list(tmp_path.rglob("*.partial*"))


@pytest.mark.slow
def test_cli_synth_and_verify(tmp_path):
    done = subprocess.run([sys.executable, "-m", "gtvlib.data", "synth", "--preset", "quick", "--out", str(tmp_path / "c"),
                           "--seed", "4", "--patients", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "c" / "SYNTH-001" / "RTSTRUCT.dcm").is_file() and (tmp_path / "c" / "clinical.csv").is_file()
    env = {"GTVLIB_DATA": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    verify = subprocess.run([sys.executable, "-m", "gtvlib.data", "verify", "nsclc_radiomics"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert verify.returncode == 1
    assert "nsclc_radiomics: absent" in verify.stdout and "NBIA Data Retriever" in verify.stdout
    unknown = subprocess.run([sys.executable, "-m", "gtvlib.data", "verify", "lidc"], capture_output=True, text=True, env=env)
    assert unknown.returncode == 2 and "expected one of" in unknown.stderr
