"""Assemble the executed notebooks and the prose pages into a staging tree and render the book.

The staging tree (``_build/src``) holds ``_config.yml``, ``_toc.yml``, ``book/`` and the executed
copies of the notebooks at their source paths, so the book shows exactly the recorded run.
Jupyter Book runs with execution off and ``-W -n --keep-going``; HTML lands in ``_build/html``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from gtvlib.book.project import toc_notebooks
from gtvlib.book.runner import EXECUTED_DIR, PROVENANCE_KEY
from gtvlib.errors import GtvError

STAGING_DIR = Path("_build") / "src"
HTML_DIR = Path("_build") / "html"


def stage(root: Path) -> Path:
    """Build ``_build/src`` afresh from the prose pages and the executed notebooks; return it."""
    staging = root / STAGING_DIR
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, staging / name)
    shutil.copytree(root / "book", staging / "book")
    missing, not_ok = [], []
    for notebook in toc_notebooks(root):
        relative = notebook.relative_to(root)
        executed_path = root / EXECUTED_DIR / relative
        if not executed_path.is_file():
            missing.append(str(relative))
            continue
        executed = nbformat.read(executed_path, as_version=4)
        status = executed.metadata.get(PROVENANCE_KEY, {}).get("status")
        if status != "ok":
            not_ok.append(f"{relative} ({status})")
        # Belt and braces: MyST-NB must never re-execute a recorded run.
        executed.metadata.setdefault("mystnb", {})["execution_mode"] = "off"
        target = staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(executed, target)
    if missing:
        raise GtvError(
            f"no executed copy of {missing} in {EXECUTED_DIR}/; run `python -m gtvlib.book run` "
            "(or `make book`) first"
        )
    if not_ok:
        print(f"gtv-book: warning: building with notebooks that did not finish: {not_ok}", file=sys.stderr)
    return staging


def build_book(root: Path) -> Path:
    """Stage and render the book; return the path of ``index.html``. Raises on a failed build."""
    staging = stage(root)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book) if jupyter_book.exists() else "jupyter-book", "build", str(staging),
               "--path-output", str(root), "-W", "-n", "--keep-going"]
    print("gtv-book: " + " ".join(command), flush=True)
    done = subprocess.run(command, cwd=root)
    index = root / HTML_DIR / "index.html"
    if done.returncode != 0:
        raise GtvError(f"jupyter-book build failed (exit {done.returncode}); the warnings above name the pages")
    if not index.is_file():
        raise GtvError(f"jupyter-book finished but {index} is missing")
    return index
