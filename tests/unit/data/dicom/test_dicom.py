"""gtvlib.data.dicom on the real DICOM test files shipped inside pydicom."""

import copy

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from gtvlib import GtvError
from gtvlib.data import dicom


@pytest.fixture(scope="module")
def ct_path():
    return dicom.pydicom_test_file("CT_small.dcm")


@pytest.fixture(scope="module")
def ct(ct_path):
    return dicom.read_dataset(ct_path)


@pytest.fixture(scope="module")
def rtstruct():
    return dicom.read_dataset(dicom.pydicom_test_file("rtstruct.dcm"))


def test_hu_matches_simpleitk(ct, ct_path):
    """SimpleITK applies the rescale itself: an independent reference for HU."""
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(ct_path)))[0].astype(np.float32)
    hu = dicom.ct_to_hu(ct)
    assert hu.shape == (128, 128) and hu.dtype == np.float32
    np.testing.assert_array_equal(hu, reference)
    np.testing.assert_array_equal(hu, ct.pixel_array.astype(np.float32) - 1024.0)


def test_image_plane_geometry_matches_simpleitk(ct, ct_path):
    plane = dicom.image_plane(ct)
    image = sitk.ReadImage(str(ct_path))
    assert plane.rows == 128 and plane.columns == 128
    assert plane.pixel_spacing_mm == pytest.approx((0.661468, 0.661468))
    assert plane.slice_thickness_mm == 5.0
    assert plane.is_axial
    np.testing.assert_allclose(plane.slice_normal, [0, 0, 1])
    # SimpleITK index is (x=column, y=row, z); DICOM patient coordinates in both.
    for row, column in [(0, 0), (127, 0), (5, 100), (127, 127)]:
        expected = image.TransformIndexToPhysicalPoint((column, row, 0))
        np.testing.assert_allclose(plane.pixel_to_patient(row, column), expected, atol=1e-4)


def test_pixel_spacing_order_is_row_then_column(ct):
    """A non-square pixel exposes a swapped PixelSpacing: rows step along y, columns along x."""
    anisotropic = copy.deepcopy(ct)
    anisotropic.PixelSpacing = [2.0, 0.5]  # row spacing (dy) 2 mm, column spacing (dx) 0.5 mm
    plane = dicom.image_plane(anisotropic)
    origin = plane.pixel_to_patient(0, 0)
    np.testing.assert_allclose(plane.pixel_to_patient(1, 0) - origin, [0, 2.0, 0])
    np.testing.assert_allclose(plane.pixel_to_patient(0, 1) - origin, [0.5, 0, 0])


def test_missing_geometry_names_file_and_attribute(ct):
    broken = copy.deepcopy(ct)
    del broken.ImagePositionPatient
    with pytest.raises(GtvError, match=r"CT_small\.dcm.*ImagePositionPatient"):
        dicom.image_plane(broken)


def test_non_ct_refuses_hu(rtstruct):
    with pytest.raises(GtvError, match=r"rtstruct\.dcm.*Modality is 'RTSTRUCT'.*expected 'CT'"):
        dicom.ct_to_hu(rtstruct)


def test_rescale_slope_and_intercept_applied(ct):
    scaled = copy.deepcopy(ct)
    scaled.RescaleSlope = 2
    scaled.RescaleIntercept = -1000
    np.testing.assert_array_equal(dicom.ct_to_hu(scaled), ct.pixel_array.astype(np.float32) * 2 - 1000)


