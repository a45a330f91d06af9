"""The IGTV chapter's analyses (seed 004, METHODS.md §5): the PET/CT cohort's cases, why the IGTV's edge is faint on
PET (SUV along the breathing axis; the uptake of the motion shell against the tumour's), the ablation arms trained
by :func:`gtvlib.crossval.train_jobs`, and their per-patient scores beside the references that need no training.

Arrays are (z, y, x) on the CT grid (:class:`~gtvlib.data.petct.PetCtCase`); distances in mm, volumes in cm³.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from gtvlib.util.errors import GtvError

SCORE_COLUMNS = ["arm", "patient", "dice", "hd95_mm", "predicted_cm3", "reference_cm3", "false_positive_cm3"]
PRETRAINING = "GTV pre-training (PET/CT + SIM)"
TRANSFER = "PET/CT + SIM, GTV-pretrained, fine-tuned"
ARMS = {  # the ablation table's rows: arm → the registered network's stem (widths suffix added)
    TRANSFER: "igtv",
    "PET/CT + SIM": "igtv",
    "PET/CT + SIM, Mamba branch": "igtv_mamba",
    "PET/CT, no SIM (plain 2.5-D U-Net)": "igtv_plain",
    "PET + SIM": "igtv_pet",
    "CT + SIM": "igtv_ct",
}


# The paper's published numbers, to stand beside ours, labelled as the paper's.
# IGTV on PET/CT (seed 004, METHODS.md §5): the abstract gives two Dice values on a private cohort (PET/CT subset of
# LUCID), the proposed method and "the conventional baseline"; no spread, no patient count.
IGTV_SOURCE = "IGTV PET/CT paper (seed 004), private IGTV cohort (LUCID PET/CT subset)"
IGTV_DICE = {"transfer learning + SIM (proposed)": 0.609, "conventional baseline": 0.385}


def pet_patients(cohort) -> list[str]:
    """The patients of a synthetic cohort that have a PET (``pet/<patient>/PT``)."""
    found = sorted(p.name for p in (Path(cohort.folder) / "pet").glob("*") if (p / "PT").is_dir())
    if not found:
        raise GtvError(f"{cohort.folder}: no patient with a PET; expected a cohort generated with pet_patients > 0")
    return found


def pet_facts(cohort, patient_id: str) -> dict:
    """The generator's record of a patient's PET (``pet.json``: uptake per tissue, motion, acquisition)."""
    path = Path(cohort.folder) / "pet" / patient_id / "pet.json"
    if not path.is_file():
        raise GtvError(f"{path}: missing; expected the record written with the patient's synthetic PET")
    return json.loads(path.read_text())


def edge_profile(case, half_width_px: int = 1) -> pd.DataFrame:
    """SUV along the cranio-caudal axis through the IGTV's centre: per slice, the mean SUV of a (2·w + 1)² column
    around the IGTV's centroid (y, x), with z in mm from the IGTV's centre and whether the slice holds the planning
    GTV or the IGTV at that column. Columns: z_mm, suv, in_gtv, in_igtv."""
    if not case.igtv.any():
        raise GtvError(f"patient {case.patient}: empty IGTV; expected the union of the phase GTVs")
    centre = np.argwhere(case.igtv).mean(axis=0)
    y, x = int(round(centre[1])), int(round(centre[2]))
    w = int(half_width_px)
    column = (slice(None), slice(max(y - w, 0), y + w + 1), slice(max(x - w, 0), x + w + 1))
    z_mm = (np.arange(case.suv.shape[0]) - centre[0]) * case.spacing_mm[0]
    return pd.DataFrame({"z_mm": z_mm, "suv": case.suv[column].mean(axis=(1, 2)),
                         "in_gtv": case.gtv[column].any(axis=(1, 2)), "in_igtv": case.igtv[column].any(axis=(1, 2))})


def edge_table(cases: dict, facts: dict) -> pd.DataFrame:
    """Per patient: the tumour's motion (cranio-caudal and 3-D peak-to-peak, mm), the GTV and IGTV volumes, the
    tumour's SUVmax, the mean SUV of the planning GTV and of the motion shell (IGTV outside the GTV: tumour for
    part of the breathing cycle only), their ratio, and the lung's SUV (the background the edge must stand out
    from). Sorted by motion."""
    from gtvlib.data.volume import volume_cm3
    from gtvlib.itv import motion_amplitude_mm

    rows = []
    for pid, case in cases.items():
        motion = facts[pid]["motion"]
        shell = case.igtv & ~case.gtv
        core = case.suv[case.gtv].mean() if case.gtv.any() else float("nan")
        rows.append({"patient": pid, "si_amplitude_mm": motion["tumour_si_mm"], "amplitude_mm": motion_amplitude_mm(motion),
                     "gtv_cm3": volume_cm3(case.gtv, case.spacing_mm), "igtv_cm3": volume_cm3(case.igtv, case.spacing_mm),
                     "suv_max": float(case.suv[case.igtv].max()), "gtv_suv_mean": float(core),
                     "shell_suv_mean": float(case.suv[shell].mean()) if shell.any() else float("nan"),
                     "lung_suv": facts[pid]["uptake_suv"]["lung"]})
    table = pd.DataFrame(rows).sort_values("si_amplitude_mm").reset_index(drop=True)
    return table.assign(shell_to_gtv=table.shell_suv_mean / table.gtv_suv_mean)


def arm_configs(base, widths_suffix: str = "_small", mamba: bool = True) -> dict:
    """The ablation's trainings from ``base`` (a :class:`~gtvlib.training.Training` of the stack route with the
    training settings and data): every scratch arm of :data:`ARMS` on the IGTV, and the GTV pre-training of the
    transfer arm (the transfer arm itself needs its checkpoint: :func:`transfer_config`). ``mamba``: include the
    Mamba-branch arm. Label → training."""
    configs = {arm: base.changed(name="igtv", target="igtv", model=f"{stem}{widths_suffix}", init_from="")
               for arm, stem in ARMS.items() if arm != TRANSFER and (mamba or stem != "igtv_mamba")}
    configs[PRETRAINING] = base.changed(name="igtv_gtv", target="gtv", model=f"{ARMS[TRANSFER]}{widths_suffix}", init_from="")
    return configs


def transfer_config(base, pretraining_run, widths_suffix: str = "_small"):
    """The transfer arm: the pre-trained GTV network's last checkpoint, fine-tuned on the IGTV with ``base``'s
    settings (as many IGTV steps as the scratch arms)."""
    from gtvlib.runs import RunRecord

    checkpoint = RunRecord(Path(pretraining_run), writer=False).checkpoint_path()
    return base.changed(name="igtv", target="igtv", model=f"{ARMS[TRANSFER]}{widths_suffix}", init_from=str(checkpoint))


FIRST_STAGE = (PRETRAINING, "CT + SIM", "PET/CT, no SIM (plain 2.5-D U-Net)")  # beside the pre-training


def train_arms(base, widths_suffix: str = "_small", mamba: bool = True, root=None, workers: int = 1) -> pd.DataFrame:
    """Train every arm (:func:`arm_configs`, then the transfer arm) on ``base``'s data (a
    :class:`~gtvlib.data.petct.PetCtSet`: training patients, test patients as validation) with
    :func:`gtvlib.crossval.train_jobs` under ``root``, in two rounds so that no worker waits: the GTV pre-training
    beside the two cheapest arms (:data:`FIRST_STAGE`), then the transfer arm from its checkpoint beside the others.
    Returns the table of runs (label, fold, model, status, run, seconds), the transfer arm last."""
    from gtvlib.crossval import Job, train_jobs

    configs = arm_configs(base, widths_suffix, mamba)
    first = train_jobs([Job(label, 0, configs[label]) for label in FIRST_STAGE], root, workers=workers)
    pretrained = first.set_index("label").run[PRETRAINING]
    rest = {label: training for label, training in configs.items() if label not in FIRST_STAGE}
    rest[TRANSFER] = transfer_config(base, pretrained, widths_suffix)
    second = train_jobs([Job(label, 0, training) for label, training in rest.items()], root, workers=workers)
    return pd.concat([first, second], ignore_index=True)


def arm_scores(runs: dict) -> pd.DataFrame:
    """Per arm and test patient, the last validation's scores of each run (label → run folder): arm, patient, dice,
    hd95_mm, predicted_cm3, reference_cm3, false_positive_cm3."""
    from gtvlib.runs import RunRecord

    tables = [RunRecord(Path(folder), writer=False).per_patient().assign(arm=arm) for arm, folder in runs.items()]
    return pd.concat(tables, ignore_index=True)[SCORE_COLUMNS]


def click_of(case) -> tuple[int, int, int]:
    """The voxel a physician would click on the lesion: here the hottest voxel of the PET within the IGTV (z, y, x)."""
    if not case.igtv.any():
        raise GtvError(f"patient {case.patient}: empty IGTV; expected the lesion to click on")
    return tuple(int(i) for i in np.unravel_index(np.argmax(np.where(case.igtv, case.suv, -np.inf)), case.suv.shape))


def clicked_component(mask: np.ndarray, click) -> np.ndarray:
    """The 26-connected component of ``mask`` (bool (z, y, x)) that holds the voxel ``click``; empty where the mask
    misses it: a network's contour as a physician keeps it after one click on the lesion."""
    from gtvlib.util.components import components_at

    return components_at(mask, tuple(click), "full")


