"""DICOM Segmentation objects (highdicom): one BINARY segment per structure, overlaps kept."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from gtvlib.errors import GtvError

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
                content_date: str) -> Dataset:
    """A BINARY SEG over ``ct_slices`` (sorted along z) with one segment per mask (z, y, x) in dict order."""
    import highdicom as hd

    names = list(masks)
    pixel_array = np.stack([masks[name] for name in names], axis=-1).astype(np.uint8)  # (z, y, x, segments)
    descriptions = []
    for number, name in enumerate(names, start=1):
        category, property_type = _codes_for(name)
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=name, segmented_property_category=category,
            segmented_property_type=property_type, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        ))
    seg = hd.seg.Segmentation(
        source_images=ct_slices, pixel_array=pixel_array,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
        series_instance_uid=series_uid, series_number=3, sop_instance_uid=sop_uid, instance_number=1,
        manufacturer="gtvlib synthetic phantom", manufacturer_model_name="gtvlib", software_versions="0.1",
        device_serial_number="0", omit_empty_frames=True,
    )
    for keyword in _TIMESTAMPS:
        if keyword in seg:
            setattr(seg, keyword, content_date if keyword.endswith("Date") else "100000")
    for item in seg.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = f"{content_date}100000"
    # highdicom draws a random dimension organisation UID; derive it from the SEG's own UID instead
    from gtvlib.data.series import deterministic_uid

    organisation_uid = deterministic_uid(sop_uid, "dimension-organisation")
    for item in [*seg.get("DimensionOrganizationSequence", []), *seg.get("DimensionIndexSequence", [])]:
        if "DimensionOrganizationUID" in item:
            item.DimensionOrganizationUID = organisation_uid
    return seg


def load_seg_masks(path: str | os.PathLike, sop_instance_uids: list[str]) -> dict[str, np.ndarray]:
    """Masks (z, y, x) per segment label of a SEG, on the CT slices given by SOP Instance UID (in z order)."""
    import highdicom as hd

    path = Path(path)
    try:
        seg = hd.seg.segread(path)
    except Exception as exc:
        raise GtvError(f"{path}: not a readable DICOM SEG ({type(exc).__name__}: {exc})") from exc
    referenced = {str(uid) for _, _, uid in seg.get_source_image_uids()}
    labels = {int(d.SegmentNumber): str(d.SegmentLabel) for d in seg.SegmentSequence}
    masks = {label: np.zeros((len(sop_instance_uids), int(seg.Rows), int(seg.Columns)), dtype=bool) for label in labels.values()}
    present = [uid for uid in sop_instance_uids if uid in referenced]  # slices without frames stay empty
    if not present:
        raise GtvError(f"{path}: the SEG references none of the CT series' slices; expected a SEG of this series")
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=present, segment_numbers=sorted(labels), combine_segments=False,
        ignore_spatial_locations=True, assert_missing_frames_are_empty=True,
    )  # (slices, rows, columns, segments)
    index = {uid: k for k, uid in enumerate(sop_instance_uids)}
    rows = [index[uid] for uid in present]
    for position, number in enumerate(sorted(labels)):
        masks[labels[number]][rows] = pixels[..., position] > 0
    return masks
