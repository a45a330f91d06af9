"""The book tier: one execution of the whole quick book per test session, then every check reads its executed copies
and its HTML.

When ``make book`` has already executed this very commit in the quick profile (no uncommitted change, no parameter
set on the command line, every chapter ok, and no file of the cache, runs or data folders changed since: the run
manifest says so, :func:`gtvlib.book.runner.reusable_run`), its executed copies are checked instead of executing the
book a second time; the HTML is always built again (seconds).
"""

import subprocess
import sys

import pytest

from tests.conftest import ROOT, repository_folders

PROFILE = "quick"


@pytest.fixture(scope="session")
def book_run() -> dict:
    """The executed quick book: ``{"reused": why not | None, "executed": folder}``."""
    from gtvlib.book.runner import EXECUTED_DIR, reusable_run

    with repository_folders():
        why_not = reusable_run(ROOT, PROFILE)
        if why_not is None:
            print(f"\nbook tier: the executed copies of `make book` are reused ({ROOT / EXECUTED_DIR}: same commit, profile, cache)")
        else:
            run = subprocess.run([sys.executable, "-m", "gtvlib.book", "run", "--profile", PROFILE, "--no-progress"],
                                 cwd=ROOT, capture_output=True, text=True, timeout=3600)
            assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-4000:]
    return {"executed": ROOT / EXECUTED_DIR, "reused": why_not is None, "why_executed": why_not}


@pytest.fixture(scope="session")
def built_book(book_run):
    """The HTML of that run (``python -m gtvlib.book build``)."""
    build = subprocess.run([sys.executable, "-m", "gtvlib.book", "build"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-5000:] + build.stderr[-5000:]
    return ROOT / "_build" / "html"
