"""Integration tier of tests/unit/book/test_notebook_rules.py: rules every chapter notebook follows (DESIGN.md, STYLE.md): stripped, python3 kernel, short code cells,"""

import subprocess
import sys

import nbformat
import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_plain_papermill_runs_a_chapter(tmp_path):
    """`papermill notebooks/X.ipynb out.ipynb -p name value` works without the runner."""
    out = tmp_path / "out.ipynb"
    subprocess.run(
        [sys.executable, "-m", "papermill", str(ROOT / "notebooks/01_dicom_basics.ipynb"), str(out),
         "-p", "histogram_bins", "30", "-k", "python3", "--no-progress-bar"],
        check=True, cwd=tmp_path, capture_output=True, timeout=600,
    )
    executed = nbformat.read(out, as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "histogram_bins = 30" in injected[0].source
    assert not any(o.output_type == "error" for c in executed.cells if c.cell_type == "code" for o in c.outputs)
