"""nnU-Net v2, the field's reference, on the book's cohorts: export a cohort as an nnU-Net raw dataset, and read
nnU-Net's predictions back into the per-patient tables the chapters use.

Export (``python -m gtvlib.data export-nnunet --out nnUNet_raw [--dataset-id 501]``)::

    nnUNet_raw/Dataset501_GTV/
      dataset.json            channel 0 "CT", labels background 0 / GTV 1, numTraining, file_ending .nii.gz
      imagesTr/<case>_0000.nii.gz   CT in HU (int16), LPS geometry of the DICOM series
      labelsTr/<case>.nii.gz        GTV (uint8, 0/1) on the same grid
      gtvlib_cases.json       case → the book's split (training / validation), so nnU-Net's numbers land
                              beside GTV-SAMGAN's on the same validation patients

Cases are named by the cohort's patient ids (pseudonyms for real data, never the patients' names). Each file
is written into a staging folder beside the target, which is moved in when complete (nothing half-written).

Import (``import_predictions``): nnU-Net writes ``<case>.nii.gz`` per predicted case; each is scored against
the cohort's ground truth with :func:`gtvlib.metrics.score` on the CT's spacing, one row per patient with
the columns of :attr:`gtvlib.evaluation.Evaluation.per_patient`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gtvlib.data.dicom.nifti import write_case
from gtvlib.util.atomic import atomic_folder
from gtvlib.util.errors import GtvError

LABEL_NAME = "GTV-1"


def export_nnunet(cohort, out_root: str | os.PathLike, dataset_id: int = 501, name: str = "GTV",
                  split: dict[str, list[str]] | None = None) -> Path:
    """Write ``cohort`` (a :class:`~gtvlib.data.cohort.Cohort`) as nnU-Net v2 raw dataset
    ``<out_root>/Dataset<id>_<name>``; return its folder. ``split``: {"training": ids, "validation": ids}
    recorded for the import (default: the book's patient split, seed 0)."""
    if not (1 <= int(dataset_id) <= 999):
        raise GtvError(f"dataset id {dataset_id!r}: nnU-Net numbers datasets 1–999; expected one in that range")
    if not str(name).replace("_", "").isalnum():
        raise GtvError(f"dataset name {name!r}: expected letters, digits and underscores only")
    from gtvlib.data.slices.splits import patient_split

    if split is None:
        training, validation = patient_split(cohort.patient_ids, 0.2, 0)
        split = {"training": list(training), "validation": list(validation)}
    out_root = Path(out_root)
    target = out_root / f"Dataset{int(dataset_id):03d}_{name}"
    with atomic_folder(target) as staging:
        (staging / "imagesTr").mkdir()
        (staging / "labelsTr").mkdir()
        for pid in cohort.patient_ids:
            write_case(cohort.load(pid), pid, staging / "imagesTr" / f"{pid}_0000.nii.gz",
                       staging / "labelsTr" / f"{pid}.nii.gz", LABEL_NAME)
        description = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "GTV": 1},
                       "numTraining": len(cohort.patient_ids), "file_ending": ".nii.gz",
                       "name": f"{name} ({cohort.dataset})", "description": cohort.source,
                       "reference": "exported by gtvlib (gtv-book)", "licence": "see the source dataset's licence"}
        (staging / "dataset.json").write_text(json.dumps(description, indent=1) + "\n")
        (staging / "gtvlib_cases.json").write_text(json.dumps(split, indent=1) + "\n")
    return target


def import_predictions(predictions: str | os.PathLike, cohort, patient_ids: list[str] | None = None):
    """Score nnU-Net's predicted ``<case>.nii.gz`` files against the cohort's truth: a DataFrame with one row per
    patient (:data:`gtvlib.metrics.PATIENT_COLUMNS`: patient, dice, sensitivity, jaccard, hd95_mm, flag, predicted,
    reference and false-positive cm³). ``patient_ids``:
    those to score (default: every case found). A prediction on another grid than the CT is a :class:`GtvError`."""
    import pandas as pd
    import SimpleITK as sitk

    from gtvlib.data.dicom.nifti import check_nifti_file
    from gtvlib.metrics import patient_row

    predictions = Path(predictions)
    if not predictions.is_dir():
        raise GtvError(f"{predictions}: no such folder of nnU-Net predictions")
    found = {p.name[: -len(".nii.gz")]: p for p in predictions.glob("*.nii.gz")}
    wanted = patient_ids if patient_ids is not None else sorted(found)
    missing = [pid for pid in wanted if pid not in found]
    if missing or not wanted:
        raise GtvError(f"{predictions}: no prediction for {missing or 'any case'}; expected <case>.nii.gz per patient")
    rows = []
    for pid in wanted:
        check_nifti_file(found[pid])
        predicted = sitk.GetArrayFromImage(sitk.ReadImage(str(found[pid]))) == 1
        volume = cohort.load(pid)
        truth = volume.masks[LABEL_NAME]
        if predicted.shape != truth.shape:
            raise GtvError(f"{found[pid]}: shape {predicted.shape} (z, y, x), the CT has {truth.shape}; expected "
                           "nnU-Net's prediction on the exported image's grid")
        rows.append(patient_row(pid, predicted, truth, volume.spacing_mm))
    return pd.DataFrame(rows)
