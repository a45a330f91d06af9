"""The synthetic cohort: genuine DICOM, reproducible bytes, realism targets of DATA.md."""

import json
import subprocess

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy import ndimage

from gtvlib.data import synthetic
from gtvlib.data.dicom.patient import load_patient
from gtvlib.data.manifest import verify_cohort
from gtvlib.data.synthetic import anatomy, render, tumour
from gtvlib.util.errors import GtvError


def test_every_file_is_genuine_dicom(small_cohort):
    patient = small_cohort / "SYNTH-001"
    files = sorted(patient.rglob("*.dcm"))
    assert len(files) >= 54
    for path in files:
        ds = pydicom.dcmread(path)  # no force: preamble, file meta and a valid dataset
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    seg = hd.seg.segread(patient / "SEG.dcm")
    assert seg.SegmentationType == "BINARY"
    labels = [str(d.SegmentLabel) for d in seg.SegmentSequence]
    params = json.loads((patient / "parameters.json").read_text())
    assert labels == params["rois"] and labels[0] == "GTV-1"  # the same structures as the RTSTRUCT, in order
    reader = sitk.ImageSeriesReader()
    image = sitk.ReadImage(reader.GetGDCMSeriesFileNames(str(patient / "CT")))
    assert image.GetSpacing() == pytest.approx((3.5, 3.5, 5.0))
    assert image.GetSize()[::-1] == tuple(params["grid"]["shape"])
    volume = load_patient(patient)
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), volume.hu)  # SimpleITK applies the rescale too


def test_instance_numbers_and_file_names_do_not_give_the_order(small_cohort):
    slices = [pydicom.dcmread(p) for p in sorted((small_cohort / "SYNTH-001" / "CT").iterdir())]
    z_by_name = [float(ds.ImagePositionPatient[2]) for ds in slices]
    assert z_by_name != sorted(z_by_name) and z_by_name != sorted(z_by_name, reverse=True)
    by_instance = sorted(slices, key=lambda ds: int(ds.InstanceNumber))
    z_by_instance = [float(ds.ImagePositionPatient[2]) for ds in by_instance]
    assert z_by_instance == sorted(z_by_instance, reverse=True)  # numbered from the top, as many scanners do
    volume = load_patient(small_cohort / "SYNTH-001")
    assert np.all(np.diff(volume.slice_positions_mm) > 0)


def test_checksum_list_detects_changes(small_cohort, tmp_path):
    assert verify_cohort(small_cohort) == []
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(small_cohort), str(copy)], check=True)
    with (copy / "SYNTH-002" / "RTSTRUCT.dcm").open("r+b") as handle:
        handle.seek(400)
        handle.write(b"\x00\x01")
    assert verify_cohort(copy) == ["SYNTH-002/RTSTRUCT.dcm"]


def test_structures_and_ground_truth(small_cohort):
    for patient in sorted(small_cohort.glob("SYNTH-*")):
        params = json.loads((patient / "parameters.json").read_text())
        volume = load_patient(patient)
        truth = synthetic.load_masks(patient / "ground_truth.npz")
        for name in ("GTV-1", "Lung-Left", "Lung-Right", "Heart", "Esophagus", "Spinal-Cord", "LN-7", "LN-4R", "LN-10R"):
            assert volume.masks[name].any(), f"{patient.name}: {name} empty"
            # RTSTRUCT contours are taken from the continuous shape at each slice plane: the round trip
            # differs only for centres within the ContourData precision (1e-6 mm) of the surface.
            assert (volume.masks[name] != truth[name]).sum() <= 2, name
        assert ("GTV-2" in volume.masks) == (params["node"] is not None)
        lungs = volume.masks["Lung-Left"] | volume.masks["Lung-Right"]
        assert not (volume.masks["Heart"] & lungs).any()  # the lungs wrap around the heart


