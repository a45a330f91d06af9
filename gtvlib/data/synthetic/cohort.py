"""The synthetic DICOM chest-CT cohort: the book's embedded default dataset.

``generate_cohort`` writes, per patient, a genuine CT series, an RTSTRUCT and a DICOM SEG of the same
structures, the ground-truth masks and every sampled parameter (optionally a 4D-CT under
``4d/<patient>/``, see :mod:`gtvlib.data.synthetic.fourd`); per cohort, a clinical CSV (outcomes
from known effects, :mod:`gtvlib.data.synthetic.clinical`) and a SHA-256 checksum list. Everything derives
from the preset and the seed: the same parameters and seed give byte-identical files (UIDs from the seed,
fixed dates).

``synthetic_cohort`` is the cached entry point for chapters: it regenerates only when the
parameters (or the generator version) change, or when the cached files no longer match their checksums. The cohort is written to a temporary folder and renamed
into place, so an interrupted run never leaves a half-written cohort behind.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from gtvlib.data.dicom.structure_writers import seg_dataset, write_rtstruct
from gtvlib.data.dicom.writers import ct_datasets, deterministic_uid, write_datasets
from gtvlib.data.synthetic import anatomy, tumour
from gtvlib.data.synthetic.clinical import OUTCOME_EFFECTS, clinical_row
from gtvlib.data.synthetic.fourd import write_4d
from gtvlib.data.synthetic.render import Grid, render_patient
from gtvlib.data.synthetic.truth import roi_planes, save_masks
from gtvlib.util.atomic import remove_stale_partials
from gtvlib.util.checksums import settings_key, verify_sha256sums, write_sha256sums
from gtvlib.util.errors import GtvError
from gtvlib.util.parallel import process_pool, worker_count
from gtvlib.util.progress import progress

GENERATOR_VERSION = "2"  # 2: headers that dciodvfy accepts (0 errors)


STUDY_DATE = "20200101"


ROI_COLOURS = {"GTV-1": (255, 0, 0), "GTV-2": (255, 128, 0), "Lung-Left": (0, 160, 255), "Lung-Right": (0, 200, 160),
               "Heart": (200, 0, 120), "Esophagus": (160, 120, 0), "Spinal-Cord": (255, 255, 0)}


@dataclass(frozen=True)
class Preset:
    """Cohort size and image geometry."""

    patients: int
    matrix: int  # rows = columns
    pixel_mm: float
    slice_mm: float
    slices: tuple[int, int]  # inclusive range of slices per patient
    supersample_z: int = 3
    node_probability: float = 0.4
    four_d_patients: int = 0  # the first N patients also get a 10-phase 4D-CT with MIP, AVG and ITV
    noise_scale: float = 1.0  # acquisition: × each patient's noise SD (an "external" scanner or a lower dose)
    kernel_sigma_mm: float = 0.0  # acquisition: in-plane Gaussian SD (mm) of a softer reconstruction kernel
    pet_patients: int = 0  # the first N patients also get an FDG-PET (PT series, IGTV truth), see synthetic.pet
    tumour_mix: str = "nsclc"  # nsclc (DATA.md's NSCLC mix) or graded (size strata, companions: synthetic.tumour)


# Acquisition fields enter a cohort's key and cohort.json only where they differ from these defaults, so the cohorts
# made before the fields existed keep their keys and bytes.
ACQUISITION_DEFAULTS = {"noise_scale": 1.0, "kernel_sigma_mm": 0.0, "pet_patients": 0, "tumour_mix": "nsclc"}
TUMOUR_MIXES = ("nsclc", "graded")


def settings_dict(settings: "Preset") -> dict:
    """The preset's fields as written to cohort.json and hashed into the key (acquisition fields only when not at their
    defaults)."""
    return {k: v for k, v in asdict(settings).items() if not (k in ACQUISITION_DEFAULTS and v == ACQUISITION_DEFAULTS[k])}


PRESETS = {
    # Small enough that generation and every chapter fit the quick profile on a 2-core CPU.
    "quick": Preset(patients=16, matrix=128, pixel_mm=3.5, slice_mm=5.0, slices=(52, 60)),
    # The quick geometry with graded difficulty: 40 patients, a third of the GTVs under 5 cm³, tumours against the
    # mediastinum and the pleura, atelectasis and vessels beside them (the segmentation chapters' cohort, 5 folds of 8).
    "graded": Preset(patients=40, matrix=128, pixel_mm=3.5, slice_mm=5.0, slices=(52, 60), tumour_mix="graded"),
    # The paper's geometry and the size of its local data set (112 patients).
    "paper": Preset(patients=112, matrix=512, pixel_mm=0.977, slice_mm=3.0, slices=(100, 150)),
}


def preset(name: str, **overrides) -> Preset:
    """A preset by name, with optional field overrides (e.g. ``patients=4``)."""
    if name not in PRESETS:
        raise GtvError(f"preset {name!r} is unknown; expected one of {sorted(PRESETS)}")
    unknown = set(overrides) - set(Preset.__dataclass_fields__)
    if unknown:
        raise GtvError(f"preset override {sorted(unknown)} unknown; expected fields of Preset: {sorted(Preset.__dataclass_fields__)}")
    settings = replace(PRESETS[name], **overrides)
    checks = [
        ("patients", isinstance(settings.patients, int) and settings.patients >= 1, "an integer ≥ 1"),
        ("matrix", isinstance(settings.matrix, int) and settings.matrix >= 16, "an integer ≥ 16 (pixels)"),
        ("pixel_mm", _positive(settings.pixel_mm), "a positive number of mm"),
        ("slice_mm", _positive(settings.slice_mm), "a positive number of mm"),
        ("slices", len(settings.slices) == 2 and all(isinstance(v, int) for v in settings.slices)
         and 2 <= settings.slices[0] <= settings.slices[1], "(min, max) integers with 2 ≤ min ≤ max"),
        ("supersample_z", isinstance(settings.supersample_z, int) and settings.supersample_z >= 1
         and settings.supersample_z % 2 == 1, "an odd integer ≥ 1"),
        ("node_probability", _positive(settings.node_probability, allow_zero=True) and settings.node_probability <= 1,
         "a probability between 0 and 1"),
        ("noise_scale", _positive(settings.noise_scale), "a positive factor (1 = the preset's noise)"),
        ("kernel_sigma_mm", _positive(settings.kernel_sigma_mm, allow_zero=True), "a number of mm ≥ 0 (0 = no extra smoothing)"),
        ("pet_patients", isinstance(settings.pet_patients, int) and 0 <= settings.pet_patients <= settings.patients,
         f"an integer from 0 to the number of patients ({settings.patients})"),
        ("tumour_mix", settings.tumour_mix in TUMOUR_MIXES, f"one of {TUMOUR_MIXES}"),
        ("four_d_patients", isinstance(settings.four_d_patients, int) and 0 <= settings.four_d_patients <= settings.patients,
         f"an integer from 0 to the number of patients ({settings.patients})"),
    ]
    for field_name, ok, expected in checks:
        if not ok:
            raise GtvError(f"preset {name!r}: {field_name}={getattr(settings, field_name)!r}; expected {expected}")
    return settings


def _positive(value, allow_zero: bool = False) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
            and (value >= 0 if allow_zero else value > 0))


def cohort_key(settings: Preset, seed: int) -> str:
    """Hash of everything that determines the cohort's bytes."""
    key = {"preset": settings_dict(settings), "seed": seed, "version": GENERATOR_VERSION}
    if settings.tumour_mix != "nsclc":  # the graded mix's own version: changing it leaves the other cohorts' keys alone
        key["mix_version"] = tumour.MIX_VERSIONS[settings.tumour_mix]
    return settings_key(key, length=12)


