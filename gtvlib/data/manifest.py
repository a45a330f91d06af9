"""``data_manifest.yaml``: what each dataset and each set of pretrained weights is, where it goes, and
whether a dataset is here and intact."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gtvlib.util.checksums import read_sha256sums, sha256sums_text, verify_sha256sums
from gtvlib.util.errors import GtvError
from gtvlib.util.paths import data_dir, project_root
from gtvlib.util.yamlfile import read_yaml

REQUIRED_KEYS = ("title", "citation", "licence", "access", "redistributable", "download_steps", "layout",
                 "expected", "published_checksums", "roi_map", "exclusions", "quirks", "status", "chapters")
STATUSES = ("available", "absent", "unavailable", "generated")


def manifest_path() -> Path:
    """``data_manifest.yaml`` at the repository root."""
    return project_root() / "data_manifest.yaml"


def load_manifest(path: str | os.PathLike | None = None) -> dict[str, dict]:
    """The datasets of the manifest, validated: {id: entry}. Raises :class:`GtvError` when malformed."""
    path = Path(path) if path else manifest_path()
    raw = read_yaml(path, "data manifest")
    if not isinstance(raw, dict) or not isinstance(raw.get("datasets"), dict):
        raise GtvError(f"{path}: expected a mapping with a 'datasets' mapping")
    for name, entry in raw["datasets"].items():
        if not isinstance(entry, dict):
            raise GtvError(f"{path}: dataset {name!r} must be a mapping")
        missing = [key for key in REQUIRED_KEYS if key not in entry]
        if missing:
            raise GtvError(f"{path}: dataset {name!r} lacks {missing}")
        if entry["status"] not in STATUSES:
            raise GtvError(f"{path}: dataset {name!r} has status {entry['status']!r}; expected one of {STATUSES}")
        if entry["redistributable"] is not (name == "synthetic"):
            raise GtvError(f"{path}: dataset {name!r}: redistributable must be false for real data (true only for the synthetic cohort)")
        layout = entry["layout"]
        if not isinstance(layout, dict) or "root" not in layout or not isinstance(layout.get("counts", {}), dict):
            raise GtvError(f"{path}: dataset {name!r}: layout needs a root and a counts mapping")
        for count_name, spec in layout.get("counts", {}).items():
            if not isinstance(spec, dict) or "glob" not in spec or "expected" not in spec:
                raise GtvError(f"{path}: dataset {name!r}: layout.counts.{count_name} needs glob and expected")
        if not isinstance(entry["roi_map"], dict) or not all(isinstance(v, list) for v in entry["roi_map"].values()):
            raise GtvError(f"{path}: dataset {name!r}: roi_map must map canonical names to lists of regexes")
        _check_types(path, name, entry)
    return raw["datasets"]


# The type every manifest value must have (a tuple: any of them); checked at load, before anything uses them.
FIELD_TYPES = {"title": str, "citation": str, "licence": str, "access": str, "redistributable": bool,
               "download_steps": list, "expected": dict, "published_checksums": dict, "exclusions": dict,
               "quirks": dict, "status": str, "chapters": list}


def _check_types(path: Path, name: str, entry: dict) -> None:
    """Types of a dataset entry's values, the count specs, and the roi_map regexes (compiled here)."""
    import re

    def fail(what: str, value, expected: str):
        raise GtvError(f"{path}: dataset {name!r}: {what} = {value!r}; expected {expected}")

    for key, kind in FIELD_TYPES.items():
        if not isinstance(entry[key], kind):
            fail(key, entry[key], f"a {kind.__name__}")
    for key in ("download_steps", "chapters"):
        if not all(isinstance(item, str) for item in entry[key]):
            fail(key, entry[key], "a list of strings")
    layout = entry["layout"]
    if not isinstance(layout["root"], str) or not layout["root"]:
        fail("layout.root", layout["root"], "a folder name under $GTVLIB_DATA")
    for key in ("patterns", "ignore"):
        if not isinstance(layout.get(key, []), list) or not all(isinstance(item, str) for item in layout.get(key, [])):
            fail(f"layout.{key}", layout.get(key), "a list of glob patterns")
    for count_name, spec in layout.get("counts", {}).items():
        if not isinstance(spec["glob"], str):
            fail(f"layout.counts.{count_name}.glob", spec["glob"], "a glob pattern")
        expected = spec["expected"]
        if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int) or expected < 0):
            fail(f"layout.counts.{count_name}.expected", expected, "a count ≥ 0, or null for any")
    if entry.get("identifiers", "keep") not in ("keep", "pseudonymise"):
        fail("identifiers", entry.get("identifiers"), "keep (public pseudonyms such as LUNG1-001) or pseudonymise "
             "(folder names that may identify a patient)")
    for canonical, patterns in entry["roi_map"].items():
        for pattern in patterns:
            if not isinstance(pattern, str):
                fail(f"roi_map.{canonical}", pattern, "regular expressions as strings")
            try:
                re.compile(pattern)
            except re.error as exc:
                fail(f"roi_map.{canonical}", pattern, f"a valid regular expression ({exc})")


WEIGHT_KEYS = ("file", "source", "layout")


