"""Assemble the executed notebooks and the prose pages into a staging tree and render the book.

The staging tree (``_build/src``) holds ``_config.yml``, ``_toc.yml``, ``book/`` and the executed
copies of the notebooks at their source paths, so the book shows exactly the recorded run.
Jupyter Book runs with execution off and ``-W -n --keep-going``; HTML lands in ``_build/html``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from gtvlib.book.project import toc_notebooks
from gtvlib.book.runner import EXECUTED_DIR, PROVENANCE_KEY
from gtvlib.util.errors import GtvError

STAGING_DIR = Path("_build") / "src"
HTML_DIR = Path("_build") / "html"
# plotly's `notebook_connected` renderer loads plotly.js from its CDN in two ways: a <script src> with an
# integrity hash, and an ES-module import of the same file without ".js".
PLOTLY_CDN = re.compile(r'https://cdn\.plot\.ly/plotly-(?P<version>[0-9][0-9.a-z-]*?)\.min(?:\.js)?(?=["\'])')
PLOTLY_MODULE_IMPORT = re.compile(r'<script type="module">\s*import\s+"(?P<src>[^"]*_static/plotly[^"]*)"\s*;?\s*</script>')
PLOTLY_INTEGRITY = re.compile(r'(<script[^>]*src="[^"]*_static/plotly[^"]*")\s+integrity="[^"]*"(?:\s+crossorigin="[^"]*")?')


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
    pages = embed_plotly(root / HTML_DIR)
    if pages:
        print(f"gtv-book: plotly.js served from _static/ on {pages} page(s): the book reads offline", flush=True)
    return index


def embed_plotly(html_dir: Path) -> int:
    """Serve plotly.js from the book itself: copy the copy that the plotly package ships to
    ``_static/plotly-<version>.min.js`` (once, about 5 MB) and point every page's CDN reference at it, so the
    figures draw without a network. Returns the number of pages changed. A page that asks for another
    plotly.js version than the installed package ships is a :class:`GtvError` (it would draw differently)."""
    import plotly

    bundled = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    static = html_dir / "_static"
    changed, shipped = 0, ""
    for page in sorted(html_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        versions = {m.group("version") for m in PLOTLY_CDN.finditer(text)}
        if not versions:
            continue
        shipped = shipped or _plotly_js_version(bundled)  # read once, only when a page needs it
        if versions != {shipped}:
            raise GtvError(f"{page} loads plotly.js {sorted(versions)} from the CDN but the installed plotly ships "
                           f"{shipped}; expected the same version (re-execute the book with this plotly)")
        local = static / f"plotly-{shipped}.min.js"
        if not local.is_file():
            static.mkdir(parents=True, exist_ok=True)
            shutil.copy2(bundled, local)
        relative = Path(*[".."] * (len(page.relative_to(html_dir).parts) - 1), "_static", local.name).as_posix()
        relative = relative if relative.startswith("..") else f"./{relative}"
        text = PLOTLY_INTEGRITY.sub(r"\1", PLOTLY_CDN.sub(relative, text))
        # a module import is refused on file:// pages (no CORS origin); a classic script is not
        text = PLOTLY_MODULE_IMPORT.sub(r'<script charset="utf-8" src="\g<src>"></script>', text)
        page.write_text(text, encoding="utf-8")
        changed += 1
    return changed


def _plotly_js_version(bundled: Path) -> str:
    """The version in the banner of plotly's bundled ``plotly.min.js`` ("plotly.js v4.1.1")."""
    match = re.search(r"plotly\.js v([0-9][0-9.a-z-]*)", bundled.read_text(encoding="utf-8", errors="replace")[:2000])
    if not match:
        raise GtvError(f"{bundled}: no 'plotly.js vX.Y.Z' banner; expected plotly's bundled plotly.js")
    return match.group(1)
