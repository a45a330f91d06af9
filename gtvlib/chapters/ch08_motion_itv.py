"""The motion chapter's experiments (iSeg, seed 002, METHODS.md §3): the 3-D U-Net's folds and where each patient is
scored, the external cohort, the motion-resolved ITVs of a 4D-CT cohort, and false positives against local failure.

Internal scores are out of fold (each patient predicted by the fold model that did not train on it); the external
and 4D-CT patients, which no fold saw, are predicted by the folds' models together (mean logits). Masks are bool
(z, y, x); spacings (dz, dy, dx) mm; volumes cm³.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from gtvlib.util.errors import GtvError

# The paper's published numbers, to stand beside ours, labelled as the paper's.
# iSeg (seed 002, METHODS.md §3): a 3-D U-Net on 739 patients of 9 clinics (5-fold CV), two external cohorts.
ISEG_SOURCE = "iSeg paper (seed 002): 739 internal patients (5-fold CV), external cohorts of 161 and 102"
# DSC median and interquartile range (low, high)
ISEG_DSC = {"internal (5-fold CV)": (0.73, 0.62, 0.80), "external 1 (n = 161)": (0.70, 0.52, 0.78),
            "external 2 (n = 102)": (0.71, 0.59, 0.79), "under motion (4D-CT)": (0.77, 0.68, 0.86)}
ISEG_FP_HR_PER_VOXEL = 1.01  # local failure per false-positive voxel (machine but not physician), p = 0.03
ISEG_FP_P = 0.03


def out_of_fold(runs) -> pd.DataFrame:
    """Per patient, the last epoch's scores by the fold model that held the patient out (``runs``: the fold runs'
    folders, fold k first), with a ``fold`` column; among them the false-positive volume (machine but not
    reference, cm³)."""
    from gtvlib.runs import RunRecord

    tables = []
    for fold, folder in enumerate(runs):
        table = RunRecord(Path(folder), writer=False).per_patient()
        tables.append(table.assign(fold=fold))
    table = pd.concat(tables, ignore_index=True)
    return table.sort_values("patient").reset_index(drop=True)


def scored(masks: dict[str, np.ndarray], labels: dict[str, np.ndarray], spacing: dict[str, tuple], **columns) -> pd.DataFrame:
    """Per patient: the scores of :func:`gtvlib.evaluation.patient_scores` (Dice, sensitivity, HD95 in mm, predicted,
    reference and false-positive volumes in cm³) of ``masks`` against ``labels`` as a table; ``columns``: constant
    columns to add (e.g. the cohort's name)."""
    from gtvlib.evaluation.volumes import patient_scores

    return pd.DataFrame(patient_scores(masks, labels, spacing).per_patient).assign(**columns)


def four_d_patients(cohort) -> list[str]:
    """The patients of a synthetic cohort that have a 4D-CT (``4d/<patient>/``)."""
    found = sorted(p.name for p in (Path(cohort.folder) / "4d").glob("*") if (p / "motion.json").is_file())
    if not found:
        raise GtvError(f"{cohort.folder}: no 4D-CT under 4d/; expected a cohort generated with four_d_patients > 0")
    return found


def motion_itvs(cohort, patient_id: str, models, window: str, patch, overlap: float, habit, rng,
                mip_reach_mm: float = 25.0) -> dict:
    """One 4D-CT patient: every phase segmented by ``models``; the machine ITV (union of its phases), the true ITV
    (union of the true phase GTVs, checked against the ITV written on the AVG), the MIP shortcut seeded by the
    end-exhale GTV (phase 50 %) within ``mip_reach_mm`` of it (more than the largest motion), and a simulated
    physician's ITV drawn around the true ITV with ``habit``.
    Returns {"phases": per-phase rows, "itv": the patient's row, "masks": the ITV masks, "volumes": the 4D-CT}."""
    from gtvlib.data.synthetic.fourd import load_4d
    from gtvlib.data.volume import volume_cm3
    from gtvlib.data.volumes import inference_box
    from gtvlib.data.windows import window_hu, window_preset
    from gtvlib.inference.inferers import ensemble_mask
    from gtvlib.itv import PHASE_NAMES, check_phases, itv_union, mip_itv, motion_amplitude_mm, physician_itv
    from gtvlib.metrics import patient_row, score

    folder = Path(cohort.folder) / "4d" / patient_id
    volumes = load_4d(folder)
    check_phases(volumes, source=f"4D-CT of {patient_id}")
    motion = json.loads((folder / "motion.json").read_text())
    chosen = window_preset(window)
    spacing = volumes[PHASE_NAMES[0]].spacing_mm
    machine, truth, phase_rows = [], [], []
    for name in PHASE_NAMES:
        volume = volumes[name]
        predicted = ensemble_mask(models, window_hu(volume.hu, chosen.center, chosen.width), patch, overlap,
                                  inference_box(volume.hu))
        reference = np.asarray(volume.masks["GTV-1"], bool)
        machine.append(predicted)
        truth.append(reference)
        phase_rows.append({**patient_row(patient_id, predicted, reference, spacing), "phase": name})
    true_itv = itv_union(truth)
    written = np.asarray(volumes["AVG"].masks["ITV"], bool)
    masks = {"true": true_itv, "machine": itv_union(machine),
             "MIP": mip_itv(volumes["MIP"].hu, truth[PHASE_NAMES.index("phase_50")], reach_mm=mip_reach_mm, spacing_mm=spacing),
             "physician": physician_itv(true_itv, spacing, rng, habit)}
    row = {"patient": patient_id, "amplitude_mm": motion_amplitude_mm(motion), "si_amplitude_mm": motion["tumour_si_mm"],
           "written_itv_dice": score(written, true_itv, spacing).dice,
           "phase_dice_median": float(np.median([r["dice"] for r in phase_rows]))}
    for name, mask in masks.items():
        row[f"{name}_cm3"] = volume_cm3(mask, spacing)
        if name != "true":
            agreement = score(mask, true_itv, spacing)
            row[f"{name}_dice"], row[f"{name}_sensitivity"] = agreement.dice, agreement.sensitivity  # share of the truth covered
    row["machine_not_physician_cm3"] = volume_cm3(masks["machine"] & ~masks["physician"], spacing)
    return {"phases": phase_rows, "itv": row, "masks": masks, "volumes": volumes, "machine_phases": machine,
            "true_phases": truth}


def failure_cohort(false_positive_cm3, patients: int, hr_per_cm3: float, control_3y: float, seed: int = 0) -> pd.DataFrame:
    """A simulated outcome cohort of ``patients``: each draws a false-positive volume (cm³) from the measured ones
    (with replacement) and a local failure whose hazard is multiplied by ``hr_per_cm3`` per cm³ of it (the known
    effect); ``control_3y``: local control at 3 years without false positives."""
    from gtvlib.recurrence.survival import failures_with_effect

    measured = np.asarray(false_positive_cm3, float)
    measured = measured[np.isfinite(measured)]
    if len(measured) < 2:
        raise GtvError(f"{len(measured)} measured false-positive volumes; expected at least 2 to draw a cohort from")
    drawn = np.random.default_rng([seed, 1]).choice(measured, size=patients, replace=True)
    outcomes = failures_with_effect(drawn, hr_per_cm3, control_3y, seed=seed)
    return outcomes.assign(false_positive_cm3=drawn)


def heart_noise_sd(volume) -> float:
    """The image noise of a scan (HU): the SD inside its Heart structure eroded by 2 voxels (blood, a uniform region
    away from its borders)."""
    from scipy import ndimage

    if "Heart" not in volume.masks:
        raise GtvError(f"no Heart structure (found {sorted(volume.masks)}); expected one to measure the noise in")
    inner = ndimage.binary_erosion(np.asarray(volume.masks["Heart"], bool), iterations=2)
    if not inner.any():
        raise GtvError("the Heart structure vanishes when eroded by 2 voxels; expected a heart of several voxels")
    return float(np.std(volume.hu[inner]))
