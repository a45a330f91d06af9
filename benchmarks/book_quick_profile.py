"""Wall time of the whole book in the quick profile: execute every chapter, then build the HTML.

Budget (DESIGN.md): at most 15 minutes on a 2-core CPU for the execution. Prints one line per
notebook and the totals; append the printed table row to benchmarks/RESULTS.md with the machine.

    .venv/bin/python benchmarks/book_quick_profile.py
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 15 * 60


def main() -> int:
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "gtvlib.book", "run", "--profile", "quick", "--no-progress"], cwd=ROOT)
    run_s = time.perf_counter() - started
    for stale in ("_build/html", "_build/.doctrees", "_build/jupyter_execute"):
        shutil.rmtree(ROOT / stale, ignore_errors=True)  # time a full build, not an incremental one
    started = time.perf_counter()
    build = subprocess.run([sys.executable, "-m", "gtvlib.book", "build"], cwd=ROOT, capture_output=True, text=True)
    build_s = time.perf_counter() - started
    manifest = json.loads((ROOT / "_build/executed/run_manifest.json").read_text())
    print()
    print(f"machine: {manifest['device']}; torch {manifest['torch_version']}")
    for notebook in manifest["notebooks"]:
        print(f"  {notebook['source']:45s} {notebook['status']:8s} {notebook['duration_s']:8.1f} s")
    print(f"execute (runner, wall): {run_s:.1f} s of a {BUDGET_S} s budget ({100 * run_s / BUDGET_S:.0f} %)")
    print(f"build (jupyter-book):   {build_s:.1f} s")
    print(f"| {time.strftime('%Y-%m-%d')} | {manifest['device']} | {len(manifest['notebooks'])} | "
          f"{run_s:.1f} | {build_s:.1f} | {manifest['git_commit'][:10]} |")
    return 0 if run.returncode == 0 and build.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
