"""The clinical table of the synthetic cohort: NSCLC-Radiomics columns, with survival drawn from known effects.

Stage follows the sampled tumour size and nodal station; overall survival is exponential with a log-hazard
that adds the effects of :data:`OUTCOME_EFFECTS` (a hazard ratio of 1.635 for a primary ≥ 5 cm, 1.25 per
N stage), censored uniformly between one year and the maximum follow-up. Because the effects are known, a
survival model fitted on this table can be checked against them.
"""

from __future__ import annotations

import numpy as np

OUTCOME_EFFECTS = {"baseline_hazard_per_day": 1 / 1400.0, "hr_size_ge_5cm": 1.635, "hr_per_n_stage": 1.25, "max_follow_up_days": 1825}


def clinical_row(patient_id: str, rng: np.random.Generator, tumour_params: dict, node: dict | None, effects: dict) -> dict:
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
