"""gtvlib.stats against statsmodels and scipy on the same inputs."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.oneway import anova_oneway
from statsmodels.tsa.stattools import acf

from gtvlib import stats
from gtvlib.util.errors import GtvError


@pytest.fixture
def samples():
    rng = np.random.default_rng(3)
    return {"a": rng.normal(0.80, 0.01, 30), "b": rng.normal(0.81, 0.05, 25), "c": rng.normal(0.70, 0.02, 40)}


def test_welch_anova_matches_statsmodels(samples):
    f, df1, df2, p = stats.welch_anova(list(samples.values()))
    reference = anova_oneway(list(samples.values()), use_var="unequal", welch_correction=True)
    assert f == pytest.approx(reference.statistic, rel=1e-10)
    assert df2 == pytest.approx(reference.df[1], rel=1e-10) and df1 == reference.df[0]
    assert p == pytest.approx(reference.pvalue, rel=1e-8)


def test_holm_and_bonferroni_match_statsmodels():
    p = np.array([0.01, 0.04, 0.03, 0.2, 0.001, 0.5])
    for method in ("holm", "bonferroni"):
        assert np.allclose(stats.adjust_p(p, method), multipletests(p, method=method)[1])
    assert np.array_equal(stats.adjust_p(p, "none"), p)
    with pytest.raises(GtvError, match="correction 'bh' is unknown"):
        stats.adjust_p(p, "bh")


def test_epochwise_tests_use_welch_when_variances_differ(samples):
    result = stats.epochwise_tests(samples)
    assert result["levene"][1] < 0.05  # SDs 0.01, 0.05, 0.02
    assert result["anova"]["test"].startswith("Welch")
    assert result["anova"]["F"] == pytest.approx(anova_oneway(list(samples.values()), use_var="unequal").statistic)
    pairwise = result["pairwise"].set_index(["a", "b"])
    t = scipy_stats.ttest_ind(samples["a"], samples["c"], equal_var=False)
    assert pairwise.loc[("a", "c"), "welch_t"] == pytest.approx(t.statistic)
    assert pairwise.loc[("a", "c"), "P"] == pytest.approx(t.pvalue)
    assert np.allclose(pairwise["P_adjusted"], multipletests(pairwise["P"], method="holm")[1])
    assert pairwise.loc[("a", "c"), "stars"] == "***"
    shapiro = scipy_stats.shapiro(samples["b"])
    row = result["normality"].set_index("model").loc["b"]
    assert row.shapiro_w == pytest.approx(shapiro.statistic) and row.n == 25


def test_epochwise_tests_classical_anova_when_variances_equal():
    rng = np.random.default_rng(0)
    groups = {"x": rng.normal(0, 1, 50), "y": rng.normal(0.5, 1, 50)}
    result = stats.epochwise_tests(groups)
    assert result["anova"]["test"] == "one-way ANOVA"
    assert result["anova"]["P"] == pytest.approx(scipy_stats.f_oneway(*groups.values()).pvalue)


def test_too_few_values_are_refused():
    with pytest.raises(GtvError, match="model 'b' has 2 finite values"):
        stats.epochwise_tests({"a": [1, 2, 3], "b": [1, np.nan, 2]})
    with pytest.raises(GtvError, match="at least 2"):
        stats.epochwise_tests({"a": [1, 2, 3]})


def test_stars():
    assert [stats.stars(p) for p in (0.0005, 0.005, 0.02, 0.2, float("nan"))] == ["***", "**", "*", "ns", "n/a"]


def test_autocorrelation_matches_statsmodels_and_detects_a_trajectory():
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.normal(size=100))  # a learning curve is a trajectory, like a random walk
    assert np.allclose(stats.autocorrelation(walk, 10), acf(walk, nlags=10, fft=False))
    noise = rng.normal(size=2000)
    assert stats.effective_sample_size(walk) < 20  # 100 correlated values are worth far fewer
    assert stats.effective_sample_size(noise) > 1500  # independent values are worth about n


def test_paired_tests_match_scipy():
    rng = np.random.default_rng(2)
    base = rng.uniform(0.6, 0.9, 12)
    rows = [{"model": m, "patient": f"P{i}", "dice": base[i] + shift + rng.normal(0, 0.01)}
            for m, shift in (("ref", 0.0), ("better", 0.03), ("same", 0.0)) for i in range(12)]
    table = pd.DataFrame(rows)
    result = stats.paired_tests(table, reference="ref").set_index("model")
    wide = table.pivot(index="patient", columns="model", values="dice")
    assert result.loc["better", "P_t"] == pytest.approx(scipy_stats.ttest_rel(wide.better, wide.ref).pvalue)
    assert result.loc["better", "P_wilcoxon"] == pytest.approx(scipy_stats.wilcoxon(wide.better, wide.ref).pvalue)
    assert result.loc["better", "P_t"] < 0.001 < result.loc["same", "P_t"]
    assert result.loc["better", "mean_difference"] == pytest.approx((wide.better - wide.ref).mean())
    with pytest.raises(GtvError, match="reference model 'nope'"):
        stats.paired_tests(table, reference="nope")


def test_bootstrap_ci_covers_the_mean_and_narrows_with_n():
    rng = np.random.default_rng(4)
    small, large = rng.normal(0.8, 0.05, 10), rng.normal(0.8, 0.05, 400)
    mean, low, high = stats.bootstrap_ci(small)
    assert low < mean < high and mean == pytest.approx(small.mean())
    _, low_large, high_large = stats.bootstrap_ci(large)
    assert high_large - low_large < (high - low) / 3
    # the percentile interval of the mean approaches the t-interval
    t_low, t_high = scipy_stats.t.interval(0.95, 399, loc=large.mean(), scale=scipy_stats.sem(large))
    assert low_large == pytest.approx(t_low, abs=0.002) and high_large == pytest.approx(t_high, abs=0.002)


def test_seed_summary_t_interval():
    table = pd.DataFrame({"model": ["a"] * 3 + ["b"] * 3, "dice": [0.8, 0.82, 0.84, 0.7, 0.7, 0.73]})
    summary = stats.seed_summary(table, "dice").set_index("model")
    low, high = scipy_stats.t.interval(0.95, 2, loc=0.82, scale=scipy_stats.sem([0.8, 0.82, 0.84]))
    assert summary.loc["a", "mean"] == pytest.approx(0.82) and summary.loc["a", "seeds"] == 3
    assert summary.loc["a", "ci_low"] == pytest.approx(low) and summary.loc["a", "ci_high"] == pytest.approx(high)


def test_percentile_bootstrap_is_refused_on_few_units_because_it_undercovers():
    """Three normal values: the percentile bootstrap's nominal 95 % interval covers the true mean far less often (the
    reason bootstrap_ci refuses n < 10); Student's t interval keeps its 95 %."""
    from scipy import stats as scipy_stats

    rng = np.random.default_rng(0)
    samples = rng.normal(0.0, 1.0, size=(400, 3))
    boot = scipy_stats.bootstrap((samples,), np.mean, axis=-1, confidence_level=0.95, n_resamples=999,
                                 method="percentile", rng=rng)
    covered = np.mean((boot.confidence_interval.low < 0) & (boot.confidence_interval.high > 0))
    assert 0.6 < covered < 0.85
    t_covered = np.mean([low < 0 < high for _, low, high in (stats.t_interval(s) for s in samples)])
    assert 0.92 < t_covered < 0.98
    with pytest.raises(GtvError, match="percentile bootstrap of 3 value"):
        stats.bootstrap_ci([0.8, 0.9, 0.85])


