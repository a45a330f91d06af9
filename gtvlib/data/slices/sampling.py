"""Balance sampling (HCF, seed 001): all tumour slices plus a seeded random subset of tumour-free ones, at
ratios θ0 (none), θ1 (1:1), θ2 (1:2), θ4 (1:4) or θn (all)."""

from __future__ import annotations

import math

import numpy as np

from gtvlib.util.errors import GtvError

BALANCE_RATIOS = {"theta0": 0.0, "theta1": 1.0, "theta2": 2.0, "theta4": 4.0, "thetan": math.inf}


def balance_sample(has_tumour: np.ndarray, strategy: str = "thetan", seed: int = 0) -> np.ndarray:
    """Indices kept by a balance-sampling strategy: every tumour slice plus ``ratio ×`` as many free ones.

    ``has_tumour``: bool per slice. ``strategy``: theta0, theta1, theta2, theta4 or thetan. The free
    slices are drawn once, without replacement, seeded. Returns sorted indices.
    """
    if strategy not in BALANCE_RATIOS:
        raise GtvError(f"balance strategy {strategy!r} is unknown; expected one of {sorted(BALANCE_RATIOS)}")
    has_tumour = np.asarray(has_tumour, dtype=bool)
    tumour, free = np.nonzero(has_tumour)[0], np.nonzero(~has_tumour)[0]
    ratio = BALANCE_RATIOS[strategy]
    wanted = len(free) if math.isinf(ratio) else min(int(round(ratio * len(tumour))), len(free))
    chosen = np.random.default_rng(seed).choice(free, size=wanted, replace=False) if wanted else np.array([], dtype=int)
    return np.sort(np.concatenate([tumour, chosen]).astype(int))


def balance_table(cache, patient_ids: list[str], seed: int = 0, strategies=tuple(BALANCE_RATIOS)):
    """Training slices per strategy: columns strategy, tumour, free, and the tumour share of slices (%).

    ``cache``: a :class:`~gtvlib.data.slices.cache.SliceCache` holding ``patient_ids``; sampling as
    :meth:`~gtvlib.data.slices.cache.SliceCache.index` does it (seeded by ``seed`` and patient position).
    """
    import pandas as pd

    tumour = sum(int(cache.has_tumour(pid).sum()) for pid in patient_ids)
    table = pd.DataFrame([{"strategy": strategy, "tumour": tumour,
                           "free": len(cache.index(patient_ids, strategy, seed)) - tumour} for strategy in strategies])
    table["tumour share of slices (%)"] = (100 * table.tumour / (table.tumour + table.free)).round(1)
    return table
