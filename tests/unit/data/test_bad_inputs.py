"""Bad input gets a clear error naming the file and the problem (issue: data layer, item 6)."""

import shutil
import textwrap

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate

from gtvlib.data.dicom import ct_to_hu, pydicom_test_file, read_dataset
from gtvlib.data.dicom.patient import load_patient
from gtvlib.data.dicom.seg import load_seg_masks
from gtvlib.data.dicom.series import load_ct_series
from gtvlib.data.dicom.structure_writers import write_rtstruct
from gtvlib.data.dicom.writers import ct_datasets, deterministic_uid, write_datasets
from gtvlib.data.manifest import load_manifest, verify
from gtvlib.data.slices import SliceCache, SliceSpec
from gtvlib.util.errors import GtvError
from tests.unit.data.dicom.test_rtstruct import PATIENT, write_series


def test_missing_slice_is_a_gap(tmp_path):
    write_series(tmp_path, nz=6)
    files = sorted((tmp_path / "CT").iterdir(), key=lambda p: float(pydicom.dcmread(p).ImagePositionPatient[2]))
    files[3].unlink()
    with pytest.raises(GtvError, match=r"CT: non-uniform slice spacing: 5\.000 mm between slices at 15\.00 and 20\.00 mm.*2\.500 mm"):
        load_ct_series(tmp_path / "CT")


def test_two_series_in_one_folder(tmp_path):
    write_series(tmp_path)
    other = ct_datasets(np.zeros((2, 48, 64), np.float32), (2.5, 0.8, 1.2), (-30.0, -20.0, 40.0), PATIENT, deterministic_uid("other"))
    write_datasets(other, tmp_path / "CT")
    with pytest.raises(GtvError, match=r"CT: 2 CT series mixed in one folder"):
        load_ct_series(tmp_path / "CT")


def test_duplicate_slice(tmp_path):
    write_series(tmp_path)
    first = sorted((tmp_path / "CT").iterdir())[0]
    ds = pydicom.dcmread(first)
    ds.SOPInstanceUID = deterministic_uid("duplicate")
    ds.save_as(tmp_path / "CT" / "copy.dcm")
    with pytest.raises(GtvError, match="two slices at the same position"):
        load_ct_series(tmp_path / "CT")


def test_rtstruct_in_another_frame_of_reference(tmp_path):
    slices = write_series(tmp_path)
    square = np.array([[10, 10], [10, 20], [20, 20], [20, 10]], dtype=float)
    write_rtstruct(tmp_path / "RS.dcm", slices, [{"name": "GTV-1", "number": 1, "planes": {2: [square]}}])
    ds = pydicom.dcmread(tmp_path / "RS.dcm")
    ds.StructureSetROISequence[0].ReferencedFrameOfReferenceUID = deterministic_uid("elsewhere")
    ds.save_as(tmp_path / "RS.dcm")
    with pytest.raises(GtvError, match=r"RS\.dcm: ROI 'GTV-1' is drawn in another frame of reference than the CT series") as raised:
        load_patient(tmp_path)
    assert "2.25." not in str(raised.value)  # no UIDs in messages: they link a file back to the archive


def test_roi_not_there_lists_the_names(tmp_path):
    slices = write_series(tmp_path)
    square = np.array([[10, 10], [10, 20], [20, 20], [20, 10]], dtype=float)
    write_rtstruct(tmp_path / "RS.dcm", slices, [{"name": "PTV", "number": 1, "planes": {2: [square]}},
                                                 {"name": "Heart", "number": 2, "planes": {}}])
    with pytest.raises(GtvError, match=r"RS\.dcm: no ROI maps to \['GTV-1'\]; the ROIs present are \['Heart', 'PTV'\]"):
        load_patient(tmp_path)


@pytest.mark.parametrize(("syntax", "shown"), [
    (pydicom.uid.HTJ2KLossless, "High-Throughput JPEG 2000"),  # no decoder installed for it
    (pydicom.uid.JPEG2000Lossless, "JPEG 2000 Image Compression"),  # a decoder, but a corrupt stream
])
def test_compressed_pixel_data_that_cannot_be_decoded(tmp_path, syntax, shown):
    ds = read_dataset(pydicom_test_file("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = syntax
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 64])  # not a valid codestream
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "compressed.dcm", enforce_file_format=True)
    with pytest.raises(GtvError, match=rf"(?s)compressed\.dcm: pixel data cannot be decoded \(transfer syntax {shown}.*decoder plugin"):
        ct_to_hu(read_dataset(tmp_path / "compressed.dcm"))


def test_truncated_and_non_dicom_files_in_a_series(tmp_path):
    write_series(tmp_path)
    victim = sorted((tmp_path / "CT").iterdir())[2]
    victim.write_bytes(victim.read_bytes()[:3000])
    with pytest.raises(GtvError, match=victim.name):
        load_ct_series(tmp_path / "CT")
    victim.write_bytes(b"just text, not DICOM" * 40)
    with pytest.raises(GtvError, match=rf"{victim.name}: not a DICOM file"):
        load_ct_series(tmp_path / "CT")


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "rtstruct.dcm", "liver_1frame.dcm", "JPEG2000.dcm", "MR_small_jp2klossless.dcm"])
def test_pydicom_test_files_load_or_fail_clearly(name):
    """The real DICOM files that ship inside pydicom either load or raise our error naming the file."""
    try:
        path = pydicom_test_file(name)
    except GtvError:
        pytest.skip(f"{name} is not shipped with this pydicom")
    ds = read_dataset(path)
    if ds.Modality == "CT":
        assert ct_to_hu(ds).shape == (ds.Rows, ds.Columns)
    else:
        with pytest.raises(GtvError, match=rf"{name}: Modality is '{ds.Modality}'; expected 'CT'"):
            ct_to_hu(ds)


