"""Statistics for comparing segmentation models: the paper's Figure 7 tests and the ones a statistician adds.

**The paper's analysis (GTV-SAMGAN, Figure 7)** takes the validation Dice of every epoch of one run per
model as that model's sample: Shapiro–Wilk per model (normality), Levene (equal variances), one-way ANOVA
(Welch's ANOVA when Levene rejects), then pairwise two-sided Welch t-tests with stars
(:func:`epochwise_tests`). We add a multiple-comparison correction (Holm by default).

**Why that is not enough.** Epoch-wise values of one run are one trajectory, not independent draws: each
epoch starts from the previous epoch's weights, so consecutive values are correlated
(:func:`autocorrelation`), the effective sample size is far below the number of epochs
(:func:`effective_sample_size`), and the early epochs measure how fast a model learns, not how good it is.
The units that replicate are the *seeds* (independent trainings: :func:`seed_summary`) and the *patients*
(independent cases scored by every final model: :func:`paired_tests`, :func:`bootstrap_ci`).

Every function takes plain arrays or ``{model: values}`` dicts and returns pandas tables; the numbers come
from scipy (tests, bootstrap) and are checked against statsmodels in the tests.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from gtvlib.util.errors import GtvError

CORRECTIONS = ("holm", "bonferroni", "none")


def stars(p: float) -> str:
    """The paper's marks: ``***`` for P < 0.001, ``**`` for P < 0.01, ``*`` for P < 0.05, ``ns`` otherwise."""
    if not np.isfinite(p):
        return "n/a"
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "ns"


def _groups(samples: dict[str, np.ndarray], minimum: int = 3) -> dict[str, np.ndarray]:
    groups = {}
    for name, values in samples.items():
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values)]
        if values.size < minimum:
            raise GtvError(f"model {name!r} has {values.size} finite values; these tests need at least {minimum} per model")
        groups[name] = values
    if len(groups) < 2:
        raise GtvError(f"{len(groups)} model(s) given; a comparison needs at least 2")
    return groups


def adjust_p(p_values, method: str = "holm") -> np.ndarray:
    """P values adjusted for multiple comparisons: ``holm`` (step-down, controls the family-wise error),
    ``bonferroni``, or ``none``. Adjusted values are capped at 1 and, for Holm, kept monotone."""
    p = np.asarray(p_values, dtype=float)
    if method not in CORRECTIONS:
        raise GtvError(f"correction {method!r} is unknown; expected one of {CORRECTIONS}")
    if method == "none" or p.size == 0:
        return p.copy()
    if method == "bonferroni":
        return np.minimum(p * p.size, 1.0)
    order = np.argsort(p)
    scaled = (p.size - np.arange(p.size)) * p[order]
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty_like(p)
    out[order] = adjusted
    return out


def welch_anova(groups: list[np.ndarray]) -> tuple[float, float, float, float]:
    """Welch's one-way ANOVA for unequal variances: (F, df between, df within, P)."""
    k = len(groups)
    n = np.array([len(g) for g in groups], dtype=float)
    means = np.array([np.mean(g) for g in groups])
    variances = np.array([np.var(g, ddof=1) for g in groups])
    if np.any(variances == 0):
        raise GtvError("Welch's ANOVA needs every model's values to vary (a model has zero variance)")
    w = n / variances
    grand = np.sum(w * means) / np.sum(w)
    between = np.sum(w * (means - grand) ** 2) / (k - 1)
    lam = np.sum((1 - w / np.sum(w)) ** 2 / (n - 1))
    f = between / (1 + 2 * (k - 2) * lam / (k ** 2 - 1))
    df_within = (k ** 2 - 1) / (3 * lam)
    return float(f), float(k - 1), float(df_within), float(stats.f.sf(f, k - 1, df_within))


