"""Synthetic FDG-PET, co-registered with the phantom's CT (issue 12): physiological and tumour uptake in SUVbw,
emission averaged over the breathing phases, the scanner's point-spread function and count-dependent noise.

A PET frame lasts minutes, many breaths: each voxel records the time-average of the activity that passes through
it. The tumour (and the diaphragm with the liver) is therefore drawn at every phase of the Lujan breathing model
(:mod:`gtvlib.data.synthetic.motion`) and the phases averaged; the internal GTV (IGTV) the PET shows is the union of
the phase GTVs. Then the reconstruction's resolution (a Gaussian point-spread function of ``psf_fwhm_mm``) and
noise whose SD grows with the square root of the activity and with fewer counts (``count_scale`` < 1: a lower dose
or a shorter frame).

Uptake targets (SUVbw, adult FDG at ~60 min, typical of clinical reports): blood pool 1.5–2.2, liver 2.0–2.8,
lung 0.3–0.6, muscle 0.6–0.9, fat 0.2–0.4, marrow 1.2–2.0, myocardium 1.5–8 (fasting varies it most), tumour
solid part 4–12 with a heterogeneity of 10–25 %, necrosis 0.6–1.2, ground glass 1–2, nodes 2–6. Volumes are
(z, y, x) on a PET grid of the CT's field of view; SUV arrays float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from scipy import ndimage

from gtvlib.data.dicom.pet import F18_HALF_LIFE_S, PetAcquisition
from gtvlib.data.synthetic.anatomy import build_anatomy, ellipsoid_like_inset, forbidden_organs
from gtvlib.data.synthetic.motion import PHASES, breathing_state, moved, tumour_displacement
from gtvlib.data.synthetic.render import Grid, Renderer
from gtvlib.data.synthetic.shapes import ellipsoid
from gtvlib.data.synthetic.tumour import tumour_shapes
from gtvlib.util.errors import GtvError

SUV_RANGES = {"blood": (1.5, 2.2), "liver": (2.0, 2.8), "lung": (0.3, 0.6), "muscle": (0.6, 0.9), "fat": (0.2, 0.4),
              "marrow": (1.2, 2.0), "myocardium": (1.5, 8.0), "solid": (4.0, 12.0), "necrosis": (0.6, 1.2),
              "ground_glass": (1.0, 2.0), "node": (2.0, 6.0), "stomach": (1.5, 2.5), "cord": (0.8, 1.2)}


@dataclass(frozen=True)
class PetSettings:
    """Acquisition and reconstruction: voxel sides (mm), the PSF's FWHM (mm), the noise's coefficient of variation in
    the liver at ``count_scale`` 1 (a 3-minute bed at ~3.7 MBq/kg), its spatial correlation (mm), and the relative
    number of counts."""

    pixel_mm: float = 4.0
    slice_mm: float = 4.0
    psf_fwhm_mm: float = 6.0
    liver_cv: float = 0.10
    noise_correlation_mm: float = 4.0
    count_scale: float = 1.0


def sample_uptake(rng: np.random.Generator) -> dict:
    """One patient's SUVs per tissue (uniform in :data:`SUV_RANGES`), the tumour's heterogeneity (fraction), and the
    acquisition's weight (kg), dose (3.7 MBq/kg ± 10 %) and uptake time (min), and the seed of the heterogeneity."""
    uptake = {name: float(rng.uniform(low, high)) for name, (low, high) in SUV_RANGES.items()}
    uptake["heterogeneity"] = float(rng.uniform(0.10, 0.25))
    uptake["weight_kg"] = float(rng.uniform(50.0, 100.0))
    uptake["dose_mbq_per_kg"] = float(rng.uniform(3.3, 4.1))
    uptake["uptake_min"] = float(rng.uniform(50.0, 75.0))
    uptake["texture_seed"] = int(rng.integers(2 ** 31))  # one heterogeneity pattern for every breathing phase
    return uptake


def acquisition_of(uptake: dict, scan_start: datetime) -> PetAcquisition:
    """The acquisition (weight, injected F-18 dose, injection time) that ``uptake`` describes, scanned at ``scan_start``."""
    return PetAcquisition(weight_kg=uptake["weight_kg"], dose_bq=uptake["dose_mbq_per_kg"] * uptake["weight_kg"] * 1e6,
                          half_life_s=F18_HALF_LIFE_S, injection=scan_start - timedelta(minutes=uptake["uptake_min"]),
                          scan_start=scan_start)


def pet_grid(ct_grid: Grid, pixel_mm: float, slice_mm: float) -> Grid:
    """The PET grid over the CT's field of view (outer voxel edges aligned) with voxels of ``pixel_mm`` × ``slice_mm``."""
    extent = [n * s for n, s in zip(ct_grid.shape, ct_grid.spacing_mm)]  # z, y, x (mm)
    spacing = (slice_mm, pixel_mm, pixel_mm)
    shape = tuple(max(1, int(round(e / s))) for e, s in zip(extent, spacing))
    low_edge = [o - s / 2 for o, s in zip(ct_grid.origin_xyz_mm, ct_grid.spacing_mm[::-1])]  # x, y, z
    origin = tuple(edge + s / 2 for edge, s in zip(low_edge, spacing[::-1]))
    return Grid(shape, spacing, origin)