def test_seg_of_another_series(small_cohort):
    volume = load_patient(small_cohort / "SYNTH-001", structures="none")
    with pytest.raises(GtvError, match=r"liver_1frame\.dcm: the SEG references none of the CT series' slices"):
        load_seg_masks(pydicom_test_file("liver_1frame.dcm"), volume)


def test_slice_cache_leaves_nothing_half_written(small_cohort, tmp_path):
    cache = SliceCache(small_cohort, SliceSpec.from_window("lung"), cache_dir=tmp_path)
    calls = []

    def flaky(pid):
        calls.append(pid)
        if pid == "SYNTH-002":
            raise GtvError("SYNTH-002: interrupted")
        return load_patient(small_cohort / pid)

    with pytest.raises(GtvError, match="interrupted"):
        cache.build(["SYNTH-001", "SYNTH-002"], load_volume=flaky)
    names = sorted(p.name for p in cache.folder.iterdir())
    assert names == ["SYNTH-001.grid.json", "SYNTH-001.images.npy", "SYNTH-001.labels.npy", "spec.json"]
    # a patient whose images file is missing counts as not cached: it is decoded again, whatever else is there
    (cache.folder / "SYNTH-001.images.npy").unlink()
    assert cache.build(["SYNTH-001"], load_volume=flaky) == {"SYNTH-001": cache.load("SYNTH-001")[1].shape[0]}
    assert calls == ["SYNTH-001", "SYNTH-002", "SYNTH-001"]


MANIFEST = textwrap.dedent("""\
    datasets:
      local:
        title: t
        citation: c
        licence: l
        access: a
        redistributable: false
        download_steps: [put files]
        layout:
          root: local
          patterns: ["*/*.dcm"]
          counts:
            patients: {glob: "*", expected: 2}
        expected: {}
        published_checksums: {}
        roi_map: {GTV-1: ["gtv"]}
        exclusions: {}
        quirks: {}
        status: absent
        chapters: []
    """)


def test_manifest_checksum_mismatch_and_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("GTVLIB_DATA", str(tmp_path / "data"))
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(MANIFEST)
    (report,) = verify("local", path=manifest)
    assert report.status == "absent" and "put files" in " ".join(report.lines)
    for patient in ("P1", "P2"):
        (tmp_path / "data/local" / patient).mkdir(parents=True)
        shutil.copy(pydicom_test_file("CT_small.dcm"), tmp_path / "data/local" / patient / "ct.dcm")
    (report,) = verify("local", record=True, path=manifest)
    assert report.status == "ok" and "recorded sha256 of 2 files" in report.lines[-1]
    (report,) = verify("local", path=manifest)
    assert report.ok and "match the record" in report.lines[-1]
    with (tmp_path / "data/local/P2/ct.dcm").open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x12\x34")
    (report,) = verify("local", path=manifest)
    assert report.status == "checksum mismatch" and "P2/ct.dcm" in report.lines[-1]
    shutil.rmtree(tmp_path / "data/local/P1")
    (report,) = verify("local", path=manifest)
    assert report.status in ("incomplete", "checksum mismatch") and "patients: 1 found, 2 expected" in report.lines[0]


@pytest.mark.parametrize(("text", "message"), [
    ("datasets: [1, 2]\n", "expected a mapping with a 'datasets' mapping"),
    (MANIFEST.replace("    licence: l\n", ""), "dataset 'local' lacks ['licence']"),
    (MANIFEST.replace("status: absent", "status: maybe"), "status 'maybe'; expected one of"),
    (MANIFEST.replace("redistributable: false", "redistributable: true"), "redistributable must be false for real data"),
    (MANIFEST.replace('patients: {glob: "*", expected: 2}', 'patients: {glob: "*"}'), "layout.counts.patients needs glob and expected"),
    ("datasets: {a: [\n", "not valid YAML"),
])
def test_malformed_manifest(tmp_path, text, message):
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    with pytest.raises(GtvError) as caught:
        load_manifest(path)
    assert message in str(caught.value) and "manifest.yaml" in str(caught.value)


def test_project_manifest_is_valid():
    datasets = load_manifest()
    assert {"synthetic", "nsclc_radiomics", "msd_task06_lung", "structseg2019_lung_gtv", "tcia_4d_lung", "local"} <= set(datasets)
    assert datasets["nsclc_radiomics"]["doi"] == "10.7937/K9/TCIA.2015.PF0M9REI"
    assert datasets["msd_task06_lung"]["published_checksums"]["Task06_Lung.tar"]["md5"] == "8afd997733c7fc0432f71255ba4e52dc"
    assert datasets["structseg2019_lung_gtv"]["status"] == "unavailable"
    assert "LUNG1-128" in datasets["nsclc_radiomics"]["exclusions"]
