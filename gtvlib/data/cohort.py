"""Cohorts as chapters see them: a dataset from the manifest, or the synthetic fallback, with statistics.

``open_cohort("nsclc_radiomics")`` uses the real data when they are in place under ``$GTVLIB_DATA``;
otherwise it falls back to the synthetic cohort and says why in ``cohort.note``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from gtvlib.data.volume import Volume
from gtvlib.errors import GtvError


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

    def load(self, patient_id: str, structures: str | None = None) -> Volume:
        return self.loader(patient_id, structures or self.structures)

    def parameters(self, patient_id: str) -> dict | None:
        """The generator's parameters of a synthetic patient (None for real data)."""
        path = self.folder / patient_id / "parameters.json"
        return json.loads(path.read_text()) if path.is_file() else None


def open_cohort(dataset: str = "synthetic", preset: str = "quick", seed: int = 0, patients: int = 0,
                structures: str = "rtstruct") -> Cohort:
    """The cohort a chapter runs on. ``patients`` > 0 limits (synthetic: sets) the number of patients."""
    from gtvlib.data.manifest import dataset_root, load_manifest, verify_dataset
    from gtvlib.data.patient import load_patient

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
    from gtvlib.data.synthetic import synthetic_cohort

    overrides = {"patients": patients} if patients > 0 else {}
    folder = synthetic_cohort(preset, seed, **overrides)
    info = json.loads((folder / "cohort.json").read_text())
    ids = sorted(p.name for p in folder.glob("SYNTH-*") if p.is_dir())
    settings = info["settings"]
    source = (f"synthetic cohort (gtvlib generator v{info['generator_version']}, preset {preset!r}, seed {seed}): "
              f"{len(ids)} patients, {settings['matrix']}² px of {settings['pixel_mm']} mm, {settings['slice_mm']} mm slices")
    roi_map = manifest["synthetic"]["roi_map"]
    return Cohort("synthetic", source, folder, ids,
                  lambda pid, s: load_patient(folder / pid, structures=s, roi_map=roi_map), note, structures)


def _real_cohort(dataset: str, entry: dict, root: Path, patients: int, structures: str) -> Cohort:
    from gtvlib.data.nifti import load_nifti
    from gtvlib.data.patient import load_patient

    excluded = set(entry.get("exclusions") or {})
    if dataset in ("msd_task06_lung", "structseg2019_lung_gtv"):  # NIfTI image/label pairs
        if dataset == "msd_task06_lung":
            ids = sorted(p.name[:-7] for p in (root / "imagesTr").glob("lung_*.nii.gz") if not p.name.startswith("._"))
            loader = lambda pid, s: load_nifti(root / "imagesTr" / f"{pid}.nii.gz", root / "labelsTr" / f"{pid}.nii.gz")
        else:
            ids = sorted(p.name for p in root.iterdir() if (p / "data.nii.gz").is_file())
            loader = lambda pid, s: load_nifti(root / pid / "data.nii.gz", root / pid / "label.nii.gz")
        structures = "nifti"
    else:
        patient_root = root / "NSCLC-Radiomics" if (root / "NSCLC-Radiomics").is_dir() else root
        ids = sorted(p.name for p in patient_root.iterdir() if p.is_dir() and p.name not in excluded and not p.name.startswith("."))
        roi_map = entry["roi_map"]
        loader = lambda pid, s: load_patient(patient_root / pid, structures=s, roi_map=roi_map)
        root = patient_root
    if patients > 0:
        ids = ids[:patients]
    return Cohort(dataset, f"{entry['title']} ({entry.get('doi', entry.get('url', ''))}), {len(ids)} patients, licence {entry['licence']}",
                  root, ids, loader, "", structures)


