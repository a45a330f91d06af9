"""Pretrained weights named in ``data_manifest.yaml`` (``weights:``): where they go and whether they are there.

gtvlib never downloads weights. A chapter or a run asks for weights by their manifest name (e.g.
``"sam_med2d_b"``), by a path relative to ``$GTVLIB_DATA`` (``"weights/sam-med2d_b.pth"``) or by an absolute
path; :func:`resolve_weights` says where they are looked for and, when absent, what to place where.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gtvlib.util.errors import GtvError


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

    def known_sha256(self) -> str | None:
        """The SHA-256 this file must have: published in the manifest, else recorded by its user, else None."""
        from gtvlib.data.manifest import weights_record_path
        from gtvlib.util.checksums import read_sha256sums
        from gtvlib.util.paths import data_dir

        if self.entry and self.entry.get("sha256"):
            return self.entry["sha256"]
        record = weights_record_path()
        if not record.is_file() or self.path is None:
            return None
        try:
            relative = self.path.resolve().relative_to(data_dir().resolve()).as_posix()
        except ValueError:
            relative = str(self.path.resolve())
        return read_sha256sums(record).get(relative)

    def require_trusted(self) -> Path:
        """The path of present weights whose SHA-256 equals the known one: what may be unpickled.

        Unpickling runs code stored in the file, so the opt-in covers one known file, not whatever lies at
        the path later."""
        from gtvlib.util.checksums import sha256_file

        path = self.require()
        known = self.known_sha256()
        command = f"python -m gtvlib.data weights {self.name or self.requested} --record"
        if known is None:
            raise GtvError(f"{path}: unpickling runs code stored in the file, and no checksum of it is known; if you "
                           f"trust this file, record its checksum once ({command}) or give the published sha256 in "
                           "data_manifest.yaml")
        if sha256_file(path) != known:
            raise GtvError(f"{path}: its SHA-256 differs from the known {known[:12]}…: the file changed since it was "
                           f"recorded (or is not the published one); expected the trusted file ({command} after checking it)")
        return path

    def record(self) -> str:
        """Record the present file's SHA-256 in ``$GTVLIB_DATA/.gtvlib/weights.sha256``; return it."""
        from gtvlib.data.manifest import weights_record_path
        from gtvlib.util.atomic import write_text_atomic
        from gtvlib.util.checksums import read_sha256sums, sha256_file
        from gtvlib.util.paths import data_dir

        path = self.require()
        record = weights_record_path()
        lines = read_sha256sums(record) if record.is_file() else {}
        try:
            relative = path.resolve().relative_to(data_dir().resolve()).as_posix()
        except ValueError:
            relative = str(path.resolve())
        lines[relative] = sha256_file(path)
        write_text_atomic(record, "".join(f"{digest}  {name}\n" for name, digest in sorted(lines.items())))
        return lines[relative]

    def __str__(self) -> str:
        if self.path is None:
            return "weights: none requested: random initialisation"
        if self.found:
            return f"weights: {self.path}" + (f" ({self.name}: {self.entry['source']})" if self.entry else "")
        return f"weights {self.path} not found: training from random initialisation ({self.placement()})"


def resolve_weights(requested: str) -> WeightsFile:
    """Where the weights ``requested`` (manifest name, path under ``$GTVLIB_DATA``, absolute path or ``""``) are."""
    from gtvlib.data.manifest import load_weights_manifest
    from gtvlib.util.paths import data_dir

    if not requested:
        return WeightsFile("", None)
    manifest = load_weights_manifest()
    if requested in manifest:
        return WeightsFile(requested, data_dir() / manifest[requested]["file"], requested, manifest[requested])
    path = Path(requested).expanduser()
    by_file = {entry["file"]: name for name, entry in manifest.items()}
    name = "" if path.is_absolute() else by_file.get(path.as_posix(), "")
    return WeightsFile(requested, path if path.is_absolute() else data_dir() / path, name, manifest.get(name))
