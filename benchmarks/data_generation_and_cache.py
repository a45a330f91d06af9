"""Synthetic-cohort generation time and slice-cache throughput.

    .venv/bin/python benchmarks/data_generation_and_cache.py [--paper-patients N]

Prints: seconds for the whole quick preset (16 patients); seconds per patient of the paper preset
(512², 0.977 mm, 3 mm, 100–150 slices) over N patients and the implied time for its 112 patients;
slice-cache throughput (slices/s) cold (decode DICOM, window, write) and warm (memory-mapped reads
through a DataLoader); and what a chapter sequence costs from an empty cache: the cohort table (chapter 2),
the GTV-MFIT slices (chapters 2–3) and the uncropped slices (chapter 4's ablation), with the number of
times a patient's DICOM was decoded. Append the printed rows to benchmarks/RESULTS.md with the machine.
"""

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

from gtvlib.data import slices, statistics, synthetic
from gtvlib.data.cohort import open_cohort
from gtvlib.data.slices.dataset import SliceDataset
from gtvlib.util.device import cpu_name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--paper-patients", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gtvlib-bench-"))
    machine = f"{cpu_name()}, {os.cpu_count()} logical cores, Python {platform.python_version()}"
    try:
        started = time.perf_counter()
        quick = synthetic.generate_cohort(work / "quick", "quick", seed=0)
        quick_s = time.perf_counter() - started
        size_mb = sum(p.stat().st_size for p in quick.rglob("*") if p.is_file()) / 1e6
        print(f"quick preset: 16 patients in {quick_s:.1f} s ({quick_s / 16:.2f} s/patient), {size_mb:.0f} MB")

        started = time.perf_counter()
        paper = synthetic.generate_cohort(work / "paper", "paper", seed=0, patients=args.paper_patients)
        paper_s = (time.perf_counter() - started) / args.paper_patients
        size_mb = sum(p.stat().st_size for p in paper.rglob("*") if p.is_file()) / 1e6 / args.paper_patients
        print(f"paper preset: {paper_s:.1f} s/patient over {args.paper_patients} patients ({size_mb:.0f} MB/patient); "
              f"112 patients ≈ {112 * paper_s / 60:.0f} min (extrapolated)")

        ids = sorted(p.name for p in quick.glob("SYNTH-*"))
        cache = slices.SliceCache(quick, slices.SliceSpec.from_window("hcf_paper"), cache_dir=work / "cache")
        started = time.perf_counter()
        counts = cache.build(ids)
        cold_s = time.perf_counter() - started
        n = sum(counts.values())
        pairs = cache.index(ids, "thetan")
        loader = torch.utils.data.DataLoader(SliceDataset(cache, pairs), batch_size=32, shuffle=True, num_workers=2)
        started = time.perf_counter()
        for epoch in range(3):
            for _ in loader:
                pass
        warm_s = (time.perf_counter() - started) / 3
        print(f"slice cache (quick, 128²): cold {n / cold_s:.0f} slices/s ({n} slices in {cold_s:.1f} s); "
              f"warm {n / warm_s:.0f} slices/s per epoch through a DataLoader (2 workers, batch 32)")
        decodes, sequence_s = chapter_sequence(work / "sequence")
        print(f"chapter sequence from an empty cache (cohort table, GTV-MFIT slices at 64 px, uncropped slices at "
              f"64 px): {sequence_s:.1f} s, {decodes} decodes of DICOM for 16 patients")
        print(f"machine: {machine}")
        print(f"| {time.strftime('%Y-%m-%d')} | {machine} | {quick_s:.1f} | {paper_s:.1f} | {n / cold_s:.0f} | {n / warm_s:.0f} "
              f"| {sequence_s:.1f} ({decodes} decodes) |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def chapter_sequence(cache: Path) -> tuple[int, float]:
    """(DICOM decodes, seconds) of the chapters' data steps on the quick cohort with an empty cache (the
    cohort itself is generated first, outside the timing)."""
    os.environ["GTVLIB_CACHE"] = str(cache)
    cohort = open_cohort("synthetic", "quick", seed=0)
    decodes, loader = [], cohort.loader
    cohort.loader = lambda pid, structures: decodes.append(pid) or loader(pid, structures)
    started = time.perf_counter()
    statistics.cohort_statistics(cohort)
    slices.prepare(cohort, crop="mfit", size=64, cache_dir=cache)
    slices.prepare(cohort, crop="none", size=64, cache_dir=cache)
    return len(decodes), time.perf_counter() - started


if __name__ == "__main__":
    main()
