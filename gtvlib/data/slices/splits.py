"""Patient-level splits: no patient is ever on both sides, and every split is seeded.

Slices of one patient are strongly correlated; a slice-level split would put near-copies of validation
slices into training and report optimistic scores.
"""

from __future__ import annotations

import numpy as np

from gtvlib.util.errors import GtvError


def patient_split(patient_ids: list[str], validation_fraction: float = 0.2, seed: int = 0) -> tuple[list[str], list[str]]:
    """Seeded patient-level split (default 4:1). Returns (training, validation) ids, each sorted."""
    ids = sorted(set(patient_ids))
    if len(ids) < 2:
        raise GtvError(f"a split needs at least 2 patients, got {len(ids)}")
    if not 0 < validation_fraction < 1:
        raise GtvError(f"validation_fraction={validation_fraction}; expected a fraction between 0 and 1")
    order = np.random.default_rng(seed).permutation(len(ids))
    n_val = min(max(1, round(validation_fraction * len(ids))), len(ids) - 1)
    validation = sorted(ids[i] for i in order[:n_val])
    return sorted(set(ids) - set(validation)), validation


def kfold_splits(patient_ids: list[str], folds: int = 5, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """Seeded patient-level k-fold: each patient is validated exactly once."""
    ids = sorted(set(patient_ids))
    if not 2 <= folds <= len(ids):
        raise GtvError(f"folds={folds} with {len(ids)} patients; expected 2 ≤ folds ≤ patients")
    order = np.random.default_rng(seed).permutation(len(ids))
    chunks = np.array_split(order, folds)
    return [(sorted(ids[i] for i in order if i not in set(chunk)), sorted(ids[i] for i in chunk)) for chunk in chunks]
