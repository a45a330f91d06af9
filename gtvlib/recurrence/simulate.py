"""A simulated small-cell lung cancer (SCLC) cohort whose outcomes come from known effects.

No public SCLC cohort with station-level recurrences exists, so the chapter's 180 patients are simulated:
structures from the synthetic anatomy (:func:`gtvlib.data.synthetic.structures.sclc_patient`), the 110
features of :mod:`gtvlib.recurrence.features` computed from them, clinical variables drawn from plausible
distributions, and three outcomes drawn from effects fixed in advance (:class:`OutcomeTruth`, saved with the
cohort so that a chapter can put what an analysis recovers beside what was put in):

* **regional recurrence** (yes/no), the random forest's target: a logistic model of a few features, on the
  standardised scale (log-odds per SD), with the intercept solved for the paper's rate (94 of 180);
* **recurrent stations** of each recurred patient: 1 + Poisson(0.81) stations (the paper's 170 recurrences in
  94 patients), drawn without replacement with weights proportional to the paper's counts by station, times
  ``out_of_field_factor`` for a station the CTV covers less than half of;
* **local control** of the primary: exponential time to local failure with hazard ratio ``hr_size_ge_5cm`` for
  a primary of ≥ 5 cm largest diameter, a baseline set so that 3-year local control below 5 cm is the paper's
  86.7 %, and uniform censoring (median follow-up 36 months, as the paper's).

The effects' overall strength (``effect_scale``) was chosen so that the nested cross-validated AUC of the
chapter's pipeline is about the paper's 0.77 on average (``benchmarks/recurrence_calibration.py``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gtvlib.recurrence.features import feature_table, structure_features
from gtvlib.recurrence.stations import PAPER_RECURRENCES, PAPER_STATIONS, parse_stations
from gtvlib.recurrence.survival import exponential_failures
from gtvlib.util.atomic import atomic_folder, remove_stale_partials
from gtvlib.util.checksums import settings_key
from gtvlib.util.errors import GtvError
from gtvlib.util.parallel import process_pool, worker_count
from gtvlib.util.progress import progress

SIMULATION_VERSION = "2"  # 2: outcomes drawn from the features alone (coverage derived from them)


@dataclass(frozen=True)
class OutcomeTruth:
    """The effects the outcomes are drawn from (saved as ``truth.json`` beside the cohort)."""

    recurrence_rate: float = 94 / 180
    # log-odds of regional recurrence per SD of each feature (log(volume) for gtv_volume_cm3), before effect_scale
    recurrence_effects: dict = field(default_factory=lambda: {
        "gtv_volume_cm3": 0.7, "drainage_coverage": -0.5, "ln_10R_ctv_in_station": 0.35, "ln_4R_gtv_in_station": 0.35,
        "ln_7_ctvgtv_in_station": -0.3, "limited_stage": -0.35, "ecog": 0.3, "chemo_cycles": -0.3})
    effect_scale: float = 2.0  # calibrated: benchmarks/recurrence_calibration.py
    recurrences_per_recurred_patient: float = 170 / 94
    out_of_field_factor: float = 2.0
    station_weights: dict = field(default_factory=lambda: dict(PAPER_RECURRENCES))
    hr_size_ge_5cm: float = 1.635
    local_control_3y_below_5cm: float = 0.867
    follow_up_months: tuple = (12.0, 60.0)  # censoring uniform between these (median 36)


@dataclass(frozen=True)
class SimulationSettings:
    """What determines the simulated cohort."""

    patients: int = 180
    seed: int = 0
    stations: tuple = PAPER_STATIONS
    margin_mm: float = 5.0
    pixel_mm: float = 3.5
    slice_mm: float = 5.0
    matrix: int = 128
    truth: OutcomeTruth = field(default_factory=OutcomeTruth)


@dataclass
class RecurrenceCohort:
    """``features``: one row per patient (index ``patient``), the 110 features; ``outcomes``: ``recurrence``
    (0/1), ``true_probability``, ``lc_months``, ``lc_event`` (1 = local failure), ``size_ge_5cm``;
    ``station_recurrences``: patient × station, 1 where that station recurred; ``truth``: the effects and the
    SDs they were applied on; ``folder``: where it is cached."""

    features: pd.DataFrame
    outcomes: pd.DataFrame
    station_recurrences: pd.DataFrame
    truth: dict
    settings: SimulationSettings
    folder: Path | None = None

    @property
    def description(self) -> str:
        return (f"SIMULATED small-cell lung cancer cohort: {len(self.features)} patients, outcomes drawn from known "
                f"effects (gtvlib.recurrence.simulate v{SIMULATION_VERSION}, seed {self.settings.seed}); "
                "not patient data")


def _clinical(rng: np.random.Generator) -> dict:
    limited = bool(rng.random() < 0.8)
    male = bool(rng.random() < 0.78)
    return {
        "age_years": round(float(np.clip(rng.normal(62, 9), 35, 85)), 1),
        "male": int(male),
        "ecog": int(rng.choice([0, 1, 2], p=[0.3, 0.55, 0.15])),
        "pack_years": round(float(rng.gamma(4.0, 9.0) if male or rng.random() < 0.3 else 0.0), 1),
        "limited_stage": int(limited),
        "chemo_cycles": int(rng.choice([2, 3, 4, 5, 6], p=[0.05, 0.1, 0.45, 0.15, 0.25])),
        "pci": int(rng.random() < (0.45 if limited else 0.2)),
        "thoracic_dose_gy": float(rng.choice([45.0, 50.0, 54.0, 60.0], p=[0.3, 0.2, 0.15, 0.35])),
    }


def _patient_features(index: int, settings: SimulationSettings) -> tuple[str, dict, dict]:
    """Render one patient's structures and compute its features (a pool worker's job)."""
    from gtvlib.data.synthetic.structures import sclc_patient

    patient = sclc_patient(index, settings.seed, settings.pixel_mm, settings.slice_mm, settings.matrix)
    row = structure_features(patient.masks, patient.spacing_mm, settings.stations, patient.patient_id, settings.margin_mm)
    rng = np.random.default_rng(np.random.SeedSequence([settings.seed, index, 4]))
    return patient.patient_id, row, _clinical(rng)


LOG_SCALED = ("gtv_volume_cm3",)  # effects on the log of these features (volumes are log-normal)


def standardised(features: pd.DataFrame, scales: dict) -> pd.DataFrame:
    """The features named in ``scales`` (name → {"mean", "sd", "log"}) on the scale the effects act on:
    (x − mean) / sd, with x = log(feature) where ``log``."""
    return pd.DataFrame({name: ((np.log(features[name]) if s["log"] else features[name]) - s["mean"]) / (s["sd"] or 1.0)
                         for name, s in scales.items()})


def draw_outcomes(features: pd.DataFrame, truth: OutcomeTruth, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Outcomes from the known effects (see the module's description): (outcomes, station recurrences, truth
    with the means and SDs the effects were applied on, and the solved intercept). Out of field = a station whose
    ``ln_<s>_ctv_in_station`` is below 0.5."""
    from scipy.optimize import brentq

    unknown = [name for name in truth.recurrence_effects if name not in features.columns]
    if unknown:
        raise GtvError(f"recurrence effects on {unknown}, which are not features; expected names of feature_names()")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 5]))
    scales = {}
    for name in truth.recurrence_effects:
        x = np.log(features[name].to_numpy(float)) if name in LOG_SCALED else features[name].to_numpy(float)
        scales[name] = {"mean": float(x.mean()), "sd": float(x.std()), "log": name in LOG_SCALED}
    betas = pd.Series(truth.recurrence_effects) * truth.effect_scale
    linear = standardised(features, scales)[betas.index].to_numpy() @ betas.to_numpy()
    intercept = brentq(lambda b: float(np.mean(1 / (1 + np.exp(-(b + linear))))) - truth.recurrence_rate, -20, 20)
    probability = 1 / (1 + np.exp(-(intercept + linear)))
    recurrence = (rng.random(len(features)) < probability).astype(int)

    stations = [c[len("ln_"):-len("_ctv_in_station")] for c in features.columns if c.endswith("_ctv_in_station")]
    coverage = features[[f"ln_{s}_ctv_in_station" for s in stations]].to_numpy(float)
    base = np.array([truth.station_weights.get(s, 0.0) for s in stations], float)
    chosen = np.zeros((len(features), len(stations)), int)
    for i in np.nonzero(recurrence)[0]:
        weights = base * np.where(coverage[i] < 0.5, truth.out_of_field_factor, 1.0)
        available = int(np.count_nonzero(weights))
        if available == 0:
            continue
        count = min(1 + int(rng.poisson(truth.recurrences_per_recurred_patient - 1.0)), available)
        chosen[i, rng.choice(len(stations), size=count, replace=False, p=weights / weights.sum())] = 1

    size_ge_5 = (features["gtv_size_cm"].to_numpy(float) >= 5.0).astype(int)
    baseline_per_month = -np.log(truth.local_control_3y_below_5cm) / 36.0
    hazard = baseline_per_month * truth.hr_size_ge_5cm ** size_ge_5
    failures = exponential_failures(hazard, truth.follow_up_months, rng)
    outcomes = pd.DataFrame({"recurrence": recurrence, "true_probability": probability,
                             "lc_months": failures.lc_months.to_numpy(), "lc_event": failures.lc_event.to_numpy(),
                             "size_ge_5cm": size_ge_5}, index=features.index)
    station_table = pd.DataFrame(chosen, index=features.index, columns=stations)
    saved = dict(asdict(truth), intercept=float(intercept), effect_scales=scales,
                 baseline_hazard_per_month=float(baseline_per_month))
    return outcomes, station_table, saved


