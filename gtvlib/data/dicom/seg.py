"""Reading DICOM Segmentation objects (highdicom): one mask per segment, overlaps kept, on the grid of the CT
they belong to (checked). (Writing one: :func:`gtvlib.data.dicom.structure_writers.seg_dataset`.)"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gtvlib.data.volume import Volume
from gtvlib.util.errors import GtvError


def _frame_value(frame, group: str, keyword: str, shared):
    """A functional-group attribute of one frame: per frame if there, else shared (None when absent)."""
    for source in (frame, shared):
        if source is not None and group in source and keyword in source[group].value[0]:
            return source[group].value[0][keyword].value
    return None


def check_seg_geometry(seg, volume: Volume, path: Path) -> None:
    """The SEG must lie on the CT's grid: frame of reference, matrix, pixel spacing, orientation, and each
    frame's position equal to the position of the CT slice it derives from."""
    frame = volume.metadata.get("frame_of_reference_uid")
    if frame and str(seg.get("FrameOfReferenceUID", "")) != frame:
        raise GtvError(f"{path}: the SEG is in another frame of reference than the CT series; expected a SEG of this CT")
    if (int(seg.Rows), int(seg.Columns)) != tuple(volume.shape[1:]):
        raise GtvError(f"{path}: SEG frames are {int(seg.Rows)} × {int(seg.Columns)} pixels, the CT's slices "
                       f"{volume.shape[1]} × {volume.shape[2]}; expected the CT's matrix")
    frames = len(seg.get("PerFrameFunctionalGroupsSequence", []))
    if "PixelData" not in seg or int(seg.get("NumberOfFrames", 0) or 0) != frames or frames == 0:
        raise GtvError(f"{path}: NumberOfFrames {seg.get('NumberOfFrames')} for {frames} per-frame descriptions"
                       f"{'' if 'PixelData' in seg else ' and no pixel data'}; expected a complete multi-frame SEG")
    shared = seg.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in seg else None
    index = {uid: k for k, uid in enumerate(volume.metadata.get("sop_instance_uids", []))}
    dz, dy, dx = volume.spacing_mm
    for number, item in enumerate(seg.get("PerFrameFunctionalGroupsSequence", []), start=1):
        spacing = _frame_value(item, "PixelMeasuresSequence", "PixelSpacing", shared)
        if spacing is not None and not np.allclose([float(v) for v in spacing], (dy, dx), atol=1e-3):
            raise GtvError(f"{path}: frame {number} has PixelSpacing {[float(v) for v in spacing]} mm, the CT "
                           f"{[dy, dx]} mm; expected the CT's pixel spacing")
        orientation = _frame_value(item, "PlaneOrientationSequence", "ImageOrientationPatient", shared)
        if orientation is not None and not np.allclose([float(v) for v in orientation], (1, 0, 0, 0, 1, 0), atol=1e-3):
            raise GtvError(f"{path}: frame {number} has ImageOrientationPatient {[float(v) for v in orientation]}; "
                           "expected the CT's [1, 0, 0, 0, 1, 0]")
        position = _frame_value(item, "PlanePositionSequence", "ImagePositionPatient", None)
        sources = [source.get("ReferencedSOPInstanceUID", "") for derivation in item.get("DerivationImageSequence", [])
                   for source in derivation.get("SourceImageSequence", [])]
        slice_index = next((index[str(uid)] for uid in sources if str(uid) in index), None)
        if position is not None and slice_index is not None:
            expected = (volume.origin_xyz_mm[0], volume.origin_xyz_mm[1], float(volume.slice_positions_mm[slice_index]))
            if not np.allclose([float(v) for v in position], expected, atol=0.01):
                raise GtvError(f"{path}: frame {number} lies at {[round(float(v), 2) for v in position]} mm, the CT slice "
                               f"it derives from at {[round(v, 2) for v in expected]} mm; expected the CT slice's position")


def load_seg_masks(path: str | os.PathLike, volume: Volume) -> dict[str, np.ndarray]:
    """Masks (z, y, x) per segment label of a SEG, on ``volume``'s slices (matched by SOP Instance UID).

    The SEG is checked against the CT first (:func:`check_seg_geometry`): a SEG of another series, frame of
    reference, matrix or slice position is an error, never masks that merely have the right shape.
    """
    import highdicom as hd

    path = Path(path)
    try:
        seg = hd.seg.segread(path)
    except Exception as exc:
        raise GtvError(f"{path}: not a readable DICOM SEG ({type(exc).__name__}: {exc})") from exc
    sop_instance_uids = list(volume.metadata.get("sop_instance_uids", []))
    if "SegmentSequence" not in seg or not seg.SegmentSequence:
        raise GtvError(f"{path}: no SegmentSequence; expected one description per segment")
    try:
        referenced = {str(uid) for _, _, uid in seg.get_source_image_uids()}
    except Exception as exc:
        raise GtvError(f"{path}: the SEG's source images cannot be read ({type(exc).__name__}); expected the CT it "
                       "was drawn on") from None
    present = [uid for uid in sop_instance_uids if uid in referenced]  # slices without frames stay empty
    if not present:
        raise GtvError(f"{path}: the SEG references none of the CT series' slices; expected a SEG of this series")
    if len(referenced - set(sop_instance_uids)):
        raise GtvError(f"{path}: the SEG references {len(referenced - set(sop_instance_uids))} image(s) that are not in "
                       "this CT series; expected a SEG of this series alone")
    check_seg_geometry(seg, volume, path)
    labels = {int(d.SegmentNumber): str(d.SegmentLabel) for d in seg.SegmentSequence}
    repeated = sorted({label for label in labels.values() if list(labels.values()).count(label) > 1})
    if repeated:
        raise GtvError(f"{path}: segment label {repeated[0]!r} is used by {list(labels.values()).count(repeated[0])} segments; "
                       "expected every segment label to be unique")
    masks = {label: np.zeros(volume.shape, dtype=bool) for label in labels.values()}
    try:
        pixels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=present, segment_numbers=sorted(labels), combine_segments=False,
            ignore_spatial_locations=True, assert_missing_frames_are_empty=True,
        )  # (slices, rows, columns, segments)
    except Exception as exc:  # highdicom raises assorted types for an inconsistent object
        raise GtvError(f"{path}: the SEG's frames cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); "
                       "expected a consistent multi-frame SEG") from None
    index = {uid: k for k, uid in enumerate(sop_instance_uids)}
    rows = [index[uid] for uid in present]
    for position, number in enumerate(sorted(labels)):
        masks[labels[number]][rows] = pixels[..., position] > 0
    return masks
