"""Motion-resolved target volumes (seed 002, METHODS.md §3): a 4D-CT's phases checked for completeness and one
geometry, the internal target volume (ITV) as the union of the per-phase GTVs, the clinical shortcut of an ITV
drawn on the maximum-intensity projection (MIP), and a simulated physician's ITV.

Masks are bool (z, y, x) on one grid; spacings (dz, dy, dx) in mm. A 4D-CT is a dict of
:class:`~gtvlib.data.volume.Volume` by series name (``phase_00`` … ``phase_90``, ``AVG``, ``MIP``), as
:func:`gtvlib.data.synthetic.fourd.load_4d` returns it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from gtvlib.util.errors import GtvError

PHASE_NAMES = tuple(f"phase_{10 * k:02d}" for k in range(10))  # 0 % (end-inhale) … 90 %


def check_phases(volumes: dict, expected: tuple[str, ...] = PHASE_NAMES, source: str = "4D-CT") -> None:
    """Refuse a 4D-CT that lacks a phase of ``expected`` or whose series do not share one grid: every series must
    have the first phase's shape, voxel spacing, origin and slice positions (to 1e-3 mm). The message names the
    series and what differs."""
    missing = [name for name in expected if name not in volumes]
    if missing:
        raise GtvError(f"{source}: phases {missing} are missing (found {sorted(volumes)}); expected all of "
                       f"{list(expected)}: an ITV from fewer phases under-covers the motion")
    reference_name = expected[0]
    reference = volumes[reference_name]
    for name, volume in volumes.items():
        checks = (("shape", volume.shape, reference.shape, volume.shape == reference.shape),
                  ("spacing (mm)", volume.spacing_mm, reference.spacing_mm,
                   np.allclose(volume.spacing_mm, reference.spacing_mm, atol=1e-3)),
                  ("origin (mm)", volume.origin_xyz_mm, reference.origin_xyz_mm,
                   np.allclose(volume.origin_xyz_mm, reference.origin_xyz_mm, atol=1e-3)),
                  ("slice positions (mm)", "…", "…", len(volume.slice_positions_mm) == len(reference.slice_positions_mm)
                   and np.allclose(volume.slice_positions_mm, reference.slice_positions_mm, atol=1e-3)))
        for what, found, wanted, ok in checks:
            if not ok:
                raise GtvError(f"{source}: series {name} has {what} {found}, {reference_name} has {wanted}; expected one "
                               "grid for every phase (resample the series onto one grid first)")


def itv_union(masks) -> np.ndarray:
    """The ITV: the union of the per-phase GTV masks (a sequence of bool (z, y, x) of one shape)."""
    masks = [np.asarray(m, bool) for m in masks]
    if not masks:
        raise GtvError("no phase masks to unite; expected one GTV mask per breathing phase")
    shapes = sorted({m.shape for m in masks})
    if len(shapes) != 1:
        raise GtvError(f"phase masks of shapes {shapes}; expected one grid for every phase")
    return np.logical_or.reduce(masks)


def mip_itv(mip_hu: np.ndarray, seed_mask: np.ndarray, threshold_hu: float = -400.0, reach_mm: float | None = None,
            spacing_mm=None) -> np.ndarray:
    """The clinical shortcut: the ITV drawn on the MIP, here as the voxels of the MIP above ``threshold_hu`` that are
    connected (26-neighbourhood) to ``seed_mask`` (a GTV on one phase, which the MIP's bright envelope contains).
    A vessel or the chest wall touching the envelope is taken with it: the weakness of the shortcut. ``reach_mm``
    (with ``spacing_mm``): only voxels within that distance of the seed count, as a physician draws near the
    tumour and stops at the chest wall's or mediastinum's edge of the picture, not at the body's."""
    seed_mask = np.asarray(seed_mask, bool)
    if np.shape(mip_hu) != seed_mask.shape:
        raise GtvError(f"MIP of shape {np.shape(mip_hu)} and seed mask of shape {seed_mask.shape}; expected one grid")
    if not seed_mask.any():
        raise GtvError("empty seed mask; expected the GTV of one phase inside the MIP's envelope")
    bright = np.asarray(mip_hu) > threshold_hu
    if reach_mm is not None:
        if spacing_mm is None or not reach_mm > 0:
            raise GtvError(f"reach_mm={reach_mm} with spacing_mm={spacing_mm}; expected a positive reach and the voxel "
                           "spacing (dz, dy, dx) in mm")
        bright &= ndimage.distance_transform_edt(~seed_mask, sampling=np.asarray(spacing_mm, float)) <= reach_mm
    from gtvlib.util.components import components_at

    return components_at(bright, seed_mask & bright, "full") | seed_mask


@dataclass(frozen=True)
class ObserverHabit:
    """How a simulated physician draws an ITV from the motion envelope: an isotropic ``margin_mm`` added out of
    habit, and an observer variation: the drawn surface moves in and out by a smooth random field of SD
    ``variation_sd_mm`` correlated over ``correlation_mm``. Interobserver studies of lung GTVs report surface
    SDs of a few millimetres (Van de Steene et al. 2002; Persson et al. 2012)."""

    margin_mm: float = 3.0
    variation_sd_mm: float = 2.0
    correlation_mm: float = 15.0


def physician_itv(envelope: np.ndarray, spacing_mm, rng: np.random.Generator, habit: ObserverHabit = ObserverHabit()) -> np.ndarray:
    """A simulated physician's ITV: the signed distance (mm) to ``envelope`` (the true ITV, bool (z, y, x)) moved by
    the habit's margin plus a smooth random field, kept where ≥ 0 (without variation: a dilation by the margin)."""
    envelope = np.asarray(envelope, bool)
    if not envelope.any():
        raise GtvError("empty motion envelope; expected the true ITV to draw around")
    spacing = np.asarray(spacing_mm, float)
    inside = ndimage.distance_transform_edt(envelope, sampling=spacing)
    outside = ndimage.distance_transform_edt(~envelope, sampling=spacing)
    signed = inside - outside  # > 0 inside, mm
    field = ndimage.gaussian_filter(rng.standard_normal(envelope.shape), sigma=habit.correlation_mm / spacing)
    field *= habit.variation_sd_mm / max(float(field.std()), 1e-12)
    return signed + habit.margin_mm + field >= 0  # margin m: every voxel within m mm of the envelope (at no variation)


def motion_amplitude_mm(motion: dict) -> float:
    """The primary's peak-to-peak 3-D motion amplitude (mm) from a 4D-CT's ``motion.json``."""
    return float(np.sqrt(motion["tumour_si_mm"] ** 2 + motion["tumour_ap_mm"] ** 2 + motion["tumour_lr_mm"] ** 2))