def generate_patient(index: int, settings: Preset, seed: int, out: Path) -> dict:
    """Render and write one patient; return its parameters (also written as parameters.json)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    patient_id = f"SYNTH-{index + 1:03d}"
    anatomy_params = anatomy.sample_anatomy(rng)
    shapes = anatomy.build_anatomy(anatomy_params)
    enhanced = anatomy_params["contrast_enhanced"]
    if settings.tumour_mix == "graded":
        form = tumour.sample_graded_form(rng, enhanced, index)
        tumour_params = tumour.place_tumour(rng, form, shapes, anatomy.forbidden_organs(shapes), tumour.GRADED_CATEGORIES)
        lung = shapes["lungs"]["Lung-Right" if tumour_params["side"] == "right" else "Lung-Left"]
        tumour_params["companions"] = tumour.sample_companions(rng, tumour_params, enhanced, anatomy_params["blood_hu"], lung)
    else:
        form = tumour.sample_tumour_form(rng, enhanced)
        tumour_params = tumour.place_tumour(rng, form, shapes, anatomy.forbidden_organs(shapes))
    node = (tumour.sample_node(rng, anatomy.station_centres(shapes["landmarks"]), anatomy_params["contrast_enhanced"])
            if rng.random() < settings.node_probability else None)
    nz = int(rng.integers(settings.slices[0], settings.slices[1] + 1))
    n, px = settings.matrix, settings.pixel_mm
    top = anatomy_params["lung_apex_z_mm"] + 15.0
    grid = Grid((nz, n, n), (settings.slice_mm, px, px),
                        (-px * (n - 1) / 2, -px * (n - 1) / 2, round(top - settings.slice_mm * (nz - 1), 3)))
    hu, masks, roi_shapes = render_patient(anatomy_params, grid, rng, tumour_params, node, settings.supersample_z,
                                           settings.noise_scale, settings.kernel_sigma_mm)

    folder = out / patient_id
    uid_root = f"gtvlib-synthetic-{GENERATOR_VERSION}-{seed}-{patient_id}"
    patient = {"name": f"SYNTHETIC^{patient_id}", "id": patient_id, "sex": "O", "study_date": STUDY_DATE,
               "study_uid": deterministic_uid(uid_root, "study"), "frame_uid": deterministic_uid(uid_root, "frame")}
    slices = ct_datasets(hu, grid.spacing_mm, grid.origin_xyz_mm, patient, deterministic_uid(uid_root, "ct"))
    write_datasets(slices, folder / "CT")
    roi_names = [name for name in ("GTV-1", "GTV-2", "Lung-Left", "Lung-Right", "Heart", "Esophagus", "Spinal-Cord") if name in roi_shapes]
    roi_names += sorted(name for name in roi_shapes if name.startswith("LN-"))
    rois = [{"name": name, "number": number, "planes": roi_planes(roi_shapes[name], grid),
             "type": "GTV" if name.startswith("GTV") else "ORGAN", "colour": ROI_COLOURS.get(name, (120, 120, 255))}
            for number, name in enumerate(roi_names, start=1)]
    write_rtstruct(folder / "RTSTRUCT.dcm", slices, rois)
    seg = seg_dataset(slices, {name: masks[name] for name in roi_names}, deterministic_uid(uid_root, "seg-series"),
                      deterministic_uid(uid_root, "seg"), STUDY_DATE)
    seg.save_as(folder / "SEG.dcm", enforce_file_format=True)
    save_masks(folder / "ground_truth.npz", {name: masks[name] for name in ["Body", *roi_names]})
    # parameters.json keeps the key "origin_mm" (x, y, z) of generator version 1, so the files stay identical
    params = {"patient_id": patient_id, "grid": {"shape": list(grid.shape), "spacing_mm": list(grid.spacing_mm),
              "origin_mm": list(grid.origin_xyz_mm)}, "anatomy": anatomy_params, "tumour": tumour_params, "node": node,
              "landmarks_z_mm": shapes["landmarks"], "rois": roi_names, "motion": None}
    if index < settings.four_d_patients:
        params["motion"] = write_4d(out / "4d" / patient_id, index, seed, settings, anatomy_params, tumour_params,
                                    node, grid, patient, uid_root)
    if index < settings.pet_patients:
        from datetime import datetime

        from gtvlib.data.synthetic.pet import write_pet

        params["pet"] = write_pet(out / "pet" / patient_id, index, seed, anatomy_params, tumour_params, node, grid, patient,
                                  uid_root, datetime.strptime(STUDY_DATE + "100000", "%Y%m%d%H%M%S"),
                                  supersample_z=settings.supersample_z)["acquisition"]
    (folder / "parameters.json").write_text(json.dumps(params, indent=1, sort_keys=True) + "\n")
    params["clinical"] = clinical_row(patient_id, rng, tumour_params, node, OUTCOME_EFFECTS)
    return params


def generate_cohort(out: str | os.PathLike, preset_name: str = "quick", seed: int = 0, show_progress: bool = False,
                    workers: int | None = None, **overrides) -> Path:
    """Write a cohort to ``out`` atomically (temporary folder, then rename). Returns ``out``.

    ``workers``: processes rendering patients in parallel (default: the CPU count, at most 8). Each
    patient has its own seeded generator, so the files are the same for any number of workers.
    """
    settings = preset(preset_name, **overrides)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise GtvError(f"seed={seed!r}; expected an integer ≥ 0")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise GtvError(f"workers={workers!r}; expected an integer ≥ 1 (or None for the CPU count)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GtvError(f"{out}: exists and is a file; expected a folder to write the cohort into")
    if out.exists() and any(out.iterdir()) and not (out / "cohort.json").is_file():
        raise GtvError(f"{out}: exists and is not a synthetic cohort; refusing to overwrite it (expected an empty or new folder)")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(out.parent)  # staging folders of generations that were killed
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    started = time.perf_counter()
    try:
        workers = worker_count(workers, settings.patients)
        indices = range(settings.patients)
        if workers == 1:
            shown = progress(indices, "patients", unit="patient", enabled=show_progress)
            results = [generate_patient(index, settings, seed, staging) for index in shown]
        else:
            with process_pool(workers) as pool:
                jobs = pool.map(generate_patient, indices, [settings] * len(indices), [seed] * len(indices), [staging] * len(indices))
                results = list(progress(jobs, "patients", total=len(indices), unit="patient", enabled=show_progress))
        rows = [result["clinical"] for result in results]
        with (staging / "clinical.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        (staging / "cohort.json").write_text(json.dumps({
            "generator": "gtvlib.data.synthetic", "generator_version": GENERATOR_VERSION, "preset": preset_name,
            "settings": settings_dict(settings), "seed": seed, "key": cohort_key(settings, seed),
            "outcome_effects": OUTCOME_EFFECTS, "study_date": STUDY_DATE,
        }, indent=1, sort_keys=True) + "\n")
        write_sha256sums(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)
    if show_progress:
        print(f"wrote {settings.patients} patients to {out} in {time.perf_counter() - started:.1f} s")
    return out


def synthetic_cohort(preset_name: str = "quick", seed: int = 0, cache_dir: str | os.PathLike | None = None,
                     show_progress: bool = False, **overrides) -> Path:
    """The cohort for these parameters, generated only when not already in the cache. Returns its folder."""
    from gtvlib.util.paths import cache_dir as default_cache

    settings = preset(preset_name, **overrides)
    folder = Path(cache_dir or default_cache()) / "cohorts" / f"{preset_name}-seed{seed}-{cohort_key(settings, seed)}"
    if (folder / "cohort.json").is_file():
        changed = verify_sha256sums(folder, folder / "SHA256SUMS") if (folder / "SHA256SUMS").is_file() else ["SHA256SUMS"]
        if not changed:
            return folder
        print(f"gtvlib: the cached cohort {folder.name} has {len(changed)} missing or changed file(s), e.g. {changed[0]}; "
              "generating it again")
    return generate_cohort(folder, preset_name, seed, show_progress=show_progress, **overrides)
