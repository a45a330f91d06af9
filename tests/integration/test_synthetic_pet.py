"""Integration tier of tests/unit/data/synthetic/test_synthetic_pet.py: synthetic FDG-PET (gtvlib.data.synthetic.pet): SUV per tissue within the stated ranges, the PSF's width, noise"""

import numpy as np
import pytest

from gtvlib.data.synthetic import pet as spet
from tests.unit.data.synthetic import test_synthetic_pet as unit_tier  # the unit tier's fixtures and helpers, shared

patient = unit_tier.patient


@pytest.mark.slow
def test_breathing_smears_the_tumour_and_the_igtv_grows_with_the_amplitude(patient):
    anatomy_params, _, tumour_params, ct_grid, uptake, motion = patient
    quiet = spet.PetSettings(pixel_mm=5.0, slice_mm=5.0, count_scale=1e8)  # noise negligible
    peak, extent = {}, {}
    for amplitude in (0.0, 10.0, 20.0):
        moving = dict(motion, tumour_si_mm=amplitude, tumour_ap_mm=0.0, tumour_lr_mm=0.0)
        out = spet.render_pet(anatomy_params, ct_grid, uptake, tumour_params, None, moving, np.random.default_rng(0), quiet)
        assert np.array_equal(out["igtv"], np.logical_or.reduce(out["phase_gtvs"]))
        slices = np.nonzero(out["igtv"].any(axis=(1, 2)))[0]
        extent[amplitude] = (slices.max() - slices.min() + 1) * 5.0  # mm along z
        peak[amplitude] = float(out["suv"][out["igtv"]].max())
    assert extent[0.0] < extent[10.0] < extent[20.0]
    assert extent[20.0] - extent[0.0] == pytest.approx(20.0, abs=5.0)  # the IGTV grows by the amplitude (± a slice)
    assert peak[20.0] < peak[0.0]  # the uptake is spread over the path: a fainter, longer tumour
