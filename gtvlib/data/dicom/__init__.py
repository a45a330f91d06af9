"""DICOM and NIfTI: reading files into :class:`~gtvlib.data.volume.Volume`, writing DICOM, and privacy.

======================  =================================================================================
``files``               one file into a dataset, required attributes, the DICOM files of a folder, pydicom's
                        real test files
``image``               image-plane geometry (where a pixel lies, mm, LPS) and Hounsfield units
``privacy``             identifying attributes, headers shown with their values withheld, de-identification
``contours``            polygons ↔ masks on one plane: the rasterisation convention and its inverse
``series``              a CT (or PET) series folder → Volume (sorted along the normal, uniform spacing checked)
``pet``                 SUVbw from a PET image's headers (units, decay correction, weight, dose, times), checked
``rtstruct``            what an RTSTRUCT holds; its ROIs rasterised onto a Volume under canonical names
``seg``                 DICOM SEG segments as masks on a Volume's slices
``nifti``               NIfTI image/label pairs (MSD, StructSeg) reoriented to LPS
``patient``             one patient folder, any layout: CT + RTSTRUCT or SEG found by header → Volume
``writers``             CT and PET series writers with deterministic UIDs
``structure_writers``   RTSTRUCT and SEG writers on a CT series (its study, patient and frame of reference)
``conformance``         ``dciodvfy`` (dicom3tools) on a written file: its errors and warnings
======================  =================================================================================

The names below are the reading API the chapters use; each has one home in the modules above.
"""

from gtvlib.data.dicom.files import dicom_files, pydicom_test_file, read_dataset, require, resolve_example_file
from gtvlib.data.dicom.image import ImagePlane, ct_to_hu, image_plane, padding_mask
from gtvlib.data.dicom.nifti import load_nifti
from gtvlib.data.dicom.patient import load_patient, scan_patient
from gtvlib.data.dicom.privacy import deidentify, header_table, identifying_elements
from gtvlib.data.dicom.rtstruct import rtstruct_contours, rtstruct_rois
from gtvlib.data.dicom.series import load_ct_series

__all__ = [
    "ImagePlane", "ct_to_hu", "deidentify", "dicom_files", "header_table", "identifying_elements", "image_plane",
    "load_ct_series", "load_nifti", "load_patient", "padding_mask", "pydicom_test_file", "read_dataset", "require",
    "resolve_example_file", "rtstruct_contours", "rtstruct_rois", "scan_patient",
]
