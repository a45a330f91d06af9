"""Loaders refuse what they cannot read correctly (issue 15): one GtvError naming the file or value, the problem
and what was expected, never a traceback of another type and never a silently wrong result. Every case is a
corrupted copy made here, of a small series written by the tests or of pydicom's own files."""

import numpy as np
import pydicom
import pytest

from gtvlib.data.dicom import ct_to_hu, pydicom_test_file, read_dataset
from gtvlib.data.dicom.patient import load_patient
from gtvlib.data.dicom.series import load_ct_series
from gtvlib.data.dicom.structure_writers import write_rtstruct
from gtvlib.data.dicom.writers import deterministic_uid
from gtvlib.util.errors import GtvError
from tests.unit.data.dicom.test_rtstruct import write_series

SQUARE = np.array([[10, 10], [10, 20], [20, 20], [20, 10]], dtype=float)
COS, SIN = np.cos(np.radians(10)), np.sin(np.radians(10))


def _edit_slices(folder, edit, which=None):
    """Apply ``edit(ds, index)`` to the CT slices (sorted by z), or to those whose index is in ``which``."""
    paths = sorted((folder / "CT").iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    for index, path in enumerate(paths):
        if which is None or index in which:
            ds = pydicom.dcmread(path)
            edit(ds, index)
            ds.save_as(path)
    return paths


# ------------------------------------------------------------------------------------------------ geometry

@pytest.mark.parametrize(("orientation", "position", "expected"), [
    ([-1, 0, 0, 0, -1, 0], "HFP", r"\[-1\.0, 0\.0, 0\.0, 0\.0, -1\.0, 0\.0\] \(PatientPosition HFP\): rows or columns run against"),
    ([-1, 0, 0, 0, 1, 0], "FFS", r"\(PatientPosition FFS\): rows or columns run against the patient axes \(a prone, feet-first"),
    ([0, 1, 0, -1, 0, 0], "HFDL", r"\(PatientPosition HFDL\): rows or columns run against"),
    ([1, 0, 0, 0, COS, SIN], "HFS", r"a gantry tilt of 10\.0°"),
    ([1, 0, 0, 0, 0, -1], "HFS", r"an oblique or non-axial plane"),
])
def test_every_orientation_but_head_first_supine_axial_is_refused(tmp_path, orientation, position, expected):
    write_series(tmp_path)

    def reorient(ds, _):
        ds.ImageOrientationPatient, ds.PatientPosition = orientation, position
    _edit_slices(tmp_path, reorient)
    with pytest.raises(GtvError, match=rf"CT: ImageOrientationPatient .*{expected}.*reads head-first supine axial series"):
        load_ct_series(tmp_path / "CT")


def test_a_gantry_tilt_written_into_the_positions_is_refused(tmp_path):
    write_series(tmp_path)

    def shear(ds, _):
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y + (z - 10.0) * np.tan(np.radians(10)), z]
    _edit_slices(tmp_path, shear)
    with pytest.raises(GtvError, match=r"\.dcm: this slice lies 1\.76 mm beside the first slice's column of positions, "
                                       r"10\.0 mm above it \(a gantry tilt of about 10\.0°"):
        load_ct_series(tmp_path / "CT")


@pytest.mark.parametrize(("keyword", "value", "expected"), [
    ("ImagePositionPatient", ["nan", "0", "0"], r"ImagePositionPatient \[nan, 0\.0, 0\.0\] holds non-finite values"),
    ("ImagePositionPatient", ["1", "2"], r"ImagePositionPatient has 2 values; expected 3"),
    ("PixelSpacing", ["0.8", "inf"], r"PixelSpacing \[0\.8, inf\] holds non-finite values"),
    ("ImageOrientationPatient", [1, 0, 0, 0.5, 0.5, 0.70710678], r"ImageOrientationPatient \[.*\] is not two orthogonal unit vectors"),
])
def test_non_finite_or_malformed_geometry_names_the_file(tmp_path, keyword, value, expected):
    write_series(tmp_path)

    def spoil(ds, _):
        setattr(ds, keyword, value)
    paths = _edit_slices(tmp_path, spoil, which={2})
    with pytest.raises(GtvError, match=rf"{paths[2].name}: {expected}"):
        load_ct_series(tmp_path / "CT")


