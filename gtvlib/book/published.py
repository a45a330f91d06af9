"""Numbers published by the source papers, to stand beside ours, labelled as the papers'.

GTV-SAMGAN (METHODS.md §1), validation sets; Dice, specificity and sensitivity in %. Local data: 112 patients, 1,139 training and 302
validation slices at 512 × 512; SAM-Med2D ViT-B at 256 px, 100 epochs.
"""

from __future__ import annotations

import pandas as pd

SOURCE = "GTV-SAMGAN paper, local data"

# Table 1: baselines (Dice, specificity, sensitivity)
TABLE1 = {
    "U-Net": (48.79, 99.92, 57.42), "UNet++": (27.23, 99.98, 23.42), "UNet++ deep supervision": (50.94, 99.89, 64.05),
    "SwinU-Net": (73.03, 99.98, 74.13), "nnU-Net": (60.63, 99.97, 62.97), "SAM-Med2D": (76.05, 99.98, 76.53),
    "xLSTM-UNet": (7.37, 98.43, 38.63), "SEA-Net": (72.03, 99.96, 78.26), "GTV-SAMGAN": (83.74, 99.98, 84.28),
}
# Table 3: ablation
TABLE3 = {"SAM-Med2D": (76.05, 99.98, 76.53), "+GTV-MFIT": (81.40, 99.98, 82.51), "+GAN": (77.63, 99.98, 77.71),
          "+GAN+GTV-MFIT": (83.74, 99.98, 84.28)}
# Table 4: loss weights FL/Dice/MaskIoU/Mean (Dice only)
TABLE4 = {"10FL+1Dice+1MaskIoU+1Mean": 83.40, "20FL+0.5Dice+0.5MaskIoU+1Mean": 82.54,
          "20FL+1Dice+1MaskIoU+0.1Mean": 83.60, "20FL+1Dice+1MaskIoU+1Mean": 83.74}

# our grid configurations → the paper's row names
ABLATION_ROWS = {"sam_med2d": "SAM-Med2D", "mfit": "+GTV-MFIT", "gan": "+GAN", "gan_mfit": "+GAN+GTV-MFIT"}
LOSS_ROWS = {"fl10_d1_i1_m1": "10FL+1Dice+1MaskIoU+1Mean", "fl20_d05_i05_m1": "20FL+0.5Dice+0.5MaskIoU+1Mean",
             "fl20_d1_i1_m01": "20FL+1Dice+1MaskIoU+0.1Mean", "fl20_d1_i1_m1": "20FL+1Dice+1MaskIoU+1Mean"}
BASELINE_ROWS = {"unet": "U-Net", "unetpp": "UNet++", "unetpp_ds": "UNet++ deep supervision", "swin_unetr": "SwinU-Net",
                 "dynunet": "nnU-Net", "attention_unet": None, "sam_med2d": "SAM-Med2D", "gan_mfit": "GTV-SAMGAN"}


def beside(summary: pd.DataFrame, published: dict, rows: dict[str, str | None], ours: pd.DataFrame) -> pd.DataFrame:
    """Our formatted summary (``ours``: :func:`gtvlib.book.sweeps.format_summary` of ``summary``) with the
    paper's Dice / specificity / sensitivity for the row each configuration corresponds to ('—' where the
    paper has none)."""
    table = ours.copy()
    paper_rows = [rows.get(config) for config in summary["config"]]
    values = [published.get(row) if row else None for row in paper_rows]
    if any(isinstance(v, tuple) for v in values):
        for i, name in enumerate(("Dice", "specificity", "sensitivity")):
            table[f"paper: {name} (%)"] = [f"{v[i]:.2f}" if isinstance(v, tuple) else "—" for v in values]
    else:
        table["paper: Dice (%)"] = [f"{v:.2f}" if v is not None else "—" for v in values]
    table["paper's row"] = [row or "—" for row in paper_rows]
    return table


# Recurrence patterns in small-cell lung cancer (seed 003, METHODS.md §4): 180 patients, 94 recurred.
RECURRENCE_SOURCE = "SCLC recurrence paper (seed 003)"
RECURRENCE = {
    "patients": 180, "recurred": 94, "recurrences": 170, "features": 110, "features_kept": 27, "auc": 0.77,
    "hr_size_ge_5cm": 1.635, "hr_low": 1.055, "hr_high": 2.536, "hr_p": 0.028,
    "lc_3y": {"< 5 cm": 0.867, "≥ 5 cm": 0.611}, "logrank_p": 0.004, "median_follow_up_months": 36,
}


# HCF (seed 001, METHODS.md §2): StructSeg2019 lung GTV, 40 training / 10 test scans, 5-fold CV, mean ± SD over folds.
HCF_SOURCE = "HCF paper (seed 001), StructSeg2019 Task 4 lung GTV"
# DSC (%), HD95 (mm), Jaccard (%) of the comparison table
HCF_TABLE = {
    "U-Net": (52.6, 34.2, 39.1), "U-Net++": (52.7, 28.5, 40.2), "Deeplabv3+": (51.9, 15.6, 38.8),
    "AttU-Net": (54.2, 26.3, 40.1), "ResU-Net": (54.6, 18.4, 41.4), "SFNet": (54.3, 26.8, 41.2),
    "3D V-Net": (45.6, 17.2, 34.5), "TransU-Net": (48.5, 32.1, 34.9), "UTNet": (46.8, 30.1, 34.6),
    "3D nnU-Net": (55.1, 13.4, 41.2), "SANet": (56.4, 21.3, 41.6), "HCF": (58.6, 18.8, 45.6),
}
HCF_PARAMETERS = {"SANet": 12.82e6, "HCF": 23.99e6}  # classifier + SANet
HCF_CLASSIFIER_RECALL = 87.7  # %, the slice classifier trained with θ1
# lung DSC (%) of the ablations
HCF_BALANCE = {"theta0": 58.1, "theta1": 58.6, "theta2": 56.4, "theta4": 57.9, "thetan": 56.7}
HCF_LOSS = {"dice": 50.7, "ce": 53.2, "focal": 54.7, "dice_ce": 56.8, "cr": 58.6}
HCF_COMPONENTS = {"without SAM and HCF": 54.3, "without SAM": 56.3, "without HCF": 56.4, "without PPM": 57.9,
                  "full": 58.6}


# iSeg (seed 002, METHODS.md §3): a 3-D U-Net on 739 patients of 9 clinics (5-fold CV), two external cohorts.
ISEG_SOURCE = "iSeg paper (seed 002): 739 internal patients (5-fold CV), external cohorts of 161 and 102"
# DSC median and interquartile range (low, high)
ISEG_DSC = {"internal (5-fold CV)": (0.73, 0.62, 0.80), "external 1 (n = 161)": (0.70, 0.52, 0.78),
            "external 2 (n = 102)": (0.71, 0.59, 0.79), "under motion (4D-CT)": (0.77, 0.68, 0.86)}
ISEG_FP_HR_PER_VOXEL = 1.01  # local failure per false-positive voxel (machine but not physician), p = 0.03
ISEG_FP_P = 0.03

# IGTV on PET/CT (seed 004, METHODS.md §5): the abstract gives two Dice values on a private cohort (PET/CT subset of
# LUCID), the proposed method and "the conventional baseline"; no spread, no patient count.
IGTV_SOURCE = "IGTV PET/CT paper (seed 004), private IGTV cohort (LUCID PET/CT subset)"
IGTV_DICE = {"transfer learning + SIM (proposed)": 0.609, "conventional baseline": 0.385}
