"""Shared fixtures. Kernels started by nbval inherit this environment."""

import contextlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Batch mode for every kernel the tests start: no progress bars, plotly as HTML the book keeps.
os.environ.setdefault("GTVLIB_BATCH", "1")
os.environ.setdefault("PLOTLY_RENDERER", "notebook_connected")
os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")


# The repository's own cache and runs folders (or those the user set): `make book` and the book tier use them, and
# their fingerprint in the run manifest says whether `make test` may reuse the executed book. Every other test writes
# into folders of its own (own_folders), so that running the tests never changes what that fingerprint covers.
FOLDER_VARIABLES = ("GTVLIB_CACHE", "GTVLIB_RUNS")
REPOSITORY_FOLDERS = {name: os.environ.get(name) for name in FOLDER_VARIABLES}


def _set_folders(values: dict) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session", autouse=True)
def own_folders(tmp_path_factory):
    """Unit and integration tests cache and train into a session folder, not the repository's .cache/gtvlib and runs/."""
    base = tmp_path_factory.mktemp("gtvlib-folders")
    _set_folders({"GTVLIB_CACHE": str(base / "cache"), "GTVLIB_RUNS": str(base / "runs")})
    yield base
    _set_folders(REPOSITORY_FOLDERS)


@contextlib.contextmanager
def repository_folders():
    """The repository's cache and runs folders for the duration (the book tier executes and re-runs the book there)."""
    during = {name: os.environ.get(name) for name in FOLDER_VARIABLES}
    _set_folders(REPOSITORY_FOLDERS)
    try:
        yield
    finally:
        _set_folders(during)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory) -> Path:
    """Three synthetic patients (quick geometry), generated once per test session."""
    from gtvlib.data.synthetic import generate_cohort

    return generate_cohort(tmp_path_factory.mktemp("cohort") / "quick-seed0", "quick", seed=0, patients=3, workers=1)


@pytest.fixture(scope="session")
def motion_cohort(tmp_path_factory) -> Path:
    """Three synthetic patients (quick geometry, seed 0), each with an FDG-PET, the first two also with a 10-phase
    4D-CT, generated once per session: the integration tests of PET, 4D-CT, ITVs, PET/CT training and DICOM
    conformance share it (one generation instead of six)."""
    from gtvlib.data.synthetic import generate_cohort

    return generate_cohort(tmp_path_factory.mktemp("motion") / "quick-seed0", "quick", seed=0, patients=3, pet_patients=3,
                           four_d_patients=2, workers=1)
