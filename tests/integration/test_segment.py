"""Integration tier of tests/unit/segment/test_segment.py: the clinic door: ``python -m gtvlib.segment`` turns a CT folder into an RTSTRUCT and a SEG that four independent"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pydicom
import pytest

from gtvlib.data.dicom.conformance import find_dciodvfy, verify_dicom
from gtvlib.data.dicom.patient import load_patient
from gtvlib.data.dicom.series import load_ct_series
from gtvlib.metrics import dice
from gtvlib.runs import RunRecord
from gtvlib.segment import predict_on_scan, segment_study
from gtvlib.segment.export import OUTPUT_FILES, ROI_NAME
from gtvlib.training import Training
from gtvlib.util.errors import GtvError
from tests.unit.segment import test_segment as unit_tier  # the unit tier's fixtures and helpers, shared

DISTINCTIVE = unit_tier.DISTINCTIVE
TRAIN = unit_tier.TRAIN
VAL = unit_tier.VAL
_truth_prompt = unit_tier._truth_prompt
data = unit_tier.data
read_back = unit_tier.read_back
sam_run = unit_tier.sam_run
scattered_copy = unit_tier.scattered_copy
truth_box_prompt = unit_tier.truth_box_prompt


@pytest.mark.slow
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


@pytest.mark.slow
def test_boxes_from_a_prompt_free_run_prompt_sam_where_that_run_finds_tumour(data, sam_run, small_cohort, tmp_path):
    """``--boxes-from``: a prompt-free network's mask gives each slice its box (the box of its largest
    component), and SAM-Med2D segments inside it. Whatever the detector's quality, SAM may draw only on the
    slices where the detector found something, and only near it (the zoom window is twice the box)."""
    from dataclasses import asdict

    from gtvlib.losses import LossWeights

    detector_config = Training.of("slices", data, "supervised", model="unet", epochs=4, lr=3.0e-3, batch_size=4,
                                  weights=asdict(LossWeights(1.0, 1.0, 0.0, 0.0)))  # the baselines' losses
    detector = detector_config.fit(RunRecord(tmp_path / "unet")).folder
    ct = small_cohort / "SYNTH-003" / "CT"
    alone = segment_study(ct, tmp_path / "detector", detector, verbose=False).mask
    if not alone.any():
        with pytest.raises(GtvError, match="no slice received a box prompt"):
            segment_study(ct, tmp_path / "cascade", sam_run, boxes_from=detector, verbose=False)
        pytest.fail("the U-Net found nothing after 4 epochs: the cascade could not be checked")
    cascade = segment_study(ct, tmp_path / "cascade", sam_run, boxes_from=detector, verbose=False)
    assert cascade.summary["prompt"].startswith("boxes of unet (") and cascade.mask.any()
    drawn = cascade.mask.reshape(len(cascade.mask), -1).any(axis=1)
    found = alone.reshape(len(alone), -1).any(axis=1)
    assert not (drawn & ~found).any()  # never a slice the detector left empty
    for k in np.nonzero(drawn)[0]:
        rows, columns = np.nonzero(alone[k])
        reach = max(np.ptp(rows), np.ptp(columns)) + 1  # the zoom window around the box: twice its side
        r, c = np.nonzero(cascade.mask[k])
        assert r.min() >= rows.min() - reach and r.max() <= rows.max() + reach
        assert c.min() >= columns.min() - reach and c.max() <= columns.max() + reach
    # the library door to the same prediction: a prompt-free model alone, and SAM on the reference's boxes
    from gtvlib.models.trained import load_trained

    patient = load_patient(small_cohort / "SYNTH-003")
    assert np.array_equal(predict_on_scan(load_trained(detector), patient), alone)
    on_reference = predict_on_scan(load_trained(sam_run), patient, patient.masks["GTV-1"])
    assert not on_reference[~patient.masks["GTV-1"].reshape(len(alone), -1).any(axis=1)].any()  # only prompted slices
    assert dice(on_reference, patient.masks["GTV-1"]) > 0.3
    with pytest.raises(GtvError, match="sam_med2d_tiny needs a box prompt: give a non-empty prompt_mask"):
        predict_on_scan(load_trained(sam_run), patient, np.zeros_like(alone))
    with pytest.raises(GtvError, match="unet is prompt-free; a prompt or --boxes-from applies to a box-prompted"):
        segment_study(ct, tmp_path / "wrong", detector, boxes_from=detector, verbose=False)
    with pytest.raises(GtvError, match="needs prompts itself; --boxes-from expects a prompt-free run"):
        segment_study(ct, tmp_path / "wrong", sam_run, boxes_from=sam_run, verbose=False)


@pytest.mark.slow
def test_identifying_values_reach_the_dicom_outputs_only(small_cohort, sam_run, tmp_path):
    folder = tmp_path / "in" / "ZEBEDEE QUILLON"  # even a folder named after the patient must not leak the name
    shutil.copytree(small_cohort / "SYNTH-003" / "CT", folder)
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        for keyword, value in DISTINCTIVE.items():
            setattr(ds, keyword, value)
        ds.PatientIdentityRemoved = "NO"
        del ds.DeidentificationMethod
        ds.save_as(path)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "gtvlib.segment", str(folder), "--out", str(out), "--model", str(sam_run),
                           "--prompt", _truth_prompt(small_cohort)], capture_output=True, text=True,
                          env={"GTVLIB_BATCH": "1", "PATH": ""}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    told = (done.stdout + done.stderr).replace(str(folder), "<input>")  # the user's own path is echoed back
    written = {name: (out / name).read_bytes() for name in (OUTPUT_FILES["qa"], OUTPUT_FILES["summary"])}
    for value in DISTINCTIVE.values():
        for variant in {v for v in (value, value.replace("^", " "), *value.split("^")) if len(v) >= 5}:  # "DR" is in any PNG
            assert variant not in told
            assert all(variant.encode() not in content for content in written.values())
    rtstruct = pydicom.dcmread(out / OUTPUT_FILES["rtstruct"])
    seg = pydicom.dcmread(out / OUTPUT_FILES["seg"])
    assert str(rtstruct.PatientName) == str(seg.PatientName) == "ZEBEDEE^QUILLON"  # the planning system matches on them
    assert rtstruct.PatientID == seg.PatientID == "QX-80417-Z" and rtstruct.PatientBirthDate == "19310407"
    assert "InstitutionName" not in rtstruct  # not needed for matching: not copied
