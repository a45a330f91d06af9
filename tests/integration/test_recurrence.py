"""Integration tier of tests/unit/recurrence/test_recurrence.py: recurrence modelling (seed 003): features on analytic masks, the CTV margin, the simulation's truth"""

import numpy as np
import pandas as pd
import pytest

from gtvlib.recurrence import features, modelling, simulate, stations
from tests.unit.recurrence import test_recurrence as unit_tier  # the unit tier's fixtures and helpers, shared

FAST = unit_tier.FAST
_small_table = unit_tier._small_table


@pytest.mark.slow
def test_delong_auc_matches_sklearn_and_the_bootstrap():
    from sklearn.metrics import roc_auc_score

    result = modelling.auc_delong([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert result["auc"] == pytest.approx(0.75)
    rng = np.random.default_rng(1)
    y = rng.random(300) < 0.4
    score = rng.normal(size=300) + 0.8 * y
    result = modelling.auc_delong(y, score)
    assert result["auc"] == pytest.approx(roc_auc_score(y, score))
    boots = []
    for _ in range(1500):
        i = rng.integers(0, 300, 300)
        boots.append(roc_auc_score(y[i], score[i]))
    assert result["se"] == pytest.approx(np.std(boots), rel=0.12)


@pytest.mark.slow
def test_no_patient_leaks_between_folds():
    X, y = _small_table()
    nested = modelling.nested_cv(X, y, FAST)
    tested = [p for _, test in nested.splits for p in test]
    assert sorted(tested) == sorted(X.index)  # every patient tested exactly once
    for estimator, (train, test) in zip(nested.estimators, nested.splits):
        assert set(train).isdisjoint(test)
        assert estimator.named_steps["filter"].patients_seen_ == train  # the selection saw the training fold only
        assert estimator.named_steps["rfe"].n_features_in_ <= X.shape[1]
    assert nested.oof.notna().all() and 0.5 < nested.pooled["auc"] <= 1
    leaky = modelling.leaky_cv(X, y, FAST)
    assert leaky.splits == nested.splits  # the same outer folds, so the comparison is paired


@pytest.mark.slow
def test_sclc_structures_and_a_small_simulated_cohort(tmp_path):
    from gtvlib.data.synthetic.structures import sclc_patient

    first, again = sclc_patient(4, 0), sclc_patient(4, 0)
    assert all(np.array_equal(first.masks[k], again.masks[k]) for k in first.masks)
    assert all(first.masks[stations.roi_name(s)].any() for s in stations.PAPER_STATIONS)
    with_nodes = next(p for p in (sclc_patient(i, 0) for i in range(10)) if p.parameters["nodes"])
    assert with_nodes.masks["GTV-2"].any()  # a node lies in its station's free part, never inside a vessel
    settings = simulate.SimulationSettings(patients=20, seed=1)
    cohort = simulate.simulate_cohort(settings, cache_dir=tmp_path, workers=1)
    assert cohort.features.shape == (20, 110) and "SIMULATED" in cohort.description
    assert list(cohort.features.columns) == features.feature_names(stations.PAPER_STATIONS)
    assert cohort.truth["hr_size_ge_5cm"] == 1.635 and set(cohort.outcomes.recurrence) <= {0, 1}
    cached = simulate.simulate_cohort(settings, cache_dir=tmp_path, workers=1)
    pd.testing.assert_frame_equal(cached.features, cohort.features)
    assert [p.name for p in (tmp_path / "recurrence").iterdir()] == [cohort.folder.name]  # nothing half-written beside it
