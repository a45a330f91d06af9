"""Pretrained weights named in ``data_manifest.yaml`` (``weights:``): where they go and whether they are there.

gtvlib never downloads weights. A chapter or a run asks for weights by their manifest name (e.g.
``"sam_med2d_b"``), by a path relative to ``$GTVLIB_DATA`` (``"weights/sam-med2d_b.pth"``) or by an absolute
path; :func:`resolve_weights` says where they are looked for and, when absent, what to place where.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gtvlib.errors import GtvError


@dataclass(frozen=True)
class WeightsFile:
    """The weights a run asked for: ``requested`` as given, ``path`` where they are looked for (None when
    nothing was requested), ``name`` and ``entry`` of the manifest when it lists them."""

    requested: str
    path: Path | None
    name: str = ""
    entry: dict | None = None

    @property
    def found(self) -> bool:
        return self.path is not None and self.path.is_file()

    @property
    def usable(self) -> str:
        """The request when the file is present, else ``""`` (random initialisation): a chapter's fallback."""
        return self.requested if self.found else ""

    def placement(self) -> str:
        """What to place where, from the manifest entry when there is one."""
        source = f" ({self.entry['source']}; {self.entry['layout']})" if self.entry else ""
        return f"place the file at {self.path}{source}; gtvlib never downloads weights (see data_manifest.yaml, 'weights')"

    def require(self) -> Path:
        """The path of present weights, or a :class:`GtvError` saying what to place where."""
        if not self.found:
            raise GtvError(f"weights {self.requested!r} not found at {self.path}: {self.placement()}")
        return self.path

    def __str__(self) -> str:
        if self.path is None:
            return "weights: none requested: random initialisation"
        if self.found:
            return f"weights: {self.path}" + (f" ({self.name}: {self.entry['source']})" if self.entry else "")
        return f"weights {self.path} not found: training from random initialisation ({self.placement()})"


def resolve_weights(requested: str) -> WeightsFile:
    """Where the weights ``requested`` (manifest name, path under ``$GTVLIB_DATA``, absolute path or ``""``) are."""
    from gtvlib.data.manifest import load_weights_manifest
    from gtvlib.paths import data_dir

    if not requested:
        return WeightsFile("", None)
    manifest = load_weights_manifest()
    if requested in manifest:
        return WeightsFile(requested, data_dir() / manifest[requested]["file"], requested, manifest[requested])
    path = Path(requested).expanduser()
    by_file = {entry["file"]: name for name, entry in manifest.items()}
    name = "" if path.is_absolute() else by_file.get(path.as_posix(), "")
    return WeightsFile(requested, path if path.is_absolute() else data_dir() / path, name, manifest.get(name))
