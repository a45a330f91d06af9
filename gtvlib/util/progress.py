"""The one progress helper: a tqdm bar in a terminal or JupyterLab, nothing in batch runs.

Batch runs (the book runner and the tests set ``GTVLIB_BATCH=1``) show no bars, so executed notebooks and
logs hold no carriage-return noise.
"""

from __future__ import annotations

import os


def progress(iterable, description: str = "", total: int | None = None, unit: str = "it", enabled: bool = True,
             leave: bool = True):
    """``iterable`` wrapped in a tqdm bar, or returned as it is when disabled or in a batch run."""
    if not enabled or os.environ.get("GTVLIB_BATCH"):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=description or None, total=total, unit=unit, leave=leave)