def epochwise_tests(samples: dict[str, np.ndarray], alpha: float = 0.05, correction: str = "holm") -> dict:
    """The paper's Figure-7 analysis of epoch-wise values per model.

    Returns ``{"normality": table (model, n, mean, sd, shapiro_w, shapiro_p, normal), "levene": (W, P),
    "anova": {"test", "F", "df1", "df2", "P"}, "pairwise": table (a, b, mean difference, Welch t, df, P,
    P adjusted, stars)}``. The omnibus test is Welch's ANOVA when Levene rejects equal variances at
    ``alpha``, the classical one-way ANOVA otherwise.
    """
    groups = _groups(samples)
    names = list(groups)
    normality = []
    for name in names:
        values = groups[name]
        w, p = stats.shapiro(values) if np.ptp(values) > 0 else (float("nan"), float("nan"))
        normality.append({"model": name, "n": values.size, "mean": values.mean(), "sd": values.std(ddof=1),
                          "shapiro_w": w, "shapiro_p": p, "normal": bool(p >= alpha) if np.isfinite(p) else False})
    levene = stats.levene(*groups.values(), center="median")
    if levene.pvalue < alpha:
        f, df1, df2, p = welch_anova(list(groups.values()))
        anova = {"test": "Welch's ANOVA (unequal variances)", "F": f, "df1": df1, "df2": df2, "P": p}
    else:
        result = stats.f_oneway(*groups.values())
        n_total = sum(len(g) for g in groups.values())
        anova = {"test": "one-way ANOVA", "F": float(result.statistic), "df1": float(len(groups) - 1),
                 "df2": float(n_total - len(groups)), "P": float(result.pvalue)}
    pairs = []
    for a, b in itertools.combinations(names, 2):
        t = stats.ttest_ind(groups[a], groups[b], equal_var=False)
        pairs.append({"a": a, "b": b, "mean_difference": groups[a].mean() - groups[b].mean(),
                      "welch_t": float(t.statistic), "df": float(t.df), "P": float(t.pvalue)})
    pairwise = pd.DataFrame(pairs)
    pairwise["P_adjusted"] = adjust_p(pairwise["P"].to_numpy(), correction)
    pairwise["stars"] = [stars(p) for p in pairwise["P_adjusted"]]
    return {"normality": pd.DataFrame(normality), "levene": (float(levene.statistic), float(levene.pvalue)),
            "anova": anova, "pairwise": pairwise, "correction": correction}


def autocorrelation(values, max_lag: int = 10) -> np.ndarray:
    """Sample autocorrelation of a series at lags 0..``max_lag`` (the standard biased estimator, as
    statsmodels' ``acf``): r_k = Σ (x_t − x̄)(x_{t+k} − x̄) / Σ (x_t − x̄)²."""
    x = np.asarray(values, dtype=float)
    x = x - x.mean()
    denominator = np.sum(x * x)
    if x.size < 2 or denominator == 0:
        raise GtvError(f"autocorrelation needs a varying series of at least 2 values, got {x.size}")
    max_lag = min(max_lag, x.size - 1)
    return np.array([np.sum(x[: x.size - k] * x[k:]) / denominator for k in range(max_lag + 1)])


def effective_sample_size(values, max_lag: int | None = None) -> float:
    """n / (1 + 2 Σ_k r_k) over the initial positive autocorrelations (Geyer's initial positive sequence,
    truncated at the first lag whose autocorrelation is ≤ 0): how many independent values a correlated
    series is worth. Capped at n."""
    x = np.asarray(values, dtype=float)
    r = autocorrelation(x, max_lag if max_lag is not None else x.size - 1)
    total = 0.0
    for k in range(1, r.size):
        if r[k] <= 0:
            break
        total += r[k]
    return float(min(x.size, x.size / (1 + 2 * total)))