def render_suv(anatomy_params: dict, grid: Grid, uptake: dict, tumour: dict | None, node: dict | None,
               supersample_z: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free SUV (z, y, x) of one breathing phase at the scanner's full resolution (no PSF yet), and the
    phase's GTV mask (bool) on ``grid``."""
    p, u = anatomy_params, uptake
    anatomy = build_anatomy(p)
    renderer = Renderer(grid, supersample_z, background_hu=0.0)
    paint = renderer.paint
    paint(anatomy["body"], u["fat"])
    paint(anatomy["muscle"], u["muscle"])
    paint(anatomy["cavity"], u["fat"])
    for lung in anatomy["lungs"].values():
        paint(lung, u["lung"])
    paint(anatomy["liver"], u["liver"])
    paint(anatomy["stomach"], u["stomach"])
    paint(anatomy["heart"], u["myocardium"])
    paint(ellipsoid_like_inset(anatomy["heart"], 10.0), u["blood"])  # the chambers' blood inside a 10-mm wall
    for vessel in ("aorta", "pulmonary", "svc"):
        paint(anatomy[vessel], u["blood"])
    paint(ellipsoid_like_inset(anatomy["vertebra"], 2.0), u["marrow"])
    paint(anatomy["cord"], u["cord"])
    gtv = np.zeros(grid.shape, bool)
    if tumour is not None:
        forbidden = forbidden_organs(anatomy)
        parts = tumour_shapes(tumour)
        if tumour["part_solid"]:
            paint(parts["whole"] - forbidden, u["ground_glass"])
        solid = parts["solid"] - forbidden
        texture = ndimage.gaussian_filter(np.random.default_rng(u["texture_seed"]).standard_normal(grid.shape), 1.0)
        texture *= u["heterogeneity"] / max(float(texture.std()), 1e-9)
        solid_mask = renderer.mask(solid)
        paint(solid, u["solid"])
        if "necrosis" in parts:
            paint(parts["necrosis"], u["necrosis"])
        if "cavity" in parts:
            paint(parts["cavity"], 0.0)
        gtv = renderer.mask(parts["gtv"] - forbidden)
    if node is not None:
        paint(ellipsoid(node["centre_mm"], node["radii_mm"]) - forbidden_organs(anatomy), u["node"])
    suv = renderer.volume()
    if tumour is not None:
        suv[solid_mask] *= np.float32(1.0) + texture[solid_mask].astype(np.float32)
    return np.clip(suv, 0.0, None).astype(np.float32), gtv


def psf_blur(suv: np.ndarray, spacing_mm, fwhm_mm: float) -> np.ndarray:
    """The scanner's resolution: a 3-D Gaussian of ``fwhm_mm`` (σ = FWHM / 2.355) in mm on a grid of ``spacing_mm``."""
    if not fwhm_mm >= 0:
        raise GtvError(f"psf_fwhm_mm={fwhm_mm}; expected a FWHM ≥ 0 mm")
    sigma = fwhm_mm / (2.0 * np.sqrt(2.0 * np.log(2.0))) / np.asarray(spacing_mm, float)
    return ndimage.gaussian_filter(np.asarray(suv, np.float32), sigma, mode="constant").astype(np.float32)


def pet_noise(rng: np.random.Generator, suv: np.ndarray, spacing_mm, reference_suv: float, settings: PetSettings) -> np.ndarray:
    """``suv`` with reconstruction noise: Gaussian, spatially correlated over ``noise_correlation_mm``, of SD
    ``liver_cv`` · √(SUV · reference) / √count_scale (so the liver's CV is ``liver_cv`` at count_scale 1 and grows
    as 1/√counts); negative values clipped to 0 as reconstructions with a non-negativity constraint do."""
    if not settings.count_scale > 0:
        raise GtvError(f"count_scale={settings.count_scale}; expected a positive fraction of the reference counts")
    field = ndimage.gaussian_filter(rng.standard_normal(suv.shape), settings.noise_correlation_mm / 2.355 / np.asarray(spacing_mm, float))
    field /= max(float(field.std()), 1e-12)
    sd = settings.liver_cv * np.sqrt(np.clip(suv, 0.0, None) * reference_suv) / np.sqrt(settings.count_scale)
    return np.clip(suv + sd * field, 0.0, None).astype(np.float32)


def render_pet(anatomy_params: dict, ct_grid: Grid, uptake: dict, tumour: dict | None, node: dict | None,
               motion: dict | None, rng: np.random.Generator, settings: PetSettings = PetSettings(),
               supersample_z: int = 3) -> dict:
    """One patient's PET on the PET grid of ``ct_grid``'s field of view: ``suv`` (noisy, blurred, averaged over the
    breathing phases; no motion when ``motion`` is None), ``suv_static`` (one phase, end-exhale, blurred, no noise),
    ``igtv`` (the union of the phase GTVs), ``phase_gtvs`` and the ``grid``."""
    grid = pet_grid(ct_grid, settings.pixel_mm, settings.slice_mm)
    phases = range(PHASES) if motion is not None else [PHASES // 2]
    frames, gtvs = [], []
    for k in phases:
        phase = k / PHASES
        anatomy = dict(anatomy_params)
        moved_tumour, moved_node = tumour, node
        if motion is not None:
            anatomy["dome_right_z_mm"] = anatomy_params["dome_right_z_mm"] - motion["diaphragm_si_mm"] * breathing_state(phase)
            moved_tumour = None if tumour is None else moved(tumour, tumour_displacement(motion, phase))
            moved_node = None if node is None else moved(node, [0.0, 0.0, -motion["node_si_mm"] * breathing_state(phase)])
        suv, gtv = render_suv(anatomy, grid, uptake, moved_tumour, moved_node, supersample_z)
        frames.append(suv)
        gtvs.append(gtv)
    averaged = np.mean(frames, axis=0)
    blurred = psf_blur(averaged, grid.spacing_mm, settings.psf_fwhm_mm)
    exhale = frames[list(phases).index(PHASES // 2)]
    return {"grid": grid, "suv": pet_noise(rng, blurred, grid.spacing_mm, uptake["liver"], settings),
            "suv_static": psf_blur(exhale, grid.spacing_mm, settings.psf_fwhm_mm), "igtv": np.logical_or.reduce(gtvs),
            "phase_gtvs": gtvs}


def write_pet(out, index: int, seed: int, anatomy_params: dict, tumour_params: dict, node: dict | None, ct_grid: Grid,
              patient: dict, uid_root: str, scan_start: datetime, settings: PetSettings = PetSettings(),
              supersample_z: int = 3) -> dict:
    """Render and write one patient's FDG-PET under ``out`` (``PT/`` in the CT's study and frame of reference,
    ``ground_truth_pet.npz`` with the IGTV and the phase GTVs on the PET grid, ``ground_truth_ct.npz`` with the IGTV
    on the CT grid, ``pet.json`` with the uptake, the acquisition and the motion). The motion is the one the
    patient's 4D-CT has (same seed), so the PET's smearing and the 4D-CT's ITV describe one breathing."""
    import json
    from pathlib import Path

    from gtvlib.data.dicom.writers import deterministic_uid, pt_datasets, write_datasets
    from gtvlib.data.synthetic.motion import sample_motion
    from gtvlib.data.synthetic.truth import save_masks
    from gtvlib.data.volume import volume_cm3

    out = Path(out)
    motion = sample_motion(np.random.default_rng(np.random.SeedSequence([seed, index, 4])), tumour_params["lobe"],
                           tumour_params["side"])
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, 5]))
    uptake = sample_uptake(rng)
    acquisition = acquisition_of(uptake, scan_start)
    rendered = render_pet(anatomy_params, ct_grid, uptake, tumour_params, node, motion, rng, settings, supersample_z)
    grid = rendered["grid"]
    activity = rendered["suv"].astype(np.float64) / acquisition.suv_per_bq_ml  # Bq/ml, decay-corrected to the start
    write_datasets(pt_datasets(activity, grid.spacing_mm, grid.origin_xyz_mm, patient,
                               deterministic_uid(uid_root, "pt"), acquisition), out / "PT")
    save_masks(out / "ground_truth_pet.npz", {"IGTV": rendered["igtv"],
                                              **{f"GTV-1_phase_{10 * k:02d}": g for k, g in enumerate(rendered["phase_gtvs"])}})
    ct_renderer = Renderer(ct_grid, supersample_z)
    forbidden = forbidden_organs(build_anatomy(anatomy_params))
    ct_igtv = np.logical_or.reduce([ct_renderer.mask(tumour_shapes(moved(tumour_params, tumour_displacement(motion, k / PHASES)))["gtv"]
                                                     - forbidden) for k in range(PHASES)])
    save_masks(out / "ground_truth_ct.npz", {"IGTV": ct_igtv})
    facts = {"uptake_suv": uptake, "motion": motion, "settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
             "acquisition": {"weight_kg": acquisition.weight_kg, "dose_bq": acquisition.dose_bq,
                             "injection": acquisition.injection.isoformat(), "scan_start": acquisition.scan_start.isoformat()},
             "igtv_cm3_pet_grid": volume_cm3(rendered["igtv"], grid.spacing_mm), "igtv_cm3_ct_grid": volume_cm3(ct_igtv, ct_grid.spacing_mm)}
    (out / "pet.json").write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
    return facts
