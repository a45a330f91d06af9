"""Recurrence modelling (seed 003): features on analytic masks, the CTV margin, the simulation's truth
recovered, no patient leaking between folds, AUC and survival checked against independent implementations."""

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from gtvlib.recurrence import features, modelling, simulate, stations, survival
from gtvlib.util.errors import GtvError

STATIONS = ("4R", "7")


def _analytic_patient():
    """A 20 × 40 × 40 grid of 2 × 1 × 1 mm: lungs, stations 4R and 7 (10³ voxels each), a box GTV, an explicit CTV."""
    shape = (20, 40, 40)
    masks = {name: np.zeros(shape, bool) for name in ("Lung-Right", "Lung-Left", "LN-4R", "LN-7", "GTV-1", "CTV")}
    masks["Lung-Right"][:, 5:35, 0:12] = True  # low x = the patient's right (LPS)
    masks["Lung-Left"][:, 5:35, 28:40] = True
    masks["LN-4R"][5:15, 10:20, 14:24] = True
    masks["LN-7"][5:15, 25:35, 14:24] = True
    masks["GTV-1"][5:15, 10:12, 4:24] = True  # 10 × 2 × 20: 400 voxels, 200 of them in 4R
    masks["CTV"][5:15, 10:15, 4:24] = True  # 1000 voxels, 500 in 4R; nothing in 7
    return masks, (2.0, 1.0, 1.0)


def test_partition_features_of_analytic_masks():
    masks, spacing = _analytic_patient()
    row = features.structure_features(masks, spacing, STATIONS, "analytic")
    assert row["ln_4R_ctv_in_station"] == pytest.approx(0.5)
    assert row["ln_4R_ctv_in_ideactv"] == pytest.approx(0.5)  # ideaCTV = 4R alone (the CTV does not touch 7)
    assert row["ln_4R_gtv_in_station"] == pytest.approx(0.2)
    assert row["ln_4R_gtv_in_ideactv"] == pytest.approx(0.2)
    assert row["ln_4R_ctvgtv_in_station"] == pytest.approx(0.3)
    assert row["ln_4R_ctvgtv_in_ideactv"] == pytest.approx(0.3)
    assert all(row[f"ln_7_{p}"] == 0 for p in features.PARTITION)
    assert row["voxel_volume_mm3"] == 2.0
    assert row["gtv_volume_cm3"] == pytest.approx(400 * 2 / 1000)
    assert row["ctv_volume_cm3"] == pytest.approx(1000 * 2 / 1000)
    assert row["drainage_coverage"] == pytest.approx(0.5)
    assert row["lung_location_right"] == 1.0
    # the box's farthest voxel centres: 9 slices × 2 mm, 1 row, 19 columns; plus one voxel's extent along that line
    centre = np.array([18.0, 1.0, 19.0])
    assert row["gtv_size_cm"] * 10 == pytest.approx(np.linalg.norm(centre) + np.abs(centre / np.linalg.norm(centre)) @ [2, 1, 1])
    assert list(row) == [n for n in features.feature_names(STATIONS) if n not in features.CLINICAL]


def test_idea_ctv_is_the_union_of_touched_stations():
    masks, spacing = _analytic_patient()
    masks["CTV"][5:15, 25:27, 14:24] = True  # now 200 voxels of station 7 as well
    row = features.structure_features(masks, spacing, STATIONS, "analytic")
    assert row["ln_4R_ctv_in_ideactv"] == pytest.approx(500 / 2000)
    assert row["ln_7_ctv_in_ideactv"] == pytest.approx(200 / 2000)
    assert row["ln_7_ctv_in_station"] == pytest.approx(0.2)
    assert row["drainage_coverage"] == pytest.approx(700 / 2000)


def test_diameter_of_a_row_and_of_a_sphere():
    row = np.zeros((3, 3, 30), bool)
    row[1, 1, 5:25] = True
    assert features.max_diameter_mm(row, (3.0, 0.8, 0.8)) == pytest.approx(20 * 0.8)
    z, y, x = np.mgrid[-20:21, -20:21, -20:21]
    sphere = z ** 2 + y ** 2 + x ** 2 <= 15 ** 2
    assert abs(features.max_diameter_mm(sphere, (1, 1, 1)) - 30) <= 1.0
    assert features.max_diameter_mm(np.zeros((2, 2, 2), bool), (1, 1, 1)) == 0.0
    flat = np.zeros((3, 30, 30), bool)
    flat[1, 5:20, 3:25] = True  # one slice: a flat point set for the hull
    assert features.max_diameter_mm(flat, (3, 1, 1)) == pytest.approx(np.hypot(14, 21) + 35 / np.hypot(14, 21))
    rng = np.random.default_rng(0)  # against every pair of voxel centres
    for _ in range(10):
        mask = ndimage.binary_dilation(rng.random((8, 20, 20)) > 0.97, iterations=int(rng.integers(1, 3)))
        spacing = rng.uniform(0.5, 3, 3)
        points = np.argwhere(mask) * spacing
        gaps = np.linalg.norm(points[:, None] - points[None], axis=2)
        i, j = np.unravel_index(np.argmax(gaps), gaps.shape)
        edge_to_edge = gaps[i, j] + np.abs(points[j] - points[i]) / gaps[i, j] @ spacing
        assert features.max_diameter_mm(mask, spacing) == pytest.approx(edge_to_edge)