def paired_tests(per_patient: pd.DataFrame, reference: str, value: str = "dice", unit: str = "patient",
                 model: str = "model", correction: str = "holm") -> pd.DataFrame:
    """Every model against ``reference`` on the same units (patients): paired t-test and Wilcoxon signed-rank
    (two-sided, exact for small samples without ties), the mean paired difference and its adjusted P values.

    ``per_patient``: long table with columns ``model``, ``unit`` (e.g. patient) and ``value``; only units
    scored by both models enter a comparison.
    """
    wide = per_patient.pivot_table(index=unit, columns=model, values=value, aggfunc="mean")
    if reference not in wide:
        raise GtvError(f"reference model {reference!r} is not in the table; models: {sorted(wide.columns)}")
    rows = []
    for name in [c for c in wide.columns if c != reference]:
        both = wide[[name, reference]].dropna()
        if len(both) < 2:
            raise GtvError(f"{name!r} and {reference!r} share {len(both)} {unit}(s); a paired test needs at least 2")
        difference = both[name] - both[reference]
        t = stats.ttest_rel(both[name], both[reference])
        w = stats.wilcoxon(both[name], both[reference]) if np.any(difference != 0) else None
        rows.append({"model": name, "reference": reference, "n": len(both), "mean_difference": difference.mean(),
                     "paired_t": float(t.statistic), "P_t": float(t.pvalue),
                     "wilcoxon_W": float(w.statistic) if w else float("nan"), "P_wilcoxon": float(w.pvalue) if w else 1.0})
    table = pd.DataFrame(rows)
    table["P_t_adjusted"] = adjust_p(table["P_t"].to_numpy(), correction)
    table["P_wilcoxon_adjusted"] = adjust_p(table["P_wilcoxon"].to_numpy(), correction)
    return table


MIN_BOOTSTRAP_UNITS = 10


def bootstrap_ci(values, confidence: float = 0.95, resamples: int = 2000, seed: int = 0,
                 statistic=np.mean) -> tuple[float, float, float]:
    """(statistic, lower, upper): a percentile bootstrap confidence interval of ``statistic`` over the units
    in ``values`` (scipy.stats.bootstrap, seeded). Refused below :data:`MIN_BOOTSTRAP_UNITS` units: resampling a
    handful of values sees only their few distinct means, and the interval is far too narrow (a simulation of 3
    normal values covers the mean about 76 % of the time at a nominal 95 %, ``tests/unit/test_stats.py``); use
    :func:`t_interval` there, and more patients."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < MIN_BOOTSTRAP_UNITS:
        raise GtvError(f"a percentile bootstrap of {x.size} value(s) is refused; expected at least "
                       f"{MIN_BOOTSTRAP_UNITS} units (patients): with fewer, its interval is too narrow to mean 95 % "
                       "(use stats.t_interval, or score more patients out of fold)")
    if np.ptp(x) == 0:
        return float(statistic(x)), float(x[0]), float(x[0])
    result = stats.bootstrap((x,), statistic, confidence_level=confidence, n_resamples=resamples,
                             method="percentile", rng=np.random.default_rng(seed))
    return float(statistic(x)), float(result.confidence_interval.low), float(result.confidence_interval.high)


def seed_summary(table: pd.DataFrame, value: str, by: str = "model", confidence: float = 0.95) -> pd.DataFrame:
    """Seeds as the unit of replication: per ``by`` group, the number of seeds, the mean and SD over seeds and
    a t-interval of the mean (``value`` holds one number per seed, e.g. the final validation Dice)."""
    rows = []
    for name, group in table.groupby(by, sort=False):
        x = group[value].to_numpy(dtype=float)
        mean, sd = float(np.mean(x)), float(np.std(x, ddof=1)) if x.size > 1 else float("nan")
        half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * sd / np.sqrt(x.size)) if x.size > 1 else float("nan")
        rows.append({by: name, "seeds": x.size, "mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half})
    return pd.DataFrame(rows)


def median_iqr(values) -> str:
    """"0.73 [0.62–0.80]": the median and interquartile range, as the paper reports its DSC."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if not len(values):
        return "n/a"
    low, mid, high = np.percentile(values, [25, 50, 75])
    return f"{mid:.2f} [{low:.2f}–{high:.2f}]"


