"""Chapter 06, recurrence in small-cell lung cancer (seed 003, METHODS.md §4): the paper's published numbers, and the
features of a patient's structures recomputed with other primaries (a model's GTV, the reference grown or shrunk),
to show how far a contour moves the 110 features that the recurrence model reads.
"""

from __future__ import annotations

import pandas as pd

# Recurrence patterns in small-cell lung cancer (seed 003, METHODS.md §4): 180 patients, 94 recurred.
RECURRENCE_SOURCE = "SCLC recurrence paper (seed 003)"
RECURRENCE = {
    "patients": 180, "recurred": 94, "recurrences": 170, "features": 110, "features_kept": 27, "auc": 0.77,
    "hr_size_ge_5cm": 1.635, "hr_low": 1.055, "hr_high": 2.536, "hr_p": 0.028,
    "lc_3y": {"< 5 cm": 0.867, "≥ 5 cm": 0.611}, "logrank_p": 0.004, "median_follow_up_months": 36,
}


def feature_shifts(cohort, model, patient_ids: list[str], station_names, ctv_margin_mm: float) -> pd.DataFrame:
    """Per patient of ``patient_ids`` and primary (the reference GTV-1, ``model``'s GTV on the scan with the
    reference's boxes, the reference grown and shrunk by one voxel) the features of
    :func:`gtvlib.recurrence.features.feature_shift`: rows indexed by patient and primary."""
    from gtvlib.recurrence import features
    from gtvlib.segment import predict_on_scan

    shifts = []
    for patient_id in patient_ids:
        volume = cohort.load(patient_id)
        reference = volume.masks["GTV-1"]
        variants = {"model": predict_on_scan(model, volume, reference), "grown 1 voxel": features.grown(reference, 1),
                    "shrunk 1 voxel": features.grown(reference, -1)}
        table = features.feature_shift(volume.masks, volume.spacing_mm, station_names, patient_id, variants, ctv_margin_mm)
        shifts.append(table.assign(patient=patient_id))
    return pd.concat(shifts).rename_axis("primary").reset_index()