def cohort_statistics(cohort: Cohort, label: str = "GTV-1"):
    """Per-patient table: GTV volume (cm³), slices, tumour slices and their fraction, tumour share of the
    volume (%), centroid (mm) and, for synthetic patients, the sampled volume, side, lobe and category."""
    import pandas as pd

    rows = []
    for pid in cohort.patient_ids:
        volume = cohort.load(pid)
        mask = volume.masks.get(label)
        if mask is None:
            raise GtvError(f"{pid}: no {label} mask; it has {sorted(volume.masks)}")
        tumour_slices = int(mask.any(axis=(1, 2)).sum())
        centroid = np.array(np.nonzero(mask)).mean(axis=1) if mask.any() else np.full(3, np.nan)
        row = {"patient": pid, "gtv_cm3": volume.mask_volume_cm3(label), "slices": volume.shape[0],
               "tumour_slices": tumour_slices, "tumour_slice_fraction": tumour_slices / volume.shape[0],
               "tumour_share_percent": 100.0 * float(mask.mean()),
               "centroid_x_mm": volume.origin_mm[0] + centroid[2] * volume.spacing_mm[2],
               "centroid_y_mm": volume.origin_mm[1] + centroid[1] * volume.spacing_mm[1]}
        params = cohort.parameters(pid)
        if params:
            tumour = params["tumour"]
            row.update(sampled_cm3=tumour["volume_cm3"], side=tumour["side"], lobe=tumour["lobe"],
                       category=tumour["category"], node=params["node"]["station"] if params["node"] else "none")
        rows.append(row)
    return pd.DataFrame(rows)


CONVENTIONS = {
    "centre (ours)": lambda fraction, centre: centre,
    "area ≥ 50 %": lambda fraction, centre: fraction >= 0.5,
    "any overlap": lambda fraction, centre: fraction > 0,
    "fully inside": lambda fraction, centre: fraction >= 1.0 - 1e-9,
}


def convention_comparison(cohort: Cohort, roi: str = "GTV-1", factor: int = 8):
    """How rasterisation conventions change a GTV's voxel volume and Dice, per patient.

    Each RTSTRUCT contour is rasterised by our centre rule and by the area fraction of each pixel
    (``factor``² sub-pixels): area ≥ 50 %, any overlap, fully inside. Returns a table with, per
    patient and convention, the volume (cm³), its ratio to the polygon area volume, and Dice against
    the centre rule.
    """
    import pandas as pd
    from gtvlib.data.dicom import read_dataset
    from gtvlib.data.patient import scan_patient
    from gtvlib.data.rtstruct import coverage_fraction, rasterise_polygons, rasterise_roi, roi_numbers, canonical_names

    rows = []
    for pid in cohort.patient_ids:
        volume = cohort.load(pid, structures="none")
        found = scan_patient(cohort.folder / pid)
        ds = read_dataset(sorted(found["RTSTRUCT"])[0])
        mapping = {canonical: name for name, canonical in canonical_names(list(roi_numbers(ds)), {roi: []}).items()}
        if roi not in mapping:
            continue
        planes = rasterise_roi(ds, mapping[roi], volume, return_polygons=True)
        shape = volume.shape[1:]
        fraction = np.zeros(volume.shape, dtype=np.float32)
        centre = np.zeros(volume.shape, dtype=bool)
        for k, polygons in planes.items():
            fraction[k] = coverage_fraction(polygons, shape, factor)
            centre[k] = rasterise_polygons(polygons, shape)
        voxel_cm3 = volume.voxel_volume_mm3 / 1000.0
        polygon_cm3 = float(fraction.sum()) * voxel_cm3
        for name, rule in CONVENTIONS.items():
            mask = rule(fraction, centre)
            overlap = np.logical_and(mask, centre).sum()
            dice = 2.0 * overlap / (mask.sum() + centre.sum())
            rows.append({"patient": pid, "convention": name, "volume_cm3": float(mask.sum()) * voxel_cm3,
                         "polygon_cm3": polygon_cm3, "volume_ratio": float(mask.sum()) * voxel_cm3 / polygon_cm3,
                         "dice_vs_centre": float(dice)})
    return pd.DataFrame(rows)
