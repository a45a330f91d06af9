"""Privacy sweep: a clinic's export whose identifying headers hold distinctive strings goes through every door
that takes a user's data, and none of those strings (nor the series' UIDs, nor the folder names that name the
patients) appears in anything written outside the exported DICOM.

The doors: chapter 1 on the user's CT slice and RTSTRUCT, chapters 2 and 3 on ``dataset=local`` (executed by the
book runner in a copy of the project), the rendered HTML of those chapters, the nnU-Net export, and the segment
command with the model chapter 3 trained. What is searched: the executed notebooks, the HTML, the run folders, the
caches (decoded volumes, slices), the nnU-Net dataset, the QA page and summary, and everything printed
(compressed members of .npz, .zip and .gz files are searched decompressed).
"""

import gzip
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pydicom
import pytest
import yaml

from gtvlib.data.dicom.patient import load_patient
from tests.conftest import ROOT
from tests.unit.segment.test_segment import truth_box_prompt

pytestmark = pytest.mark.slow  # an integration test: three chapters on a clinic export, not the book tier

MARKED = {"PatientName": "ZEBEDEE^QUILLON", "PatientID": "QX-80417-Z", "PatientBirthDate": "19310407",
          "AccessionNumber": "ACC77Q1Z", "InstitutionName": "QUILLON MEMORIAL", "ReferringPhysicianName": "VORTIGERN^ANSELM",
          "StudyID": "STQ5531", "OperatorsName": "MERIDEW^ZALTHORA", "StationName": "CTQSTATION9"}
FOLDER_NAMES = ["ZEBEDEE_QUILLON_QX80417", "ABERNATHY_ROWENA_QX80533", "CALLOWAY_IGNATIUS_QX80611"]
PROJECT_FILES = ("_config.yml", "profiles.yaml", "data_manifest.yaml", "book", "notebooks")
CHAPTERS = ["01_dicom_basics", "02_data_preparation", "03_train_gtv_samgan"]


def _mark_headers(folder: Path, number: int) -> set[str]:
    """Write the distinctive values into every DICOM file below ``folder``; return them and the files' UIDs."""
    secrets = set()
    for path in folder.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        for keyword, value in MARKED.items():
            setattr(ds, keyword, value if keyword != "PatientID" else f"{value}{number}")
        ds.PatientIdentityRemoved = "NO"
        ds.pop("DeidentificationMethod", None)
        ds.save_as(path)
        secrets |= {str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)}
        if "FrameOfReferenceUID" in ds:
            secrets.add(str(ds.FrameOfReferenceUID))
    return secrets | {f"{MARKED['PatientID']}{number}"}


def _contents(path: Path):
    """The bytes of a file, and of each member when it is a zip (.npz) or gzip archive."""
    data = path.read_bytes()
    yield data
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                yield name.encode() + archive.read(name)
    elif data[:2] == b"\x1f\x8b":
        yield gzip.decompress(data)


def _leaks(folders: list[Path], told: str, needles: set[str], skip=lambda path: False) -> list[str]:
    variants = {v for value in needles for v in (value, value.replace("^", " "), *value.split("^")) if len(v) >= 5}
    found = [f"terminal: {v}" for v in sorted(variants) if v in told or v.lower() in told.lower()]
    for folder in folders:
        for path in (p for p in folder.rglob("*") if p.is_file() and not skip(p)):
            relative = str(path.relative_to(folder))
            found += [f"{path}: its name holds {v}" for v in variants if v in relative]
            for content in _contents(path):
                found += [f"{path}: {v}" for v in variants if v.encode() in content or v.lower().encode() in content.lower()]
    return sorted(set(found))


