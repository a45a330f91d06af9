"""Reading the project's YAML files (profiles, table of contents, data manifest) with clear errors."""

from __future__ import annotations

from pathlib import Path

import yaml

from gtvlib.util.errors import GtvError


def read_yaml(path: Path, what: str):
    """Parse a YAML file; a missing file or invalid YAML raises :class:`GtvError` naming ``path`` and ``what`` it is."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GtvError(f"{path}: {what} not found") from None
    except yaml.YAMLError as exc:
        raise GtvError(f"{path}: not valid YAML ({exc})") from exc
