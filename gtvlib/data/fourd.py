"""Synthetic 4D-CT: ten breathing phases, MIP and AVG, per-phase GTVs and the ITV.

Breathing follows the Lujan model: a displacement ``-A · cos^(2n)(π p)`` over the phase ``p`` in [0, 1)
with n = 2 (a longer rest at exhale), so that phase 0 % is end-inhale (largest inferior displacement)
and 50 % end-exhale (no displacement: the planning CT's position). Amplitudes follow DATA.md: mostly
superior–inferior, lower lobe 5–20 mm, middle 3–10 mm, upper 0–8 mm, nodes 2–8 mm; antero-posterior
1–4 mm with hysteresis (a phase lag), left–right 0–3 mm. The diaphragm domes move with the breath.

Each phase is rendered in full (new noise) on the planning grid; all phases, the MIP and the AVG share
one frame of reference. The ITV is the union of the phase GTVs, contoured from the continuous union of
their shapes, and written on the AVG series.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from gtvlib.data import phantom
from gtvlib.data.shapes import union

PHASES = 10
LUJAN_EXPONENT = 2  # cos^(2n), n = 2
SI_AMPLITUDE_MM = {"upper": (0.0, 8.0), "middle": (3.0, 10.0), "lower": (5.0, 20.0)}


def sample_motion(rng: np.random.Generator, lobe: str, side: str) -> dict:
    """Breathing amplitudes (mm) and the AP hysteresis (fraction of a cycle) of one patient."""
    return {
        "tumour_si_mm": float(rng.uniform(*SI_AMPLITUDE_MM[lobe])),
        "tumour_ap_mm": float(rng.uniform(1.0, 4.0)),
        "tumour_lr_mm": float(rng.uniform(0.0, 3.0)) * (1.0 if side == "left" else -1.0),
        "node_si_mm": float(rng.uniform(2.0, 8.0)),
        "diaphragm_si_mm": float(rng.uniform(10.0, 20.0)),
        "hysteresis": float(rng.uniform(0.04, 0.12)),
    }


def breathing_state(phase: float, lag: float = 0.0) -> float:
    """Lujan breathing state in [0, 1]: 1 at end-inhale (phase 0), 0 at end-exhale (phase 0.5)."""
    return float(np.cos(np.pi * (phase - lag)) ** (2 * LUJAN_EXPONENT))


def tumour_displacement(motion: dict, phase: float) -> np.ndarray:
    """Displacement (x, y, z) in mm of the primary at ``phase``: inferior, anterior and lateral on inhale."""
    si, ap = breathing_state(phase), breathing_state(phase, motion["hysteresis"])
    return np.array([motion["tumour_lr_mm"] * si, -motion["tumour_ap_mm"] * ap, -motion["tumour_si_mm"] * si])


def _moved(params: dict, offset) -> dict:
    moved = dict(params)
    moved["centre_mm"] = (np.asarray(params["centre_mm"]) + np.asarray(offset)).tolist()
    return moved


def write_4d(out: Path, index: int, seed: int, settings, anatomy_params: dict, tumour_params: dict,
             node: dict | None, grid, patient: dict, uid_root: str) -> dict:
    """Render and write one patient's 4D-CT under ``out``; return the motion parameters."""
    from gtvlib.data.rtstruct import write_rtstruct
    from gtvlib.data.series import ct_datasets, deterministic_uid, write_datasets
    from gtvlib.data.synthetic import _roi_planes, save_masks

    rng = np.random.default_rng(np.random.SeedSequence([seed, index, 4]))
    motion = sample_motion(rng, tumour_params["lobe"], tumour_params["side"])
    patient = dict(patient, study_uid=deterministic_uid(uid_root, "4d-study"), frame_uid=deterministic_uid(uid_root, "4d-frame"))
    phases_hu, gtv_shapes, truth, displacements = [], [], {}, []
    for k in range(PHASES):
        phase = k / PHASES
        offset = tumour_displacement(motion, phase)
        anatomy = dict(anatomy_params)
        dome_shift = motion["diaphragm_si_mm"] * breathing_state(phase)
        anatomy["dome_right_z_mm"] = anatomy_params["dome_right_z_mm"] - dome_shift
        phase_node = None if node is None else _moved(node, [0.0, 0.0, -motion["node_si_mm"] * breathing_state(phase)])
        phase_rng = np.random.default_rng(np.random.SeedSequence([seed, index, 4, k]))
        hu, masks, shapes = phantom.render_patient(anatomy, grid, phase_rng, _moved(tumour_params, offset), phase_node,
                                                   settings.supersample_z)
        phases_hu.append(hu)
        gtv_shapes.append(shapes["GTV-1"])
        truth[f"GTV-1_phase_{10 * k:02d}"] = masks["GTV-1"]
        displacements.append(offset.round(4).tolist())
        series_uid = deterministic_uid(uid_root, "4d-ct", str(k))
        slices = ct_datasets(hu, grid.spacing_mm, grid.origin_mm, patient, series_uid,
                             f"4D-CT phase {10 * k}%" + (" (end-inhale)" if k == 0 else " (end-exhale)" if k == PHASES // 2 else ""),
                             series_number=100 + k)
        folder = out / f"phase_{10 * k:02d}"
        write_datasets(slices, folder / "CT")
        rois = [{"name": "GTV-1", "number": 1, "type": "GTV", "colour": (255, 0, 0), "planes": _roi_planes(shapes["GTV-1"], grid)}]
        if phase_node is not None:
            rois.append({"name": "GTV-2", "number": 2, "type": "GTV", "colour": (255, 128, 0), "planes": _roi_planes(shapes["GTV-2"], grid)})
        write_rtstruct(folder / "RTSTRUCT.dcm", slices, rois)
    stack = np.stack(phases_hu)
    itv_shape = union(gtv_shapes)
    for name, volume, number in (("AVG", stack.mean(axis=0), 120), ("MIP", stack.max(axis=0), 121)):
        slices = ct_datasets(volume, grid.spacing_mm, grid.origin_mm, patient, deterministic_uid(uid_root, "4d", name),
                             f"4D-CT {name}", series_number=number)
        write_datasets(slices, out / name / "CT")
        if name == "AVG":
            write_rtstruct(out / "AVG" / "RTSTRUCT.dcm", slices,
                           [{"name": "ITV", "number": 1, "type": "ITV", "colour": (255, 0, 255), "planes": _roi_planes(itv_shape, grid)}])
    truth["ITV"] = np.logical_or.reduce([truth[f"GTV-1_phase_{10 * k:02d}"] for k in range(PHASES)])
    save_masks(out / "ground_truth.npz", truth)
    motion = dict(motion, phases_percent=[10 * k for k in range(PHASES)], tumour_displacement_mm=displacements,
                  itv_cm3=float(truth["ITV"].sum()) * float(np.prod(grid.spacing_mm)) / 1000.0,
                  gtv_cm3_per_phase=[float(truth[f"GTV-1_phase_{10 * k:02d}"].sum()) * float(np.prod(grid.spacing_mm)) / 1000.0
                                     for k in range(PHASES)])
    (out / "motion.json").write_text(json.dumps(motion, indent=1, sort_keys=True) + "\n")
    return motion


def load_4d(folder: str | os.PathLike) -> dict:
    """A synthetic (or similarly laid out) 4D-CT: {"phase_00": Volume, …, "AVG": Volume, "MIP": Volume}.

    Phase volumes carry their GTV masks, the AVG carries the ITV; all share one frame of reference.
    """
    from gtvlib.data.patient import load_patient
    from gtvlib.errors import GtvError

    folder = Path(folder)
    names = sorted(p.name for p in folder.iterdir() if p.is_dir() and (p.name.startswith("phase_") or p.name in ("AVG", "MIP")))
    if not any(name.startswith("phase_") for name in names):
        raise GtvError(f"{folder}: no phase_XX folders; expected a 4D-CT written by gtvlib.data.fourd")
    volumes = {}
    for name in names:
        required = ("GTV-1",) if name.startswith("phase_") else ("ITV",) if name == "AVG" else ()
        structures = "none" if name == "MIP" else "rtstruct"
        volumes[name] = load_patient(folder / name, structures=structures, required=required)
    frames = {v.metadata["frame_of_reference_uid"] for v in volumes.values()}
    if len(frames) != 1:
        raise GtvError(f"{folder}: phases in {len(frames)} frames of reference; expected one")
    return volumes