def load_weights_manifest(path: str | os.PathLike | None = None) -> dict[str, dict]:
    """The ``weights:`` section, validated: {name: {file, source, layout}}; ``file`` is relative to ``$GTVLIB_DATA``."""
    path = Path(path) if path else manifest_path()
    raw = read_yaml(path, "data manifest")
    weights = raw.get("weights") if isinstance(raw, dict) else None
    if not isinstance(weights, dict):
        raise GtvError(f"{path}: expected a 'weights' mapping of names to {{file, source, layout}}")
    for name, entry in weights.items():
        missing = [key for key in WEIGHT_KEYS if not isinstance(entry, dict) or key not in entry]
        if missing:
            raise GtvError(f"{path}: weights {name!r} lacks {missing}")
        if Path(entry["file"]).is_absolute():
            raise GtvError(f"{path}: weights {name!r}: file {entry['file']!r} must be relative to $GTVLIB_DATA")
        digest = entry.get("sha256")
        if digest is not None and not (isinstance(digest, str) and len(digest) == 64
                                       and all(c in "0123456789abcdef" for c in digest)):
            raise GtvError(f"{path}: weights {name!r}: sha256 {digest!r}; expected 64 lower-case hex digits or null")
    return weights


def weights_record_path() -> Path:
    """``$GTVLIB_DATA/.gtvlib/weights.sha256``: checksums of weights files recorded by their user."""
    return data_dir() / ".gtvlib" / "weights.sha256"


def dataset_root(entry: dict) -> Path:
    """Where a dataset's files are placed: ``$GTVLIB_DATA/<layout.root>``."""
    return data_dir() / entry["layout"]["root"]


def _record_path(dataset: str) -> Path:
    return data_dir() / ".gtvlib" / f"{dataset}.sha256"


def _dataset_files(root: Path, layout: dict) -> list[Path]:
    ignored = set()
    for pattern in layout.get("ignore", []):
        ignored.update(root.glob(pattern))
    files = set()
    for pattern in layout.get("patterns", []):
        files.update(p for p in root.glob(pattern) if p.is_file() and p not in ignored)
    return sorted(files)


@dataclass
class Report:
    """The verification of one dataset."""

    dataset: str
    status: str  # ok | absent | incomplete | checksum mismatch | unavailable | generated
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "generated")


def verify_dataset(dataset: str, entry: dict, record: bool = False) -> Report:
    """Check presence, counts and (recorded) checksums of one real dataset."""
    root = dataset_root(entry)
    if entry["status"] == "generated":
        return Report(dataset, "generated", ["generated locally by gtvlib; nothing to place (see `python -m gtvlib.data synth`)"])
    how = [f"  get it: {step}" for step in entry["download_steps"]]
    if not root.is_dir():
        status = "unavailable" if entry["status"] == "unavailable" else "absent"
        return Report(dataset, status, [f"not found at {root}", f"  licence {entry['licence']}; {entry['access']}", *how,
                                        "  chapters fall back to the synthetic cohort and say so"])
    lines, status = [], "ok"
    for name, spec in entry["layout"].get("counts", {}).items():
        count = len([p for p in root.glob(spec["glob"]) if not p.name.startswith("._")])
        expected = spec["expected"]
        if expected is not None and count != expected:
            status = "incomplete"
            lines.append(f"{name}: {count} found, {expected} expected ({root / spec['glob']})")
        else:
            lines.append(f"{name}: {count}" + (f" of {expected}" if expected is not None else ""))
    files = _dataset_files(root, entry["layout"])
    record_file = _record_path(dataset)
    if record:
        record_file.parent.mkdir(parents=True, exist_ok=True)
        from gtvlib.util.atomic import write_text_atomic

        write_text_atomic(record_file, sha256sums_text(root, files))
        lines.append(f"recorded sha256 of {len(files)} files in {record_file}")
    elif record_file.is_file():
        recorded = read_sha256sums(record_file)
        bad = verify_sha256sums(root, record_file)
        if bad:
            status = "checksum mismatch"
            lines.append(f"{len(bad)} of {len(recorded)} files missing or changed since --record, e.g. {bad[:3]}")
        else:
            lines.append(f"sha256 of {len(recorded)} files match the record")
    else:
        lines.append(f"{len(files)} files; no checksum record yet (run verify {dataset} --record once)")
    return Report(dataset, status, lines)


def verify(dataset: str | None = None, record: bool = False, path: str | os.PathLike | None = None) -> list[Report]:
    """Verify one dataset or all of them."""
    datasets = load_manifest(path)
    if dataset is not None and dataset not in datasets:
        raise GtvError(f"dataset {dataset!r} is not in the manifest; expected one of {sorted(datasets)}")
    names = [dataset] if dataset else list(datasets)
    return [verify_dataset(name, datasets[name], record) for name in names]


def verify_cohort(folder: str | os.PathLike) -> list[str]:
    """Files of a generated cohort whose sha256 differs from its ``SHA256SUMS`` (empty when intact)."""
    sums = Path(folder) / "SHA256SUMS"
    if not sums.is_file():
        raise GtvError(f"{sums}: checksum list missing; expected a cohort written by gtvlib.data.synthetic")
    return verify_sha256sums(folder, sums)
