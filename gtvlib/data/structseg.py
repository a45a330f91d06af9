"""The StructSeg2019 Task 4 (lung GTV) layout, the data of the HCF paper (seed 001)::

    Lung_GTV/<n>/data.nii.gz     CT in HU (int16), LPS geometry of the source series
    Lung_GTV/<n>/label.nii.gz    GTV 1, background 0 (uint8), on the same grid
    Lung_GTV/gtvlib_cases.json   case number → the cohort's patient id (pseudonyms for real data)

:func:`export_structseg` writes any cohort in that layout, so that the HCF chapter runs through the NIfTI
loader on the synthetic cohort exactly as it runs on StructSeg's own files
(:func:`gtvlib.data.cohort.structseg_cohort` opens either). Cases are numbered 1…N in the cohort's order. The
whole folder is written into a staging folder beside the target and moved in when complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gtvlib.data.dicom.nifti import write_case
from gtvlib.util.atomic import atomic_folder
from gtvlib.util.errors import GtvError

LABEL_NAME = "GTV-1"


def export_structseg(cohort, out: str | os.PathLike) -> Path:
    """Write ``cohort`` (a :class:`~gtvlib.data.cohort.Cohort`) as ``<out>/<n>/data.nii.gz`` + ``label.nii.gz``;
    return ``out``. An existing export in ``out`` is replaced; any other non-empty folder is refused."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / "gtvlib_cases.json").is_file():
        raise GtvError(f"{out}: exists and is not a gtvlib StructSeg export; refusing to overwrite it (expected an empty "
                       "or new folder)")
    cases = {}
    with atomic_folder(out) as staging:
        for number, pid in enumerate(cohort.patient_ids, start=1):
            case = staging / str(number)
            case.mkdir()
            write_case(cohort.load(pid), pid, case / "data.nii.gz", case / "label.nii.gz", LABEL_NAME)
            cases[str(number)] = pid
        (staging / "gtvlib_cases.json").write_text(json.dumps({"source": cohort.source, "cases": cases}, indent=1) + "\n")
    return out


def structseg_route(dataset: str = "structseg2019_lung_gtv", preset: str = "quick", seed: int = 0):
    """The cohort the HCF chapter runs on, always read through the NIfTI loader of the StructSeg layout: the real
    StructSeg2019 Task 4 when it is in place under ``$GTVLIB_DATA`` (``dataset``), otherwise the synthetic cohort
    (``preset``, ``seed``) exported once to ``$GTVLIB_CACHE/structseg/<cohort>/Lung_GTV`` and read back from there
    (the ``note`` says which). ``dataset="synthetic"`` skips the real one."""
    from gtvlib.data.cohort import open_cohort, structseg_cohort
    from gtvlib.util.paths import cache_dir

    if dataset not in ("synthetic", "structseg2019_lung_gtv"):
        raise GtvError(f"dataset {dataset!r} for the StructSeg route; expected 'structseg2019_lung_gtv' (falls back "
                       "to the synthetic cohort when absent) or 'synthetic'")
    cohort = open_cohort(dataset, preset=preset, seed=seed)
    if cohort.dataset == "structseg2019_lung_gtv":
        return cohort
    out = cache_dir() / "structseg" / cohort.folder.name / "Lung_GTV"
    written = out / "gtvlib_cases.json"
    if not (written.is_file() and json.loads(written.read_text()).get("source") == cohort.source):
        export_structseg(cohort, out)
    exported = structseg_cohort(out, f"exported {cohort.source}")
    exported.note = " ".join(filter(None, [cohort.note, f"the synthetic cohort, exported to the StructSeg layout in "
                                                        f"{out} and read through the NIfTI loader"]))
    return exported
