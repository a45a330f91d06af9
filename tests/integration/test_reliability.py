"""Integration tier of tests/unit/data/dicom/test_reliability.py: loaders refuse what they cannot read correctly (issue 15): one GtvError naming the file or value, the problem"""

import pydicom
import pytest


@pytest.mark.slow
def test_a_killed_generation_leaves_no_workers_and_its_staging_goes_next_time(tmp_path):
    """kill -9 of the parent: its pool workers end, and the next generation removes the staging folder."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from gtvlib.data.synthetic import generate_cohort

    code = f"from gtvlib.data.synthetic import generate_cohort; generate_cohort({str(tmp_path / 'cohort')!r}, 'quick', 0, patients=6, workers=2)"
    parent = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ, GTVLIB_BATCH="1"))

    def children():
        found = []
        for stat in os.listdir("/proc"):
            if stat.isdigit():
                try:
                    fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == parent.pid and fields[0] != "Z":
                    found.append(int(stat))
        return found

    deadline = time.time() + 60
    while len(children()) < 2 and time.time() < deadline:
        time.sleep(0.2)
    workers = children()
    assert len(workers) >= 2, "the pool did not start"
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 20
    while any(os.path.exists(f"/proc/{pid}") and "Z" not in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
              for pid in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")
                and open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"], "workers outlived their parent"
    staging = [p.name for p in tmp_path.iterdir() if p.name.startswith(".cohort.partial-")]
    assert staging == [f".cohort.partial-{parent.pid}"]
    generate_cohort(tmp_path / "cohort", "quick", 0, patients=1, workers=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort"]


@pytest.mark.slow
def test_a_changed_source_file_is_decoded_again_and_a_damaged_cached_cohort_regenerated(small_cohort, tmp_path, monkeypatch):
    import shutil

    from gtvlib.data.slices import SliceCache, SliceSpec
    from gtvlib.data.synthetic import synthetic_cohort

    cohort = tmp_path / "cohort"
    shutil.copytree(small_cohort, cohort)
    (cohort / "SHA256SUMS").unlink()  # an exported cohort: fingerprints from sizes and times
    cache = SliceCache(cohort, SliceSpec.from_window("lung"), cache_dir=tmp_path / "cache")
    cache.build(["SYNTH-001"])
    stamp = (cache.folder / "SYNTH-001.images.npy").stat().st_mtime_ns
    cache.build(["SYNTH-001"])
    assert (cache.folder / "SYNTH-001.images.npy").stat().st_mtime_ns == stamp  # unchanged files: not decoded again
    ds = pydicom.dcmread(cohort / "SYNTH-001" / "RTSTRUCT.dcm")
    ds.StructureSetLabel = "EDITED"  # an edited structure set
    ds.save_as(cohort / "SYNTH-001" / "RTSTRUCT.dcm")
    cache.build(["SYNTH-001"])
    assert (cache.folder / "SYNTH-001.images.npy").stat().st_mtime_ns != stamp
    monkeypatch.setenv("GTVLIB_BATCH", "1")
    folder = synthetic_cohort("quick", 0, cache_dir=tmp_path / "cached", patients=1)
    victim = next((folder / "SYNTH-001" / "CT").iterdir())
    victim.write_bytes(b"damaged")
    assert synthetic_cohort("quick", 0, cache_dir=tmp_path / "cached", patients=1) == folder
    assert victim.read_bytes() != b"damaged"  # verified before reuse, and generated again