def paired_difference(table: pd.DataFrame, first: str, second: str) -> dict:
    """Two measurements of the same units (rows of ``table``, e.g. machine and physician volumes per patient): the
    number of ``pairs``, the ``median_difference`` (first − second, in the columns' unit), how often the first is
    smaller (``first_smaller``), Wilcoxon's signed-rank p and the paired t-test's p (both two-sided)."""
    a, b = table[first].to_numpy(float), table[second].to_numpy(float)
    if len(a) < 2:
        raise GtvError(f"{len(a)} pairs of {first!r} and {second!r}; expected at least 2 to compare")
    difference = a - b
    return {"pairs": len(a), "median_difference": float(np.median(difference)), "first_smaller": int((difference < 0).sum()),
            "wilcoxon_p": float(stats.wilcoxon(a, b).pvalue), "paired_t_p": float(stats.ttest_rel(a, b).pvalue)}


def t_interval(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, lower, upper): Student's t interval of the mean of the finite ``values`` (at least 2)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        raise GtvError(f"a t interval needs at least 2 values, got {x.size}")
    mean, sem = float(np.mean(x)), float(stats.sem(x))
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * sem)
    return mean, mean - half, mean + half


def minimal_detectable_difference(sd_of_differences: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest mean paired difference a two-sided paired t-test on ``n`` units detects with ``power`` at level
    ``alpha``, given the SD of the paired differences (statsmodels' power of the one-sample t-test on the
    differences): what a comparison of this size can and cannot tell apart."""
    from statsmodels.stats.power import TTestPower

    if n < 2 or not np.isfinite(sd_of_differences):
        raise GtvError(f"n={n}, SD={sd_of_differences}; expected at least 2 paired units and a finite SD")
    effect = TTestPower().solve_power(nobs=n, alpha=alpha, power=power, alternative="two-sided")
    return float(effect * sd_of_differences)


def paired_against(table: pd.DataFrame, method: str, references, value: str = "dice", unit: str = "patient",
                   by: str = "method", confidence: float = 0.95) -> pd.DataFrame:
    """``method`` against each of ``references`` on the same units (long ``table``: columns ``by``, ``unit``,
    ``value``): n, the median of each, the mean paired difference (method − reference) with its t interval, the
    median paired difference, wins (units where the method is higher), Wilcoxon's signed-rank p (two-sided; exact
    without ties for n ≤ 50) and the minimal detectable difference at 80 % power for this n. A unit missing on either
    side is left out of that comparison."""
    wide = table.pivot_table(index=unit, columns=by, values=value, aggfunc="mean")
    missing = [name for name in [method, *references] if name not in wide]
    if missing:
        raise GtvError(f"{missing} not in the table's {by!r} column; expected some of {sorted(wide.columns)}")
    rows = []
    for reference in references:
        both = wide[[method, reference]].dropna()
        if len(both) < 2:
            raise GtvError(f"{method!r} and {reference!r} share {len(both)} {unit}(s); a paired comparison needs at least 2")
        difference = (both[method] - both[reference]).to_numpy()
        mean, low, high = t_interval(difference, confidence) if np.ptp(difference) > 0 else (difference[0],) * 3
        p = float(stats.wilcoxon(difference).pvalue) if np.any(difference != 0) else 1.0
        sd = float(np.std(difference, ddof=1))
        rows.append({"reference": reference, "n": len(both), f"{method} median": float(both[method].median()),
                     "reference median": float(both[reference].median()), "mean difference": float(mean),
                     "ci low": float(low), "ci high": float(high), "median difference": float(np.median(difference)),
                     "wins": int((difference > 0).sum()), "P (Wilcoxon)": p,
                     "detectable at 80 % power": minimal_detectable_difference(sd, len(both)) if sd > 0 else 0.0})
    return pd.DataFrame(rows)


def ar1_curves(phi: float, epochs: int, count: int, rng: np.random.Generator, sd: float = 1.0) -> np.ndarray:
    """``count`` stationary AR(1) curves (count, epochs) of mean 0: x_t = φ x_{t−1} + ε_t, ε ~ N(0, sd²(1 − φ²)),
    so every value has SD ``sd`` and neighbouring epochs correlate by φ (a training curve around its level)."""
    if not -1 < phi < 1:
        raise GtvError(f"phi={phi}; expected an autocorrelation strictly between −1 and 1")
    if epochs < 2 or count < 1:
        raise GtvError(f"epochs={epochs}, count={count}; expected at least 2 epochs and 1 curve")
    out = np.empty((count, epochs))
    out[:, 0] = rng.normal(0.0, sd, count)
    noise = rng.normal(0.0, sd * np.sqrt(1 - phi ** 2), (count, epochs))
    for t in range(1, epochs):
        out[:, t] = phi * out[:, t - 1] + noise[:, t]
    return out


def epochwise_false_positive_rate(phi: float, epochs: int, pairs: int = 2000, seed: int = 0,
                                  alpha: float = 0.05) -> float:
    """How often Figure 7's test (a two-sided Welch t-test on the epoch-wise values of two runs) finds a difference at
    ``alpha`` between two runs that do *not* differ: ``pairs`` pairs of AR(1) curves of the same mean with lag-1
    autocorrelation ``phi`` over ``epochs`` epochs. Independent epochs (φ = 0) give ``alpha``; correlated ones more,
    because the test counts every epoch as a new sample."""
    rng = np.random.default_rng(seed)
    first, second = ar1_curves(phi, epochs, pairs, rng), ar1_curves(phi, epochs, pairs, rng)
    p = stats.ttest_ind(first, second, axis=1, equal_var=False).pvalue
    return float(np.mean(p < alpha))


def clustered_difference(table: pd.DataFrame, method: str, reference: str, cluster: str = "fold", value: str = "dice",
                         unit: str = "patient", by: str = "method", confidence: float = 0.95) -> dict:
    """The paired difference ``method − reference`` over units that come in clusters of one training each (the folds
    of a cross-validation, or seeds): a linear mixed model ``difference ~ 1 + (1 | cluster)`` (statsmodels MixedLM,
    REML), so that patients scored by the same trained model are not counted as independent replications of the
    training. Returns the estimate with its Wald interval, the between-cluster and residual variances, the intraclass
    correlation, and the naive paired t interval beside it."""
    import warnings

    from statsmodels.regression.mixed_linear_model import MixedLM

    wide = table.pivot_table(index=[cluster, unit], columns=by, values=value, aggfunc="mean")
    missing = [name for name in (method, reference) if name not in wide]
    if missing:
        raise GtvError(f"{missing} not in the table's {by!r} column; expected some of {sorted(wide.columns)}")
    both = wide[[method, reference]].dropna().reset_index()
    clusters = both[cluster].nunique()
    if clusters < 3 or len(both) < clusters + 2:
        raise GtvError(f"{len(both)} paired {unit}s in {clusters} {cluster}(s); a mixed model needs at least 3 {cluster}s "
                       "and more units than clusters")
    difference = (both[method] - both[reference]).to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on a boundary (between-cluster variance 0) is expected
        fit = MixedLM(difference, np.ones((len(difference), 1)), groups=both[cluster].to_numpy()).fit(
            reml=True, method=["powell", "nm"])  # derivative-free: stable where the cluster variance nears 0
    estimate, se = float(fit.fe_params[0]), float(fit.bse_fe[0])
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    between, residual = float(np.asarray(fit.cov_re).ravel()[0]), float(fit.scale)
    naive = t_interval(difference, confidence)
    return {"n": len(difference), "clusters": clusters, "estimate": estimate, "ci low": estimate - z * se,
            "ci high": estimate + z * se, "between-cluster variance": between, "residual variance": residual,
            "intraclass correlation": between / (between + residual) if between + residual > 0 else float("nan"),
            "naive ci low": naive[1], "naive ci high": naive[2]}
