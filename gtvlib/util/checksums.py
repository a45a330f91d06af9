"""Checksums and settings keys: the one place that hashes files and settings.

* :func:`sha256_file`: hex SHA-256 of a file, read in blocks (datasets of many GB are fine).
* :func:`write_sha256sums` / :func:`verify_sha256sums`: a ``SHA256SUMS`` list in ``sha256sum`` format
  (``<hex>  <relative path>``), as a generated cohort or a recorded real dataset carries.
* :func:`tree_fingerprint`: a digest of the files under some folders (names; contents of small files, size and
  modification time of large ones): equal fingerprints mean that nothing there was added, changed or removed.
* :func:`settings_key`: a short hex key of JSON-serialisable settings (sorted keys), naming caches and
  run folders so that the same settings find the same folder and different settings never mix.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from gtvlib.util.errors import GtvError


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256sums_text(folder: str | os.PathLike, files: list[Path]) -> str:
    """``sha256sum``-format lines (``<hex>  <path relative to folder>``) for ``files``, in the given order."""
    folder = Path(folder)
    return "".join(f"{sha256_file(path)}  {Path(path).relative_to(folder).as_posix()}\n" for path in files)


def write_sha256sums(folder: str | os.PathLike, name: str = "SHA256SUMS") -> Path:
    """Write ``folder/name`` listing every file below ``folder`` (sorted relative paths, the list itself excluded)."""
    from gtvlib.util.atomic import write_text_atomic

    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != name)
    return write_text_atomic(folder / name, sha256sums_text(folder, files))


def read_sha256sums(list_path: str | os.PathLike) -> dict[str, str]:
    """{relative path: hex digest} of a ``sha256sum``-format list; a malformed line is a :class:`GtvError`."""
    list_path = Path(list_path)
    if not list_path.is_file():
        raise GtvError(f"{list_path}: checksum list missing")
    recorded = {}
    for number, line in enumerate(list_path.read_text().splitlines(), start=1):
        if not line:
            continue
        digest, separator, relative = line.partition("  ")
        if not separator or len(digest) != 64:
            raise GtvError(f"{list_path}, line {number}: {line[:80]!r} is not '<sha256 hex>  <path>'")
        recorded[relative] = digest
    return recorded


def verify_sha256sums(folder: str | os.PathLike, list_path: str | os.PathLike) -> list[str]:
    """Relative paths listed in ``list_path`` that are missing below ``folder`` or whose SHA-256 differs."""
    folder = Path(folder)
    return [relative for relative, digest in read_sha256sums(list_path).items()
            if not (folder / relative).is_file() or sha256_file(folder / relative) != digest]


def settings_key(settings, length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``settings`` as sorted-key JSON (``str`` for the rest)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def source_fingerprint(folder: str | os.PathLike, patient_id: str, patient_folder: str | os.PathLike | None = None,
                       listed: dict[str, str] | None = None) -> str:
    """A key of the files a patient's data come from, so a cache built from them notices any change.

    The files: ``patient_folder`` (default ``folder/<patient_id>/``), else the files under ``folder`` named after the
    patient (``imagesTr/<id>.nii.gz``, ``labelsTr/<id>.nii.gz``). Their content digests when ``folder`` holds a
    ``SHA256SUMS`` that lists them (a generated cohort: no hashing needed), else their sizes and modification
    times (an edited RTSTRUCT changes both). "" when no file is found. ``listed``: :func:`listed_digests`
    of ``folder``, read once by a caller that fingerprints many patients.
    """
    folder = Path(folder)
    patient = Path(patient_folder) if patient_folder is not None else folder / patient_id
    files = sorted(p for p in (patient.rglob("*") if patient.is_dir() else folder.rglob(f"{patient_id}*")) if p.is_file())
    listed = listed_digests(folder) if listed is None else listed
    facts = []
    for path in files:
        relative = path.relative_to(folder).as_posix()
        if relative in listed:
            facts.append((relative, listed[relative]))
        else:
            stat = path.stat()
            facts.append((relative, stat.st_size, stat.st_mtime_ns))
    return settings_key(facts) if facts else ""


def listed_digests(folder: str | os.PathLike) -> dict[str, str]:
    """{relative path: digest} of ``folder/SHA256SUMS``, or {} when the folder has no such list."""
    sums = Path(folder) / "SHA256SUMS"
    return read_sha256sums(sums) if sums.is_file() else {}


def tree_fingerprint(folders: list[str | os.PathLike], content_below_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 over every file below ``folders``, in sorted order: its relative name and, for a file under
    ``content_below_bytes``, its contents (a table or settings file rewritten with the same contents leaves the
    fingerprint as it was), for a larger one its size and modification time (caches and weights are written once).
    No name or path leaves the function."""
    digest = hashlib.sha256()
    for folder in map(Path, folders):
        digest.update(str(folder).encode() + b"\0")
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                info = path.stat()
                stamp = path.read_bytes() if info.st_size < content_below_bytes else f"{info.st_size}\0{info.st_mtime_ns}".encode()
                digest.update(f"{path.relative_to(folder)}\0".encode() + hashlib.sha256(stamp).digest())
    return digest.hexdigest()
