"""The one place that knows where the project, the data, the caches and the runs live.

* :func:`project_root`: the repository (the folder holding ``_toc.yml`` and ``_config.yml``).
* ``GTVLIB_DATA``: root of the real datasets and weights (default: ``data/`` in the repository, else
  ``~/gtvlib-data``).
* ``GTVLIB_CACHE``: generated cohorts, slice caches (default: ``.cache/gtvlib`` in the repository,
  else ``~/.cache/gtvlib``).
* ``GTVLIB_RUNS``: training runs (default: ``runs/`` in the repository, else ``~/gtvlib-runs``).
"""

from __future__ import annotations

import os
from pathlib import Path

from gtvlib.util.errors import GtvError

_MARKERS = ("_toc.yml", "_config.yml")


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The book's root folder: the nearest folder at or above ``start`` (default: the working folder)
    holding ``_toc.yml`` and ``_config.yml``; else the checkout gtvlib was installed from (editable install)."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).is_file() for marker in _MARKERS):
            return folder
    package_checkout = Path(__file__).resolve().parents[2]  # gtvlib/util/paths.py → the checkout
    if all((package_checkout / marker).is_file() for marker in _MARKERS):
        return package_checkout
    raise GtvError(
        f"{here}: not inside the gtv-book repository (no folder above it holds {' and '.join(_MARKERS)}); "
        "run from the repository or pass --root"
    )


def _repository() -> Path | None:
    try:
        return project_root()
    except GtvError:
        return None


def _folder(variable: str, in_repository: str, at_home: str, create: bool) -> Path:
    if os.environ.get(variable):
        folder = Path(os.environ[variable]).expanduser()
    else:
        repository = _repository()
        folder = repository / in_repository if repository else Path.home() / at_home
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def data_dir() -> Path:
    """Root folder of the real datasets and pretrained weights (not created: it is the user's)."""
    return _folder("GTVLIB_DATA", "data", "gtvlib-data", create=False)


def cache_dir() -> Path:
    """Root folder of generated data and caches (created when missing)."""
    return _folder("GTVLIB_CACHE", ".cache/gtvlib", ".cache/gtvlib", create=True)


def runs_dir() -> Path:
    """Root folder of training runs (created when missing)."""
    return _folder("GTVLIB_RUNS", "runs", "gtvlib-runs", create=True)
