"""The clinic door: ``python -m gtvlib.segment`` turns a CT folder into an RTSTRUCT and a SEG that four independent
readers agree on (ours, highdicom, rt-utils, dicompyler-core) and that dciodvfy accepts, on a synthetic patient
and on a series of real CT slices; bad input ends in a GtvError with nothing written."""

import shutil

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from gtvlib.data import slices
from gtvlib.data.dicom import pydicom_test_file
from gtvlib.data.dicom.conformance import find_dciodvfy, verify_dicom
from gtvlib.data.dicom.patient import load_patient
from gtvlib.data.dicom.rtstruct import load_rtstruct_masks
from gtvlib.data.dicom.seg import load_seg_masks
from gtvlib.data.dicom.series import load_ct_series
from gtvlib.metrics import dice
from gtvlib.runs import RunRecord
from gtvlib.segment import segment_study
from gtvlib.segment.export import OUTPUT_FILES, ROI_NAME
from gtvlib.segment.grid import model_grid
from gtvlib.training import Training
from gtvlib.util.errors import GtvError

TRAIN, VAL = ["SYNTH-001", "SYNTH-002"], ["SYNTH-003"]


@pytest.fixture(scope="module")
def data(small_cohort, tmp_path_factory):
    return slices.prepared_from_parts(small_cohort, TRAIN, VAL, crop=slices.Box(16, 16, 112, 112), size=64,
                                      cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def sam_run(data, tmp_path_factory):
    """A tiny SAM-Med2D trained 10 epochs on the MFIT-cropped training slices (the run records its geometry)."""
    return Training.of("slices", data, "supervised", epochs=10, lr=3.0e-3, train_encoder="all").fit(
        RunRecord(tmp_path_factory.mktemp("runs") / "sam")).folder


def truth_box_prompt(volume, mask) -> str:
    """``box=`` around a mask, in patient mm (x from columns, y from rows, z from slice positions)."""
    z, r, c = np.nonzero(mask)
    ox, oy, _ = volume.origin_xyz_mm
    _, dy, dx = volume.spacing_mm
    zs = volume.slice_positions_mm
    return (f"box={ox + c.min() * dx},{oy + r.min() * dy},{zs[z.min()]},"
            f"{ox + c.max() * dx},{oy + r.max() * dy},{zs[z.max()]}")


def scattered_copy(patient_folder, target):
    """The patient's files under other names, the CT in a nested folder, with a note and the truth beside."""
    (target / "export" / "ct").mkdir(parents=True)
    for number, path in enumerate(sorted((patient_folder / "CT").iterdir())):
        shutil.copy(path, target / "export" / "ct" / f"IMG{number:05d}")
    shutil.copy(patient_folder / "RTSTRUCT.dcm", target / "export" / "RS_plan")
    (target / "export" / "notes.txt").write_text("exported from the planning system\n")
    return target / "export"


def read_back(out, ct_folder, volume):
    """The GTV-auto mask (z, rows, columns) as each of the four readers rasterises the exported files."""
    import highdicom as hd
    import pydicom.dicomio
    from rt_utils import RTStructBuilder

    masks = {}
    rtstruct, seg = out / OUTPUT_FILES["rtstruct"], out / OUTPUT_FILES["seg"]
    masks["gtvlib RTSTRUCT"] = load_rtstruct_masks(rtstruct, volume, {ROI_NAME: []}, (ROI_NAME,))[ROI_NAME]
    masks["gtvlib SEG"] = load_seg_masks(seg, volume)[ROI_NAME]
    document = hd.seg.segread(seg)
    pixels = document.get_pixels_by_source_instance(source_sop_instance_uids=volume.metadata["sop_instance_uids"],
                                                    segment_numbers=[1], assert_missing_frames_are_empty=True)
    masks["highdicom SEG"] = pixels[..., 0] > 0
    builder = RTStructBuilder.create_from(str(ct_folder), str(rtstruct))  # slices sorted by position, ascending
    masks["rt-utils RTSTRUCT"] = np.moveaxis(builder.get_roi_mask_by_name(ROI_NAME), -1, 0)
    # dicompyler-core 0.5.6 imports pydicom.dicomio.read_file, which pydicom 3 renamed dcmread
    pydicom.dicomio.read_file = getattr(pydicom.dicomio, "read_file", pydicom.dcmread)
    from dicompylercore import dicomparser, dvhcalc

    parsed = dicomparser.DicomParser(str(rtstruct))
    number = next(n for n, s in parsed.GetStructures().items() if s["name"] == ROI_NAME)
    planes = parsed.GetStructureCoordinates(number)
    ox, oy, _ = volume.origin_xyz_mm
    _, dy, dx = volume.spacing_mm
    x = ox + dx * np.arange(volume.shape[2])
    y = oy + dy * np.arange(volume.shape[1])
    points = np.column_stack([g.ravel() for g in np.meshgrid(x, y)])
    lut = {"lut": [x, y], "x_lut_index": 0}
    rasterised = np.zeros(volume.shape, bool)
    for key, contours in planes.items():  # dicompyler keys planes by z as text
        k = int(np.argmin(np.abs(volume.slice_positions_mm - float(key))))
        for contour in contours:
            rasterised[k] ^= dvhcalc.get_contour_mask(lut, None, points, [(p[0], p[1]) for p in contour["data"]])
    masks["dicompyler-core RTSTRUCT"] = rasterised
    return masks


def real_ct_series(folder, slices_count=6):
    """A series of pydicom's real CT slice (CT_small.dcm: a real scanner's headers and pixels) at 5-mm steps."""
    folder.mkdir(parents=True)
    series_uid = generate_uid()
    for k in range(slices_count):
        ds = pydicom.dcmread(pydicom_test_file("CT_small.dcm"))
        ds.SeriesInstanceUID, ds.SOPInstanceUID = series_uid, generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.ImagePositionPatient = [*ds.ImagePositionPatient[:2], float(ds.ImagePositionPatient[2]) + 5.0 * k]
        ds.SliceLocation = ds.ImagePositionPatient[2]
        ds.save_as(folder / f"slice{k}.dcm", enforce_file_format=True)
    return folder


def test_segment_on_a_real_ct_series(sam_run, tmp_path):
    folder = real_ct_series(tmp_path / "real")
    volume = load_ct_series(folder)
    ox, oy, _ = volume.origin_xyz_mm
    _, dy, dx = volume.spacing_mm
    z = volume.slice_positions_mm
    prompt = f"box={ox + 40 * dx},{oy + 40 * dy},{z[1]},{ox + 90 * dx},{oy + 90 * dy},{z[4]}"
    grid = model_grid(volume, {"size": 64, "crop": [16, 16, 112, 112]}, {"image_px": [128, 128], "pixel_mm": [3.5, 3.5]})
    assert grid.pixel_mm == pytest.approx((96 * 3.5 / 64, 96 * 3.5 / 64))  # the training pixel size, not this scan's
    result = segment_study(folder, tmp_path / "out", sam_run, prompts=[prompt], verbose=False)
    if not result.mask.any():
        pytest.fail("the model predicted nothing inside the box on the real series")
    masks = read_back(tmp_path / "out", folder, volume)
    agreement = {reader: dice(mask, result.mask) for reader, mask in masks.items()}
    assert min(agreement.values()) >= 0.99, agreement
    assert not result.mask[[0, 5]].any()  # slices the box does not reach are not segmented
    if find_dciodvfy():
        assert verify_dicom(tmp_path / "out" / OUTPUT_FILES["rtstruct"]).errors == []
        assert verify_dicom(tmp_path / "out" / OUTPUT_FILES["seg"]).errors == []


def test_model_grid_round_trip_is_the_identity_where_the_grid_matches_the_scan(small_cohort):
    volume = load_ct_series(small_cohort / "SYNTH-001" / "CT")
    grid = model_grid(volume, {"size": 128, "crop": None}, {"image_px": [128, 128], "pixel_mm": [3.5, 3.5]})
    assert grid.scale_rc == pytest.approx((1.0, 1.0)) and grid.offset_rc == pytest.approx((0.0, 0.0))
    mask = np.zeros(volume.shape, bool)
    mask[10:20, 40:60, 50:70] = True
    assert np.array_equal(grid.to_scan(np.where(mask, 5.0, -5.0), volume.shape), mask)
    half = model_grid(volume, {"size": 64, "crop": [16, 16, 112, 112]}, {"image_px": [128, 128], "pixel_mm": [3.5, 3.5]})
    # model pixel 0's centre: the crop starts at CT pixel edge 16, each model pixel spans 1.5 CT pixels
    assert half.offset_rc == pytest.approx((16 + 0.75 - 0.5, 16 + 0.75 - 0.5)) and half.scale_rc == pytest.approx((1.5, 1.5))
    assert np.array_equal(grid.mask_on_grid(mask), mask)
    # the scan's rows 40–59 and columns 50–69 hold the model pixels whose centres (16.25 + 1.5 i) fall nearest
    # to them: rows 16–28 (centres 40.25 … 58.25) and columns 23–35 (50.75 … 68.75)
    expected = np.zeros((volume.shape[0], 64, 64), bool)
    expected[10:20, 16:29, 23:36] = True
    assert np.array_equal(half.mask_on_grid(mask), expected)


# --------------------------------------------------------------------------- bad input: one GtvError, nothing written


def _patient_copy(small_cohort, tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(small_cohort / "SYNTH-003", folder)
    return folder


def _truth_prompt(small_cohort):
    volume = load_patient(small_cohort / "SYNTH-003")
    return truth_box_prompt(volume, volume.masks["GTV-1"])


def _gap(folder):
    paths = sorted((folder / "CT").iterdir(), key=lambda p: float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]))
    paths[len(paths) // 2].unlink()


def _mixed_geometry(folder):
    path = sorted((folder / "CT").iterdir())[3]
    ds = pydicom.dcmread(path)
    ds.PixelSpacing = [1.0, 1.0]
    ds.save_as(path)


def _second_ct_series(folder):
    target = folder / "other"
    target.mkdir()
    for path in sorted((folder / "CT").iterdir())[:3]:
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = "1.2.3.4"
        ds.SOPInstanceUID = generate_uid()
        ds.SeriesNumber = 7
        ds.save_as(target / path.name)


def _truncated_slice(folder):
    path = sorted((folder / "CT").iterdir())[2]
    path.write_bytes(path.read_bytes()[:700])


def _only_structures(folder):
    shutil.rmtree(folder / "CT")


BAD_FOLDERS = {
    "gap": (_gap, r"non-uniform slice spacing"),
    "mixed geometry": (_mixed_geometry, r"geometry differs from the rest of the series"),
    "two CT series": (_second_ct_series, r"2 CT series \(CT series 1 \(synthetic chest CT, \d+ file\(s\)\); CT series 7 .*choose one with --series"),
    "truncated slice": (_truncated_slice, r"\.dcm: attribute SeriesInstanceUID is missing or empty \(an incomplete or truncated DICOM file\?\)"),
    "no CT": (_only_structures, r"no CT series found \(series found: RTSTRUCT series .*SEG series"),
}


@pytest.mark.parametrize("case", sorted(BAD_FOLDERS))
def test_bad_input_folders(case, small_cohort, sam_run, tmp_path):
    folder = _patient_copy(small_cohort, tmp_path)
    spoil, message = BAD_FOLDERS[case]
    spoil(folder)
    with pytest.raises(GtvError, match=message):
        segment_study(folder, tmp_path / "out", sam_run, prompts=[_truth_prompt(small_cohort)], verbose=False)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.partial-*"))


def test_an_empty_folder_and_a_missing_one(sam_run, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GtvError, match=r"empty: no CT series found \(series found: none\)"):
        segment_study(tmp_path / "empty", tmp_path / "out", sam_run, verbose=False)
    with pytest.raises(GtvError, match=r"absent: no such folder"):
        segment_study(tmp_path / "absent", tmp_path / "out", sam_run, verbose=False)


def test_series_chooses_among_several(small_cohort, sam_run, tmp_path):
    folder = _patient_copy(small_cohort, tmp_path)
    _second_ct_series(folder)
    result = segment_study(folder, tmp_path / "out", sam_run, prompts=[_truth_prompt(small_cohort)], series="1", verbose=False)
    assert result.summary["input_series"].startswith("CT series 1 ")
    with pytest.raises(GtvError, match="0 CT series numbered 9"):
        segment_study(folder, tmp_path / "out2", sam_run, prompts=[_truth_prompt(small_cohort)], series="9", verbose=False)


BAD_PROMPTS = {
    "box=1,2,3": r"3 value\(s\); expected 6 finite numbers in mm",
    "circle=1,2,3": r"unknown kind 'circle'",
    "box=a,b,c,d,e,f": r"not a list of numbers",
    "click=0,0,0,-5": r"diameter -5.0 mm; expected a positive diameter",
    "box=0,0,0,0,10,10": r"the box has no area",
    "box=0,0,900,10,10,950": r"reaches no slice of the series",
    "box=5000,5000,0,5100,5100,5": r"outside the model's field of view",
}


@pytest.mark.parametrize("prompt", sorted(BAD_PROMPTS))
def test_bad_prompts(prompt, small_cohort, sam_run, tmp_path):
    with pytest.raises(GtvError, match=BAD_PROMPTS[prompt]):
        segment_study(small_cohort / "SYNTH-003", tmp_path / "out", sam_run, prompts=[prompt], verbose=False)
    assert not (tmp_path / "out").exists()


def test_sam_without_a_prompt_and_bad_models(small_cohort, sam_run, tmp_path):
    folder = small_cohort / "SYNTH-003"
    with pytest.raises(GtvError, match="needs a box prompt on every slice it segments"):
        segment_study(folder, tmp_path / "out", sam_run, verbose=False)
    random_bytes = tmp_path / "random.pt"
    random_bytes.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(GtvError, match=r"random\.pt: not a readable torch checkpoint"):
        segment_study(folder, tmp_path / "out", random_bytes, architecture="sam_med2d_tiny", prompts=[_truth_prompt(small_cohort)], verbose=False)
    with pytest.raises(GtvError, match=r"a weights file outside a run record; name its architecture"):
        segment_study(folder, tmp_path / "out", random_bytes, verbose=False)
    with pytest.raises(GtvError, match=r"epoch_010\.pt: 'model' does not fit this run's model \(Error\(s\) in loading state_dict for UNet"):
        segment_study(folder, tmp_path / "out", sam_run / "checkpoints" / "epoch_010.pt", architecture="unet", verbose=False)
    with pytest.raises(GtvError, match="no such run folder or weights file"):
        segment_study(folder, tmp_path / "out", tmp_path / "nothing", verbose=False)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- privacy

DISTINCTIVE = {"PatientName": "ZEBEDEE^QUILLON", "PatientID": "QX-80417-Z", "PatientBirthDate": "19310407",
               "AccessionNumber": "ACC77Q1Z", "InstitutionName": "QUILLON MEMORIAL", "ReferringPhysicianName": "DR^VORTIGERN",
               "StudyID": "STQ5531"}
