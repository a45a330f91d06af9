"""Writing DICOM structures on a written or read CT series: RT Structure Sets (contours per ROI) and Segmentations
(highdicom), with the study, patient and frame of reference of the series they reference.

Every object is a genuine IOD instance (Part 10 files with preamble and file meta); with deterministic UIDs the same
inputs give byte-identical files.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.tag import Tag
from pydicom.uid import RTStructureSetStorage

from gtvlib import __version__
from gtvlib.data.dicom.writers import STUDY_KEYWORDS, deterministic_uid, file_meta
from gtvlib.util.errors import GtvError


def study_dataset(source: Dataset) -> Dataset:
    """The patient, study and frame-of-reference attributes of ``source`` (a CT slice) in a new dataset,
    Type 2 ones present (empty where the source lacks them); the values are copied, never printed."""
    ds = Dataset()
    for keyword, kind in STUDY_KEYWORDS.items():
        if keyword in source:
            setattr(ds, keyword, copy.deepcopy(source[keyword].value))
        elif kind == 2:
            setattr(ds, keyword, "")
        elif kind == 1:
            raise GtvError(f"{getattr(source, 'filename', 'CT slice')}: {keyword} is missing; expected it on every "
                           "CT slice (a derived object must reference it)")
    if (str(ds.get("PatientIdentityRemoved", "")).upper() == "YES" and "DeidentificationMethod" not in ds
            and "DeidentificationMethodCodeSequence" not in ds):
        ds.DeidentificationMethod = "not stated on the source CT"  # 1C beside PatientIdentityRemoved YES
    return ds


def _decimal_strings(tag: int, values: np.ndarray) -> RawDataElement:
    """A DS element of ``values`` written as ``%.6f`` (a DS holds 16 characters), encoded as its bytes.

    pydicom would build and validate one decimal-string object per coordinate (most of the time of writing an
    RTSTRUCT of a 512² CT); the bytes are what it would write: values joined by backslashes, padded with a
    space to an even length. Readers convert them on access as usual.
    """
    encoded = "\\".join(f"{v:.6f}" for v in values).encode("ascii")
    encoded += b" " * (len(encoded) % 2)
    return RawDataElement(Tag(tag), "DS", len(encoded), encoded, 0, False, True)


def rtstruct_dataset(ct_slices: list[Dataset], rois: list[dict], label: str = "GTVLIB",
                     series_uid: str | None = None, sop_uid: str | None = None,
                     manufacturer: str = "gtvlib synthetic phantom", created: tuple[str, str] | None = None,
                     series_description: str = "structures") -> Dataset:
    """An RT Structure Set over the given CT slices (sorted along z), filed with their patient and study.

    ``rois``: dicts with ``name``, ``number``, ``type`` (RT ROI Interpreted Type: GTV, ORGAN, …),
    ``colour`` (r, g, b), ``planes``: {slice index: list of (row, column) polygons}, and optionally
    ``algorithm`` (ROI Generation Algorithm: MANUAL, SEMIAUTOMATIC or AUTOMATIC) with ``description``
    (ROI Generation Description, e.g. the model and its version). ``created``: (YYYYMMDD, HHMMSS) of the
    structure set; default the study date at 10:00 (the synthetic cohort's fixed time, for byte-identical
    regeneration).
    """
    first = ct_slices[0]
    series_uid = series_uid or deterministic_uid(first.SeriesInstanceUID, "rtstruct-series")
    sop_uid = sop_uid or deterministic_uid(first.SeriesInstanceUID, "rtstruct")
    date, time = created or (str(first.get("StudyDate", "")), "100000")
    ds = study_dataset(first)
    ds.Manufacturer = manufacturer
    ds.file_meta = file_meta(RTStructureSetStorage, sop_uid)
    ds.SOPClassUID, ds.SOPInstanceUID = RTStructureSetStorage, sop_uid
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID, ds.SeriesNumber = series_uid, 2
    ds.SeriesDescription = series_description
    ds.InstanceNumber = 1
    ds.StructureSetLabel = label
    ds.StructureSetDate, ds.StructureSetTime = date, time
    ds.OperatorsName = ""
    images = Sequence()
    for ct in ct_slices:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = ct.SOPClassUID, ct.SOPInstanceUID
        images.append(item)
    series_item = Dataset()
    series_item.SeriesInstanceUID = first.SeriesInstanceUID
    series_item.ContourImageSequence = images
    study_item = Dataset()
    study_item.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (retired, as TPSs write)
    study_item.ReferencedSOPInstanceUID = first.StudyInstanceUID
    study_item.RTReferencedSeriesSequence = Sequence([series_item])
    frame_item = Dataset()
    frame_item.FrameOfReferenceUID = first.FrameOfReferenceUID
    frame_item.RTReferencedStudySequence = Sequence([study_item])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame_item])
    ds.StructureSetROISequence, ds.ROIContourSequence, ds.RTROIObservationsSequence = Sequence(), Sequence(), Sequence()
    for roi in rois:
        structure = Dataset()
        structure.ROINumber, structure.ReferencedFrameOfReferenceUID = roi["number"], first.FrameOfReferenceUID
        structure.ROIName, structure.ROIGenerationAlgorithm = roi["name"], roi.get("algorithm", "MANUAL")
        if roi.get("description"):
            structure.ROIGenerationDescription = roi["description"]
        ds.StructureSetROISequence.append(structure)
        contour_item = Dataset()
        contour_item.ROIDisplayColor = list(roi.get("colour", (255, 0, 0)))
        contour_item.ReferencedROINumber = roi["number"]
        contours = Sequence()
        for k in sorted(roi["planes"]):
            ct = ct_slices[k]
            origin = np.asarray(ct.ImagePositionPatient, dtype=float)
            dy, dx = (float(v) for v in ct.PixelSpacing)
            for polygon in roi["planes"][k]:
                contour = Dataset()
                reference = Dataset()
                reference.ReferencedSOPClassUID, reference.ReferencedSOPInstanceUID = ct.SOPClassUID, ct.SOPInstanceUID
                contour.ContourImageSequence = Sequence([reference])
                contour.ContourGeometricType = "CLOSED_PLANAR"
                contour.NumberOfContourPoints = len(polygon)
                xyz = np.column_stack([origin[0] + polygon[:, 1] * dx, origin[1] + polygon[:, 0] * dy,
                                       np.full(len(polygon), origin[2])])
                contour["ContourData"] = _decimal_strings(0x30060050, xyz.ravel())
                contours.append(contour)
        if len(contours):
            contour_item.ContourSequence = contours
        ds.ROIContourSequence.append(contour_item)
        observation = Dataset()
        observation.ObservationNumber, observation.ReferencedROINumber = roi["number"], roi["number"]
        observation.RTROIInterpretedType, observation.ROIInterpreter = roi.get("type", "ORGAN"), ""
        ds.RTROIObservationsSequence.append(observation)
    return ds


def write_rtstruct(path: Path, ct_slices: list[Dataset], rois: list[dict], **kwargs) -> Path:
    """Write an RT Structure Set file (see :func:`rtstruct_dataset`)."""
    ds = rtstruct_dataset(ct_slices, rois, **kwargs)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


# --------------------------------------------------------------------------- Segmentation

# Segmented property type per canonical name (SNOMED CT); anything else is an anatomical structure.
_PROPERTY_TYPE = {
    "GTV": codes.SCT.Neoplasm,
    "Lung": codes.SCT.Lung,
    "Heart": codes.SCT.Heart,
    "Esophagus": codes.SCT.Esophagus,
    "Spinal-Cord": codes.SCT.SpinalCord,
    "LN": codes.SCT.LymphNode,
}

# Attributes highdicom stamps with the current date and time; fixed so regeneration is byte-identical.
_TIMESTAMPS = ("ContentDate", "ContentTime", "SeriesDate", "SeriesTime", "InstanceCreationDate", "InstanceCreationTime")


def _codes_for(name: str):
    for prefix, code in _PROPERTY_TYPE.items():
        if name.startswith(prefix):
            category = codes.SCT.MorphologicallyAbnormalStructure if prefix == "GTV" else codes.SCT.AnatomicalStructure
            return category, code
    return codes.SCT.AnatomicalStructure, codes.SCT.AnatomicalStructure


def seg_dataset(ct_slices: list[Dataset], masks: dict[str, np.ndarray], series_uid: str, sop_uid: str,
                content_date: str | None, algorithm: tuple[str, str] | None = None,
                manufacturer: str = "gtvlib synthetic phantom", series_description: str | None = None) -> Dataset:
    """A BINARY SEG over ``ct_slices`` (sorted along z) with one segment per mask (z, y, x) in dict order.

    ``algorithm``: (name, version) of the model that drew the masks: the segments are then AUTOMATIC with
    that Algorithm Identification; None marks them MANUAL (the synthetic cohort's truth). ``content_date``:
    YYYYMMDD stamped on every date (time 10:00) so regeneration is byte-identical; None keeps highdicom's
    creation date and time (an export).
    """
    import highdicom as hd

    names = list(masks)
    pixel_array = np.stack([masks[name] for name in names], axis=-1).astype(np.uint8)  # (z, y, x, segments)
    identification = None if algorithm is None else hd.AlgorithmIdentificationSequence(
        name=algorithm[0], family=codes.DCM.ArtificialIntelligence, version=algorithm[1])
    descriptions = []
    for number, name in enumerate(names, start=1):
        category, property_type = _codes_for(name)
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=name, segmented_property_category=category,
            segmented_property_type=property_type,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL if algorithm is None else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=identification,
        ))
    seg = hd.seg.Segmentation(
        source_images=ct_slices, pixel_array=pixel_array,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
        series_instance_uid=series_uid, series_number=3, sop_instance_uid=sop_uid, instance_number=1,
        manufacturer=manufacturer, manufacturer_model_name="gtvlib", software_versions=__version__,
        device_serial_number="0", omit_empty_frames=True,
    )
    if series_description:
        seg.SeriesDescription = series_description
    study = study_dataset(ct_slices[0])  # highdicom copies PatientIdentityRemoved, not the method (1C beside it)
    for keyword in ("DeidentificationMethod", "DeidentificationMethodCodeSequence"):
        if keyword in study and keyword not in seg:
            setattr(seg, keyword, study[keyword].value)
    if content_date is None:
        return seg
    for keyword in _TIMESTAMPS:
        if keyword in seg:
            setattr(seg, keyword, content_date if keyword.endswith("Date") else "100000")
    for item in seg.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = f"{content_date}100000"
    # highdicom draws a random dimension organisation UID; derive it from the SEG's own UID instead
    organisation_uid = deterministic_uid(sop_uid, "dimension-organisation")
    for item in [*seg.get("DimensionOrganizationSequence", []), *seg.get("DimensionIndexSequence", [])]:
        if "DimensionOrganizationUID" in item:
            item.DimensionOrganizationUID = organisation_uid
    return seg
