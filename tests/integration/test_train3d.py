"""Integration tier of tests/unit/training/test_train3d.py: iSeg's 3-D U-Net (gtvlib.models.unet3d) and its patch training (gtvlib.data.volumes, the patch route): sliding windows against a"""

import numpy as np
import pytest
from scipy import ndimage

from gtvlib.data.volumes import TISSUE_HU, volume_set


@pytest.mark.slow
def test_volume_sets_from_a_cohort_resample_and_list_tissue(small_cohort):
    from gtvlib.data.cohort import Cohort
    from gtvlib.data.dicom.patient import load_patient

    ids = ["SYNTH-001", "SYNTH-002"]
    cohort = Cohort("synthetic", "three patients", small_cohort, ids, lambda pid, s: load_patient(small_cohort / pid, structures=s))
    native = volume_set(cohort, ids, window="mediastinal", validation_ids=["SYNTH-002"])
    assert native.training_ids == ["SYNTH-001"] and native.spacing_mm["SYNTH-001"] == (5.0, 3.5, 3.5)
    hu = cohort.load("SYNTH-001").hu
    expected = np.flatnonzero((hu > TISSUE_HU) & ~native.labels["SYNTH-001"])
    assert np.array_equal(native.tissue["SYNTH-001"], expected)
    box = native.boxes["SYNTH-001"]  # the body (the largest region above −500 HU) ± 4 voxels; the GTV within it
    regions, _ = ndimage.label(hu > TISSUE_HU)
    body = regions == np.bincount(regions.ravel())[1:].argmax() + 1
    body_rows, body_columns = np.nonzero(body.any(axis=0))
    assert (box.row0, box.col0) == (max(body_rows.min() - 4, 0), max(body_columns.min() - 4, 0))
    assert (box.row1, box.col1) == (min(body_rows.max() + 5, hu.shape[1]), min(body_columns.max() + 5, hu.shape[2]))
    gtv_rows, gtv_columns = np.nonzero(native.labels["SYNTH-001"].any(axis=0))
    assert box.row0 <= gtv_rows.min() and gtv_rows.max() < box.row1 and box.col0 <= gtv_columns.min() and gtv_columns.max() < box.col1
    coarse = volume_set(cohort, ids, window="mediastinal", spacing_mm=(5.0, 7.0, 7.0))
    assert coarse.images["SYNTH-001"].shape == (hu.shape[0], 64, 64) and "resampled to (5.0, 7.0, 7.0) mm" in coarse.source
    fine_cm3, coarse_cm3 = (s.labels["SYNTH-001"].sum() * np.prod(s.spacing_mm["SYNTH-001"]) for s in (native, coarse))
    assert coarse_cm3 == pytest.approx(fine_cm3, rel=0.15)
