"""Where the book lives: the repository root, its table of contents, its notebooks."""

from __future__ import annotations

import os
from pathlib import Path

from gtvlib.errors import GtvError
from gtvlib.yamlfile import read_yaml

_MARKERS = ("_toc.yml", "_config.yml")


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The book's root folder: the nearest folder at or above ``start`` holding ``_toc.yml`` and
    ``_config.yml``; else the checkout gtvlib was installed from (editable install)."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).is_file() for marker in _MARKERS):
            return folder
    package_checkout = Path(__file__).resolve().parents[2]
    if all((package_checkout / marker).is_file() for marker in _MARKERS):
        return package_checkout
    raise GtvError(
        f"{here}: not inside the gtv-book repository (no folder above it holds {' and '.join(_MARKERS)}); "
        "run from the repository or pass --root"
    )


def toc_files(root: Path) -> list[str]:
    """Every ``file:`` entry of ``_toc.yml`` in reading order (root first), without extension."""
    toc_path = root / "_toc.yml"
    toc = read_yaml(toc_path, "table of contents")
    if not isinstance(toc, dict) or "root" not in toc:
        raise GtvError(f"{toc_path}: expected a Jupyter Book 1.x table of contents with a 'root' entry")
    files: list[str] = [str(toc["root"])]

    def walk(node) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(str(node["file"]))
            for key in ("parts", "chapters", "sections"):
                walk(node.get(key))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({key: toc[key] for key in ("parts", "chapters", "sections") if key in toc})
    return [str(Path(entry).with_suffix("")) if Path(entry).suffix in (".md", ".ipynb") else entry for entry in files]


def toc_notebooks(root: Path) -> list[Path]:
    """The notebooks of the book in table-of-contents order (absolute paths)."""
    notebooks = []
    for entry in toc_files(root):
        path = root / f"{entry}.ipynb"
        if path.is_file():
            notebooks.append(path)
        elif not (root / f"{entry}.md").is_file():
            raise GtvError(f"{root / '_toc.yml'}: entry {entry!r} has neither {entry}.ipynb nor {entry}.md")
    return notebooks
