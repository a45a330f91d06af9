"""The one place that knows where data and caches live.

* ``GTVLIB_DATA``: root of the real datasets (default: ``data/`` in the repository, else ``~/gtvlib-data``).
* ``GTVLIB_CACHE``: generated cohorts, slice caches (default: ``.cache/gtvlib`` in the repository,
  else ``~/.cache/gtvlib``).
"""

from __future__ import annotations

import os
from pathlib import Path


def _repository() -> Path | None:
    from gtvlib.book.project import project_root
    from gtvlib.errors import GtvError

    try:
        return project_root()
    except GtvError:
        return None


def data_dir() -> Path:
    """Root folder of the real datasets."""
    if os.environ.get("GTVLIB_DATA"):
        return Path(os.environ["GTVLIB_DATA"]).expanduser()
    repository = _repository()
    return repository / "data" if repository else Path.home() / "gtvlib-data"


def cache_dir() -> Path:
    """Root folder of generated data and caches (created when missing)."""
    if os.environ.get("GTVLIB_CACHE"):
        folder = Path(os.environ["GTVLIB_CACHE"]).expanduser()
    else:
        repository = _repository()
        folder = repository / ".cache" / "gtvlib" if repository else Path.home() / ".cache" / "gtvlib"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def runs_dir() -> Path:
    """Root folder of training runs (``GTVLIB_RUNS``, default ``runs/`` in the repository)."""
    if os.environ.get("GTVLIB_RUNS"):
        folder = Path(os.environ["GTVLIB_RUNS"]).expanduser()
    else:
        repository = _repository()
        folder = repository / "runs" if repository else Path.home() / "gtvlib-runs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
