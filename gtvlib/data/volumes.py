"""Whole volumes in memory for 3-D networks: a :class:`VolumeSet` (windowed CT and GTV labels by patient, split into
training and validation patients), resampling to a training spacing, the body's in-plane box that confines
whole-volume inference, and the patches a 3-D network trains on (:func:`sample_patches`).

Arrays are (z, y, x); spacings (dz, dy, dx) in mm; images windowed to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gtvlib.util.errors import GtvError

TISSUE_HU = -500.0  # above: soft tissue, vessels and bone (the candidates for "tissue" negatives); below: air and lung
NEGATIVES = ("tissue", "anywhere")
BODY_MARGIN_VOXELS = 4  # margin of the body box that confines whole-volume inference, in voxels each side


def inference_box(hu: np.ndarray):
    """The in-plane box (:class:`~gtvlib.data.slices.boxes.Box`) of a volume's (z, y, x) HU within which its GTV is
    predicted: the body (the largest region above ``TISSUE_HU``; not the couch) ± ``BODY_MARGIN_VOXELS``."""
    from gtvlib.data.slices.boxes import body_box

    return body_box(hu, margin_px=BODY_MARGIN_VOXELS, threshold_hu=TISSUE_HU)


@dataclass
class VolumeSet:
    """Windowed volumes (z, y, x) float32 in [0, 1] with their GTV labels (bool) and spacings (dz, dy, dx) mm, by
    patient, split into training and validation patients. ``source``: what the volumes are (part of a run's key);
    ``tissue``: by patient, the flat indices (int32) of the voxels above −500 HU outside the GTV, where ``"tissue"``
    negatives are centred; ``boxes``: by patient, the body's in-plane box (± ``BODY_MARGIN_VOXELS``) that confines
    whole-volume inference; ``window``: the CT window the images were cut with and ``resampled_mm``: the spacing they
    were resampled to (None: each scan's own), both recorded with a run so that a new scan is prepared alike."""

    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    spacing_mm: dict[str, tuple[float, float, float]]
    training_ids: list[str]
    validation_ids: list[str]
    source: str = ""
    tissue: dict[str, np.ndarray] = field(default_factory=dict)
    boxes: dict = field(default_factory=dict)
    window: str = ""
    resampled_mm: tuple[float, float, float] | None = None

    def subset(self, training_ids: list[str], validation_ids: list[str]) -> "VolumeSet":
        """The same volumes with another split (a fold)."""
        unknown = sorted((set(training_ids) | set(validation_ids)) - set(self.images))
        if unknown:
            raise GtvError(f"patients {unknown} are not in this volume set; expected some of {sorted(self.images)}")
        return VolumeSet(self.images, self.labels, self.spacing_mm, list(training_ids), list(validation_ids), self.source,
                         self.tissue, self.boxes, self.window, self.resampled_mm)


def volume_set(cohort, patient_ids: list[str], window: str = "hcf_paper", structure: str = "GTV-1",
               validation_ids: list[str] = (), spacing_mm: tuple[float, float, float] | None = None) -> VolumeSet:
    """Load ``patient_ids`` of ``cohort`` (a :class:`~gtvlib.data.cohort.Cohort`), window their HU to [0, 1] and keep
    ``structure`` as the label; ``validation_ids`` (a subset) are the validation patients, the others train.
    ``spacing_mm`` (dz, dy, dx): resample every volume to it first (HU linearly, the label by its linearly
    interpolated fraction ≥ 0.5), as a network trained at one spacing needs for scans of another; None keeps each
    scan's own."""
    from gtvlib.data.windows import window_hu, window_preset

    chosen = window_preset(window)
    images, labels, spacing, tissue, boxes = {}, {}, {}, {}, {}
    for pid in patient_ids:
        volume = cohort.load(pid)
        if structure not in volume.masks:
            raise GtvError(f"patient {pid}: no {structure} structure (found {sorted(volume.masks)}); expected the GTV to train on")
        hu, label = volume.hu, np.asarray(volume.masks[structure], bool)
        spacing[pid] = tuple(float(s) for s in volume.spacing_mm)
        if spacing_mm is not None and not np.allclose(spacing[pid], spacing_mm, atol=1e-3):
            hu, label = resample(hu, label, spacing[pid], spacing_mm)
            spacing[pid] = tuple(float(s) for s in spacing_mm)
        images[pid] = window_hu(hu, chosen.center, chosen.width)
        labels[pid] = label
        tissue[pid] = np.flatnonzero((hu > TISSUE_HU) & ~label).astype(np.int32)
        boxes[pid] = inference_box(hu)
    training = [pid for pid in patient_ids if pid not in set(validation_ids)]
    resampled = "" if spacing_mm is None else f" | resampled to {tuple(float(s) for s in spacing_mm)} mm"
    return VolumeSet(images, labels, spacing, training, list(validation_ids),
                     f"{cohort.source} | window {window}{resampled}", tissue, boxes, window,
                     None if spacing_mm is None else tuple(float(s) for s in spacing_mm))


def resample(hu: np.ndarray, label: np.ndarray, spacing_mm, target_mm) -> tuple[np.ndarray, np.ndarray]:
    """HU (z, y, x) and a bool label on a grid of ``spacing_mm`` resampled to ``target_mm`` over the same field of
    view (the outer voxel edges aligned, so target voxel i is centred at source index (i + ½)·t/s − ½): HU
    trilinearly (float32), the label as its trilinear fraction ≥ 0.5 (no ties at a factor-2 change, so the volume
    is kept)."""
    if len(target_mm) != 3 or not all(np.isfinite(t) and t > 0 for t in target_mm):
        raise GtvError(f"spacing_mm={tuple(target_mm)}; expected three positive voxel sides (dz, dy, dx) in mm")
    shape = [max(1, int(round(n * s / t))) for n, s, t in zip(hu.shape, spacing_mm, target_mm)]
    out_hu = resample_to_shape(np.asarray(hu, np.float32), spacing_mm, target_mm, shape)
    out_label = resample_to_shape(np.asarray(label, np.float32), spacing_mm, target_mm, shape) >= 0.5
    return out_hu.astype(np.float32), out_label


def resample_to_shape(values: np.ndarray, spacing_mm, target_mm, shape, order: int = 1) -> np.ndarray:
    """``values`` (z, y, x) on a grid of ``spacing_mm`` sampled on a grid of ``target_mm`` and ``shape`` that starts at
    the same outer voxel edge (target voxel i is centred at source index (i + ½)·t/s − ½): spline ``order`` 1
    (trilinear), edges repeated beyond the source. With the two spacings swapped it maps a resampled volume back
    onto its source grid."""
    from scipy import ndimage

    step = [t / s for s, t in zip(spacing_mm, target_mm)]  # source voxels per target voxel
    coordinates = np.meshgrid(*[(np.arange(n) + 0.5) * f - 0.5 for n, f in zip(shape, step)], indexing="ij")
    return ndimage.map_coordinates(np.asarray(values, np.float32), coordinates, order=order, mode="nearest")


def sample_patches(data: VolumeSet, rng: np.random.Generator, batch_size: int, patch, foreground_fraction: float,
                   negatives: str = "tissue", augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """One batch: images and labels (B, 1, z, y, x) float32 of ``patch`` voxels, from training patients drawn
    uniformly; a share ``foreground_fraction`` centred on a GTV voxel, the others as ``negatives`` says
    (:data:`NEGATIVES`); zero-padded where the volume is smaller; random flips along each axis when ``augment``."""
    patch = np.asarray(patch)
    images, labels = [], []
    for _ in range(batch_size):
        pid = data.training_ids[int(rng.integers(len(data.training_ids)))]
        image, label = data.images[pid], data.labels[pid]
        if rng.random() < foreground_fraction and label.any():
            voxels = np.argwhere(label)
            centre = voxels[int(rng.integers(len(voxels)))]
        elif negatives == "tissue" and len(data.tissue.get(pid, ())):
            candidates = data.tissue[pid]
            centre = np.array(np.unravel_index(int(candidates[int(rng.integers(len(candidates)))]), image.shape))
        else:
            centre = np.array([int(rng.integers(s)) for s in image.shape])
        start = np.clip(centre - patch // 2, 0, np.maximum(np.array(image.shape) - patch, 0))
        window = tuple(slice(int(a), int(a + p)) for a, p in zip(start, patch))
        out_image, out_label = np.zeros(patch, np.float32), np.zeros(patch, np.float32)
        region = tuple(slice(0, min(int(p), s - int(a))) for p, s, a in zip(patch, image.shape, start))
        out_image[region], out_label[region] = image[window], label[window]
        if augment:
            for axis in range(3):
                if rng.random() < 0.5:
                    out_image, out_label = np.flip(out_image, axis), np.flip(out_label, axis)
        images.append(np.ascontiguousarray(out_image))
        labels.append(np.ascontiguousarray(out_label))
    return np.stack(images)[:, None], np.stack(labels)[:, None]