def clicked_scores(run_folder, cases: dict, arm: str) -> pd.DataFrame:
    """A trained arm's IGTV on ``cases`` reduced to its component at the click (:func:`click_of`), scored as
    :func:`arm_scores` under the label ``arm``: what the network adds to the click that the 40 % SUVmax region
    is given."""
    from gtvlib.inference.inferers import predict_stacks
    from gtvlib.models.trained import load_run

    trained = load_run(run_folder, route="stacks", what="a 2.5-D PET/CT run")
    window, scale = trained.route["window"], trained.route["suv_scale"]
    return masks_scored(arm, {pid: clicked_component(predict_stacks(trained.model, case, trained.spec.settings, window, scale),
                                                     click_of(case)) for pid, case in cases.items()}, cases)


def masks_scored(arm: str, masks: dict, cases: dict) -> pd.DataFrame:
    """Masks (patient → bool (z, y, x) on the CT grid) scored in 3-D against each case's IGTV
    (:func:`gtvlib.evaluation.patient_scores`), rows as :func:`arm_scores` under the label ``arm``."""
    from gtvlib.evaluation.volumes import patient_scores

    scores = patient_scores(masks, {pid: cases[pid].igtv for pid in masks}, {pid: cases[pid].spacing_mm for pid in masks})
    return pd.DataFrame([dict(row, arm=arm) for row in scores.per_patient])[SCORE_COLUMNS]


