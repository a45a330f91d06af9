"""Breathing motion of the synthetic 4D-CT (the Lujan model).

A displacement ``-A · cos^(2n)(π p)`` over the phase ``p`` in [0, 1) with n = 2 (a longer rest at exhale),
so that phase 0 % is end-inhale (largest inferior displacement) and 50 % end-exhale (no displacement: the
planning CT's position). Amplitudes follow DATA.md: mostly superior–inferior, lower lobe 5–20 mm, middle
3–10 mm, upper 0–8 mm, nodes 2–8 mm; antero-posterior 1–4 mm with hysteresis (a phase lag), left–right
0–3 mm. The diaphragm domes move with the breath.
"""

from __future__ import annotations

import numpy as np

PHASES = 10


LUJAN_EXPONENT = 2  # cos^(2n), n = 2


SI_AMPLITUDE_MM = {"upper": (0.0, 8.0), "middle": (3.0, 10.0), "lower": (5.0, 20.0)}


def sample_motion(rng: np.random.Generator, lobe: str, side: str) -> dict:
    """Breathing amplitudes (mm) and the AP hysteresis (fraction of a cycle) of one patient."""
    return {
        "tumour_si_mm": float(rng.uniform(*SI_AMPLITUDE_MM[lobe])),
        "tumour_ap_mm": float(rng.uniform(1.0, 4.0)),
        "tumour_lr_mm": float(rng.uniform(0.0, 3.0)) * (1.0 if side == "left" else -1.0),
        "node_si_mm": float(rng.uniform(2.0, 8.0)),
        "diaphragm_si_mm": float(rng.uniform(10.0, 20.0)),
        "hysteresis": float(rng.uniform(0.04, 0.12)),
    }


def breathing_state(phase: float, lag: float = 0.0) -> float:
    """Lujan breathing state in [0, 1]: 1 at end-inhale (phase 0), 0 at end-exhale (phase 0.5)."""
    return float(np.cos(np.pi * (phase - lag)) ** (2 * LUJAN_EXPONENT))


def tumour_displacement(motion: dict, phase: float) -> np.ndarray:
    """Displacement (x, y, z) in mm of the primary at ``phase``: inferior, anterior and lateral on inhale."""
    si, ap = breathing_state(phase), breathing_state(phase, motion["hysteresis"])
    return np.array([motion["tumour_lr_mm"] * si, -motion["tumour_ap_mm"] * ap, -motion["tumour_si_mm"] * si])


def moved(params: dict, offset_xyz_mm) -> dict:
    """A copy of tumour or node parameters with ``centre_mm`` shifted by ``offset_xyz_mm`` (x, y, z)."""
    shifted = dict(params)
    shifted["centre_mm"] = (np.asarray(params["centre_mm"]) + np.asarray(offset_xyz_mm)).tolist()
    return shifted
