"""The code passes ruff (pyflakes and import order, as configured in pyproject.toml): unused or undefined names and
unsorted imports fail ``make test``. Notebooks are checked for pyflakes only (their import cells stay as written)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _ruff() -> list[str]:
    found = Path(sys.executable).with_name("ruff")
    if found.is_file():
        return [str(found)]
    if shutil.which("ruff"):
        return [shutil.which("ruff")]
    pytest.fail("ruff is not installed; it is in the test extra (pip install -e .[test])")


def test_the_code_passes_ruff():
    done = subprocess.run([*_ruff(), "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_ruff_would_catch_an_unused_import(tmp_path):
    """The check itself works: a file with an unused import and unsorted imports fails it."""
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nimport os\n\nprint(os.sep)\n")
    done = subprocess.run([*_ruff(), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                           "--output-format", "concise", str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "F401" in done.stdout and "I001" in done.stdout, done.stdout
