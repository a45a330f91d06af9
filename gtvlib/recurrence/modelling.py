"""Predicting regional recurrence: the paper's pipeline as scikit-learn estimators, validated without leakage.

The paper's pipeline (METHODS.md §4): a **correlation filter**, **recursive feature elimination with 5-fold
CV** and a **random forest with grid-searched depth and number of trees**, judged on an 80/20 split. Every
step that looks at the outcome (RFE's ranking and its choice of the number of features, the grid search)
is a step of one :class:`~sklearn.pipeline.Pipeline`, so that :func:`nested_cv` can refit *all* of it inside
each outer training fold: the outer test patients never influence which features are kept or which forest
is chosen. :func:`leaky_cv` does what many papers do instead (select on every patient, then cross-validate
the forest) and shows what that does to the AUC.

Tables are pandas DataFrames indexed by patient; the pipeline keeps them DataFrames (``set_output``), so
every step knows the patients it was fitted on (:attr:`CorrelationFilter.patients_seen_`), which is how the
tests assert that no patient leaks between folds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import RFECV, SelectKBest, f_classif
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from gtvlib.recurrence.features import check_feature_table
from gtvlib.util.errors import GtvError


class CorrelationFilter(TransformerMixin, BaseEstimator):
    """Drop constant features and, of every pair with |Pearson r| > ``threshold``, the later one (column order).

    Fitted on a DataFrame, it records the patients (index) it saw in ``patients_seen_``.
    """

    def __init__(self, threshold: float = 0.9):
        self.threshold = threshold

    def fit(self, X, y=None):
        if not 0 < self.threshold <= 1:
            raise GtvError(f"correlation threshold {self.threshold!r}; expected a number in (0, 1]")
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, float))
        values = frame.to_numpy(float)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = values.shape[1]
        self.patients_seen_ = list(frame.index) if isinstance(X, pd.DataFrame) else None
        varying = values.std(axis=0) > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.abs(np.corrcoef(values, rowvar=False))
        keep = varying.copy()
        for j in range(values.shape[1]):
            if keep[j]:
                later = np.arange(j + 1, values.shape[1])
                keep[later[(r[j, later] > self.threshold) & keep[later]]] = False
        self.support_ = keep
        return self

    def transform(self, X):
        if isinstance(X, pd.DataFrame):
            return X.loc[:, self.feature_names_in_[self.support_]]
        return np.asarray(X)[:, self.support_]

    def get_feature_names_out(self, input_features=None):
        return self.feature_names_in_[self.support_]


@dataclass(frozen=True)
class PipelineSettings:
    """The pipeline's choices. ``forest_grid``: the random forest's grid (depth and number of trees);
    ``rfe_trees``: trees of the forest that ranks features in RFE; ``rfe_step``: the fraction of features
    removed per RFE round; ``folds``: inner and outer CV folds."""

    correlation_threshold: float = 0.9
    rfe_trees: int = 100
    rfe_step: float = 0.1
    min_features: int = 5
    forest_grid: tuple = (("max_depth", (3, 6, None)), ("n_estimators", (100, 300)))
    folds: int = 5
    seed: int = 0

    def grid(self) -> dict:
        return {name: list(values) for name, values in self.forest_grid}


# The quick profile's choices keep the chapter within its CPU budget; the paper profile searches wider.
PIPELINES = {
    "quick": PipelineSettings(rfe_trees=50, rfe_step=0.15, forest_grid=(("max_depth", (3, None)), ("n_estimators", (100,)))),
    "paper": PipelineSettings(),
}


def recurrence_pipeline(settings: PipelineSettings = PipelineSettings(), n_jobs: int = 1) -> Pipeline:
    """Correlation filter → RFECV (random-forest ranking, inner stratified k-fold, AUC) → grid-searched forest."""
    inner = StratifiedKFold(settings.folds, shuffle=True, random_state=settings.seed)
    ranking = RandomForestClassifier(n_estimators=settings.rfe_trees, max_depth=5, random_state=settings.seed, n_jobs=1)
    rfe = RFECV(ranking, step=settings.rfe_step, cv=inner, scoring="roc_auc", min_features_to_select=settings.min_features,
                n_jobs=n_jobs)
    forest = GridSearchCV(RandomForestClassifier(random_state=settings.seed, n_jobs=1), settings.grid(), cv=inner,
                          scoring="roc_auc", n_jobs=n_jobs)
    return Pipeline([("filter", CorrelationFilter(settings.correlation_threshold)), ("rfe", rfe), ("forest", forest)]
                    ).set_output(transform="pandas")


def univariate_pipeline(settings: PipelineSettings = PipelineSettings(), k: int = 10) -> Pipeline:
    """The textbook case of leakage: the ``k`` features most associated with the outcome one by one (ANOVA F),
    standardised, then a logistic regression."""
    return Pipeline([("filter", CorrelationFilter(settings.correlation_threshold)), ("select", SelectKBest(f_classif, k=k)),
                     ("scale", StandardScaler()), ("logistic", LogisticRegression(max_iter=1000))]
                    ).set_output(transform="pandas")


def null_leakage(X: pd.DataFrame, y, settings: PipelineSettings = PipelineSettings(), permutations: int = 10,
                 k: int = 10, n_jobs: int = 1) -> pd.DataFrame:
    """Leaky against nested CV of :func:`univariate_pipeline` on ``permutations`` random permutations of the outcome
    (no signal left, so every AUC above 0.5 is optimism): one row per permutation, pooled out-of-fold AUCs."""
    y = pd.Series(_check(X, y), index=X.index)
    rows = []
    for i in range(permutations):
        shuffled = pd.Series(np.random.default_rng([settings.seed, i]).permutation(y.to_numpy()), index=y.index)
        pipeline = univariate_pipeline(settings, k)
        rows.append({"permutation": i, "leaky AUC": leaky_cv(X, shuffled, settings, n_jobs, pipeline=pipeline).pooled["auc"],
                     "nested AUC": nested_cv(X, shuffled, settings, n_jobs, pipeline=pipeline).pooled["auc"]})
    return pd.DataFrame(rows)


def selected_features(model: Pipeline) -> list[str]:
    """The features a fitted pipeline passes to its last step (the classifier)."""
    return list(model[:-1].get_feature_names_out())


def _check(X: pd.DataFrame, y) -> np.ndarray:
    check_feature_table(X)
    y = np.asarray(y)
    if len(y) != len(X):
        raise GtvError(f"{len(X)} feature rows but {len(y)} outcomes; expected one outcome per patient")
    if isinstance(y, pd.Series) and not y.index.equals(X.index):
        raise GtvError("outcomes and features list different patients (or another order); expected the same index")
    if set(np.unique(y)) != {0, 1}:
        raise GtvError(f"outcome values {sorted(set(np.unique(y)))[:5]}; expected both 0 and 1 (binary recurrence)")
    return y.astype(int)


def auc_delong(y, score, confidence: float = 0.95) -> dict:
    """AUC with DeLong's standard error and a Wald interval (clipped to [0, 1]).

    DeLong, DeLong & Clarke-Pearson (1988): the AUC is the mean of the placement values
    ψ(x, y) = 1 if x > y, ½ if equal, 0 otherwise, over (positive, negative) pairs; its variance is
    var(V₁₀)/m + var(V₀₁)/n over the positives' and negatives' mean placements.
    """
    y, score = np.asarray(y).astype(int), np.asarray(score, float)
    positive, negative = score[y == 1], score[y == 0]
    if len(positive) < 2 or len(negative) < 2:
        raise GtvError(f"{len(positive)} positive and {len(negative)} negative cases; expected at least 2 of each for an AUC interval")
    psi = (positive[:, None] > negative[None, :]) + 0.5 * (positive[:, None] == negative[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    auc = float(v10.mean())
    se = float(np.sqrt(v10.var(ddof=1) / len(positive) + v01.var(ddof=1) / len(negative)))
    z = scipy_stats.norm.ppf(0.5 + confidence / 2)
    return {"auc": auc, "se": se, "low": max(0.0, auc - z * se), "high": min(1.0, auc + z * se), "n": len(y)}


@dataclass
class CvResult:
    """Outer-fold results: ``folds`` (AUC and the features kept per fold), ``oof`` (out-of-fold probability per
    patient), ``pooled`` (AUC of the pooled out-of-fold probabilities with DeLong's interval), ``estimators``
    and ``splits`` (train and test patients of each outer fold)."""

    folds: pd.DataFrame
    oof: pd.Series
    pooled: dict
    estimators: list
    splits: list[tuple[list, list]]

    @property
    def mean_fold_auc(self) -> float:
        return float(self.folds.auc.mean())


def _outer(settings: PipelineSettings) -> StratifiedKFold:
    return StratifiedKFold(settings.folds, shuffle=True, random_state=settings.seed + 1)


def nested_cv(X: pd.DataFrame, y, settings: PipelineSettings = PipelineSettings(), n_jobs: int = 1,
              pipeline: Pipeline | None = None) -> CvResult:
    """The whole pipeline (default: :func:`recurrence_pipeline`) refitted in every outer training fold
    (``n_jobs`` outer folds in parallel)."""
    y = _check(X, y)
    out = cross_validate(pipeline if pipeline is not None else recurrence_pipeline(settings), X, y, cv=_outer(settings),
                         scoring="roc_auc", return_estimator=True, return_indices=True, n_jobs=n_jobs)
    return _collect(X, y, out, selected_features)


def leaky_cv(X: pd.DataFrame, y, settings: PipelineSettings = PipelineSettings(), n_jobs: int = 1,
             selection: Pipeline | None = None, pipeline: Pipeline | None = None) -> CvResult:
    """Selection on *every* patient (every step but the classifier fitted once, outside the CV), then the
    classifier (for :func:`recurrence_pipeline`: the grid search) cross-validated on the kept features with the same
    outer folds: the test patients helped choose the features. ``selection``: a pipeline already fitted on every
    patient (e.g. the final model) to reuse; else ``pipeline`` (default :func:`recurrence_pipeline`) is fitted."""
    y = _check(X, y)
    if selection is None:
        selection = (pipeline if pipeline is not None else recurrence_pipeline(settings, n_jobs)).fit(X, y)
    kept = selected_features(selection)
    out = cross_validate(clone(selection[-1]), X[kept], y, cv=_outer(settings), scoring="roc_auc", return_estimator=True,
                         return_indices=True, n_jobs=n_jobs)
    return _collect(X[kept], y, out, lambda estimator: kept)


def _collect(X: pd.DataFrame, y: np.ndarray, out: dict, kept_by) -> CvResult:
    oof = pd.Series(np.nan, index=X.index, name="probability")
    rows, splits = [], []
    for fold, (estimator, train, test) in enumerate(zip(out["estimator"], out["indices"]["train"], out["indices"]["test"])):
        oof.iloc[test] = estimator.predict_proba(X.iloc[test])[:, 1]
        kept = kept_by(estimator)
        rows.append({"fold": fold + 1, "train patients": len(train), "test patients": len(test),
                     "auc": float(out["test_score"][fold]), "features kept": len(kept), "kept": kept})
        splits.append((list(X.index[train]), list(X.index[test])))
    return CvResult(pd.DataFrame(rows), oof, auc_delong(y, oof.to_numpy()), list(out["estimator"]), splits)


@dataclass
class HoldoutResult:
    """The paper's 80/20 split: the fitted pipeline, the test patients' probabilities and the AUC with its interval."""

    model: Pipeline
    train_patients: list
    test_patients: list
    probability: pd.Series
    auc: dict


def holdout(X: pd.DataFrame, y, settings: PipelineSettings = PipelineSettings(), test_fraction: float = 0.2,
            n_jobs: int = 1) -> HoldoutResult:
    """Fit the pipeline on a stratified 80 % and score the held-out 20 % once."""
    y = _check(X, y)
    train, test = train_test_split(np.arange(len(X)), test_size=test_fraction, stratify=y, random_state=settings.seed)
    model = recurrence_pipeline(settings, n_jobs).fit(X.iloc[train], y[train])
    probability = pd.Series(model.predict_proba(X.iloc[test])[:, 1], index=X.index[test], name="probability")
    return HoldoutResult(model, list(X.index[train]), list(X.index[test]), probability, auc_delong(y[test], probability))


def importances(model: Pipeline) -> pd.DataFrame:
    """The kept features of a fitted pipeline with the chosen forest's impurity importances, largest first."""
    kept = selected_features(model)
    forest = model.named_steps["forest"].best_estimator_
    return (pd.DataFrame({"feature": kept, "importance": forest.feature_importances_})
            .sort_values("importance", ascending=False, ignore_index=True))


def selection_frequency(result: CvResult) -> pd.Series:
    """In how many outer folds each feature was kept (out of the number of folds)."""
    counts = pd.Series([f for kept in result.folds.kept for f in kept]).value_counts()
    return counts.rename("folds kept")