def simulation_key(settings: SimulationSettings) -> str:
    return settings_key({"settings": asdict(settings), "version": SIMULATION_VERSION}, length=12)


def simulate_cohort(settings: SimulationSettings | None = None, cache_dir: str | os.PathLike | None = None,
                    workers: int | None = None, show_progress: bool = False) -> RecurrenceCohort:
    """The simulated SCLC cohort for ``settings``, from the cache when it was made before (written atomically:
    a staging folder renamed into place)."""
    from gtvlib.util.paths import cache_dir as default_cache

    settings = settings or SimulationSettings()
    stations = parse_stations(settings.stations)
    if isinstance(settings.patients, bool) or not isinstance(settings.patients, int) or settings.patients < 20:
        raise GtvError(f"patients={settings.patients!r}; expected an integer ≥ 20 (5-fold CV needs a few per fold)")
    settings = SimulationSettings(**{**asdict(settings), "stations": stations, "truth": settings.truth})
    folder = Path(cache_dir or default_cache()) / "recurrence" / f"sclc-seed{settings.seed}-{simulation_key(settings)}"
    if (folder / "truth.json").is_file():
        return _read(folder, settings)
    rows, clinical = {}, {}
    jobs = range(settings.patients)
    count = worker_count(workers, settings.patients)
    if count == 1:
        results = [_patient_features(i, settings) for i in progress(jobs, "SCLC patients", unit="patient", enabled=show_progress)]
    else:
        with process_pool(count) as pool:
            results = list(progress(pool.map(_patient_features, jobs, [settings] * len(jobs), chunksize=4),
                                    "SCLC patients", total=len(jobs), unit="patient", enabled=show_progress))
    for patient_id, row, clinical_row in results:
        rows[patient_id], clinical[patient_id] = row, clinical_row
    features = feature_table(rows, pd.DataFrame.from_dict(clinical, orient="index"), stations)
    outcomes, station_table, truth = draw_outcomes(features, settings.truth, settings.seed)
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(folder.parent)
    with atomic_folder(folder) as staging:
        features.to_csv(staging / "features.csv", float_format="%.10g")
        outcomes.to_csv(staging / "outcomes.csv", float_format="%.10g")
        station_table.to_csv(staging / "station_recurrences.csv")
        (staging / "truth.json").write_text(json.dumps({"truth": truth, "settings": asdict(settings),
                                                       "version": SIMULATION_VERSION}, indent=1, default=list) + "\n")
    return _read(folder, settings)