def _run(arguments: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run([sys.executable, *arguments], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done.stdout + done.stderr


def test_identifying_values_of_a_clinic_export_reach_no_chapter_cache_run_or_page(small_cohort, tmp_path):
    import os

    data, cache, runs, project = tmp_path / "data", tmp_path / "cache", tmp_path / "runs", tmp_path / "project"
    secrets = set(MARKED.values()) | set(FOLDER_NAMES)
    for number, (pid, name) in enumerate(zip(sorted(p.name for p in small_cohort.glob("SYNTH-*")), FOLDER_NAMES)):
        shutil.copytree(small_cohort / pid, data / "local" / name, ignore=shutil.ignore_patterns("parameters.json", "*.npz"))
        secrets |= _mark_headers(data / "local" / name, number)
    inputs = tmp_path / "chapter1"  # chapter 1 takes two files; their path is the user's choice, recorded as given
    inputs.mkdir()
    shutil.copy(next((data / "local" / FOLDER_NAMES[0] / "CT").iterdir()), inputs / "ct.dcm")
    shutil.copy(data / "local" / FOLDER_NAMES[0] / "RTSTRUCT.dcm", inputs / "rtstruct.dcm")
    project.mkdir()
    for name in PROJECT_FILES:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, project / name)
    toc = (ROOT / "_toc.yml").read_text()
    # 04 and 05 read the sweeps' synthetic runs, no user data; 06 needs LN-<station> structures, which this
    # export lacks (it would stop at its clear error), and its outcome cohort is simulated; 07 reads StructSeg's NIfTI
    # layout (or the synthetic cohort exported to it), never the clinic's DICOM; 08 trains and tests on synthetic
    # cohorts only (its dataset parameter has no other choice), and so does 09 (a synthetic PET/CT cohort)
    for dropped in ("04_ablations", "05_statistics", "06_recurrence", "07_hcf_cascade", "08_motion_itv", "09_petct_igtv"):
        toc = toc.replace(f"      - file: notebooks/{dropped}\n", "")
    (project / "_toc.yml").write_text(toc)
    profiles = yaml.safe_load((ROOT / "profiles.yaml").read_text())
    for profile in profiles.values():  # the parameters of the chapters left out go with them
        profile["notebooks"] = {k: v for k, v in profile.get("notebooks", {}).items()
                               if k not in ("06_recurrence", "07_hcf_cascade", "08_motion_itv", "09_petct_igtv")}
    (project / "profiles.yaml").write_text(yaml.safe_dump(profiles, sort_keys=False, allow_unicode=True))
    intro = (project / "book" / "intro.md").read_text()  # its links to the chapters left out become plain text
    intro = re.sub(r"\[([^]]+)\]\(\.\./notebooks/0[4-9]_[a-z_]+\.ipynb\)", r"\1", intro)
    (project / "book" / "intro.md").write_text(intro)
    env = {**os.environ, "GTVLIB_DATA": str(data), "GTVLIB_CACHE": str(cache), "GTVLIB_RUNS": str(runs), "GTVLIB_BATCH": "1"}

    told = _run(["-m", "gtvlib.book", "--root", str(project), "run", "--profile", "quick", "--no-progress",
                 "--only", *CHAPTERS, "-p", "dataset", "local", "-p", "epochs", "2", "-p", "mfit_multiple", "128", "-p", "folds", "3",
                 "-p", "chest_seed", "7",  # chapter 1's synthetic chest patient: not the clinic's copies of seed 0's
                 "-p", "ct_file", str(inputs / "ct.dcm"), "-p", "rtstruct_file", str(inputs / "rtstruct.dcm")], project, env)
    told += _run(["-m", "gtvlib.book", "--root", str(project), "build"], project, env)
    told += _run(["-m", "gtvlib.data", "export-nnunet", "--dataset", "local", "--out", str(tmp_path / "nnunet")], project, env)
    (checkpoint,) = [p for p in runs.rglob("epoch_*.pt")][-1:]  # the run chapter 3 trained on the clinic's patients
    patient = data / "local" / FOLDER_NAMES[1]
    volume = load_patient(patient)
    told += _run(["-m", "gtvlib.segment", str(patient), "--out", str(tmp_path / "segment"), "--model",
                  str(checkpoint.parent.parent), "--prompt", truth_box_prompt(volume, volume.masks["GTV-1"])], project, env)
    told = told.replace(str(data), "<data>")  # the user's own paths, echoed back to them, are theirs

    assert (project / "_build" / "html" / "notebooks" / "03_train_gtv_samgan.html").is_file()
    assert any((tmp_path / "nnunet").rglob("*.nii.gz")) and any(cache.rglob("*.hu.npy"))
    leaks = _leaks([project / "_build", cache, runs, tmp_path / "nnunet", tmp_path / "segment"], told, secrets,
                   skip=lambda path: path.suffix == ".dcm" and path.parent == tmp_path / "segment")
    assert not leaks, "\n".join(leaks[:40])
    exported = pydicom.dcmread(tmp_path / "segment" / "RTSTRUCT_GTV-auto.dcm")  # the planning system matches on them
    assert str(exported.PatientName) == MARKED["PatientName"] and exported.PatientID == f"{MARKED['PatientID']}1"
