"""Synthetic FDG-PET (gtvlib.data.synthetic.pet): SUV per tissue within the stated ranges, the PSF's width, noise
that grows with fewer counts, the PET grid over the CT's field of view, and the respiratory smearing that grows with
the motion amplitude (the IGTV the union of the phase GTVs)."""

import numpy as np
import pytest
from scipy import ndimage

from gtvlib.data.synthetic import anatomy, render, tumour
from gtvlib.data.synthetic import pet as spet
from gtvlib.data.synthetic.motion import sample_motion
from gtvlib.util.errors import GtvError


@pytest.fixture(scope="module")
def patient():
    rng = np.random.default_rng(4)
    anatomy_params = anatomy.sample_anatomy(rng)
    shapes = anatomy.build_anatomy(anatomy_params)
    form = tumour.sample_tumour_form(rng, anatomy_params["contrast_enhanced"])
    tumour_params = tumour.place_tumour(rng, form, shapes, anatomy.forbidden_organs(shapes))
    grid = render.Grid((56, 128, 128), (5.0, 3.5, 3.5), (-222.25, -222.25, anatomy_params["lung_apex_z_mm"] + 15 - 275))
    motion = sample_motion(rng, tumour_params["lobe"], tumour_params["side"])
    return anatomy_params, shapes, tumour_params, grid, spet.sample_uptake(rng), motion


def test_suv_per_tissue_matches_the_sampled_uptake_within_the_stated_ranges(patient):
    anatomy_params, shapes, tumour_params, ct_grid, uptake, _ = patient
    grid = spet.pet_grid(ct_grid, 4.0, 4.0)
    suv, gtv = spet.render_suv(anatomy_params, grid, uptake, tumour_params, None)
    masks = render.Renderer(grid, 3)
    inner = lambda shape, n=2: ndimage.binary_erosion(masks.mask(shape), iterations=n)  # away from partial volume
    lungs = shapes["lungs"]["Lung-Left"] | shapes["lungs"]["Lung-Right"]
    checks = {"liver": inner(shapes["liver"] - lungs), "blood": inner(shapes["aorta"], 1), "lung": inner(lungs) & ~gtv}
    for tissue, region in checks.items():
        low, high = spet.SUV_RANGES[tissue]
        assert region.sum() > 10, tissue
        assert np.median(suv[region]) == pytest.approx(uptake[tissue], rel=0.05), tissue
        assert low <= uptake[tissue] <= high
    assert gtv.any() and np.median(suv[ndimage.binary_erosion(gtv)]) > 2 * uptake["liver"]  # the tumour stands out


def test_the_psf_has_the_stated_width():
    impulse = np.zeros((41, 41, 41), np.float32)
    impulse[20, 20, 20] = 1.0
    blurred = spet.psf_blur(impulse, (1.0, 1.0, 1.0), 6.0)
    profile = blurred[20, 20]
    above = np.nonzero(profile >= profile.max() / 2)[0]
    edges = [np.interp(0.5 * profile.max(), profile[i - 1:i + 1] if i < 20 else profile[i:i + 2][::-1],
                       [i - 1, i] if i < 20 else [i + 1, i]) for i in (above[0], above[-1])]
    assert edges[1] - edges[0] == pytest.approx(6.0, abs=0.15)  # FWHM in mm
    assert blurred.sum() == pytest.approx(1.0, rel=1e-3)  # activity is conserved
    with pytest.raises(GtvError, match="expected a FWHM"):
        spet.psf_blur(impulse, (1.0, 1.0, 1.0), -1.0)


def test_noise_is_the_stated_cv_and_grows_with_fewer_counts():
    uniform = np.full((30, 60, 60), 2.5, np.float32)
    cv = {}
    for scale in (1.0, 0.25):
        noisy = spet.pet_noise(np.random.default_rng(0), uniform, (4.0, 4.0, 4.0), 2.5, spet.PetSettings(count_scale=scale))
        cv[scale] = float(noisy.std() / noisy.mean())
    assert cv[1.0] == pytest.approx(0.10, rel=0.05) and cv[0.25] == pytest.approx(2 * cv[1.0], rel=0.05)


def test_the_pet_grid_covers_the_ct_field_of_view(patient):
    *_, ct_grid, _, _ = patient
    grid = spet.pet_grid(ct_grid, 4.0, 4.0)
    for axis, k in (("x", 2), ("y", 1), ("z", 0)):
        ct_edges = ct_grid.axis_mm(axis)[[0, -1]] + np.array([-1, 1]) * ct_grid.spacing_mm[k] / 2
        pet_edges = grid.axis_mm(axis)[[0, -1]] + np.array([-1, 1]) * grid.spacing_mm[k] / 2
        assert pet_edges[0] == pytest.approx(ct_edges[0])  # lower edges aligned
        assert abs(pet_edges[1] - ct_edges[1]) <= grid.spacing_mm[k] / 2  # within half a PET voxel at the top