@pytest.mark.parametrize("which", [{3}, None], ids=["one slice", "every slice"])
def test_a_missing_rescale_intercept_is_refused_not_read_as_zero(tmp_path, which):
    """Without the intercept of −1024 every value would be 1,024 HU too high."""
    write_series(tmp_path)

    def drop(ds, _):
        del ds.RescaleIntercept
    _edit_slices(tmp_path, drop, which)
    count = "1 of 5" if which else "5 of 5"
    with pytest.raises(GtvError, match=rf"\.dcm: RescaleIntercept missing on {count} slices; expected it on every CT slice"):
        load_ct_series(tmp_path / "CT")
    ds = read_dataset(pydicom_test_file("CT_small.dcm"))
    del ds.RescaleSlope
    with pytest.raises(GtvError, match=r"CT_small\.dcm: RescaleSlope missing; a CT image needs RescaleSlope and RescaleIntercept"):
        ct_to_hu(ds)


@pytest.mark.parametrize("keep_bytes", [300, 2000], ids=["header cut", "pixels cut"])
def test_a_truncated_slice_is_named_never_dropped(tmp_path, keep_bytes):
    write_series(tmp_path, nz=6)
    victim = sorted((tmp_path / "CT").iterdir())[2]
    victim.write_bytes(victim.read_bytes()[:keep_bytes])
    with pytest.raises(GtvError, match=rf"{victim.name}: (incomplete DICOM file|not a readable DICOM file|pixel data cannot be decoded)"):
        load_patient(tmp_path, structures="none")


def test_a_dicomdir_beside_the_slices_is_not_a_slice(tmp_path):
    write_series(tmp_path)
    (tmp_path / "CT" / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 64)
    assert load_patient(tmp_path, structures="none").shape[0] == 5


# ---------------------------------------------------------------------------------------------- structures

def _structure_set(tmp_path, rois=None):
    slices = write_series(tmp_path)
    rois = rois or [{"name": "GTV-1", "number": 1, "planes": {2: [SQUARE]}},
                    {"name": "Lung-Left", "number": 2, "planes": {1: [SQUARE + 15], 2: [SQUARE + 15]}}]
    write_rtstruct(tmp_path / "RS.dcm", slices, rois)
    return pydicom.dcmread(tmp_path / "RS.dcm")


def test_two_rois_with_one_name_or_one_number_are_refused(tmp_path):
    ds = _structure_set(tmp_path)
    ds.StructureSetROISequence[1].ROIName = "GTV-1"  # the lung would silently come back as the GTV
    ds.save_as(tmp_path / "RS.dcm")
    with pytest.raises(GtvError, match=r"RS\.dcm: ROI name 'GTV-1' is used by 2 ROIs; expected every ROI name to be unique"):
        load_patient(tmp_path)
    ds = _structure_set(tmp_path)
    ds.StructureSetROISequence[1].ROINumber = 1  # the masks would swap
    ds.save_as(tmp_path / "RS.dcm")
    with pytest.raises(GtvError, match=r"RS\.dcm: ROI number 1 is used by 2 ROIs"):
        load_patient(tmp_path)


def test_two_names_for_one_canonical_roi_are_refused(tmp_path):
    _structure_set(tmp_path, [{"name": "GTV-1", "number": 1, "planes": {2: [SQUARE]}},
                              {"name": "gtv-1", "number": 2, "planes": {3: [SQUARE]}}])
    with pytest.raises(GtvError, match=r"RS\.dcm: ROIs \['GTV-1', 'gtv-1'\] all map to 'GTV-1'; expected one ROI per canonical name"):
        load_patient(tmp_path)


