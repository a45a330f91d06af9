"""Motion-resolved targets (gtvlib.itv): the ITV union on constructed phases, one grid for every phase, the MIP
shortcut and the simulated physician's ITV against analytic volumes."""

from dataclasses import replace

import numpy as np
import pytest

from gtvlib import itv
from gtvlib.data.volume import Volume
from gtvlib.util.errors import GtvError


def _ball(shape, centre, radius):
    z, y, x = np.indices(shape)
    return (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= radius ** 2


def _volume(shape=(20, 32, 32), spacing=(2.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)):
    return Volume(np.zeros(shape, np.float32), spacing, origin, origin[2] + spacing[0] * np.arange(shape[0]))


def test_the_itv_is_the_union_of_the_phases():
    phases = [_ball((30, 20, 20), (10 + k, 10, 10), 3) for k in range(10)]  # a ball moving 9 voxels along z
    union = itv.itv_union(phases)
    expected = np.zeros((30, 20, 20), bool)
    for phase in phases:
        expected |= phase
    assert np.array_equal(union, expected) and union.sum() > phases[0].sum()
    assert all(np.all(union[p]) for p in phases)  # every phase inside
    with pytest.raises(GtvError, match="no phase masks"):
        itv.itv_union([])
    with pytest.raises(GtvError, match=r"phase masks of shapes \[\(2, 2, 2\), \(30, 20, 20\)\]"):
        itv.itv_union([phases[0], np.zeros((2, 2, 2), bool)])


def test_a_4d_ct_needs_every_phase_on_one_grid():
    phases = {name: _volume() for name in itv.PHASE_NAMES}
    itv.check_phases(phases)
    with pytest.raises(GtvError, match=r"phases \['phase_40'\] are missing"):
        itv.check_phases({k: v for k, v in phases.items() if k != "phase_40"})
    shifted = dict(phases, phase_30=_volume(origin=(0.0, 0.0, 5.0)))
    with pytest.raises(GtvError, match="series phase_30 has origin"):
        itv.check_phases(shifted)
    coarse = dict(phases, MIP=_volume(spacing=(3.0, 1.0, 1.0)))
    with pytest.raises(GtvError, match=r"series MIP has spacing \(mm\) \(3.0, 1.0, 1.0\)"):
        itv.check_phases(coarse)
    with pytest.raises(GtvError, match="series phase_90 has shape"):
        itv.check_phases(dict(phases, phase_90=_volume(shape=(21, 32, 32))))


def test_the_mip_shortcut_takes_what_touches_the_envelope():
    shape = (30, 30, 30)
    phases = [_ball(shape, (10 + k, 15, 15), 3) for k in range(10)]
    mip = np.full(shape, -800.0)
    envelope = itv.itv_union(phases)
    mip[envelope] = 40.0
    vessel = np.zeros(shape, bool)
    vessel[14, 15, 18:28] = True  # a vessel touching the envelope
    mip[vessel] = 40.0
    far = _ball(shape, (25, 5, 5), 2)  # an unconnected bright structure
    mip[far] = 40.0
    drawn = itv.mip_itv(mip, phases[5])
    assert np.all(drawn[envelope]) and np.all(drawn[vessel]) and not drawn[far].any()
    near = itv.mip_itv(mip, phases[5], reach_mm=8.0, spacing_mm=(1.0, 1.0, 1.0))  # nearest seed voxel (15, 15, 18)
    assert np.all(near[envelope]) and near[14, 15, 18:26].all() and not near[14, 15, 26:].any()  # √(1 + 8²) > 8 mm
    with pytest.raises(GtvError, match="expected a positive reach and the voxel spacing"):
        itv.mip_itv(mip, phases[5], reach_mm=8.0)
    with pytest.raises(GtvError, match="empty seed mask"):
        itv.mip_itv(mip, np.zeros(shape, bool))


def test_the_physician_adds_the_margin_habit_and_varies():
    envelope = _ball((40, 40, 40), (20, 20, 20), 8)
    spacing = (1.0, 1.0, 1.0)
    exact = itv.physician_itv(envelope, spacing, np.random.default_rng(0), itv.ObserverHabit(margin_mm=3.0, variation_sd_mm=0.0))
    radius = np.cbrt(exact.sum() * 3 / (4 * np.pi))
    assert radius == pytest.approx(11.0, abs=0.3)  # 8 mm + 3 mm margin
    habit = itv.ObserverHabit(margin_mm=0.0, variation_sd_mm=2.0, correlation_mm=5.0)
    drawn = [itv.physician_itv(envelope, spacing, np.random.default_rng(seed), habit) for seed in range(2)]
    assert not np.array_equal(drawn[0], drawn[1])  # two observers differ
    assert 0.6 < drawn[0].sum() / envelope.sum() < 1.6  # no margin: about the envelope's volume
    with pytest.raises(GtvError, match="empty motion envelope"):
        itv.physician_itv(np.zeros((4, 4, 4), bool), spacing, np.random.default_rng(0))
    assert replace(itv.ObserverHabit(), margin_mm=5.0).margin_mm == 5.0


def test_a_known_per_unit_hazard_ratio_is_recovered_by_cox():
    import pandas as pd

    from gtvlib.recurrence.survival import cox, failures_with_effect

    fp_cm3 = np.random.default_rng(3).gamma(2.0, 5.0, size=2000)  # false-positive volume per patient
    outcomes = failures_with_effect(fp_cm3, hr_per_unit=1.03, control_3y=0.8, seed=1)
    table = pd.concat([outcomes, pd.Series(fp_cm3, name="fp_cm3")], axis=1)
    hr = cox(table, ["fp_cm3"]).summary.loc["fp_cm3"]
    assert hr["95 % CI low"] < 1.03 < hr["95 % CI high"] and hr.HR == pytest.approx(1.03, abs=0.01)
    # at covariate 0 the baseline gives the 3-year control (everyone followed to 100 months: no censoring before 36)
    none = failures_with_effect(np.zeros(5000), 1.03, control_3y=0.8, follow_up_months=(100.0, 100.0), seed=2)
    assert (none.lc_months >= 36).mean() == pytest.approx(0.8, abs=0.02)
    with pytest.raises(GtvError, match="expected one positive, finite hazard"):
        from gtvlib.recurrence.survival import exponential_failures

        exponential_failures(np.array([0.1, -1.0]), (12.0, 60.0), np.random.default_rng(0))


def test_volume_comparison_and_false_positive_effect():
    import pandas as pd

    from gtvlib.chapters import ch08_motion_itv as iseg
    from gtvlib.recurrence.survival import cox, hazard_ratio_per_cm3
    from gtvlib.stats import median_iqr, paired_difference

    table = pd.DataFrame({"machine_cm3": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
                          "physician_cm3": [12.0, 25.0, 31.0, 46.0, 58.0, 61.0]})
    test = paired_difference(table, "machine_cm3", "physician_cm3")
    assert test["first_smaller"] == 6 and test["pairs"] == 6 and test["median_difference"] == pytest.approx(-3.5)
    assert test["wilcoxon_p"] == pytest.approx(2 / 64)  # exact: all six differences negative, two-sided
    assert median_iqr([1.0, 2.0, 3.0, 4.0, 5.0]) == "3.00 [2.00–4.00]"
    assert hazard_ratio_per_cm3(1.01, 1000.0) == pytest.approx(1.01)
    assert hazard_ratio_per_cm3(1.01, 3.0) == pytest.approx(1.01 ** (1000 / 3))  # 1 × 1 × 3 mm voxels: 333 per cm³
    measured = np.random.default_rng(0).gamma(2.0, 4.0, size=30)
    cohort = iseg.failure_cohort(measured, 3000, hr_per_cm3=1.04, control_3y=0.8, seed=0)
    assert set(np.unique(cohort.false_positive_cm3)) <= set(measured)
    hr = cox(cohort, ["false_positive_cm3"]).summary.loc["false_positive_cm3"]
    assert hr["95 % CI low"] < 1.04 < hr["95 % CI high"]
    with pytest.raises(GtvError, match="1 measured false-positive volumes"):
        iseg.failure_cohort([3.0], 100, 1.04, 0.8)


def test_motion_figures_show_superior_up_with_the_truth_on_top():
    import matplotlib

    matplotlib.use("Agg")
    from gtvlib.viz import motion as motion_viz

    shape = (12, 20, 16)
    hu = np.full(shape, -800.0)
    hu[-1] = 40.0  # the last slice is the most superior (positions ascend): drawn as the top row
    truth = _ball(shape, (6, 9, 8), 3)
    rgb = motion_viz.coronal_rgb(hu, {"true": truth, "physician": truth}, motion_viz.coronal_index(truth),
                                 np.arange(12) * 5.0, window="mediastinal")
    assert rgb.shape == (12, 16, 3) and rgb[0, 0, 0] > rgb[-1, 0, 0]  # the bright superior slice on top
    outline = (rgb == motion_viz.COLOURS["true"]).all(axis=-1)
    assert outline.any() and not (rgb == motion_viz.COLOURS["physician"]).all(axis=-1).any()  # the truth covers it
    assert motion_viz.coronal_index(truth) == 9
    phases = [np.roll(hu, k, axis=0) for k in range(3)]
    outlines = [{"true": np.roll(truth, k, axis=0), "machine": truth} for k in range(3)]
    figure = motion_viz.phase_slider_figure(phases, outlines, (5.0, 2.0, 2.0), np.arange(12) * 5.0, ["0 %", "10 %", "20 %"], 9)
    assert len(figure.frames) == 3 and [s.label for s in figure.layout.sliders[0].steps] == ["0 %", "10 %", "20 %"]
    assert figure.layout.yaxis.scaleratio == 2.5  # 5-mm slices drawn 2.5 times as tall as 2-mm pixels are wide
    panels = motion_viz.phase_panels(phases, outlines, (5.0, 2.0, 2.0), np.arange(12) * 5.0, ["0 %", "10 %", "20 %"], 9, show=(0, 2))
    assert len(panels.axes) == 2
    with pytest.raises(GtvError, match="empty mask"):
        motion_viz.coronal_index(np.zeros(shape, bool))