def test_minimal_detectable_difference_has_the_power_it_claims():
    from scipy import stats as scipy_stats

    mdd = stats.minimal_detectable_difference(1.0, 40)
    assert 0.44 < mdd < 0.47  # (1.96 + 0.84) / √40 = 0.443 with the normal; the t distribution needs a little more
    rng = np.random.default_rng(1)
    differences = rng.normal(mdd, 1.0, size=(4000, 40))
    power = np.mean(scipy_stats.ttest_1samp(differences, 0.0, axis=1).pvalue < 0.05)
    assert 0.77 < power < 0.83
    assert stats.minimal_detectable_difference(2.0, 40) == pytest.approx(2 * mdd)


def test_paired_against_matches_scipy_on_the_same_patients():
    from scipy import stats as scipy_stats

    rng = np.random.default_rng(2)
    reference = rng.uniform(0.5, 0.9, 12)
    model = reference + rng.normal(0.05, 0.05, 12)
    table = pd.DataFrame({"patient": [f"P{i}" for i in range(12)] * 2 + ["P99"],
                          "method": ["model"] * 12 + ["box"] * 12 + ["model"],  # P99: scored by the model only
                          "dice": [*model, *reference, 0.1]})
    row = stats.paired_against(table, "model", ["box"]).iloc[0]
    difference = model - reference
    assert row.n == 12 and row.wins == int((difference > 0).sum())
    assert row["P (Wilcoxon)"] == pytest.approx(scipy_stats.wilcoxon(model, reference).pvalue)
    low, high = scipy_stats.t.interval(0.95, 11, loc=difference.mean(), scale=scipy_stats.sem(difference))
    assert (row["ci low"], row["ci high"]) == (pytest.approx(low), pytest.approx(high))
    assert row["median difference"] == pytest.approx(np.median(difference))
    with pytest.raises(GtvError, match="'ellipse'"):
        stats.paired_against(table, "model", ["ellipse"])


