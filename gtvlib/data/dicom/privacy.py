"""Patient privacy in DICOM headers: which attributes identify a person, showing a header with their values
withheld, and de-identifying a dataset.

Nothing gtvlib prints, plots or saves carries the value of an identifying attribute of real input data.
"""

from __future__ import annotations

import copy

import pydicom
from pydicom.dataset import Dataset

from gtvlib.data.dicom.image import GEOMETRY_KEYWORDS

# DICOM PS3.15 Annex E (basic application level confidentiality profile): the attributes of the
# kinds that occur in CT and RT files, grouped by why they identify a person. Their *values* are never
# printed, plotted or saved by gtvlib; UIDs and private tags are listed because they can link a file
# back to a hospital's archive even when names are gone.
IDENTIFYING_KEYWORDS: dict[str, str] = {
    "PatientName": "direct identifier",
    "PatientID": "direct identifier",
    "OtherPatientIDs": "direct identifier",
    "OtherPatientIDsSequence": "direct identifier",
    "OtherPatientNames": "direct identifier",
    "PatientBirthName": "direct identifier",
    "PatientMotherBirthName": "direct identifier",
    "PatientAddress": "direct identifier",
    "PatientTelephoneNumbers": "direct identifier",
    "MedicalRecordLocator": "direct identifier",
    "AccessionNumber": "direct identifier",
    "StudyID": "direct identifier",
    "PatientBirthDate": "date or demographic",
    "PatientBirthTime": "date or demographic",
    "PatientAge": "date or demographic",
    "PatientSex": "date or demographic",
    "PatientSize": "date or demographic",
    "PatientWeight": "date or demographic",
    "EthnicGroup": "date or demographic",
    "AdditionalPatientHistory": "date or demographic",
    "PatientComments": "date or demographic",
    "StudyDate": "date or demographic",
    "SeriesDate": "date or demographic",
    "AcquisitionDate": "date or demographic",
    "ContentDate": "date or demographic",
    "InstanceCreationDate": "date or demographic",
    "StructureSetDate": "date or demographic",
    "StudyTime": "date or demographic",
    "SeriesTime": "date or demographic",
    "AcquisitionTime": "date or demographic",
    "ContentTime": "date or demographic",
    "InstitutionName": "institution or staff",
    "InstitutionAddress": "institution or staff",
    "InstitutionalDepartmentName": "institution or staff",
    "ReferringPhysicianName": "institution or staff",
    "PerformingPhysicianName": "institution or staff",
    "PhysiciansOfRecord": "institution or staff",
    "OperatorsName": "institution or staff",
    "StationName": "institution or staff",
    "DeviceSerialNumber": "institution or staff",
    "StudyInstanceUID": "UID (links to the archive)",
    "SeriesInstanceUID": "UID (links to the archive)",
    "SOPInstanceUID": "UID (links to the archive)",
    "FrameOfReferenceUID": "UID (links to the archive)",
}


def _masked(keyword: str, value) -> str:
    """How an identifying value is shown: present or empty, never its content nor its length (the length of a
    name or a date narrows down whose it is)."""
    empty = value is None or (len(value) == 0 if keyword.endswith("Sequence") else str(value) == "")
    return "<empty>" if empty else "<withheld>"


def header_table(ds: Dataset, keywords=GEOMETRY_KEYWORDS):
    """A pandas table (keyword, tag, VR, name, value) of the given attributes of ``ds``.

    Values of identifying attributes (:data:`IDENTIFYING_KEYWORDS`) are withheld: only whether they are
    present and empty is shown. Absent attributes appear with value ``<absent>``.
    """
    import pandas as pd

    rows = []
    for keyword in keywords:
        if keyword in ds:
            element = ds[keyword]
            value = element.value
            shown = _masked(keyword, value) if keyword in IDENTIFYING_KEYWORDS else _plain(value)
            rows.append((keyword, f"({element.tag.group:04X},{element.tag.element:04X})", element.VR, element.name, shown))
        else:
            rows.append((keyword, "", "", "", "<absent>"))
    return pd.DataFrame(rows, columns=["keyword", "tag", "VR", "name", "value"])


def _plain(value) -> str:
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return "[" + ", ".join(f"{float(v):g}" if _is_number(v) else str(v) for v in value) + "]"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def identifying_elements(ds: Dataset):
    """Table of the identifying attributes present in ``ds`` (values withheld) and its private tags.

    Columns: keyword, category, value (present or empty, nothing more). Private tags are counted in one
    row per private creator block, because vendors hide identifiers there too.
    """
    import pandas as pd

    rows = [
        (keyword, category, _masked(keyword, ds[keyword].value))
        for keyword, category in IDENTIFYING_KEYWORDS.items()
        if keyword in ds
    ]
    private = [element for element in ds if element.tag.is_private]
    if private:
        groups = sorted({f"{element.tag.group:04X}" for element in private})
        rows.append((f"{len(private)} private elements", "private tags (vendor data)", f"groups {', '.join(groups)}"))
    return pd.DataFrame(rows, columns=["keyword", "category", "value"])


def deidentify(ds: Dataset, pseudonym: str = "ANONYMOUS") -> Dataset:
    """A copy of ``ds`` with identifying attributes removed or replaced, and private tags removed.

    Names and IDs become ``pseudonym``; dates, times, demographics, institution and staff attributes
    are removed. UIDs are kept so that CT, RTSTRUCT and SEG still reference each other (replace them
    consistently across a whole study before sharing outside the institution).
    """
    clean = copy.deepcopy(ds)
    clean.remove_private_tags()
    for keyword, category in IDENTIFYING_KEYWORDS.items():
        if keyword not in clean or category.startswith("UID"):
            continue
        if keyword in ("PatientName", "PatientID"):
            setattr(clean, keyword, pseudonym)
        else:
            delattr(clean, keyword)
    clean.PatientIdentityRemoved = "YES"
    return clean
