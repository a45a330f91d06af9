"""Integration tier of tests/unit/test_environment.py: the environment files agree: pyproject ranges, constraints pins, environment.yml, Jupyter Book 1.x."""

from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_jupyterlab_runs_with_the_environments_kernel():
    """`make lab` opens the chapters in JupyterLab 4 with the kernel that `make` installed into the environment."""
    import json
    import os
    import subprocess
    import sys

    jupyter = Path(sys.executable).parent / "jupyter"
    environment = {**os.environ, "JUPYTER_PREFER_ENV_PATH": "1"}
    version = subprocess.run([str(jupyter), "lab", "--version"], capture_output=True, text=True, check=True, env=environment)
    assert version.stdout.strip().startswith("4.")
    specs = json.loads(subprocess.run([str(jupyter), "kernelspec", "list", "--json"], capture_output=True, text=True,
                                      check=True, env=environment).stdout)["kernelspecs"]
    assert Path(specs["python3"]["resource_dir"]).resolve().is_relative_to(Path(sys.prefix).resolve())
    assert "jupyter lab notebooks/" in (ROOT / "Makefile").read_text()