def test_epochwise_tests_on_curves_that_do_not_differ_reject_too_often_when_epochs_correlate():
    curves = stats.ar1_curves(0.7, 400, 200, np.random.default_rng(3))
    lag1 = np.mean([acf(c, nlags=1, fft=False)[1] for c in curves])
    assert lag1 == pytest.approx(0.7, abs=0.03) and curves.std() == pytest.approx(1.0, abs=0.05)
    independent = stats.epochwise_false_positive_rate(0.0, 40, pairs=4000)
    assert independent == pytest.approx(0.05, abs=0.012)  # the nominal level when epochs are independent
    correlated = [stats.epochwise_false_positive_rate(phi, 40, pairs=4000) for phi in (0.3, 0.6, 0.9)]
    assert correlated == sorted(correlated) and correlated[1] > 0.15 and correlated[2] > 0.4
    with pytest.raises(GtvError, match="phi=1"):
        stats.ar1_curves(1, 10, 2, np.random.default_rng(0))


def test_clustered_difference_widens_the_interval_when_folds_share_their_luck():
    """Patients scored by one fold's model share that training's luck: with a fold effect the mixed model's interval is
    wider than the naive paired one, and without it the two stay close (the fold variance estimated near 0); the estimate
    matches statsmodels' MixedLM."""
    from statsmodels.regression.mixed_linear_model import MixedLM

    rng = np.random.default_rng(4)
    folds = np.repeat(np.arange(6), 10)
    fold_effect = rng.normal(0.0, 0.08, 6)[folds]
    reference = rng.uniform(0.5, 0.9, 60)
    rows = []
    for with_effect in (True, False):
        model = reference + 0.03 + (fold_effect if with_effect else 0) + rng.normal(0, 0.03, 60)
        table = pd.DataFrame({"fold": np.concatenate([folds, folds]), "patient": [f"P{i}" for i in range(60)] * 2,
                              "method": ["model"] * 60 + ["box"] * 60, "dice": np.concatenate([model, reference])})
        result = stats.clustered_difference(table, "model", "box")
        rows.append(result)
        expected = MixedLM(model - reference, np.ones((60, 1)), groups=folds).fit(reml=True, method="powell")
        assert result["estimate"] == pytest.approx(float(expected.fe_params[0]), abs=1e-6)
        assert result["n"] == 60 and result["clusters"] == 6
    clustered, independent = rows
    width = lambda r, prefix="": r[f"{prefix}ci high"] - r[f"{prefix}ci low"]
    assert width(clustered) > 1.5 * width(clustered, "naive ") and clustered["intraclass correlation"] > 0.5
    assert independent["intraclass correlation"] < 0.25 and width(independent) < 1.6 * width(independent, "naive ")
    with pytest.raises(GtvError, match="at least 3 folds"):
        stats.clustered_difference(table[table.fold < 2], "model", "box")