def _read(folder: Path, settings: SimulationSettings) -> RecurrenceCohort:
    def table(name):
        return pd.read_csv(folder / name, index_col="patient")

    features, outcomes, stations = table("features.csv"), table("outcomes.csv"), table("station_recurrences.csv")
    truth = json.loads((folder / "truth.json").read_text())["truth"]
    return RecurrenceCohort(features, outcomes, stations, truth, settings, folder)


def effects_recovered(cohort: RecurrenceCohort, confidence: float = 0.95) -> pd.DataFrame:
    """The true log-odds per SD beside a correctly specified logistic regression's estimates and intervals
    (statsmodels), fitted on the cohort's features standardised as the simulation did: what this many patients
    can recover when the model is right (the random forest never gives such intervals)."""
    import statsmodels.api as sm

    z = standardised(cohort.features, cohort.truth["effect_scales"])
    fit = sm.Logit(cohort.outcomes["recurrence"], sm.add_constant(z)).fit(disp=0)
    interval = fit.conf_int(1 - confidence).drop(index="const")
    true = pd.Series({name: cohort.truth["effect_scale"] * beta for name, beta in cohort.truth["recurrence_effects"].items()})
    table = pd.DataFrame({"true": true, "fitted": fit.params.drop("const"), "95 % CI low": interval[0],
                          "95 % CI high": interval[1]})
    table["inside"] = (table["95 % CI low"] <= table["true"]) & (table["true"] <= table["95 % CI high"])
    return table