def _render(seed: int):
    rng = np.random.default_rng(seed)
    anatomy_params = anatomy.sample_anatomy(rng)
    shapes = anatomy.build_anatomy(anatomy_params)
    form = tumour.sample_tumour_form(rng, anatomy_params["contrast_enhanced"])
    tumour_params = tumour.place_tumour(rng, form, shapes, anatomy.forbidden_organs(shapes))
    grid = render.Grid((56, 128, 128), (5.0, 3.5, 3.5), (-222.25, -222.25, anatomy_params["lung_apex_z_mm"] + 15 - 275))
    hu, masks, _ = render.render_patient(anatomy_params, grid, rng, tumour_params, None)
    return anatomy_params, tumour_params, hu, masks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_realism_targets(seed):
    """DATA.md: tissue means within ±10 HU of target, noise SD within ±20 %, tumour size and share."""
    anatomy_params, tumour_params, hu, masks = _render(seed)
    inner = lambda mask, n=2: ndimage.binary_erosion(mask, iterations=n)  # away from partial volume
    lung = inner(masks["Lung-Left"] | masks["Lung-Right"])
    parenchyma = (anatomy_params["lung_anterior_hu"] + anatomy_params["lung_posterior_hu"]) / 2
    assert abs(np.median(hu[lung]) - parenchyma) <= 10  # median: vessels are not parenchyma
    assert -900 <= parenchyma <= -790
    front, back = hu[lung & (np.arange(128)[None, :, None] < 55)], hu[lung & (np.arange(128)[None, :, None] > 75)]
    assert np.median(back) > np.median(front) + 20  # denser posteriorly
    assert abs(np.median(hu[inner(masks["Fat-Layer"], 1)]) - (-100)) <= 10
    assert abs(np.median(hu[inner(masks["Muscle-Layer"], 1)]) - 50) <= 10
    heart = hu[inner(masks["Heart"])]
    assert abs(heart.mean() - anatomy_params["blood_hu"]) <= 10
    assert heart.std() == pytest.approx(anatomy_params["noise_sd_hu"], rel=0.2)
    gtv = masks["GTV-1"]
    voxel_cm3 = 5.0 * 3.5 * 3.5 / 1000
    assert gtv.sum() * voxel_cm3 == pytest.approx(tumour_params["volume_cm3"], rel=0.15)
    assert 0.03 <= gtv.any(axis=(1, 2)).mean() <= 0.35
    assert 0.005 <= 100 * gtv.mean() <= 0.6
    if not tumour_params["part_solid"]:
        core = inner(gtv, 1) if inner(gtv, 1).sum() > 20 else gtv
        assert abs(np.median(hu[core]) - tumour_params["solid_hu"]) <= 15


def test_acquisition_settings_change_noise_and_sharpness_not_the_defaults():
    """An "external scanner": noise_scale multiplies the noise SD; a softer kernel (kernel_sigma_mm) lowers the noise
    and widens the edges. At their defaults the fields leave a cohort's key and cohort.json as before they existed."""
    from dataclasses import asdict

    from gtvlib.data.synthetic.cohort import ACQUISITION_DEFAULTS, GENERATOR_VERSION, cohort_key, settings_dict
    from gtvlib.util.checksums import settings_key

    quick = synthetic.preset("quick")
    old_fields = {k: v for k, v in asdict(quick).items() if k not in ACQUISITION_DEFAULTS}
    assert set(ACQUISITION_DEFAULTS) == {"noise_scale", "kernel_sigma_mm", "pet_patients", "tumour_mix"}
    assert settings_dict(quick) == old_fields
    assert cohort_key(quick, 0) == settings_key({"preset": old_fields, "seed": 0, "version": GENERATOR_VERSION}, length=12)
    noisy = synthetic.preset("quick", noise_scale=2.0)
    assert settings_dict(noisy)["noise_scale"] == 2.0 and cohort_key(noisy, 0) != cohort_key(quick, 0)
    for bad in ({"noise_scale": 0.0}, {"kernel_sigma_mm": -1.0}):
        with pytest.raises(GtvError, match=f"{next(iter(bad))}="):
            synthetic.preset("quick", **bad)

    rng = np.random.default_rng(0)
    anatomy_params = anatomy.sample_anatomy(rng)
    grid = render.Grid((24, 128, 128), (5.0, 3.5, 3.5), (-222.25, -222.25, anatomy_params["lung_apex_z_mm"] - 200))
    heart_sd, edge_step = {}, {}
    for label, settings in {"standard": {}, "noisy": {"noise_scale": 2.0}, "soft": {"kernel_sigma_mm": 3.5}}.items():
        hu, masks, _ = render.render_patient(anatomy_params, grid, np.random.default_rng(1), None, None, **settings)
        heart = ndimage.binary_erosion(masks["Heart"], iterations=3)
        heart_sd[label] = float(hu[heart].std())
        lung_beside_heart = ndimage.binary_dilation(masks["Heart"], iterations=1) & (masks["Lung-Left"] | masks["Lung-Right"])
        edge_step[label] = float(hu[lung_beside_heart].mean())  # the heart's blood bleeds into the lung next to it
    assert heart_sd["noisy"] == pytest.approx(2 * heart_sd["standard"], rel=0.15)
    assert heart_sd["soft"] < 0.75 * heart_sd["standard"]  # in-plane noise of correlation 0.8 px blurred by 1 px: ≈ 0.62
    assert edge_step["soft"] > edge_step["standard"] + 40  # the border blurs: lung next to the heart brightens


