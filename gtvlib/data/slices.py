"""From volumes to 2-D training slices: patient-level splits, GTV-MFIT, body crop, balance sampling,
a slice cache, and a torch Dataset.

* Splits are by patient, seeded; no patient is ever on both sides.
* **GTV-MFIT** (GTV-SAMGAN, seed 000): the smallest rectangle covering every *training* tumour slice's
  tight box, enlarged to a square whose side is a multiple of 64 (or the model input), and applied
  unchanged to validation and test slices. Boxes are half-open pixel ranges; they are reported as
  ``[x0, y0, x1, y1]`` (column, row), the paper's format.
* **Body crop** (HCF, seed 001): the bounding box of the body (HU > −500, largest component) ± 12 px.
* **Balance sampling** (HCF): all tumour slices plus a seeded random subset of tumour-free ones, at
  ratios θ0 (none), θ1 (1:1), θ2 (1:2), θ4 (1:4) or θn (all).
* The cache stores windowed images (float16, [0, 1]) and masks (uint8) per patient as ``.npy`` files
  written atomically, keyed by everything that determines them, so training epochs never decode DICOM.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from gtvlib.atomic import atomic_path, write_json_atomic
from gtvlib.data.windows import window_hu, window_preset
from gtvlib.errors import GtvError

BALANCE_RATIOS = {"theta0": 0.0, "theta1": 1.0, "theta2": 2.0, "theta4": 4.0, "thetan": math.inf}


# --------------------------------------------------------------------------- splits

def patient_split(patient_ids: list[str], validation_fraction: float = 0.2, seed: int = 0) -> tuple[list[str], list[str]]:
    """Seeded patient-level split (default 4:1). Returns (training, validation) ids, each sorted."""
    ids = sorted(set(patient_ids))
    if len(ids) < 2:
        raise GtvError(f"a split needs at least 2 patients, got {len(ids)}")
    if not 0 < validation_fraction < 1:
        raise GtvError(f"validation_fraction={validation_fraction}; expected a fraction between 0 and 1")
    order = np.random.default_rng(seed).permutation(len(ids))
    n_val = min(max(1, round(validation_fraction * len(ids))), len(ids) - 1)
    validation = sorted(ids[i] for i in order[:n_val])
    return sorted(set(ids) - set(validation)), validation


def kfold_splits(patient_ids: list[str], folds: int = 5, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """Seeded patient-level k-fold: each patient is validated exactly once."""
    ids = sorted(set(patient_ids))
    if not 2 <= folds <= len(ids):
        raise GtvError(f"folds={folds} with {len(ids)} patients; expected 2 ≤ folds ≤ patients")
    order = np.random.default_rng(seed).permutation(len(ids))
    chunks = np.array_split(order, folds)
    return [(sorted(ids[i] for i in order if i not in set(chunk)), sorted(ids[i] for i in chunk)) for chunk in chunks]


# --------------------------------------------------------------------------- boxes

@dataclass(frozen=True)
class Box:
    """Half-open pixel box: rows [row0, row1), columns [col0, col1)."""

    row0: int
    col0: int
    row1: int
    col1: int

    @property
    def height(self) -> int:
        return self.row1 - self.row0

    @property
    def width(self) -> int:
        return self.col1 - self.col0

    def as_xyxy(self) -> list[int]:
        """[x0, y0, x1, y1] (column, row), the format the GTV-SAMGAN paper reports."""
        return [self.col0, self.row0, self.col1, self.row1]

    def crop(self, array: np.ndarray) -> np.ndarray:
        """Crop the last two axes (rows, columns) of ``array``."""
        return array[..., self.row0:self.row1, self.col0:self.col1]


def tight_box(mask_2d: np.ndarray) -> Box | None:
    """Tight box of a 2-D mask, or None when it is empty."""
    rows, columns = np.nonzero(mask_2d)
    if rows.size == 0:
        return None
    return Box(int(rows.min()), int(columns.min()), int(rows.max()) + 1, int(columns.max()) + 1)


def mfit_box(training_masks: list[np.ndarray], image_shape: tuple[int, int], multiple: int = 64,
             min_side: int = 0) -> tuple[Box, Box]:
    """GTV-MFIT: (union of the training tumour slices' tight boxes, the square crop derived from it).

    ``training_masks``: (z, y, x) label volumes of the training patients only. The square's side is the
    union's longer side rounded up to ``multiple`` (at least ``min_side``, at most the image), centred on
    the union and shifted to stay inside the image.
    """
    boxes = [box for volume in training_masks for s in volume if (box := tight_box(s)) is not None]
    if not boxes:
        raise GtvError("GTV-MFIT needs at least one training slice with tumour; the training labels are empty")
    union = Box(min(b.row0 for b in boxes), min(b.col0 for b in boxes), max(b.row1 for b in boxes), max(b.col1 for b in boxes))
    rows, columns = image_shape
    side = max(union.height, union.width, min_side)
    side = min(int(math.ceil(side / multiple) * multiple), rows, columns)
    centre_row, centre_col = (union.row0 + union.row1) / 2, (union.col0 + union.col1) / 2
    row0 = int(np.clip(round(centre_row - side / 2), 0, rows - side))
    col0 = int(np.clip(round(centre_col - side / 2), 0, columns - side))
    return union, Box(row0, col0, row0 + side, col0 + side)


def body_box(hu: np.ndarray, margin_px: int = 12, threshold_hu: float = -500.0) -> Box:
    """HCF body crop: bounding box (± margin) of the largest connected region above ``threshold_hu``.

    ``hu``: (y, x) or (z, y, x); for a volume the box covers the body on every slice.
    """
    body = np.asarray(hu) > threshold_hu
    labels, count = ndimage.label(body)
    if count == 0:
        raise GtvError("no body found (no pixel above the threshold); is the image in HU?")
    sizes = ndimage.sum_labels(body, labels, index=np.arange(1, count + 1))
    largest = labels == (int(np.argmax(sizes)) + 1)
    if largest.ndim == 3:
        largest = largest.any(axis=0)
    box = tight_box(largest)
    rows, columns = largest.shape
    return Box(max(box.row0 - margin_px, 0), max(box.col0 - margin_px, 0),
               min(box.row1 + margin_px, rows), min(box.col1 + margin_px, columns))


# --------------------------------------------------------------------------- balance sampling

def balance_sample(has_tumour: np.ndarray, strategy: str = "thetan", seed: int = 0) -> np.ndarray:
    """Indices kept by a balance-sampling strategy: every tumour slice plus ``ratio ×`` as many free ones.

    ``has_tumour``: bool per slice. ``strategy``: theta0, theta1, theta2, theta4 or thetan. The free
    slices are drawn once, without replacement, seeded. Returns sorted indices.
    """
    if strategy not in BALANCE_RATIOS:
        raise GtvError(f"balance strategy {strategy!r} is unknown; expected one of {sorted(BALANCE_RATIOS)}")
    has_tumour = np.asarray(has_tumour, dtype=bool)
    tumour, free = np.nonzero(has_tumour)[0], np.nonzero(~has_tumour)[0]
    ratio = BALANCE_RATIOS[strategy]
    wanted = len(free) if math.isinf(ratio) else min(int(round(ratio * len(tumour))), len(free))
    chosen = np.random.default_rng(seed).choice(free, size=wanted, replace=False) if wanted else np.array([], dtype=int)
    return np.sort(np.concatenate([tumour, chosen]).astype(int))


# --------------------------------------------------------------------------- cache

@dataclass(frozen=True)
class SliceSpec:
    """What determines the cached slices of a patient."""

    window_center_hu: float
    window_width_hu: float
    crop: tuple[int, int, int, int] | None  # Box fields, or None for the whole image
    size: int | None  # resize the (cropped) slice to size × size, or None
    labels: tuple[str, ...] = ("GTV-1",)
    structures: str = "rtstruct"

    @classmethod
    def from_window(cls, window: str = "hcf_paper", crop: Box | None = None, size: int | None = None,
                    labels=("GTV-1",), structures: str = "rtstruct") -> "SliceSpec":
        w = window_preset(window)
        return cls(w.center, w.width, None if crop is None else (crop.row0, crop.col0, crop.row1, crop.col1),
                   size, tuple(labels), structures)

    def key(self, source: str) -> str:
        text = json.dumps({"spec": asdict(self), "source": source, "version": 1}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _resize(array: np.ndarray, size: int, order: int) -> np.ndarray:
    factors = (1,) * (array.ndim - 2) + (size / array.shape[-2], size / array.shape[-1])
    return ndimage.zoom(array, factors, order=order, grid_mode=True, mode="nearest")


def slices_of_volume(volume, spec: SliceSpec) -> tuple[np.ndarray, np.ndarray]:
    """Windowed images (z, H, W) float16 in [0, 1] and labels (z, H, W) uint8 of one volume."""
    missing = [name for name in spec.labels if name not in volume.masks]
    if missing:
        raise GtvError(f"{volume.metadata.get('patient_folder', 'volume')}: no mask {missing}; it has {sorted(volume.masks)}")
    image = window_hu(volume.hu, spec.window_center_hu, spec.window_width_hu)
    label = np.zeros(volume.shape, dtype=np.uint8)
    for name in spec.labels:
        label |= volume.masks[name].astype(np.uint8)
    if spec.crop is not None:
        box = Box(*spec.crop)
        image, label = box.crop(image), box.crop(label)
    if spec.size is not None and image.shape[-1] != spec.size:
        image = _resize(image, spec.size, order=1)
        label = (_resize(label.astype(np.float32), spec.size, order=1) >= 0.5).astype(np.uint8)
    return image.astype(np.float16), label


class SliceCache:
    """Per-patient slice arrays under ``<cache>/slices/<key>/``, built once and memory-mapped after.

    ``load(patient_id)`` returns (images, labels) arrays of shape (z, H, W).
    """

    def __init__(self, cohort_folder: str | os.PathLike, spec: SliceSpec, cache_dir: str | os.PathLike | None = None):
        from gtvlib.paths import cache_dir as default_cache

        self.cohort = Path(cohort_folder)
        self.spec = spec
        self.folder = Path(cache_dir or default_cache()) / "slices" / spec.key(str(self.cohort.resolve()))

    def _paths(self, patient_id: str) -> tuple[Path, Path]:
        return self.folder / f"{patient_id}.images.npy", self.folder / f"{patient_id}.labels.npy"

    def build(self, patient_ids: list[str], load_volume=None) -> dict[str, int]:
        """Decode and cache the patients not cached yet; return {patient id: number of slices}."""
        from gtvlib.data.patient import load_patient

        load_volume = load_volume or (lambda pid: load_patient(self.cohort / pid, structures=self.spec.structures,
                                                               required=self.spec.labels))
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.folder / "spec.json", {"spec": asdict(self.spec), "cohort": str(self.cohort)})
        counts = {}
        for pid in patient_ids:
            image_path, label_path = self._paths(pid)
            if not (image_path.is_file() and label_path.is_file()):
                images, labels = slices_of_volume(load_volume(pid), self.spec)
                with atomic_path(label_path) as tmp:  # labels first: images mark completion
                    with tmp.open("wb") as handle:
                        np.save(handle, labels)
                with atomic_path(image_path) as tmp:
                    with tmp.open("wb") as handle:
                        np.save(handle, images)
            counts[pid] = int(np.load(label_path, mmap_mode="r").shape[0])
        return counts

    def load(self, patient_id: str) -> tuple[np.ndarray, np.ndarray]:
        image_path, label_path = self._paths(patient_id)
        if not image_path.is_file():
            raise GtvError(f"{image_path}: patient {patient_id} is not cached; call build() first")
        return np.load(image_path, mmap_mode="r"), np.load(label_path, mmap_mode="r")

    def index(self, patient_ids: list[str], strategy: str = "thetan", seed: int = 0) -> list[tuple[str, int]]:
        """(patient, slice) pairs after balance sampling per patient (seeded by ``seed`` and position)."""
        pairs = []
        for offset, pid in enumerate(patient_ids):
            _, labels = self.load(pid)
            has_tumour = np.asarray(labels.reshape(labels.shape[0], -1).max(axis=1) > 0)
            pairs += [(pid, int(k)) for k in balance_sample(has_tumour, strategy, seed + offset)]
        return pairs


def slice_dataset(cache: SliceCache, pairs: list[tuple[str, int]]):
    """A torch Dataset over cached slices: items are dicts with ``image`` (1, H, W) float32 in [0, 1],
    ``label`` (1, H, W) float32, ``patient`` and ``slice_index``. Safe with DataLoader workers (each
    worker opens its own memory maps)."""
    import torch

    class SliceDataset(torch.utils.data.Dataset):
        def __init__(self):
            self.pairs = list(pairs)
            self._open: dict[str, tuple[np.ndarray, np.ndarray]] = {}

        def __len__(self) -> int:
            return len(self.pairs)

        def __getitem__(self, item: int) -> dict:
            pid, k = self.pairs[item]
            if pid not in self._open:
                self._open[pid] = cache.load(pid)
            images, labels = self._open[pid]
            return {"image": torch.from_numpy(np.asarray(images[k], dtype=np.float32))[None],
                    "label": torch.from_numpy(np.asarray(labels[k], dtype=np.float32))[None],
                    "patient": pid, "slice_index": k}

    return SliceDataset()


def label_frequency(cache: SliceCache, patient_ids: list[str]) -> np.ndarray:
    """(H, W) count of slices in which each pixel is tumour, over the given patients' cached labels."""
    total = None
    for pid in patient_ids:
        _, labels = cache.load(pid)
        counts = np.asarray(labels, dtype=np.int32).sum(axis=0)
        total = counts if total is None else total + counts
    return total


def mfit_from_cache(cache: SliceCache, training_ids: list[str], multiple: int = 64, min_side: int = 0) -> tuple[Box, Box]:
    """GTV-MFIT over the cached full-image labels of the training patients (see :func:`mfit_box`)."""
    labels = [np.asarray(cache.load(pid)[1]) for pid in training_ids]
    return mfit_box(labels, labels[0].shape[1:], multiple, min_side)
