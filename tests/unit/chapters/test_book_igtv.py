"""The PET/CT chapter's library (gtvlib.chapters.ch09_petct_igtv, gtvlib.viz.petct) and the PET references that need no training:
analytic regions, edge measurements on constructed cases, the ablation's arms, a run loaded back, fusion pixels."""

import numpy as np
import pytest

from gtvlib.chapters import ch09_petct_igtv as igtv
from gtvlib.data.petct import PetCtCase
from gtvlib.models.references import absolute_suv_reference, suv_region_reference
from gtvlib.util.errors import GtvError
from gtvlib.viz import petct as petct_viz


def _case(pid="P1"):
    """A tumour column: GTV slices 13–17, IGTV 10–20 (it moves ± 3 slices), SUV 8 in the GTV, 4 in the shell, lung 0.5."""
    shape = (30, 24, 24)
    gtv, igtv_mask = np.zeros(shape, bool), np.zeros(shape, bool)
    gtv[13:18, 10:14, 10:14] = True
    igtv_mask[10:21, 10:14, 10:14] = True
    suv = np.full(shape, 0.5, np.float32)
    suv[igtv_mask] = 4.0
    suv[gtv] = 8.0
    hu = np.full(shape, -800.0, np.float32)
    hu[igtv_mask] = 40.0
    return PetCtCase(pid, hu, suv, gtv, igtv_mask, (2.0, 3.0, 3.0), {})


def test_the_suv_region_grows_from_the_click_to_the_analytic_radius():
    z, y, x = np.indices((41, 41, 61))
    sigma = 5.0
    suv = 10 * np.exp(-((z - 20) ** 2 + (y - 20) ** 2 + (x - 20) ** 2) / (2 * sigma ** 2))
    suv += 9 * np.exp(-((z - 20) ** 2 + (y - 20) ** 2 + (x - 48) ** 2) / (2 * sigma ** 2))  # a second lesion, apart
    region = suv_region_reference(suv, (20, 20, 20), 0.4)
    radius = sigma * np.sqrt(2 * np.log(1 / 0.4))  # 10 · exp(−r²/2σ²) = 4
    inside = (z - 20) ** 2 + (y - 20) ** 2 + (x - 20) ** 2 <= radius ** 2
    assert np.array_equal(region, inside) and not region[:, :, 40:].any()  # the other lesion is not taken
    assert absolute_suv_reference(suv, 4.0).sum() > region.sum()  # a fixed SUV takes both lesions
    with pytest.raises(GtvError, match=r"fraction=1.2; expected a share of SUVmax"):
        suv_region_reference(suv, (20, 20, 20), 1.2)
    with pytest.raises(GtvError, match=r"seed \(20, 20, 99\); expected a voxel index inside the volume"):
        suv_region_reference(suv, (20, 20, 99))


def test_edge_measurements_of_a_constructed_motion_shell():
    case = _case()
    profile = igtv.edge_profile(case)
    assert profile.z_mm.tolist() == pytest.approx([(k - 15) * 2.0 for k in range(30)])  # IGTV centre at slice 15
    assert profile.in_igtv.tolist() == [10 <= k <= 20 for k in range(30)]
    assert profile.in_gtv.tolist() == [13 <= k <= 17 for k in range(30)]
    assert profile.suv[15] == pytest.approx(8.0) and profile.suv[11] == pytest.approx(4.0) and profile.suv[0] == pytest.approx(0.5)
    facts = {"P1": {"motion": {"tumour_si_mm": 12.0, "tumour_ap_mm": 0.0, "tumour_lr_mm": 5.0}, "uptake_suv": {"lung": 0.5}}}
    row = igtv.edge_table({"P1": case}, facts).iloc[0]
    assert row.amplitude_mm == pytest.approx(13.0) and row.shell_to_gtv == pytest.approx(0.5)
    assert row.gtv_cm3 == pytest.approx(5 * 16 * 18 / 1000) and row.igtv_cm3 == pytest.approx(11 * 16 * 18 / 1000)
    assert row.suv_max == pytest.approx(8.0)
    assert igtv.click_of(case)[0] in range(13, 18)


def test_a_click_keeps_the_component_that_holds_it():
    mask = np.zeros((10, 10, 10), bool)
    mask[1:3, 1:3, 1:3] = True
    mask[6:9, 6:9, 6:9] = True
    assert igtv.clicked_component(mask, (7, 7, 7)).sum() == 27
    assert not igtv.clicked_component(mask, (4, 4, 4)).any()  # a click the mask misses keeps nothing


def test_the_ablation_arms_and_their_networks():
    from gtvlib.models import model_spec
    from gtvlib.training import Training

    base = Training.of("stacks", None, "supervised", loss="dice_bce", patch_px=64, epochs=3)
    configs = igtv.arm_configs(base, "_small")
    assert set(configs) == (set(igtv.ARMS) - {igtv.TRANSFER}) | {igtv.PRETRAINING}
    assert configs[igtv.PRETRAINING].route.target == "gtv" and configs["PET/CT + SIM"].route.target == "igtv"
    assert all(c.config.epochs == 3 and c.route.patch_px == 64 for c in configs.values())
    assert model_spec(configs["CT + SIM"].config.model).settings["modalities"] == ["CT"]
    assert model_spec(configs["PET/CT, no SIM (plain 2.5-D U-Net)"].config.model).settings["slice_interaction"] is False
    assert "PET/CT + SIM, Mamba branch" not in igtv.arm_configs(base, "_small", mamba=False)
    assert igtv.arm_configs(base, "")["PET + SIM"].config.model == "igtv_pet"


def test_fusion_pixels_blend_the_pet_over_the_ct_window():
    hu = np.full((4, 6), 40.0)  # the mediastinal window's centre: mid-grey
    suv = np.array([[0.0] * 6, [8.0] * 6, [16.0] * 6, [4.0] * 6])
    rgb = petct_viz.fusion_rgb(hu, suv, "mediastinal", suv_max=8.0, colormap="hot")
    assert rgb.shape == (4, 6, 3) and rgb.dtype == np.uint8
    assert np.all(rgb[0] == rgb[0, 0, 0]) and abs(int(rgb[0, 0, 0]) - 127) <= 1  # no uptake: the grey CT
    assert np.array_equal(rgb[1], rgb[2]) and tuple(rgb[1, 0]) == (255, 255, 255)  # at and above the top: 'hot' white
    with pytest.raises(GtvError, match=r"CT slice \(4, 6\) and PET slice \(4, 5\)"):
        petct_viz.fusion_rgb(hu, suv[:, :5])
    case = _case()
    slices = petct_viz.tumour_slices(case.igtv, 3)
    assert slices == [10, 15, 20]
    figure = petct_viz.fusion_slider_figure(case, slices)
    assert len(figure.frames) == 3 and [s["label"] for s in figure.layout.sliders[0].steps] == ["10", "15", "20"]
    assert len(petct_viz.fusion_panels(case, slices).axes) == 4  # three slices and the SUV colour bar
    explicit = petct_viz.fusion_rgb(hu, suv, (40.0, 400.0), suv_max=8.0)  # the mediastinal window as (centre, width)
    assert np.array_equal(explicit, rgb)
    viewer = petct_viz.fusion_viewer(case)
    slider = viewer.children[0].children[0]
    assert (slider.value, slider.max) == (15, 29)  # opens on the IGTV's middle slice
