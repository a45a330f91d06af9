"""Cohorts as chapters see them: a dataset from the manifest, or the synthetic fallback.

``open_cohort("nsclc_radiomics")`` uses the real data when they are in place under ``$GTVLIB_DATA``;
otherwise it falls back to the synthetic cohort and says why in ``cohort.note``. A cohort from
:func:`open_cohort` decodes each patient once: later loads, in this chapter or the next, come from the
decoded-volume cache (:mod:`gtvlib.data.decoded`). Tables computed over a cohort are in
:mod:`gtvlib.data.statistics`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from gtvlib.data.decoded import DecodedVolumes
from gtvlib.data.dicom.nifti import load_nifti
from gtvlib.data.dicom.patient import load_patient
from gtvlib.data.manifest import dataset_root, load_manifest, verify_dataset
from gtvlib.data.synthetic.cohort import synthetic_cohort
from gtvlib.data.volume import Volume
from gtvlib.util.checksums import source_fingerprint
from gtvlib.util.errors import GtvError


@dataclass
class Cohort:
    """A set of patients and how to load each one as a :class:`Volume`."""

    dataset: str  # the dataset actually used
    source: str  # one line: what these data are
    folder: Path
    patient_ids: list[str]
    loader: Callable[[str, str], Volume] = field(repr=False)  # (patient id, structures) -> Volume
    note: str = ""  # why a fallback happened, if it did
    structures: str = "rtstruct"
    # patient id → its folder, when the ids are pseudonyms (a clinic's export is named after its patients);
    # only the loader sees the real names, never a table, a log or an error message
    folders: dict[str, Path] = field(default_factory=dict, repr=False)
    decoded: DecodedVolumes | None = field(default=None, repr=False)  # None: decode at every load

    def load(self, patient_id: str, structures: str | None = None) -> Volume:
        """One patient as a :class:`Volume`; for pseudonymised cohorts, errors and metadata name the pseudonym.

        With a decoded-volume cache, the files are decoded at the first load only (and again when they
        change); the volume's metadata then holds de-identified facts only (no UIDs or paths).
        """
        structures = structures or self.structures
        fingerprint = ""
        if self.decoded is not None:
            fingerprint = source_fingerprint(self.folder, patient_id, self.patient_folder(patient_id))
            cached = self.decoded.get(patient_id, structures, fingerprint)
            if cached is not None:
                return cached
        try:
            volume = self.loader(patient_id, structures)
        except GtvError as exc:
            if patient_id in self.folders:
                raise GtvError(str(exc).replace(str(self.folders[patient_id]), f"<patient {patient_id}>")) from None
            raise
        if patient_id in self.folders:
            volume.metadata.update(patient_folder=patient_id, source=f"<patient {patient_id}>")
        return volume if self.decoded is None else self.decoded.put(patient_id, structures, fingerprint, volume)

    def patient_folder(self, patient_id: str) -> Path:
        """Where a patient's files are (the pseudonym's folder is known to the cohort alone)."""
        return self.folders.get(patient_id, self.folder / patient_id)

    def parameters(self, patient_id: str) -> dict | None:
        """The generator's parameters of a synthetic patient (None for real data)."""
        path = self.patient_folder(patient_id) / "parameters.json"
        return json.loads(path.read_text()) if path.is_file() else None


def open_cohort(dataset: str = "synthetic", preset: str = "quick", seed: int = 0, patients: int = 0,
                structures: str = "rtstruct", settings: dict | None = None) -> Cohort:
    """The cohort a chapter runs on. ``patients`` > 0 limits (synthetic: sets) the number of patients; ``settings``:
    further fields of the synthetic preset (e.g. ``{"noise_scale": 2.0, "kernel_sigma_mm": 1.5}`` for a cohort
    from another scanner, ``{"four_d_patients": 4}``), named in the cohort's ``source``."""
    manifest = load_manifest()
    if dataset not in manifest:
        raise GtvError(f"dataset {dataset!r} is not in data_manifest.yaml; expected one of {sorted(manifest)}")
    note = ""
    if dataset != "synthetic":
        entry = manifest[dataset]
        report = verify_dataset(dataset, entry)
        if report.status in ("ok",):
            return _real_cohort(dataset, entry, dataset_root(entry), patients, structures)
        note = (f"dataset {dataset!r} is {report.status} under {dataset_root(entry)}; using the synthetic cohort "
                f"instead (see `python -m gtvlib.data verify {dataset}`)")
    overrides = dict(settings or {}, **({"patients": patients} if patients > 0 else {}))
    folder = synthetic_cohort(preset, seed, **overrides)
    info = json.loads((folder / "cohort.json").read_text())
    ids = sorted(p.name for p in folder.glob("SYNTH-*") if p.is_dir())
    written = info["settings"]
    acquisition = "".join(f", {name} {written[name]}" for name in ("noise_scale", "kernel_sigma_mm", "four_d_patients", "pet_patients")
                          if written.get(name))
    source = (f"synthetic cohort (gtvlib generator v{info['generator_version']}, preset {preset!r}, seed {seed}): "
              f"{len(ids)} patients, {written['matrix']}² px of {written['pixel_mm']} mm, {written['slice_mm']} mm slices"
              f"{acquisition}")
    roi_map = manifest["synthetic"]["roi_map"]
    decoded = DecodedVolumes({"folder": str(folder.resolve()), "dataset": "synthetic", "roi_map": roi_map})
    return Cohort("synthetic", source, folder, ids,
                  lambda pid, s: load_patient(folder / pid, structures=s, roi_map=roi_map), note, structures,
                  decoded=decoded)


