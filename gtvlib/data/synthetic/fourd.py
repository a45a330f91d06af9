"""Synthetic 4D-CT: ten breathing phases, MIP and AVG, per-phase GTVs and the ITV, as genuine DICOM.

Each phase is rendered in full (new noise) on the planning grid with the tumour, nodes and diaphragm
moved by :mod:`gtvlib.data.synthetic.motion`; all phases, the MIP and the AVG share one frame of
reference. The ITV is the union of the phase GTVs, contoured from the continuous union of their shapes,
and written on the AVG series. Layout under ``4d/<patient>/``: ``phase_00`` … ``phase_90``, ``AVG``,
``MIP`` (each ``CT/`` with an RTSTRUCT beside it, none for the MIP), ``ground_truth.npz``, ``motion.json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from gtvlib.data.dicom.patient import load_patient
from gtvlib.data.dicom.structure_writers import write_rtstruct
from gtvlib.data.dicom.writers import ct_datasets, deterministic_uid, write_datasets
from gtvlib.data.synthetic.motion import PHASES, breathing_state, moved, sample_motion, tumour_displacement
from gtvlib.data.synthetic.render import render_patient
from gtvlib.data.synthetic.shapes import union
from gtvlib.data.synthetic.truth import roi_planes, save_masks
from gtvlib.data.volume import volume_cm3
from gtvlib.util.errors import GtvError


def write_4d(out: Path, index: int, seed: int, settings, anatomy_params: dict, tumour_params: dict,
             node: dict | None, grid, patient: dict, uid_root: str) -> dict:
    """Render and write one patient's 4D-CT under ``out``; return the motion parameters."""
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
        phase_node = None if node is None else moved(node, [0.0, 0.0, -motion["node_si_mm"] * breathing_state(phase)])
        phase_rng = np.random.default_rng(np.random.SeedSequence([seed, index, 4, k]))
        hu, masks, shapes = render_patient(anatomy, grid, phase_rng, moved(tumour_params, offset), phase_node,
                                           settings.supersample_z, settings.noise_scale, settings.kernel_sigma_mm)
        phases_hu.append(hu)
        gtv_shapes.append(shapes["GTV-1"])
        truth[f"GTV-1_phase_{10 * k:02d}"] = masks["GTV-1"]
        displacements.append(offset.round(4).tolist())
        series_uid = deterministic_uid(uid_root, "4d-ct", str(k))
        slices = ct_datasets(hu, grid.spacing_mm, grid.origin_xyz_mm, patient, series_uid,
                             f"4D-CT phase {10 * k}%" + (" (end-inhale)" if k == 0 else " (end-exhale)" if k == PHASES // 2 else ""),
                             series_number=100 + k)
        folder = out / f"phase_{10 * k:02d}"
        write_datasets(slices, folder / "CT")
        rois = [{"name": "GTV-1", "number": 1, "type": "GTV", "colour": (255, 0, 0), "planes": roi_planes(shapes["GTV-1"], grid)}]
        if phase_node is not None:
            rois.append({"name": "GTV-2", "number": 2, "type": "GTV", "colour": (255, 128, 0), "planes": roi_planes(shapes["GTV-2"], grid)})
        write_rtstruct(folder / "RTSTRUCT.dcm", slices, rois)
    stack = np.stack(phases_hu)
    itv_shape = union(gtv_shapes)
    for name, volume, number in (("AVG", stack.mean(axis=0), 120), ("MIP", stack.max(axis=0), 121)):
        slices = ct_datasets(volume, grid.spacing_mm, grid.origin_xyz_mm, patient, deterministic_uid(uid_root, "4d", name),
                             f"4D-CT {name}", series_number=number)
        write_datasets(slices, out / name / "CT")
        if name == "AVG":
            write_rtstruct(out / "AVG" / "RTSTRUCT.dcm", slices,
                           [{"name": "ITV", "number": 1, "type": "ITV", "colour": (255, 0, 255), "planes": roi_planes(itv_shape, grid)}])
    truth["ITV"] = np.logical_or.reduce([truth[f"GTV-1_phase_{10 * k:02d}"] for k in range(PHASES)])
    save_masks(out / "ground_truth.npz", truth)
    motion = dict(motion, phases_percent=[10 * k for k in range(PHASES)], tumour_displacement_mm=displacements,
                  itv_cm3=volume_cm3(truth["ITV"], grid.spacing_mm),
                  gtv_cm3_per_phase=[volume_cm3(truth[f"GTV-1_phase_{10 * k:02d}"], grid.spacing_mm) for k in range(PHASES)])
    (out / "motion.json").write_text(json.dumps(motion, indent=1, sort_keys=True) + "\n")
    return motion


def load_4d(folder: str | os.PathLike) -> dict:
    """A synthetic (or similarly laid out) 4D-CT: {"phase_00": Volume, …, "AVG": Volume, "MIP": Volume}.

    Phase volumes carry their GTV masks, the AVG carries the ITV; all share one frame of reference.
    """

    folder = Path(folder)
    names = sorted(p.name for p in folder.iterdir() if p.is_dir() and (p.name.startswith("phase_") or p.name in ("AVG", "MIP")))
    if not any(name.startswith("phase_") for name in names):
        raise GtvError(f"{folder}: no phase_XX folders; expected a 4D-CT written by gtvlib.data.synthetic.fourd")
    volumes = {}
    for name in names:
        required = ("GTV-1",) if name.startswith("phase_") else ("ITV",) if name == "AVG" else ()
        structures = "none" if name == "MIP" else "rtstruct"
        volumes[name] = load_patient(folder / name, structures=structures, required=required)
    frames = {v.metadata["frame_of_reference_uid"] for v in volumes.values()}
    if len(frames) != 1:
        raise GtvError(f"{folder}: phases in {len(frames)} frames of reference; expected one")
    return volumes
