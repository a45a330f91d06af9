"""Loading one patient's DICOM folder (any layout) into a :class:`Volume` with its structures.

Files are grouped by header, not by name or folder: the CT series, RTSTRUCTs and SEGs are found by
Modality and linked by frame of reference and referenced series. Works for the synthetic cohort's
layout and for TCIA's ``<patient>/<study>/<series>/*.dcm``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from gtvlib.data.dicom.files import dicom_files, has_dicom_preamble, read_dataset
from gtvlib.data.dicom.rtstruct import canonical_names, load_rtstruct_masks
from gtvlib.data.dicom.seg import load_seg_masks
from gtvlib.data.dicom.series import load_ct_series
from gtvlib.data.volume import Volume
from gtvlib.util.errors import GtvError


@dataclass
class FoundSeries:
    """One series found below a folder: modality, number and description from its headers, and its files."""

    modality: str
    number: str
    description: str
    uid: str  # never shown: UIDs link a file back to the archive
    paths: list[Path] = field(default_factory=list)

    def label(self) -> str:
        return f"{self.modality} series {self.number} ({self.description}, {len(self.paths)} file(s))"


def scan_series(folder: str | os.PathLike) -> list[FoundSeries]:
    """Every DICOM series below ``folder`` (any layout, any file names), ordered by modality and number.

    Files that are not DICOM (notes, checksums) are ignored; a file that starts like DICOM but cannot be read
    is an error naming it, never a silently missing slice.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GtvError(f"{folder}: no such folder (expected a folder holding DICOM files)")
    found: dict[str, FoundSeries] = {}
    for directory, _, _ in sorted(os.walk(folder)):
        for path in dicom_files(Path(directory)):
            try:
                ds = read_dataset(path, stop_before_pixels=True)
            except GtvError:
                if has_dicom_preamble(path):
                    raise
                continue
            uid = str(ds.get("SeriesInstanceUID", "") or "")
            if not uid:
                raise GtvError(f"{path}: attribute SeriesInstanceUID is missing or empty (an incomplete or truncated DICOM "
                               "file?); expected every DICOM object to name its series")
            if uid not in found:
                found[uid] = FoundSeries(str(ds.get("Modality", "")), str(ds.get("SeriesNumber", "?")),
                                         str(ds.get("SeriesDescription", "") or "no description"), uid)
            found[uid].paths.append(path)
    return sorted(found.values(), key=lambda s: (s.modality, s.number, s.description))


def scan_patient(folder: str | os.PathLike) -> dict[str, list]:
    """Headers of every DICOM file below ``folder``: {"CT": {series uid: folders}, "RTSTRUCT": [paths], "SEG": [paths]}."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GtvError(f"{folder}: no such patient folder")
    found: dict = {"CT": defaultdict(set), "RTSTRUCT": [], "SEG": []}
    for series in scan_series(folder):
        if series.modality == "CT":
            found["CT"][series.uid].update(path.parent for path in series.paths)
        elif series.modality in ("RTSTRUCT", "SEG"):
            found[series.modality].extend(series.paths)
    return found


def load_patient(folder: str | os.PathLike, structures: str = "rtstruct", roi_map: dict | None = None,
                 required: tuple[str, ...] = ("GTV-1",)) -> Volume:
    """CT volume with masks from the RTSTRUCT (``structures="rtstruct"``), the SEG (``"seg"``) or none.

    ``roi_map``: canonical name → regexes, usually a dataset's ``roi_map`` from data_manifest.yaml
    (default: names that equal a canonical name, ignoring case; SEG labels are matched the same way).
    ``required``: canonical names that must be present.
    """
    found = scan_patient(folder)
    if not found["CT"]:
        raise GtvError(f"{folder}: no CT series found below this folder")
    if len(found["CT"]) > 1:
        where = sorted(str(f.relative_to(folder)) for folders in found["CT"].values() for f in folders)
        raise GtvError(f"{folder}: {len(found['CT'])} CT series (in {', '.join(where)}); expected one per patient")
    (folders,) = found["CT"].values()
    if len(folders) > 1:
        raise GtvError(f"{folder}: one CT series is split over folders {sorted(str(f.relative_to(folder)) for f in folders)}; "
                       "expected all its slices in one folder")
    volume = load_ct_series(next(iter(folders)))
    roi_map = roi_map or {name: [] for name in required}
    if structures == "rtstruct":
        if not found["RTSTRUCT"]:
            raise GtvError(f"{folder}: no RTSTRUCT found (expected one beside the CT series)")
        volume.masks = load_rtstruct_masks(sorted(found["RTSTRUCT"])[0], volume, roi_map, required)
    elif structures == "seg":
        if not found["SEG"]:
            raise GtvError(f"{folder}: no DICOM SEG found")
        raw = load_seg_masks(sorted(found["SEG"])[0], volume)
        mapping = canonical_names(list(raw), roi_map)
        volume.masks = {mapping.get(label, label): mask for label, mask in raw.items()}
        missing = [name for name in required if name not in volume.masks]
        if missing:
            raise GtvError(f"{folder}: the SEG has no segment for {missing}; its segments are {sorted(raw)}")
    elif structures != "none":
        raise GtvError(f"structures={structures!r}; expected 'rtstruct', 'seg' or 'none'")
    volume.metadata["patient_folder"] = Path(folder).name
    return volume
