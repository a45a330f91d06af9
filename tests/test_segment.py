"""The clinic door: ``python -m gtvlib.segment`` turns a CT folder into an RTSTRUCT and a SEG that four independent
readers agree on (ours, highdicom, rt-utils, dicompyler-core) and that dciodvfy accepts, on a synthetic patient
and on a series of real CT slices; bad input ends in a GtvError with nothing written."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from gtvlib import train
from gtvlib.data import slices
from gtvlib.data.dicom import pydicom_test_file
from gtvlib.data.dicom.conformance import find_dciodvfy, verify_dicom
from gtvlib.data.dicom.patient import load_patient
from gtvlib.data.dicom.rtstruct import load_rtstruct_masks
from gtvlib.data.dicom.seg import load_seg_masks
from gtvlib.data.dicom.series import load_ct_series
from gtvlib.errors import GtvError
from gtvlib.metrics import dice
from gtvlib.runs import RunRecord
from gtvlib.segment import segment_study
from gtvlib.segment.export import OUTPUT_FILES, ROI_NAME
from gtvlib.segment.grid import model_grid

TRAIN, VAL = ["SYNTH-001", "SYNTH-002"], ["SYNTH-003"]


@pytest.fixture(scope="module")
def data(small_cohort, tmp_path_factory):
    return slices.prepared_from_parts(small_cohort, TRAIN, VAL, crop=slices.Box(16, 16, 112, 112), size=64,
                                      cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def sam_run(data, tmp_path_factory):
    """A tiny SAM-Med2D trained 10 epochs on the MFIT-cropped training slices (the run records its geometry)."""
    return train.train_supervised(train.TrainConfig(epochs=10, lr=3.0e-3, train_encoder="all"), data,
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


def test_segment_command_on_a_synthetic_patient(small_cohort, sam_run, tmp_path):
    truth_volume = load_patient(small_cohort / "SYNTH-003")
    prompt = truth_box_prompt(truth_volume, truth_volume.masks["GTV-1"])
    folder = scattered_copy(small_cohort / "SYNTH-003", tmp_path)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "gtvlib.segment", str(folder), "--out", str(out), "--model", str(sam_run),
                           "--prompt", prompt], capture_output=True, text=True, env={"GTVLIB_BATCH": "1", "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert "input: CT series 1 (synthetic chest CT, " in done.stdout and f"{ROI_NAME}: " in done.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES.values())
    summary = json.loads((out / OUTPUT_FILES["summary"]).read_text())
    volume = load_ct_series(folder / "ct")
    masks = read_back(out, folder / "ct", volume)
    reference = masks["gtvlib SEG"]
    assert reference.sum() > 0 and summary["volume_cm3"] == pytest.approx(reference.sum() * np.prod(volume.spacing_mm) / 1000, abs=1e-3)
    agreement = {reader: dice(mask, reference) for reader, mask in masks.items()}
    assert min(agreement.values()) >= 0.99, agreement
    assert dice(reference, truth_volume.masks["GTV-1"]) > 0.3  # a box-prompted model, 4 epochs: on the tumour
    rtstruct = pydicom.dcmread(out / OUTPUT_FILES["rtstruct"])
    item = rtstruct.StructureSetROISequence[0]
    assert (item.ROIName, item.ROIGenerationAlgorithm) == (ROI_NAME, "AUTOMATIC") and "sam_med2d_tiny" in item.ROIGenerationDescription
    ct = pydicom.dcmread(next((folder / "ct").iterdir()), stop_before_pixels=True)
    assert rtstruct.FrameOfReferenceUID == ct.FrameOfReferenceUID and rtstruct.PatientID == ct.PatientID
    referenced = rtstruct.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == ct.SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in referenced.ContourImageSequence} == set(volume.metadata["sop_instance_uids"])
    seg = pydicom.dcmread(out / OUTPUT_FILES["seg"])
    described = seg.SegmentSequence[0]
    assert described.SegmentAlgorithmType == "AUTOMATIC" and described.SegmentAlgorithmName == "sam_med2d_tiny"
    if find_dciodvfy():
        assert {name: verify_dicom(out / name).errors for name in (OUTPUT_FILES["rtstruct"], OUTPUT_FILES["seg"])} == \
               {OUTPUT_FILES["rtstruct"]: [], OUTPUT_FILES["seg"]: []}


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
    dz, dy, dx = volume.spacing_mm
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