def test_derived_ctv_is_the_ball_of_the_margin_confined_to_the_allowed_anatomy():
    gtv = np.zeros((11, 11, 11), bool)
    gtv[5, 5, 5] = True
    everywhere = np.ones_like(gtv)
    assert features.derive_ctv(gtv, everywhere, (1, 1, 1), 3.0).sum() == 123  # integer points with |p|² ≤ 9
    assert features.derive_ctv(gtv, everywhere, (2, 1, 1), 2.0).sum() == 13 + 2  # 2 mm slices: one voxel above, one below
    half = np.zeros_like(gtv)
    half[:, :, 5:] = True
    confined = features.derive_ctv(gtv, half, (1, 1, 1), 3.0)
    assert confined[:, :, :5].sum() == 0 and confined.sum() == (123 + 29) // 2 + 0  # the plane x = 5 holds 29 points


def test_derived_ctv_equals_brute_force_distances():
    rng = np.random.default_rng(3)
    gtv = ndimage.binary_dilation(rng.random((12, 16, 16)) > 0.985)
    allowed = rng.random(gtv.shape) > 0.2
    spacing = np.array([2.5, 0.9, 1.1])
    ctv = features.derive_ctv(gtv, allowed, spacing, 4.0)
    points = np.argwhere(np.ones(gtv.shape, bool)) * spacing
    sources = np.argwhere(gtv) * spacing
    nearest = np.min(np.linalg.norm(points[:, None, :] - sources[None, :, :], axis=2), axis=1).reshape(gtv.shape)
    assert np.array_equal(ctv, ((nearest <= 4.0) & allowed) | gtv)


def test_bad_inputs_are_named():
    masks, spacing = _analytic_patient()
    without = {k: v for k, v in masks.items() if k != "LN-7"}
    with pytest.raises(GtvError, match=r"patient 9: no station mask for \['LN-7'\]"):
        features.structure_features(without, spacing, STATIONS, "patient 9")
    empty = dict(masks, **{"LN-7": np.zeros_like(masks["LN-7"])})
    with pytest.raises(GtvError, match=r"station masks \['LN-7'\] are empty"):
        features.structure_features(empty, spacing, STATIONS, "patient 9")
    with pytest.raises(GtvError, match="stations \\['12R'\\]: expected one or more of 1L"):
        stations.parse_stations("4R,12R")
    row = features.structure_features(masks, spacing, STATIONS, "a")
    clinical = pd.DataFrame([{c: 1.0 for c in features.CLINICAL}], index=["b"])
    with pytest.raises(GtvError, match=r"patient IDs do not match: with structures but no clinical row \['a'\].*\['b'\]"):
        features.feature_table({"a": row}, clinical, STATIONS)
    table = features.feature_table({"a": row}, clinical.set_axis(["a"]), STATIONS)
    table.iloc[0, 3] = np.nan
    with pytest.raises(GtvError, match=r"1 missing or non-finite values \(e.g. a/ln_4R_gtv_in_ideactv\)"):
        features.check_feature_table(table)
    with pytest.raises(GtvError, match="missing or non-finite"):
        modelling.nested_cv(table, [1])


def test_the_correlation_filter_keeps_the_first_of_a_pair_and_drops_constants():
    rng = np.random.default_rng(0)
    a, c = rng.normal(size=50), rng.normal(size=50)
    frame = pd.DataFrame({"a": a, "b": 2 * a + 1, "c": c, "d": 1.0}, index=[f"P{i}" for i in range(50)])
    fitted = modelling.CorrelationFilter(0.9).fit(frame)
    assert list(fitted.transform(frame).columns) == ["a", "c"] and fitted.patients_seen_ == list(frame.index)


def _small_table(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 12)), columns=[f"f{i}" for i in range(12)],
                     index=pd.Index([f"P{i:03d}" for i in range(n)], name="patient"))
    y = pd.Series((X.f0 + 0.5 * X.f1 + rng.normal(size=n) > 0).astype(int), index=X.index)
    return X, y


FAST = modelling.PipelineSettings(rfe_trees=10, rfe_step=0.25, min_features=2, forest_grid=(("max_depth", (2, None)), ("n_estimators", (10,))))