def _real_cohort(dataset: str, entry: dict, root: Path, patients: int, structures: str) -> Cohort:
    excluded = set(entry.get("exclusions") or {})
    folders: dict[str, Path] = {}
    if dataset in ("msd_task06_lung", "structseg2019_lung_gtv"):  # NIfTI image/label pairs
        if dataset == "msd_task06_lung":
            ids = sorted(p.name[:-7] for p in (root / "imagesTr").glob("lung_*.nii.gz") if not p.name.startswith("._"))
            loader = lambda pid, s: load_nifti(root / "imagesTr" / f"{pid}.nii.gz", root / "labelsTr" / f"{pid}.nii.gz")
        else:
            ids, loader = structseg_cases(root)
        structures = "nifti"
        ids = ids[:patients] if patients > 0 else ids
    else:  # one folder of DICOM per patient
        root = root / "NSCLC-Radiomics" if (root / "NSCLC-Radiomics").is_dir() else root
        ids = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in excluded and not p.name.startswith("."))
        ids = ids[:patients] if patients > 0 else ids
        if entry.get("identifiers", "keep") == "pseudonymise":  # folder names may be names or record numbers
            folders = {f"{dataset.upper()}-{number:03d}": root / name for number, name in enumerate(ids, start=1)}
            ids = list(folders)
        roi_map = entry["roi_map"]
        loader = lambda pid, s: load_patient(folders.get(pid, root / pid), structures=s, roi_map=roi_map)
    source = f"{entry['title']} ({entry.get('doi', entry.get('url', ''))}), {len(ids)} patients, licence {entry['licence']}"
    decoded = DecodedVolumes({"folder": str(root.resolve()), "dataset": dataset, "roi_map": entry.get("roi_map"),
                              "folders": {pid: str(path) for pid, path in folders.items()}})
    return Cohort(dataset, source + (", shown under pseudonyms" if folders else ""), root, ids, loader, "", structures,
                  folders, decoded)


def structseg_cases(root: Path) -> tuple[list[str], Callable[[str, str], Volume]]:
    """The cases of a StructSeg2019 Task 4 layout (``<root>/<n>/data.nii.gz`` + ``label.nii.gz``), numerically
    ordered, and their loader."""
    ids = sorted((p.name for p in Path(root).iterdir() if (p / "data.nii.gz").is_file()),
                 key=lambda name: (not name.isdigit(), int(name) if name.isdigit() else 0, name))
    return ids, lambda pid, s: load_nifti(Path(root) / pid / "data.nii.gz", Path(root) / pid / "label.nii.gz")


def structseg_cohort(root: str | os.PathLike, source: str) -> Cohort:
    """A folder in the StructSeg2019 Task 4 layout (the real one, or a cohort exported by
    :func:`gtvlib.data.structseg.export_structseg`) as a cohort read through the NIfTI loader."""
    root = Path(root)
    if not root.is_dir():
        raise GtvError(f"{root}: no such folder; expected Lung_GTV/<n>/data.nii.gz + label.nii.gz")
    ids, loader = structseg_cases(root)
    if not ids:
        raise GtvError(f"{root}: no case folder holding data.nii.gz; expected the StructSeg2019 Task 4 layout "
                       "<n>/data.nii.gz + <n>/label.nii.gz")
    decoded = DecodedVolumes({"folder": str(root.resolve()), "dataset": "structseg_layout", "roi_map": None, "folders": {}})
    return Cohort("structseg_layout", f"{source}: {len(ids)} cases in the StructSeg2019 Task 4 layout (NIfTI)", root, ids,
                  loader, "", "nifti", {}, decoded)