def reference_scores(cases: dict, fraction: float = 0.4, threshold_suv: float = 2.5) -> pd.DataFrame:
    """The references that need no training on each case's IGTV: the region of ``fraction`` of SUVmax grown from the
    lesion's hottest voxel (a click), and every voxel at or above ``threshold_suv``; rows as :func:`arm_scores`."""
    from gtvlib.models.references import absolute_suv_reference, suv_region_reference

    rules = {f"{fraction:.0%} of SUVmax from a click (no training)": lambda c: suv_region_reference(c.suv, click_of(c), fraction),
             f"SUV ≥ {threshold_suv} (no training)": lambda c: absolute_suv_reference(c.suv, threshold_suv)}
    return pd.concat([masks_scored(arm, {pid: rule(case) for pid, case in cases.items()}, cases)
                      for arm, rule in rules.items()], ignore_index=True)


def ablation_summary(scores: pd.DataFrame) -> pd.DataFrame:
    """Per arm (in the order met): patients, Dice median [IQR] and mean, HD95 median (mm)."""
    from gtvlib.stats import median_iqr

    rows = []
    for arm, group in scores.groupby("arm", sort=False):
        rows.append({"arm": arm, "patients": len(group), "Dice median [IQR]": median_iqr(group.dice),
                     "Dice mean": round(float(group.dice.mean()), 3), "HD95 median (mm)": round(float(group.hd95_mm.median()), 1)})
    return pd.DataFrame(rows)
