"""What the chapters say about their own numbers, checked on the book tier's run; and a re-run of the chapters that
are cheap to execute, output by output (nbval), against that run's executed copies."""

import copy
import json
import os
import subprocess
import sys

import nbformat
import pytest

from gtvlib.book.claims import manifest_failures
from gtvlib.book.runner import RUN_MANIFEST, batch_environment
from tests.conftest import ROOT, repository_folders

pytestmark = pytest.mark.book
# Re-executed by nbval: the chapters that take a minute or two together and train nothing (01 reads one CT file,
# 02 a cached cohort, 05 the ablation runs chapter 04 trained, 06 simulates and fits). 03, 04 and 07–09 train
# networks for minutes each; they are executed once, by the book run.
RERUN_CHAPTERS = ["01_dicom_basics", "02_data_preparation", "05_statistics", "06_recurrence"]
SANITIZE = ROOT / "tests" / "book" / "nbval_sanitize.cfg"


def _manifest(book_run) -> dict:
    return json.loads((book_run["executed"] / RUN_MANIFEST).read_text(encoding="utf-8"))


def test_every_chapter_states_its_headline_numbers_and_its_claims_hold(book_run):
    manifest = _manifest(book_run)
    assert [n["name"] for n in manifest["notebooks"]]  # the whole book ran
    for notebook in manifest["notebooks"]:
        assert notebook["stated"]["claims"], f"{notebook['name']} checks no claim of its text"
    failures = manifest_failures(manifest)
    assert not failures, "\n".join(failures)


def test_a_claim_broken_by_an_edited_reference_fails_naming_chapter_and_claim(book_run):
    """The model no longer beats the reference once the reference's number is raised above it."""
    manifest = copy.deepcopy(_manifest(book_run))
    chapter = next(n for n in manifest["notebooks"] if any(c["relation"] in (">", ">=") for c in n["stated"]["claims"]))
    claim = next(c for c in chapter["stated"]["claims"] if c["relation"] in (">", ">="))
    claim["right"][1] = claim["left"][1] + 1.0
    (failure,) = manifest_failures(manifest)
    assert failure.startswith(f"chapter {chapter['name']}: claim {claim['text']!r} does not hold in this run: ")


def _nbval(notebooks: list, cwd) -> subprocess.CompletedProcess:
    with repository_folders():  # the chapters find the book run's cohorts and runs
        env = {**batch_environment(), "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.book.nbval_history",
                           "--nbval", "--nbval-current-env", "--nbval-sanitize-with", str(SANITIZE), "-q",
                           "--rootdir", str(cwd), "-o", "addopts=", *map(str, notebooks)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)


def test_rerunning_the_cheap_chapters_reproduces_every_output(book_run):
    """nbval executes each executed copy again (in its folder, with its injected parameters) and compares every
    output with the book run's: a number that changes between two runs fails here."""
    notebooks = [book_run["executed"] / "notebooks" / f"{name}.ipynb" for name in RERUN_CHAPTERS]
    done = _nbval(notebooks, ROOT)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]


def test_a_number_that_differs_on_the_rerun_fails(book_run, tmp_path):
    executed = nbformat.read(book_run["executed"] / "notebooks" / "01_dicom_basics.ipynb", as_version=4)
    changed = 0
    for cell in executed.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and "pixel spacing" in output.get("text", "") and not changed:
                output["text"] = output["text"].replace("matrix ", "matrix 1", 1)  # e.g. 128 × 128 becomes 1128 × 128
                changed += 1
    assert changed == 1
    nbformat.write(executed, tmp_path / "01_dicom_basics.ipynb")
    done = _nbval([tmp_path / "01_dicom_basics.ipynb"], tmp_path)
    assert done.returncode != 0 and "Cell outputs differ" in done.stdout and "matrix 1" in done.stdout, done.stdout[-4000:]