def test_contours_of_an_undefined_roi_are_refused(tmp_path):
    ds = _structure_set(tmp_path)
    ds.ROIContourSequence[1].ReferencedROINumber = 9
    ds.save_as(tmp_path / "RS.dcm")
    with pytest.raises(GtvError, match=r"refers to ROI number 9, which StructureSetROISequence does not define \(defined: \[1, 2\]\)"):
        load_patient(tmp_path)


def test_contour_data_must_be_finite_triplets(tmp_path):
    ds = _structure_set(tmp_path)
    contour = ds.ROIContourSequence[0].ContourSequence[0]
    contour.ContourData = list(contour.ContourData)[:-1]
    ds.save_as(tmp_path / "RS.dcm")
    with pytest.raises(GtvError, match=r"a contour of ROI 'GTV-1' has 11 ContourData values; expected finite x, y, z triplets"):
        load_patient(tmp_path)


def test_a_closed_contour_of_fewer_than_three_points_is_refused_not_skipped(tmp_path):
    ds = _structure_set(tmp_path)
    contour = ds.ROIContourSequence[1].ContourSequence[1]  # a lung's, not the GTV's: every ROI is checked
    contour.ContourData = list(contour.ContourData)[:6]
    contour.NumberOfContourPoints = 2
    ds.save_as(tmp_path / "RS.dcm")
    with pytest.raises(GtvError, match=r"RS\.dcm: contour 2 of ROI 'Lung-Left' is CLOSED_PLANAR with 2 point\(s\); expected at least 3"):
        load_patient(tmp_path)


def test_a_contour_beyond_the_series_is_refused_not_moved_onto_its_last_slice(tmp_path):
    """Slices at z = 10 … 20 mm every 2.5 mm: a contour is matched to a slice within half a spacing (1.25 mm);
    beyond that (a structure set of a longer scan, or of another patient) it lies on no slice."""
    for shift_mm, expected in ((6.5, r"at z = 21\.50 mm lies on no slice of the CT \(nearest 20\.00 mm\)"),
                               (500.0, r"at z = 515\.00 mm lies on no slice of the CT \(nearest 20\.00 mm\)")):
        ds = _structure_set(tmp_path, [{"name": "GTV-1", "number": 1, "planes": {2: [SQUARE]}}])
        contour = ds.ROIContourSequence[0].ContourSequence[0]
        data = np.asarray(contour.ContourData, dtype=float).reshape(-1, 3)
        data[:, 2] += shift_mm
        contour.ContourData = [f"{v:.6f}" for v in data.ravel()]
        del contour.ContourImageSequence
        ds.save_as(tmp_path / "RS.dcm")
        with pytest.raises(GtvError, match=rf"RS\.dcm: a contour of ROI 'GTV-1' {expected}; expected contours on slice planes"):
            load_patient(tmp_path)


def test_a_structure_set_of_another_series_is_refused(tmp_path):
    ds = _structure_set(tmp_path)
    ds.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID = deterministic_uid("another frame")
    ds.save_as(tmp_path / "RS.dcm")
    with pytest.raises(GtvError, match=r"refers to 1 frame\(s\) of reference, none of them the CT series' own") as raised:
        load_patient(tmp_path)
    assert "2.25." not in str(raised.value)
    ds = _structure_set(tmp_path)
    reference = ds.ROIContourSequence[0].ContourSequence[0].ContourImageSequence[0]
    reference.ReferencedSOPInstanceUID = deterministic_uid("a slice of another series")
    ds.save_as(tmp_path / "RS.dcm")
    with pytest.raises(GtvError, match=r"RS\.dcm: 1 contour\(s\) refer to images that are not in this CT series"):
        load_patient(tmp_path)