def test_not_dicom_and_missing_and_truncated(tmp_path, ct_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not DICOM\n" * 20)
    with pytest.raises(GtvError, match=r"notes\.txt.*not a DICOM file"):
        dicom.read_dataset(text)
    with pytest.raises(GtvError, match=r"absent\.dcm.*no such DICOM file"):
        dicom.read_dataset(tmp_path / "absent.dcm")
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(ct_path.read_bytes()[:20000])  # cut inside Pixel Data
    with pytest.raises(GtvError, match=r"truncated\.dcm"):
        dicom.ct_to_hu(dicom.read_dataset(truncated))


def test_file_without_meta_header_is_read(rtstruct):
    assert rtstruct.Modality == "RTSTRUCT"
    assert "TransferSyntaxUID" not in rtstruct.file_meta


def test_rtstruct_rois_joined_by_number(rtstruct):
    table = dicom.rtstruct_rois(rtstruct)
    assert list(table.roi_number) == [1, 2, 3]
    assert list(table.name) == ["patient", "Isocenter 1", "Isocenter 2"]
    assert list(table.interpreted_type) == ["EXTERNAL", "ISOCENTER", "ISOCENTER"]
    assert list(table.contours) == [3, 1, 1]
    assert list(table.points) == [17, 1, 1]
    assert table.geometric_types[0] == "CLOSED_PLANAR×3"


def test_rtstruct_join_does_not_depend_on_order(rtstruct):
    shuffled = copy.deepcopy(rtstruct)
    shuffled.ROIContourSequence = pydicom.Sequence(list(reversed(list(rtstruct.ROIContourSequence))))
    shuffled.RTROIObservationsSequence = pydicom.Sequence(list(reversed(list(rtstruct.RTROIObservationsSequence))))
    assert dicom.rtstruct_rois(shuffled).equals(dicom.rtstruct_rois(rtstruct))


def test_rtstruct_contours_and_missing_roi(rtstruct):
    contours = dicom.rtstruct_contours(rtstruct, "patient")
    assert [kind for kind, _ in contours] == ["CLOSED_PLANAR"] * 3
    assert [points.shape for _, points in contours] == [(5, 3), (6, 3), (6, 3)]
    with pytest.raises(GtvError, match=r"no ROI named 'GTV-1'.*\['Isocenter 1', 'Isocenter 2', 'patient'\]"):
        dicom.rtstruct_contours(rtstruct, "GTV-1")


def test_header_table_never_shows_identifying_values(ct):
    keywords = ["PatientName", "PatientID", "InstitutionName", "Rows", "PixelSpacing"]
    table = dicom.header_table(ct, keywords)
    shown = " ".join(table.value)
    for secret in (str(ct.PatientName), str(ct.PatientID), str(ct.InstitutionName)):
        assert secret not in shown
    assert table.set_index("keyword").loc["Rows", "value"] == "128"
    assert table.set_index("keyword").loc["PatientName", "value"] == "<withheld>"  # not even its length


def test_identifying_elements_and_deidentify(ct):
    found = dicom.identifying_elements(ct)
    assert {"PatientName", "PatientID", "InstitutionName", "StudyDate"} <= set(found.keyword)
    assert str(ct.PatientName) not in found.to_string()
    clean = dicom.deidentify(ct, pseudonym="TEACHING-001")
    assert str(clean.PatientName) == "TEACHING-001" and clean.PatientIdentityRemoved == "YES"
    assert not any(element.tag.is_private for element in clean)
    remaining = set(dicom.identifying_elements(clean).keyword)
    assert remaining == {"PatientName", "PatientID", "StudyInstanceUID", "SeriesInstanceUID",
                         "SOPInstanceUID", "FrameOfReferenceUID"}
    assert "PatientName" in ct and str(ct.PatientName) != "TEACHING-001"  # the original is untouched


def test_resolve_example_file(tmp_path):
    assert dicom.resolve_example_file("CT_small.dcm").name == "CT_small.dcm"
    local = tmp_path / "x.dcm"
    local.write_bytes(b"")
    assert dicom.resolve_example_file(local) == local
    with pytest.raises(GtvError, match="not among the DICOM test files"):
        dicom.resolve_example_file("no_such_file.dcm")
    with pytest.raises(GtvError, match="no such file"):
        dicom.resolve_example_file(tmp_path / "missing" / "y.dcm")
