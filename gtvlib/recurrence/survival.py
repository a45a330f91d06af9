"""Local control by tumour size, as the paper reports it: Kaplan–Meier curves with the log-rank test and 3-year
rates, and a Cox proportional-hazards model with its hazard ratio, 95 % interval and a check of the
proportional-hazards assumption (lifelines underneath).

Times are in months; an event is a local failure (the end of local control); patients without one are
censored at their last follow-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gtvlib.util.errors import GtvError


def _check(table: pd.DataFrame, time: str, event: str, group: str | None = None) -> None:
    needed = [time, event] + ([group] if group else [])
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise GtvError(f"survival table: columns {missing} are missing; expected {needed}")
    values = table[needed].to_numpy(float)
    if not np.isfinite(values).all():
        raise GtvError(f"survival table: missing or non-finite values in {needed}; expected numbers for every patient")
    if (table[time] < 0).any():
        raise GtvError(f"survival table: negative {time}; expected times ≥ 0 (months)")
    if not set(np.unique(table[event])) <= {0, 1}:
        raise GtvError(f"survival table: {event} holds {sorted(set(np.unique(table[event])))[:5]}; expected 0 (censored) or 1 (event)")


@dataclass
class KaplanMeierComparison:
    """Kaplan–Meier fits per group (``fitters``: label → lifelines KaplanMeierFitter), the log-rank test and the
    rates at ``at_months`` with their 95 % intervals (``rates``)."""

    fitters: dict
    logrank_p: float
    logrank_statistic: float
    rates: pd.DataFrame


def kaplan_meier_by(table: pd.DataFrame, group: str, labels: dict, time: str = "lc_months", event: str = "lc_event",
                    at_months: float = 36.0) -> KaplanMeierComparison:
    """Kaplan–Meier per value of ``group`` (``labels``: value → label), log-rank test between the groups, and the
    survival (local control) at ``at_months`` with the Greenwood-exponential 95 % interval of lifelines."""
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    _check(table, time, event, group)
    fitters, rows = {}, []
    for value, label in labels.items():
        part = table[table[group] == value]
        if len(part) == 0:
            raise GtvError(f"no patient with {group} = {value!r} ({label}); expected every group to have patients")
        fitter = KaplanMeierFitter(label=label).fit(part[time], part[event])
        fitters[label] = fitter
        interval = fitter.confidence_interval_survival_function_
        before = interval.index[interval.index <= at_months]
        low, high = interval.loc[before[-1]].to_numpy() if len(before) else (np.nan, np.nan)
        rows.append({"group": label, "patients": len(part), "events": int(part[event].sum()),
                     f"{at_months:g}-month rate": float(fitter.predict(at_months)), "95 % CI low": float(low),
                     "95 % CI high": float(high)})
    test = multivariate_logrank_test(table[time], table[group], table[event])
    return KaplanMeierComparison(fitters, float(test.p_value), float(test.test_statistic), pd.DataFrame(rows))


@dataclass
class CoxResult:
    """A fitted Cox model (``fitter``), its ``summary`` (HR, 95 % interval, P per covariate) and the
    proportional-hazards test per covariate (``ph_test``: statistic and P, rank-transformed time)."""

    fitter: object
    summary: pd.DataFrame
    ph_test: pd.DataFrame


def cox(table: pd.DataFrame, covariates: list[str], time: str = "lc_months", event: str = "lc_event") -> CoxResult:
    """Cox proportional hazards on ``covariates``: hazard ratios with 95 % intervals and Wald P values, and the
    Schoenfeld-residual test of proportional hazards (lifelines' ``proportional_hazard_test``, rank time)."""
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    for covariate in covariates:
        _check(table, time, event, covariate)
    data = table[[time, event, *covariates]].astype(float)
    fitter = CoxPHFitter().fit(data, duration_col=time, event_col=event)
    s = fitter.summary
    summary = pd.DataFrame({"HR": s["exp(coef)"], "95 % CI low": s["exp(coef) lower 95%"],
                            "95 % CI high": s["exp(coef) upper 95%"], "P": s["p"]})
    ph = proportional_hazard_test(fitter, data, time_transform="rank").summary
    return CoxResult(fitter, summary, pd.DataFrame({"statistic": ph["test_statistic"], "P": ph["p"]}))


def implied_hazard_ratio(rate_exposed: float, rate_reference: float) -> float:
    """The hazard ratio that proportional hazards imply for two survival rates at the same time:
    S₁ = S₀^HR, so HR = ln S₁ / ln S₀."""
    if not (0 < rate_exposed < 1 and 0 < rate_reference < 1):
        raise GtvError(f"rates {rate_exposed!r}, {rate_reference!r}; expected survival proportions strictly between 0 and 1")
    return float(np.log(rate_exposed) / np.log(rate_reference))


def exponential_failures(hazard_per_month, follow_up_months: tuple[float, float], rng: np.random.Generator) -> pd.DataFrame:
    """Simulated local failures: an exponential time to failure with each patient's ``hazard_per_month`` (array),
    censored at a follow-up drawn uniformly from ``follow_up_months``. Columns ``lc_months`` and ``lc_event``
    (1 = failure seen before censoring). Draws the failure times first, then the censoring times."""
    hazard = np.asarray(hazard_per_month, float)
    if hazard.ndim != 1 or not np.all(np.isfinite(hazard)) or np.any(hazard <= 0):
        raise GtvError(f"hazards {hazard[:5]}…; expected one positive, finite hazard per patient (per month)")
    low, high = follow_up_months
    if not 0 < low <= high:
        raise GtvError(f"follow_up_months={follow_up_months}; expected 0 < low ≤ high (months)")
    failure = rng.exponential(1.0 / hazard)
    censor = rng.uniform(low, high, size=len(hazard))
    return pd.DataFrame({"lc_months": np.minimum(failure, censor), "lc_event": (failure <= censor).astype(int)})


def failures_with_effect(covariate, hr_per_unit: float, control_3y: float, follow_up_months=(12.0, 60.0),
                         seed: int = 0) -> pd.DataFrame:
    """Local failures simulated with a known effect of ``covariate`` (one value per patient): the hazard is the
    baseline that gives ``control_3y`` local control at 36 months where the covariate is 0, times
    ``hr_per_unit`` per unit. The known HR is what a Cox model on (covariate) should recover."""
    x = np.asarray(covariate, float)
    if not 0 < control_3y < 1 or not hr_per_unit > 0:
        raise GtvError(f"control_3y={control_3y}, hr_per_unit={hr_per_unit}; expected a proportion in (0, 1) and a positive HR")
    baseline = -np.log(control_3y) / 36.0
    return exponential_failures(baseline * hr_per_unit ** x, follow_up_months, np.random.default_rng(seed))


def hazard_ratio_per_cm3(hr_per_voxel: float, voxel_mm3: float) -> float:
    """The hazard ratio per cm³ that a hazard ratio per voxel means for voxels of ``voxel_mm3``: hazards multiply, so
    HR per cm³ = HR per voxel ^ (1000 / voxel volume in mm³)."""
    if not hr_per_voxel > 0 or not voxel_mm3 > 0:
        raise GtvError(f"hr_per_voxel={hr_per_voxel}, voxel_mm3={voxel_mm3}; expected positive numbers")
    return float(hr_per_voxel ** (1000.0 / voxel_mm3))
