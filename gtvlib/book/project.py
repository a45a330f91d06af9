"""The book's table of contents and its notebooks (the repository root is :func:`gtvlib.util.paths.project_root`)."""

from __future__ import annotations

from pathlib import Path

from gtvlib.util.errors import GtvError
from gtvlib.util.yamlfile import read_yaml


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
