"""What gtvlib writes passes ``dciodvfy`` (Debian's dicom3tools), an independent DICOM verifier: every series
type of the synthetic cohort (CT, 4D-CT phases, MIP and AVG, RTSTRUCT, SEG, PET) with 0 errors."""

from collections import defaultdict
from pathlib import Path

import pydicom
import pytest

from gtvlib.data.dicom.conformance import find_dciodvfy, verify_dicom
from gtvlib.util.errors import GtvError

pytestmark = pytest.mark.slow  # an integration module: every test here is of the slow tier

needs_dciodvfy = pytest.mark.skipif(find_dciodvfy() is None, reason="dciodvfy (Debian's dicom3tools) is not installed; "
                                    "`make setup` unpacks it where Debian's packages can be reached")


def one_file_per_series(folder: Path) -> dict[str, Path]:
    """{modality and series description: the first file of that series} for every series below ``folder``."""
    series = defaultdict(list)
    for path in sorted(folder.rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        series[(ds.Modality, str(path.parent.relative_to(folder)), ds.SeriesInstanceUID)].append(path)
    return {f"{modality} in {where}": paths[0] for (modality, where, _), paths in series.items()}


@pytest.fixture(scope="module")
def cohort(motion_cohort):
    return motion_cohort  # every series type: planning CT, 4D-CT phases, MIP, AVG, PET, RTSTRUCT, SEG


@needs_dciodvfy
def test_every_series_type_of_the_synthetic_cohort_has_no_dciodvfy_error(cohort):
    files = one_file_per_series(cohort)
    kinds = {name.split(" in ")[0] for name in files}
    assert kinds == {"CT", "RTSTRUCT", "SEG", "PT"} and len(files) >= 3 + 10 + 2 + 1  # planning CT, 10 phases, MIP, AVG, PET
    found = {name: verify_dicom(path).errors for name, path in files.items()}
    assert {name: errors for name, errors in found.items() if errors} == {}


@needs_dciodvfy
def test_dciodvfy_finds_an_error_we_plant(cohort, tmp_path):
    """The check can fail: a CT slice without its Type 2 AcquisitionNumber is reported."""
    first = next(path for name, path in one_file_per_series(cohort).items() if name.startswith("CT"))
    ds = pydicom.dcmread(first)
    del ds.AcquisitionNumber
    ds.save_as(tmp_path / "broken.dcm", enforce_file_format=True)
    errors = verify_dicom(tmp_path / "broken.dcm").errors
    assert any("AcquisitionNumber" in error for error in errors)


def test_verify_dicom_names_a_missing_file(tmp_path):
    if find_dciodvfy() is None:
        with pytest.raises(GtvError, match="dciodvfy: not installed"):
            verify_dicom(tmp_path / "absent.dcm")
    else:
        with pytest.raises(GtvError, match=r"absent\.dcm: no such DICOM file"):
            verify_dicom(tmp_path / "absent.dcm")