def test_generator_refuses_to_overwrite_other_data(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(GtvError, match="not a synthetic cohort; refusing to overwrite"):
        synthetic.generate_cohort(tmp_path / "mine", "quick", patients=1)
    with pytest.raises(GtvError, match="preset 'huge' is unknown"):
        synthetic.generate_cohort(tmp_path / "x", "huge")


def test_clinical_table_carries_the_known_size_effect(small_cohort):
    import pandas as pd

    table = pd.read_csv(small_cohort / "clinical.csv")
    assert list(table.columns[:10]) == ["PatientID", "age", "clinical.T.Stage", "Clinical.N.Stage", "Clinical.M.Stage",
                                        "Overall.Stage", "Histology", "gender", "Survival.time", "deadstatus.event"]
    assert len(table) == 3
    info = json.loads((small_cohort / "cohort.json").read_text())
    assert info["outcome_effects"]["hr_size_ge_5cm"] == pytest.approx(1.635)


def test_impossible_rendering_and_placement_are_gtv_errors():
    from gtvlib.data.synthetic.shapes import half_space

    grid = render.Grid((4, 8, 8), (5.0, 3.5, 3.5), (0.0, 0.0, 0.0))
    with pytest.raises(GtvError, match="supersample_z=2; expected an odd number"):
        render.Renderer(grid, supersample_z=2)
    rng = np.random.default_rng(0)
    shapes = anatomy.build_anatomy(anatomy.sample_anatomy(rng))
    everywhere = half_space((0, 0, 1), 1e5)  # every point is "inside a forbidden organ"
    with pytest.raises(GtvError, match="no admissible position for a .* tumour in the (left|right) .* lobe after 4000 draws"):
        tumour.place_tumour(rng, tumour.sample_tumour_form(rng, False), shapes, everywhere)


def _graded(index: int, seed: int = 0):
    """One patient of the graded mix rendered as the cohort renders it (its companions beside the tumour)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index]))
    anatomy_params = anatomy.sample_anatomy(rng)
    shapes = anatomy.build_anatomy(anatomy_params)
    enhanced = anatomy_params["contrast_enhanced"]
    form = tumour.sample_graded_form(rng, enhanced, index)
    tumour_params = tumour.place_tumour(rng, form, shapes, anatomy.forbidden_organs(shapes), tumour.GRADED_CATEGORIES)
    lung = shapes["lungs"]["Lung-Right" if tumour_params["side"] == "right" else "Lung-Left"]
    tumour_params["companions"] = tumour.sample_companions(rng, tumour_params, enhanced, anatomy_params["blood_hu"], lung)
    grid = render.Grid((56, 128, 128), (5.0, 3.5, 3.5), (-222.25, -222.25, anatomy_params["lung_apex_z_mm"] + 15 - 275))
    hu, masks, _ = render.render_patient(anatomy_params, grid, rng, tumour_params, None)
    return anatomy_params, tumour_params, grid, hu, masks


def test_graded_mix_draws_its_size_strata_in_turn_and_its_locations():
    volumes = [tumour.sample_graded_form(np.random.default_rng(i), False, i)["volume_cm3"] for i in range(300)]
    strata = [tumour.size_stratum(v) for v in volumes]
    assert strata[:6] == ["< 5 cm³", "5–30 cm³", "> 30 cm³"] * 2
    assert min(volumes) >= 0.5 and max(volumes) <= 100 and strata.count("< 5 cm³") == 100
    assert synthetic.preset("graded").patients == 40 and synthetic.preset("graded").tumour_mix == "graded"
    with pytest.raises(GtvError, match="tumour_mix"):
        synthetic.preset("quick", tumour_mix="hard")
    # the graded mix is a new preset: the quick cohort keeps its key (its fields at their defaults are not hashed)
    assert "tumour_mix" not in synthetic.cohort.settings_dict(synthetic.preset("quick"))


def test_companions_look_like_tumour_inside_its_box_and_stay_outside_the_gtv():
    """Atelectasis: soft-tissue HU, touching the tumour, never GTV; its centre is soft tissue on the CT."""
    found = 0
    for index in range(6):
        anatomy_params, tumour_params, grid, hu, masks = _graded(index)
        gtv = masks["GTV-1"]
        volume_cm3 = gtv.sum() * 5.0 * 3.5 * 3.5 / 1000
        assert volume_cm3 == pytest.approx(tumour_params["volume_cm3"], rel=0.5, abs=0.6)  # 0.5 cm³ is 8 voxels
        atelectasis = tumour_params["companions"]["atelectasis"]
        if atelectasis is None:
            continue
        found += 1
        shape, value = tumour.companion_shapes(tumour_params["companions"])["atelectasis"]
        renderer = render.Renderer(grid)
        collapsed = renderer.mask(shape) & (masks["Lung-Left"] | masks["Lung-Right"]) & ~gtv
        assert collapsed.sum() >= 2  # rendered inside the lung, not clipped away
        lung_side = masks["Lung-Right" if tumour_params["side"] == "right" else "Lung-Left"]
        inner = ndimage.binary_erosion(collapsed, iterations=1) & lung_side
        if inner.sum() >= 5:
            assert abs(np.median(hu[inner]) - value) <= 45  # soft tissue (bronchograms and partial volume lower it)
            assert -100 < np.median(hu[inner]) < 150
        assert ndimage.binary_dilation(gtv, iterations=2)[collapsed].any()  # it touches the tumour
        assert -50 <= atelectasis["hu"] <= 150
    assert found >= 2
