"""How strong must the simulated effects be for the nested-CV AUC to be about the paper's 0.77?

For each ``effect_scale`` and cohort seed: simulate the SCLC cohort (180 patients by default), run the
chapter's nested cross-validation, print the oracle AUC (the true probabilities against the drawn outcomes:
the ceiling any model can reach on this cohort) and the nested AUC (mean over outer folds, and pooled).

    python benchmarks/recurrence_calibration.py --scales 1.5 2 2.5 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import replace

import numpy as np
from sklearn.metrics import roc_auc_score

from gtvlib.recurrence import modelling
from gtvlib.recurrence.simulate import OutcomeTruth, SimulationSettings, simulate_cohort


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 1.5, 2.0, 2.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--patients", type=int, default=180)
    parser.add_argument("--profile", choices=["quick", "paper"], default="quick")
    args = parser.parse_args()
    pipeline = modelling.PIPELINES[args.profile]
    print(f"machine: {platform.processor() or platform.machine()}, pipeline {args.profile}: {pipeline}")
    print("scale  seed  oracle AUC  nested AUC (mean of folds)  pooled  seconds")
    with tempfile.TemporaryDirectory() as cache:
        for scale in args.scales:
            nested = []
            for seed in args.seeds:
                started = time.perf_counter()
                cohort = simulate_cohort(SimulationSettings(patients=args.patients, seed=seed,
                                                            truth=replace(OutcomeTruth(), effect_scale=scale)), cache_dir=cache)
                y = cohort.outcomes.recurrence
                oracle = roc_auc_score(y, cohort.outcomes.true_probability)
                result = modelling.nested_cv(cohort.features, y, replace(pipeline, seed=seed), n_jobs=2)
                nested.append(result.mean_fold_auc)
                print(f"{scale:5.2f}  {seed:4d}  {oracle:10.3f}  {result.mean_fold_auc:26.3f}  {result.pooled['auc']:6.3f}  "
                      f"{time.perf_counter() - started:7.1f}", flush=True)
            print(f"scale {scale:.2f}: nested AUC {np.mean(nested):.3f} ± {np.std(nested, ddof=1) if len(nested) > 1 else 0:.3f} "
                  f"(mean ± SD over {len(nested)} cohorts)", flush=True)


if __name__ == "__main__":
    main()