def test_two_contour_planes_on_one_slice_are_refused_not_xored(tmp_path):
    """An interpolated contour half-way between slices would be cut out of its neighbour by even–odd filling."""
    ds = _structure_set(tmp_path, [{"name": "GTV-1", "number": 1, "planes": {2: [SQUARE], 3: [SQUARE]}}])
    contour = ds.ROIContourSequence[0].ContourSequence[1]
    data = np.asarray(contour.ContourData, dtype=float).reshape(-1, 3)
    data[:, 2] -= 1.25 + 0.05  # 2.5 mm spacing: now half-way towards slice 2, just on its side
    contour.ContourData = [f"{v:.6f}" for v in data.ravel()]
    del contour.ContourImageSequence
    ds.save_as(tmp_path / "RS.dcm")
    with pytest.raises(GtvError, match=r"contours of ROI 'GTV-1' at z = 15\.00 and 16\.20 mm both map to the slice at 15\.00 mm"):
        load_patient(tmp_path)


@pytest.mark.parametrize(("spoil", "reason"), [
    ("no contours", "it has no contours"),
    ("open", r"its 1 contour\(s\) are OPEN_PLANAR, which enclose nothing"),
    ("outside", "all its contour points lie outside the CT's field of view"),
    ("tiny", r"its contours enclose no pixel centre"),
])
def test_a_required_roi_that_comes_out_empty_says_why(tmp_path, spoil, reason):
    ds = _structure_set(tmp_path)
    contours = ds.ROIContourSequence[0].ContourSequence
    if spoil == "no contours":
        del ds.ROIContourSequence[0].ContourSequence
    elif spoil == "open":
        contours[0].ContourGeometricType = "OPEN_PLANAR"
    else:
        data = np.asarray(contours[0].ContourData, dtype=float).reshape(-1, 3)
        if spoil == "outside":
            data[:, :2] += 500.0
        else:  # a square of 0.1 mm between pixel centres
            data[:, :2] = data[0, :2] + 0.4 + np.array([[0, 0], [0, 0.1], [0.1, 0.1], [0.1, 0]])
        contours[0].ContourData = [f"{v:.6f}" for v in data.ravel()]
    ds.save_as(tmp_path / "RS.dcm")
    with pytest.warns(UserWarning) if spoil == "outside" else _no_warning():
        with pytest.raises(GtvError, match=rf"RS\.dcm: required ROI 'GTV-1' \(named 'GTV-1'\) is empty on this CT: {reason}"):
            load_patient(tmp_path)


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --------------------------------------------------------------------------------------------------- SEG

@pytest.fixture(scope="module")
def seg_patient(small_cohort, tmp_path_factory):
    """A copy of one synthetic patient (CT + SEG) whose SEG the tests spoil."""
    import shutil

    folder = tmp_path_factory.mktemp("seg") / "SYNTH-001"
    shutil.copytree(small_cohort / "SYNTH-001", folder, ignore=shutil.ignore_patterns("RTSTRUCT.dcm"))
    return folder


def _spoil_seg(folder, tmp_path, spoil):
    import shutil

    copy = tmp_path / "patient"
    shutil.copytree(folder, copy)
    ds = pydicom.dcmread(copy / "SEG.dcm")
    spoil(ds)
    ds.save_as(copy / "SEG.dcm")
    return copy


def test_an_intact_seg_equals_the_ground_truth(seg_patient):
    from gtvlib.data.synthetic import load_masks

    masks = load_patient(seg_patient, structures="seg").masks
    np.testing.assert_array_equal(masks["GTV-1"], load_masks(seg_patient / "ground_truth.npz")["GTV-1"])


@pytest.mark.parametrize(("name", "spoil", "expected"), [
    ("frame", lambda ds: setattr(ds, "FrameOfReferenceUID", deterministic_uid("elsewhere")),
     r"the SEG is in another frame of reference than the CT series"),
    ("matrix", lambda ds: (setattr(ds, "Rows", 64), setattr(ds, "Columns", 256)),
     r"SEG frames are 64 × 256 pixels, the CT's slices 128 × 128"),
    ("position", lambda ds: ds.PerFrameFunctionalGroupsSequence[3].PlanePositionSequence[0].__setattr__(
        "ImagePositionPatient", [0, 0, 0]), r"frame 4 lies at \[0\.0, 0\.0, 0\.0\] mm, the CT slice it derives from at"),
    ("spacing", lambda ds: ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].__setattr__(
        "PixelSpacing", [1.0, 1.0]), r"frame 1 has PixelSpacing \[1\.0, 1\.0\] mm, the CT \[3\.5, 3\.5\] mm"),
])
def test_a_seg_off_the_ct_grid_is_refused(seg_patient, tmp_path, name, spoil, expected):
    copy = _spoil_seg(seg_patient, tmp_path, spoil)
    with pytest.raises(GtvError, match=rf"SEG\.dcm: {expected}") as raised:
        load_patient(copy, structures="seg")
    assert "2.25." not in str(raised.value)


