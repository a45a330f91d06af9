"""The synthetic DICOM chest-CT cohort: the book's embedded default dataset.

``generate_cohort`` writes, per patient, a genuine CT series, an RTSTRUCT and a DICOM SEG of the same
structures, the ground-truth masks and every sampled parameter (optionally a 4D-CT under
``4d/<patient>/``, see :mod:`gtvlib.data.fourd`); per cohort, a clinical CSV (outcomes
from known effects) and a SHA-256 checksum list. Everything derives from the preset and the seed:
the same parameters and seed give byte-identical files (UIDs from the seed, fixed dates).

``synthetic_cohort`` is the cached entry point for chapters: it regenerates only when the
parameters (or the generator version) change. The cohort is written to a temporary folder and renamed
into place, so an interrupted run never leaves a half-written cohort behind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import time
import zipfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from gtvlib.data import phantom, tumour
from gtvlib.data.rtstruct import contours_from_field, write_rtstruct
from gtvlib.data.seg import seg_dataset
from gtvlib.data.series import ct_datasets, deterministic_uid, write_datasets
from gtvlib.errors import GtvError

GENERATOR_VERSION = "1"
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


PRESETS = {
    # Small enough that generation and every chapter fit the quick profile on a 2-core CPU.
    "quick": Preset(patients=16, matrix=128, pixel_mm=3.5, slice_mm=5.0, slices=(52, 60)),
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
    return replace(PRESETS[name], **overrides)


def cohort_key(settings: Preset, seed: int) -> str:
    """Hash of everything that determines the cohort's bytes."""
    text = json.dumps({"preset": asdict(settings), "seed": seed, "version": GENERATOR_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def save_masks(path: Path, masks: dict[str, np.ndarray]) -> None:
    """Masks (z, y, x) bit-packed in a deflated zip of .npy arrays, with fixed timestamps (reproducible)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, mask in masks.items():
            buffer = io.BytesIO()
            np.save(buffer, np.packbits(mask, axis=-1))
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())
        shape_info = zipfile.ZipInfo("shape.json", date_time=(1980, 1, 1, 0, 0, 0))
        archive.writestr(shape_info, json.dumps(list(next(iter(masks.values())).shape)))


def load_masks(path: Path) -> dict[str, np.ndarray]:
    """Read :func:`save_masks` output: bool (z, y, x) per name."""
    with zipfile.ZipFile(path) as archive:
        shape = json.loads(archive.read("shape.json"))
        return {name[:-4]: np.unpackbits(np.load(io.BytesIO(archive.read(name))), axis=-1, count=shape[2]).astype(bool)
                for name in archive.namelist() if name.endswith(".npy")}


def _roi_planes(shape, grid: phantom.Grid) -> dict[int, list[np.ndarray]]:
    """Contours of a shape at every slice-centre plane it crosses: {slice index: [(row, col) polygons]}."""
    x, y, z = grid.axis_mm("x"), grid.axis_mm("y"), grid.axis_mm("z")
    pad = max(grid.spacing_mm[1:])
    ys = slice(max(int(np.searchsorted(y, shape.low[1] - pad)), 0), min(int(np.searchsorted(y, shape.high[1] + pad, "right")), len(y)))
    xs = slice(max(int(np.searchsorted(x, shape.low[0] - pad)), 0), min(int(np.searchsorted(x, shape.high[0] + pad, "right")), len(x)))
    planes = {}
    if ys.start >= ys.stop or xs.start >= xs.stop:
        return planes
    for k in np.nonzero((z >= shape.low[2] - 1e-6) & (z <= shape.high[2] + 1e-6))[0]:
        sd = shape.sd(x[xs][None, :], y[ys][:, None], np.array(z[k]))
        if not np.any(sd < 0):
            continue
        polygons = contours_from_field(sd)
        if polygons:
            planes[int(k)] = [poly + np.array([ys.start, xs.start]) for poly in polygons]
    return planes


def _clinical_row(patient_id: str, rng: np.random.Generator, tumour_params: dict, node: dict | None, effects: dict) -> dict:
    """One row of the clinical table (NSCLC-Radiomics columns) with survival from known effects."""
    diameter_cm = 2 * (3 * tumour_params["volume_cm3"] / (4 * np.pi)) ** (1 / 3)
    t_stage = 1 if diameter_cm <= 3 else 2 if diameter_cm <= 5 else 3 if diameter_cm <= 7 else 4
    if node is None:
        n_stage = 0
    elif node["station"].startswith(("10", "11")):
        n_stage = 1
    else:
        same_side = (node["station"].endswith("R") and tumour_params["side"] == "right") or (node["station"].endswith("L") and tumour_params["side"] == "left")
        n_stage = 2 if same_side or node["station"] in ("7", "5", "3A", "3P", "8") else 3
    overall = "I" if (t_stage <= 2 and n_stage == 0) else "II" if n_stage <= 1 and t_stage <= 3 else "IIIa" if n_stage <= 2 else "IIIb"
    size_5cm = diameter_cm >= 5.0
    log_hazard = np.log(effects["baseline_hazard_per_day"]) + np.log(effects["hr_size_ge_5cm"]) * size_5cm + np.log(effects["hr_per_n_stage"]) * n_stage
    event_time = rng.exponential(1.0 / np.exp(log_hazard))
    censor_time = rng.uniform(365, effects["max_follow_up_days"])
    return {
        "PatientID": patient_id,
        "age": round(float(np.clip(rng.normal(68, 9), 40, 90)), 1),
        "clinical.T.Stage": t_stage,
        "Clinical.N.Stage": n_stage,
        "Clinical.M.Stage": 0,
        "Overall.Stage": overall,
        "Histology": str(rng.choice(["adenocarcinoma", "squamous cell carcinoma", "large cell", "nos"], p=[0.4, 0.35, 0.15, 0.1])),
        "gender": str(rng.choice(["male", "female"], p=[0.65, 0.35])),
        "Survival.time": int(min(event_time, censor_time)),
        "deadstatus.event": int(event_time <= censor_time),
        "gtv_volume_cm3": round(tumour_params["volume_cm3"], 3),
        "size_ge_5cm": int(size_5cm),
    }


OUTCOME_EFFECTS = {"baseline_hazard_per_day": 1 / 1400.0, "hr_size_ge_5cm": 1.635, "hr_per_n_stage": 1.25, "max_follow_up_days": 1825}


def generate_patient(index: int, settings: Preset, seed: int, out: Path) -> dict:
    """Render and write one patient; return its parameters (also written as parameters.json)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    patient_id = f"SYNTH-{index + 1:03d}"
    anatomy_params = phantom.sample_anatomy(rng)
    anatomy = phantom.build_anatomy(anatomy_params)
    form = tumour.sample_tumour_form(rng, anatomy_params["contrast_enhanced"])
    tumour_params = tumour.place_tumour(rng, form, anatomy, phantom.forbidden_organs(anatomy))
    node = (tumour.sample_node(rng, phantom.station_centres(anatomy["landmarks"]), anatomy_params["contrast_enhanced"])
            if rng.random() < settings.node_probability else None)
    nz = int(rng.integers(settings.slices[0], settings.slices[1] + 1))
    n, px = settings.matrix, settings.pixel_mm
    top = anatomy_params["lung_apex_z_mm"] + 15.0
    grid = phantom.Grid((nz, n, n), (settings.slice_mm, px, px),
                        (-px * (n - 1) / 2, -px * (n - 1) / 2, round(top - settings.slice_mm * (nz - 1), 3)))
    hu, masks, roi_shapes = phantom.render_patient(anatomy_params, grid, rng, tumour_params, node, settings.supersample_z)

    folder = out / patient_id
    uid_root = f"gtvlib-synthetic-{GENERATOR_VERSION}-{seed}-{patient_id}"
    patient = {"name": f"SYNTHETIC^{patient_id}", "id": patient_id, "sex": "O", "study_date": STUDY_DATE,
               "study_uid": deterministic_uid(uid_root, "study"), "frame_uid": deterministic_uid(uid_root, "frame")}
    slices = ct_datasets(hu, grid.spacing_mm, grid.origin_mm, patient, deterministic_uid(uid_root, "ct"))
    write_datasets(slices, folder / "CT")
    roi_names = [name for name in ("GTV-1", "GTV-2", "Lung-Left", "Lung-Right", "Heart", "Esophagus", "Spinal-Cord") if name in roi_shapes]
    roi_names += sorted(name for name in roi_shapes if name.startswith("LN-"))
    rois = [{"name": name, "number": number, "planes": _roi_planes(roi_shapes[name], grid),
             "type": "GTV" if name.startswith("GTV") else "ORGAN", "colour": ROI_COLOURS.get(name, (120, 120, 255))}
            for number, name in enumerate(roi_names, start=1)]
    write_rtstruct(folder / "RTSTRUCT.dcm", slices, rois)
    seg = seg_dataset(slices, {name: masks[name] for name in roi_names}, deterministic_uid(uid_root, "seg-series"),
                      deterministic_uid(uid_root, "seg"), STUDY_DATE)
    seg.save_as(folder / "SEG.dcm", enforce_file_format=True)
    save_masks(folder / "ground_truth.npz", {name: masks[name] for name in ["Body", *roi_names]})
    params = {"patient_id": patient_id, "grid": {"shape": list(grid.shape), "spacing_mm": list(grid.spacing_mm),
              "origin_mm": list(grid.origin_mm)}, "anatomy": anatomy_params, "tumour": tumour_params, "node": node,
              "landmarks_z_mm": anatomy["landmarks"], "rois": roi_names, "motion": None}
    if index < settings.four_d_patients:
        from gtvlib.data.fourd import write_4d

        params["motion"] = write_4d(out / "4d" / patient_id, index, seed, settings, anatomy_params, tumour_params,
                                    node, grid, patient, uid_root)
    (folder / "parameters.json").write_text(json.dumps(params, indent=1, sort_keys=True) + "\n")
    params["clinical"] = _clinical_row(patient_id, rng, tumour_params, node, OUTCOME_EFFECTS)
    return params


def generate_cohort(out: str | os.PathLike, preset_name: str = "quick", seed: int = 0, progress: bool = False,
                    workers: int | None = None, **overrides) -> Path:
    """Write a cohort to ``out`` atomically (temporary folder, then rename). Returns ``out``.

    ``workers``: processes rendering patients in parallel (default: the CPU count, at most 8). Each
    patient has its own seeded generator, so the files are the same for any number of workers.
    """
    settings = preset(preset_name, **overrides)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / "cohort.json").is_file():
        raise GtvError(f"{out}: exists and is not a synthetic cohort; refusing to overwrite it (expected an empty or new folder)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    started = time.perf_counter()
    try:
        workers = max(1, min(workers or os.cpu_count() or 1, 8, settings.patients))
        indices = range(settings.patients)
        if workers == 1:
            results = [generate_patient(index, settings, seed, staging) for index in _progress(indices, progress, "patients")]
        else:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers) as pool:
                jobs = pool.map(generate_patient, indices, [settings] * len(indices), [seed] * len(indices), [staging] * len(indices))
                results = list(_progress(jobs, progress, "patients", total=len(indices)))
        rows = [result["clinical"] for result in results]
        with (staging / "clinical.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        (staging / "cohort.json").write_text(json.dumps({
            "generator": "gtvlib.data.synthetic", "generator_version": GENERATOR_VERSION, "preset": preset_name,
            "settings": asdict(settings), "seed": seed, "key": cohort_key(settings, seed),
            "outcome_effects": OUTCOME_EFFECTS, "study_date": STUDY_DATE,
        }, indent=1, sort_keys=True) + "\n")
        write_checksums(staging)
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
    if progress:
        print(f"wrote {settings.patients} patients to {out} in {time.perf_counter() - started:.1f} s")
    return out


def write_checksums(folder: Path) -> Path:
    """``SHA256SUMS`` (sha256sum format, sorted relative paths) of every file under ``folder``."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS"):
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(folder).as_posix()}")
    target = folder / "SHA256SUMS"
    target.write_text("\n".join(lines) + "\n")
    return target


def synthetic_cohort(preset_name: str = "quick", seed: int = 0, cache_dir: str | os.PathLike | None = None,
                     progress: bool = False, **overrides) -> Path:
    """The cohort for these parameters, generated only when not already in the cache. Returns its folder."""
    from gtvlib.paths import cache_dir as default_cache

    settings = preset(preset_name, **overrides)
    folder = Path(cache_dir or default_cache()) / "cohorts" / f"{preset_name}-seed{seed}-{cohort_key(settings, seed)}"
    if (folder / "cohort.json").is_file():
        return folder
    return generate_cohort(folder, preset_name, seed, progress=progress, **overrides)


def _progress(iterable, enabled: bool, unit: str, total: int | None = None):
    if not enabled or os.environ.get("GTVLIB_BATCH"):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, unit=unit, total=total)
