"""Shared fixtures. Kernels started by nbval inherit this environment."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Batch mode for every kernel the tests start: no progress bars, plotly as HTML the book keeps.
os.environ.setdefault("GTVLIB_BATCH", "1")
os.environ.setdefault("PLOTLY_RENDERER", "notebook_connected")
os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory) -> Path:
    """Three synthetic patients (quick geometry), generated once per test session."""
    from gtvlib.data.synthetic import generate_cohort

    return generate_cohort(tmp_path_factory.mktemp("cohort") / "quick-seed0", "quick", seed=0, patients=3, workers=1)