# ------------------------------------------------------------------------------------------------- NIfTI

def _nifti(tmp_path, name="ct.nii.gz", array=None, spacing=(0.8, 0.8, 2.5), direction=None, components=1):
    import SimpleITK as sitk

    array = np.arange(10 * 20 * 30, dtype=np.int16).reshape(10, 20, 30) if array is None else array
    image = sitk.GetImageFromArray(array)
    if components > 1:
        image = sitk.Compose([image] * components)
    image.SetSpacing(spacing)
    if direction is not None:
        image.SetDirection(direction)
    sitk.WriteImage(image, str(tmp_path / name))
    return tmp_path / name


def test_an_intact_nifti_reads_with_its_spacing(tmp_path):
    from gtvlib.data.dicom.nifti import load_nifti

    array = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    volume = load_nifti(_nifti(tmp_path, "one.nii.gz", array, spacing=(0.8, 0.9, 2.5)))
    assert volume.spacing_mm == pytest.approx((2.5, 0.9, 0.8)) and volume.hu.shape == (4, 5, 6)


@pytest.mark.parametrize(("case", "expected"), [
    ("cut gzip", r"the compressed stream is cut off"),
    ("cut raw", r"6,176 bytes where the header announces 12,352 \(a truncated file\)"),
    ("zero spacing", r"voxel size \(pixdim\) \[0\.8.*, 0\.8.*, 0\.0\] mm is not positive and finite"),
    ("nan spacing", r"voxel size \(pixdim\) \[0\.8.*, 0\.8.*, nan\] mm is not positive and finite"),
    ("vector", r"3 values per voxel; expected a scalar image"),
    ("oblique", r"direction cosines \[0\.9553, -0\.2955, .*\] are not along the patient axes"),
    ("not nifti", r"not a NIfTI-1 header"),
])
def test_a_damaged_nifti_is_refused_not_zero_filled(tmp_path, case, expected):
    import gzip
    import struct

    from gtvlib.data.dicom.nifti import load_nifti

    if case == "vector":
        path = _nifti(tmp_path, components=3)
    elif case == "oblique":
        c, s = np.cos(0.3), np.sin(0.3)
        path = _nifti(tmp_path, direction=(c, -s, 0, s, c, 0, 0, 0, 1))
    elif case == "not nifti":
        path = tmp_path / "ct.nii"
        path.write_bytes(b"P5 not an image at all" * 40)
    else:
        raw = gzip.decompress(_nifti(tmp_path).read_bytes())
        path = tmp_path / ("ct.nii.gz" if case == "cut gzip" else "ct.nii")
        if case == "cut gzip":
            path.write_bytes(gzip.compress(raw)[:-200])
        elif case == "cut raw":
            path.write_bytes(raw[: len(raw) // 2])
        else:
            header = bytearray(raw)
            struct.pack_into("<f", header, 76 + 4 * 3, 0.0 if case == "zero spacing" else float("nan"))
            path.write_bytes(bytes(header))
    with pytest.raises(GtvError, match=rf"{path.name}: {expected}"):
        load_nifti(path)


# ------------------------------------------------------------------------------- command line and presets

@pytest.mark.parametrize(("arguments", "expected"), [
    (["--patients", "0"], r"preset 'quick': patients=0; expected an integer ≥ 1"),
    (["--seed", "-1"], r"seed=-1; expected an integer ≥ 0"),
    (["--workers", "0"], r"workers=0; expected an integer ≥ 1"),
    (["--patients", "2", "--4d", "3"], r"four_d_patients=3; expected an integer from 0 to the number of patients \(2\)"),
    (["--preset", "huge"], r"preset 'huge' is unknown; expected one of \['graded', 'paper', 'quick'\]"),
])
def test_the_synth_command_checks_its_arguments_before_any_work(tmp_path, capsys, arguments, expected):
    from gtvlib.data.__main__ import main

    assert main(["synth", "--out", str(tmp_path / "cohort"), *arguments]) == 2
    assert re_search(expected, capsys.readouterr().err)
    assert not (tmp_path / "cohort").exists()


def test_the_synth_command_refuses_a_file_as_its_folder(tmp_path, capsys):
    from gtvlib.data.__main__ import main

    (tmp_path / "cohort").write_text("a file")
    assert main(["synth", "--out", str(tmp_path / "cohort"), "--patients", "1"]) == 2
    assert "cohort: exists and is a file; expected a folder" in capsys.readouterr().err


def re_search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


# ----------------------------------------------------------------------------------------------- manifest

@pytest.mark.parametrize(("change", "expected"), [
    (("roi_map: {GTV-1: [\"gtv\"]}", "roi_map: {GTV-1: [\"gtv(\"]}"),
     r"roi_map\.GTV-1 = 'gtv\('; expected a valid regular expression \(missing \), unterminated subpattern"),
    (("expected: 2}", "expected: two}"), r"layout\.counts\.patients\.expected = 'two'; expected a count ≥ 0, or null"),
    (("download_steps: [put files]", "download_steps: put files"), r"download_steps = 'put files'; expected a list"),
    (("title: t", "title: 1.0"), r"title = 1\.0; expected a str"),
    (("root: local", "root: ''"), r"layout\.root = ''; expected a folder name under \$GTVLIB_DATA"),
])
def test_manifest_values_are_checked_at_load(tmp_path, change, expected):
    from gtvlib.data.manifest import load_manifest
    from tests.unit.data.test_bad_inputs import MANIFEST

    assert change[0] in MANIFEST
    (tmp_path / "manifest.yaml").write_text(MANIFEST.replace(*change))
    with pytest.raises(GtvError, match=rf"manifest\.yaml: dataset 'local': {expected}"):
        load_manifest(tmp_path / "manifest.yaml")
    assert load_manifest()["synthetic"]["status"] == "generated"  # the project's own manifest passes every check


# ---------------------------------------------------------------------------------------------- artefacts

def _dead_pid() -> int:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_partial_files_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    import os

    from gtvlib.util.atomic import remove_stale_partials

    dead, live = _dead_pid(), os.getpid()
    for name in (f".epoch_003.pt.{dead}.abc123.partial", f".epoch_004.pt.{live}.def456.partial", "epoch_002.pt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / f".cohort.partial-{dead}").mkdir()
    (tmp_path / f".cohort.partial-{live}").mkdir()
    removed = {p.name for p in remove_stale_partials(tmp_path)}
    assert removed == {f".epoch_003.pt.{dead}.abc123.partial", f".cohort.partial-{dead}"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f".cohort.partial-{live}", f".epoch_004.pt.{live}.def456.partial", "epoch_002.pt"])


# ------------------------------------------------------------------------------- weights that pickle code

def test_unpickling_weights_needs_a_known_checksum(tmp_path, monkeypatch, capsys):
    """allow_unsafe_pickle covers one known file: its checksum is recorded (or published) first, and a file
    changed afterwards is refused."""
    import torch

    from gtvlib.data.__main__ import main
    from gtvlib.data.weights import resolve_weights
    from gtvlib.models import build_model

    monkeypatch.setenv("GTVLIB_DATA", str(tmp_path))
    model = build_model("sam_med2d_tiny")
    (tmp_path / "weights").mkdir()
    path = tmp_path / "weights" / "sam-med2d_b.pth"
    torch.save({"model": model.state_dict(), "optimizer": torch.optim.Adam(model.parameters())}, path)  # pickles an object
    weights = resolve_weights("sam_med2d_b")
    with pytest.raises(GtvError, match=r"sam-med2d_b\.pth: unpickling runs code stored in the file, and no checksum of it is "
                                       r"known; .*python -m gtvlib\.data weights sam_med2d_b --record"):
        weights.require_trusted()
    assert main(["weights", "sam_med2d_b", "--record"]) == 0
    assert "sam_med2d_b: recorded sha256" in capsys.readouterr().out
    assert resolve_weights("weights/sam-med2d_b.pth").require_trusted() == path  # by path, the same record
    assert main(["weights"]) == 0 and "sam_med2d_b: present at" in capsys.readouterr().out
    with path.open("ab") as handle:
        handle.write(b"appended code")
    with pytest.raises(GtvError, match=r"its SHA-256 differs from the known [0-9a-f]{12}…: the file changed since it was recorded"):
        resolve_weights("sam_med2d_b").require_trusted()
    assert main(["weights", "sam_vit_h"]) == 2


def test_training_asks_for_the_trusted_file_only_when_unpickling(tmp_path, monkeypatch):
    import torch

    from gtvlib.data.__main__ import main
    from gtvlib.models import build_model, model_spec
    from gtvlib.training.config import FitConfig
    from gtvlib.training.loop import build_for_training

    monkeypatch.setenv("GTVLIB_DATA", str(tmp_path / "data"))
    (tmp_path / "data" / "weights").mkdir(parents=True)
    torch.manual_seed(5)
    model = build_model("sam_med2d_tiny")
    torch.save({"model": model.state_dict(), "optimizer": torch.optim.Adam(model.parameters())},
               tmp_path / "data" / "weights" / "sam-med2d_b.pth")
    config = FitConfig(init_from="sam_med2d_b", allow_unsafe_pickle=True)
    spec = model_spec("sam_med2d_tiny")
    with pytest.raises(GtvError, match="no checksum of it is known"):
        build_for_training(config, spec)
    main(["weights", "sam_med2d_b", "--record"])
    loaded = build_for_training(config, spec)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises(GtvError, match="allow_unsafe_pickle=True"):  # without the opt-in: refused, as before
        build_for_training(FitConfig(init_from="sam_med2d_b"), spec)


# ------------------------------------------------------------------------ more damage, found by a sweep

def test_slices_in_two_frames_of_reference_or_a_zero_slope_are_refused(tmp_path):
    write_series(tmp_path)
    _edit_slices(tmp_path, lambda ds, _: setattr(ds, "FrameOfReferenceUID", deterministic_uid("other frame")), which={1})
    with pytest.raises(GtvError, match=r"CT: the slices lie in 2 frames of reference; expected one per series"):
        load_ct_series(tmp_path / "CT")
    ds = read_dataset(pydicom_test_file("CT_small.dcm"))
    ds.RescaleSlope = 0
    with pytest.raises(GtvError, match=r"CT_small\.dcm: RescaleSlope 0 would map every stored value to the same"):
        ct_to_hu(ds)


@pytest.mark.parametrize("keyword", ["ContourGeometricType", "ContourData"])
def test_a_contour_without_its_kind_or_points_is_refused_not_skipped(tmp_path, keyword):
    ds = _structure_set(tmp_path)
    delattr(ds.ROIContourSequence[0].ContourSequence[0], keyword)
    ds.save_as(tmp_path / "RS.dcm")
    with pytest.raises(GtvError, match=rf"RS\.dcm: contour 1 of ROI 'GTV-1' has no {keyword} \(Type 1\)"):
        load_patient(tmp_path)


def test_a_structure_set_without_any_frame_of_reference_is_refused(tmp_path):
    ds = _structure_set(tmp_path)
    del ds.ReferencedFrameOfReferenceSequence
    for item in ds.StructureSetROISequence:
        del item.ReferencedFrameOfReferenceUID
    ds.save_as(tmp_path / "RS.dcm")
    with pytest.raises(GtvError, match=r"RS\.dcm: the structure set names no frame of reference"):
        load_patient(tmp_path)


@pytest.mark.parametrize(("name", "spoil", "expected"), [
    ("label twice", lambda ds: setattr(ds.SegmentSequence[1], "SegmentLabel", str(ds.SegmentSequence[0].SegmentLabel)),
     r"segment label 'GTV-1' is used by 2 segments"),
    ("frames", lambda ds: setattr(ds, "NumberOfFrames", 1), r"NumberOfFrames 1 for \d+ per-frame descriptions"),
    ("no pixels", lambda ds: delattr(ds, "PixelData"),
     r"NumberOfFrames \d+ for \d+ per-frame descriptions and no pixel data; expected a complete multi-frame SEG"),
    ("no frame groups", lambda ds: delattr(ds, "PerFrameFunctionalGroupsSequence"), r"NumberOfFrames \d+ for 0 per-frame"),
    ("no segments", lambda ds: delattr(ds, "SegmentSequence"), r"(no SegmentSequence|not a readable DICOM SEG)"),
])
def test_an_inconsistent_seg_is_refused(seg_patient, tmp_path, name, spoil, expected):
    copy = _spoil_seg(seg_patient, tmp_path, spoil)
    with pytest.raises(GtvError, match=rf"SEG\.dcm: {expected}"):
        load_patient(copy, structures="seg")


@pytest.mark.parametrize("keyword", ["Rows", "Columns", "PixelSpacing", "ImagePositionPatient", "ImageOrientationPatient",
                                     "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID", "PixelData",
                                     "BitsAllocated", "PixelRepresentation", "RescaleSlope", "RescaleIntercept",
                                     "SamplesPerPixel", "PhotometricInterpretation", "Modality"])
def test_every_type_1_attribute_a_slice_lacks_ends_in_a_gtv_error(tmp_path, keyword):
    """The sweep behind this file: any Type 1 attribute removed from one slice is a GtvError naming a file,
    never another exception type, a silently dropped slice or a wrong volume."""
    write_series(tmp_path)

    def drop(ds, _):
        delattr(ds, keyword)
    _edit_slices(tmp_path, drop, which={2})
    named = {"SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID", "Rows", "Columns"}
    expected = rf"\.dcm: attribute {keyword} is missing or empty" if keyword in named else r"(\.dcm|CT): "
    with pytest.raises(GtvError, match=expected):
        load_patient(tmp_path, structures="none")


def test_a_malformed_checksum_line_is_named(small_cohort, tmp_path):
    import shutil

    from gtvlib.data.manifest import verify_cohort

    cohort = tmp_path / "cohort"
    shutil.copytree(small_cohort, cohort)
    lines = (cohort / "SHA256SUMS").read_text().splitlines()
    lines[4] = "not-a-digest SYNTH-001/CT/x.dcm"
    (cohort / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    with pytest.raises(GtvError, match=r"SHA256SUMS, line 5: 'not-a-digest SYNTH-001/CT/x\.dcm' is not '<sha256 hex>  <path>'"):
        verify_cohort(cohort)


def test_a_4d_nifti_or_a_label_on_another_grid_is_refused(tmp_path):
    import SimpleITK as sitk

    from gtvlib.data.dicom.nifti import load_nifti

    series = sitk.JoinSeries([sitk.GetImageFromArray(np.zeros((4, 5, 6), dtype=np.int16))] * 3)  # 3 time points
    sitk.WriteImage(series, str(tmp_path / "series.nii.gz"))
    with pytest.raises(GtvError, match=r"series\.nii\.gz: 4-D image; expected a 3-D volume"):
        load_nifti(tmp_path / "series.nii.gz")
    ct = _nifti(tmp_path, "ct.nii.gz")
    label = _nifti(tmp_path, "label.nii.gz", np.zeros((10, 20, 31), dtype=np.uint8))
    with pytest.raises(GtvError, match=r"label\.nii\.gz: size \(31, 20, 10\) / spacing .* differ from the image's "
                                       r"\(30, 20, 10\) .*; expected the same grid"):
        load_nifti(ct, label)
