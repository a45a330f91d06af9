"""Reading DICOM Segmentation objects (highdicom): one mask per segment, overlaps kept.
(Writing one: :func:`gtvlib.data.dicom.writers.seg_dataset`.)"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gtvlib.errors import GtvError


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