def test_leaky_selection_is_optimistic_on_an_outcome_without_signal():
    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.normal(size=(120, 200)), columns=[f"f{i}" for i in range(200)], index=[f"P{i}" for i in range(120)])
    y = pd.Series(rng.permutation(np.repeat([0, 1], 60)), index=X.index)
    top10 = modelling.univariate_pipeline(FAST, k=10)
    leaky = modelling.leaky_cv(X, y, FAST, pipeline=top10)
    nested = modelling.nested_cv(X, y, FAST, pipeline=top10)
    assert leaky.pooled["low"] > 0.5  # chance patterns chosen on the test patients too look like signal
    assert nested.pooled["low"] < 0.5 < nested.pooled["high"]
    null = modelling.null_leakage(X.iloc[:, :60], y, FAST, permutations=4)
    assert (null["leaky AUC"] > null["nested AUC"]).all() and null["nested AUC"].mean() < 0.56
    assert all(len(kept) == 10 for kept in nested.folds.kept) and leaky.folds.kept[0] == modelling.selected_features(
        top10.fit(X, y))


def _effect_table(n, seed):
    rng = np.random.default_rng(seed)
    truth = simulate.OutcomeTruth()
    columns = {f"ln_{s}_ctv_in_station": rng.random(n) for s in stations.PAPER_STATIONS}  # the CTV's coverage
    columns.update({name: rng.normal(size=n) for name in truth.recurrence_effects if name not in columns})
    columns["gtv_volume_cm3"] = np.exp(rng.normal(3.7, 0.9, size=n))
    columns["gtv_size_cm"] = rng.uniform(2, 8, size=n)
    return pd.DataFrame(columns, index=pd.Index([f"S{i:05d}" for i in range(n)], name="patient"))


def test_the_simulation_recovers_its_hazard_ratio_and_effects_on_a_large_cohort():
    table = _effect_table(6000, 0)
    truth = simulate.OutcomeTruth()
    outcomes, by_station, saved = simulate.draw_outcomes(table, truth, 0)
    assert outcomes.recurrence.mean() == pytest.approx(truth.recurrence_rate, abs=0.02)
    cox = survival.cox(outcomes, ["size_ge_5cm"]).summary.loc["size_ge_5cm"]
    assert cox["95 % CI low"] <= truth.hr_size_ge_5cm <= cox["95 % CI high"] and cox["95 % CI low"] > 1
    cohort = simulate.RecurrenceCohort(table, outcomes, by_station, saved, simulate.SimulationSettings())
    recovered = simulate.effects_recovered(cohort)
    assert recovered.true.tolist() == pytest.approx([truth.effect_scale * b for b in truth.recurrence_effects.values()])
    assert recovered.inside.sum() >= 6 and ((recovered.fitted - recovered.true).abs() < 0.25).all()
    recurred = by_station[outcomes.recurrence == 1]
    assert (recurred.sum(axis=1) >= 1).all() and (by_station[outcomes.recurrence == 0].sum(axis=1) == 0).all()
    assert recurred["2L"].sum() == 0 and recurred["10R"].sum() == recurred.sum().max()  # the paper's zero and its top
    assert recurred.to_numpy().sum() / len(recurred) == pytest.approx(truth.recurrences_per_recurred_patient, rel=0.1)
    assert list(by_station.columns) == list(stations.PAPER_STATIONS)
    outside = (table[[f"ln_{s}_ctv_in_station" for s in stations.PAPER_STATIONS]].to_numpy() < 0.5)
    chosen = recurred.to_numpy().astype(bool)
    covered_rate = chosen[~outside[outcomes.recurrence.to_numpy() == 1]].mean()
    assert chosen[outside[outcomes.recurrence.to_numpy() == 1]].mean() > 1.3 * covered_rate  # out of field: twice the weight


def test_survival_agrees_with_statsmodels():
    from statsmodels.duration.hazard_regression import PHReg
    from statsmodels.duration.survfunc import survdiff

    rng = np.random.default_rng(2)
    group = np.repeat([0, 1], 150)
    time = rng.exponential(1 / (0.02 * 1.8 ** group))
    censor = rng.uniform(5, 80, 300)
    table = pd.DataFrame({"lc_months": np.minimum(time, censor), "lc_event": (time <= censor).astype(int), "big": group})
    km = survival.kaplan_meier_by(table, "big", {0: "small", 1: "big"})
    statistic, p = survdiff(table.lc_months, table.lc_event, table.big)
    assert km.logrank_p == pytest.approx(p, rel=1e-6) and km.logrank_statistic == pytest.approx(statistic, rel=1e-6)
    cox = survival.cox(table, ["big"])
    ref = PHReg(table.lc_months, table[["big"]], status=table.lc_event, ties="breslow").fit()
    assert cox.summary.loc["big", "HR"] == pytest.approx(np.exp(ref.params[0]), rel=1e-4)
    uncensored = pd.DataFrame({"lc_months": [1, 2, 3, 4, 5, 6], "lc_event": 1, "g": [0, 0, 0, 1, 1, 1]})
    rates = survival.kaplan_meier_by(uncensored, "g", {0: "a", 1: "b"}, at_months=2.5).rates
    assert rates["2.5-month rate"].tolist() == pytest.approx([1 / 3, 1.0])
    assert survival.implied_hazard_ratio(0.611, 0.867) == pytest.approx(np.log(0.611) / np.log(0.867))
    with pytest.raises(GtvError, match="lc_event holds"):
        survival.cox(table.assign(lc_event=2), ["big"])
