"""RTSTRUCT rasterisation: the written convention, analytic round trips, and rt-utils as a reference."""

import numpy as np
import pytest

from gtvlib.data.dicom.contours import contours_from_field, contours_from_mask, coverage_fraction, rasterise_polygons
from gtvlib.data.dicom.patient import load_patient
from gtvlib.data.dicom.series import load_ct_series
from gtvlib.data.dicom.structure_writers import write_rtstruct
from gtvlib.data.dicom.writers import ct_datasets, deterministic_uid, write_datasets
from gtvlib.util.errors import GtvError

PATIENT = {"name": "TEST^ROUNDTRIP", "id": "RT-1", "study_date": "20200101",
           "study_uid": deterministic_uid("t", "study"), "frame_uid": deterministic_uid("t", "frame")}


def write_series(folder, nz=5, rows=48, columns=64, spacing=(2.5, 0.8, 1.2), origin=(-30.0, -20.0, 10.0)):
    hu = np.random.default_rng(0).normal(0, 10, (nz, rows, columns)).astype(np.float32)
    slices = ct_datasets(hu, spacing, origin, PATIENT, deterministic_uid("t", "ct", str(folder)))
    write_datasets(slices, folder / "CT")
    return slices


def ellipse_with_hole(rows, columns, spacing_yx, centre_rc=(24.3, 31.7), radii_mm=(14.0, 22.0), hole_mm=(5.0, 7.0)):
    """Signed distance (mm, approximate) of an elliptic ring on a (rows, columns) pixel grid."""
    r, c = np.mgrid[0:rows, 0:columns].astype(float)
    dy, dx = (r - centre_rc[0]) * spacing_yx[0], (c - centre_rc[1]) * spacing_yx[1]
    outer = (np.sqrt((dy / radii_mm[0]) ** 2 + (dx / radii_mm[1]) ** 2) - 1) * min(radii_mm)
    inner = (np.sqrt((dy / hole_mm[0]) ** 2 + (dx / hole_mm[1]) ** 2) - 1) * min(hole_mm)
    return np.maximum(outer, -inner)


@pytest.mark.parametrize("source", ["mask", "field"])
def test_round_trip_ellipse_with_hole(tmp_path, source):
    """mask → RTSTRUCT → mask on an anisotropic grid: exact for contours of a mask; for contours of a
    continuous field only centres within the ContourData precision (1e-6 mm) of the surface may differ."""
    slices = write_series(tmp_path)
    field = ellipse_with_hole(48, 64, (0.8, 1.2))
    truth = field < 0
    planes = {k: (contours_from_mask(truth) if source == "mask" else contours_from_field(field)) for k in (1, 2, 3)}
    assert all(len(polygons) == 2 for polygons in planes.values())  # outer contour and the hole
    write_rtstruct(tmp_path / "RS.dcm", slices, [{"name": "GTV-1", "number": 7, "type": "GTV", "planes": planes}])
    volume = load_patient(tmp_path)
    mask = volume.masks["GTV-1"]
    assert not mask[0].any() and not mask[4].any()
    for k in (1, 2, 3):
        differ = mask[k] != truth
        assert np.all(np.abs(field[differ]) < 1e-5)
    assert not mask[2][24, 32]  # the hole stays empty
    assert mask[2].sum() == pytest.approx(truth.sum(), abs=2)


def test_even_odd_ignores_winding():
    outer = np.array([[1, 1], [1, 9], [9, 9], [9, 1]], dtype=float)
    inner = np.array([[3, 3], [3, 7], [7, 7], [7, 3]], dtype=float)  # same winding as the outer one
    both = rasterise_polygons([outer, inner], (11, 11))
    assert both[2, 2] and not both[5, 5]
    assert both.sum() == 64 - 16
    reversed_inner = rasterise_polygons([outer, inner[::-1]], (11, 11))
    np.testing.assert_array_equal(both, reversed_inner)


def test_centres_on_edges_follow_the_top_left_rule():
    """Edges through pixel centres: left and top edges are inside, right and bottom edges outside, so
    two squares that share an edge never both claim a pixel."""
    left = np.array([[1, 1], [1, 3], [3, 3], [3, 1]], dtype=float)  # rows 1..3, columns 1..3
    right = np.array([[1, 3], [1, 5], [3, 5], [3, 3]], dtype=float)
    a, b = rasterise_polygons([left], (6, 6)), rasterise_polygons([right], (6, 6))
    assert np.argwhere(a).tolist() == [[1, 1], [1, 2], [2, 1], [2, 2]]
    assert not (a & b).any() and (a | b).sum() == 8


def test_coverage_fraction_against_exact_areas():
    triangle = np.array([[-0.5, -0.5], [-0.5, 3.5], [3.5, -0.5]])  # covers half of a 4 × 4 pixel block
    fraction = coverage_fraction([triangle], (4, 4), factor=16)
    assert fraction.sum() == pytest.approx(8.0, rel=0.02)
    assert fraction[0, 0] == 1.0 and fraction[3, 3] == 0.0


def test_contour_planes_match_the_nearest_slice(tmp_path):
    slices = write_series(tmp_path, spacing=(2.5, 0.8, 1.2))
    square = np.array([[10, 10], [10, 20], [20, 20], [20, 10]], dtype=float)
    rois = [{"name": "GTV-1", "number": 1, "planes": {2: [square]}}]
    write_rtstruct(tmp_path / "RS.dcm", slices, rois)
    import pydicom

    ds = pydicom.dcmread(tmp_path / "RS.dcm")
    data = np.asarray(ds.ROIContourSequence[0].ContourSequence[0].ContourData, dtype=float).reshape(-1, 3)
    data[:, 2] += 1.0  # 0.4 of the spacing off the slice plane: still that slice
    ds.ROIContourSequence[0].ContourSequence[0].ContourData = [f"{v:.6f}" for v in data.ravel()]
    del ds.ROIContourSequence[0].ContourSequence[0].ContourImageSequence  # optional, never needed
    ds.save_as(tmp_path / "RS.dcm")
    assert np.nonzero(load_patient(tmp_path).masks["GTV-1"].any(axis=(1, 2)))[0].tolist() == [2]
    data[:, 2] += 1.0  # now 0.8 of the spacing away from slice 2, 0.2 from slice 3
    ds.ROIContourSequence[0].ContourSequence[0].ContourData = [f"{v:.6f}" for v in data.ravel()]
    ds.save_as(tmp_path / "RS.dcm")
    assert np.nonzero(load_patient(tmp_path).masks["GTV-1"].any(axis=(1, 2)))[0].tolist() == [3]
    data[:, 2] += 12.0  # far beyond the last slice
    ds.ROIContourSequence[0].ContourSequence[0].ContourData = [f"{v:.6f}" for v in data.ravel()]
    ds.save_as(tmp_path / "RS.dcm")
    with pytest.raises(GtvError, match=r"RS\.dcm: a contour of ROI 'GTV-1' at z = .* lies on no slice"):
        load_patient(tmp_path)


def test_cross_check_with_rt_utils(small_cohort):
    """rt-utils rounds vertices to whole pixels and fills with OpenCV including the outline: masks
    larger by about half a voxel at the border, never elsewhere (the documented difference)."""
    from rt_utils import RTStructBuilder
    from scipy import ndimage

    patient = small_cohort / "SYNTH-001"
    ours = load_patient(patient)
    builder = RTStructBuilder.create_from(dicom_series_path=str(patient / "CT"), rt_struct_path=str(patient / "RTSTRUCT.dcm"))
    order = {str(ds.SOPInstanceUID): k for k, ds in enumerate(builder.series_data)}
    index = [order[uid] for uid in ours.metadata["sop_instance_uids"]]
    ring = np.ones((1, 3, 3), dtype=bool)  # one pixel in-plane
    for name in ("GTV-1", "Heart", "Lung-Right"):
        theirs = np.moveaxis(builder.get_roi_mask_by_name(name), -1, 0)[index]
        mine = ours.masks[name]
        assert np.all(theirs <= ndimage.binary_dilation(mine, ring)), f"{name}: rt-utils adds voxels beyond one pixel"
        assert np.all(mine <= ndimage.binary_dilation(theirs, ring)), f"{name}: rt-utils drops voxels deeper than one pixel"
        ratio = theirs.sum() / mine.sum()
        assert 1.0 < ratio < (1.6 if name == "GTV-1" else 1.25), f"{name}: volume ratio {ratio:.3f}"
        dice = 2 * (theirs & mine).sum() / (theirs.sum() + mine.sum())
        assert dice > (0.8 if name == "GTV-1" else 0.9)


def test_series_loader_sorts_by_position_and_reports_spacing(tmp_path):
    write_series(tmp_path, nz=6, spacing=(3.0, 0.8, 1.2), origin=(-30.0, -20.0, -50.0))
    volume = load_ct_series(tmp_path / "CT")
    assert volume.spacing_mm == pytest.approx((3.0, 0.8, 1.2))
    np.testing.assert_allclose(volume.slice_positions_mm, -50.0 + 3.0 * np.arange(6))
    assert volume.origin_xyz_mm == pytest.approx((-30.0, -20.0, -50.0))
