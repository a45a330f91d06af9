"""The slice cache: windowed, cropped and resized 2-D slices of every patient, decoded from DICOM once.

A :class:`SliceSpec` says what a slice is (HU window, crop box, output size, labels); the cache stores per
patient ``<id>.images.npy`` (float16 in [0, 1]), ``<id>.labels.npy`` (uint8) and ``<id>.grid.json`` (the
spacing in mm of the cached grid, and a fingerprint of the patient's source files) under a folder keyed by
the spec and the cohort, written atomically (labels and grid first: the images file marks a complete
patient). A patient whose files changed since (an edited RTSTRUCT, a regenerated cohort) is decoded again.
Training epochs memory-map the arrays and never decode DICOM.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from gtvlib.data.slices.boxes import Box
from gtvlib.data.slices.sampling import balance_sample
from gtvlib.data.volume import Volume
from gtvlib.data.windows import window_hu, window_preset
from gtvlib.util.atomic import atomic_path, remove_stale_partials, write_json_atomic
from gtvlib.util.checksums import listed_digests, settings_key, source_fingerprint
from gtvlib.util.errors import GtvError

CACHE_VERSION = 4  # 2: grid.json with the spacing of the cached grid; 3: and the source files' fingerprint;
# 4: and the whole image's matrix and pixel size (what a trained model's grid is mapped from on a new scan)


@dataclass(frozen=True)
class SliceSpec:
    """What determines the cached slices of a patient."""

    window_center_hu: float
    window_width_hu: float
    crop: tuple[int, int, int, int] | None  # Box fields (row0, col0, row1, col1), or None for the whole image
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
        return settings_key({"spec": asdict(self), "source": source, "version": CACHE_VERSION})

    def grid_spacing_mm(self, volume: Volume) -> tuple[float, float, float]:
        """(dz, dy, dx) in mm of the cached grid of ``volume``: the crop keeps the pixel size, the resize to
        ``size`` scales it by (cropped side / size)."""
        dz, dy, dx = (float(s) for s in volume.spacing_mm)
        rows, columns = (self.crop[2] - self.crop[0], self.crop[3] - self.crop[1]) if self.crop else volume.shape[1:]
        if self.size is None:
            return dz, dy, dx
        return dz, dy * rows / self.size, dx * columns / self.size


def _resize(array: np.ndarray, size: int, order: int) -> np.ndarray:
    factors = (1,) * (array.ndim - 2) + (size / array.shape[-2], size / array.shape[-1])
    return ndimage.zoom(array, factors, order=order, grid_mode=True, mode="nearest")


def slices_of_volume(volume: Volume, spec: SliceSpec) -> tuple[np.ndarray, np.ndarray]:
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

    ``load(patient_id)`` returns (images, labels) arrays of shape (z, H, W); ``spacing_mm(patient_id)``
    the (dz, dy, dx) of that grid in mm.
    """

    def __init__(self, cohort_folder: str | os.PathLike, spec: SliceSpec, cache_dir: str | os.PathLike | None = None):
        from gtvlib.util.paths import cache_dir as default_cache

        self.cohort = Path(cohort_folder)
        self.spec = spec
        self.folder = Path(cache_dir or default_cache()) / "slices" / spec.key(str(self.cohort.resolve()))
        self._grids: dict[str, dict] = {}

    def _paths(self, patient_id: str) -> tuple[Path, Path, Path]:
        stem = self.folder / patient_id
        return Path(f"{stem}.images.npy"), Path(f"{stem}.labels.npy"), Path(f"{stem}.grid.json")

    def build(self, patient_ids: list[str], load_volume=None, patient_folder=None) -> dict[str, int]:
        """Decode and cache the patients not cached yet (or whose files changed); return {patient id: slices}.

        ``load_volume``: patient id → :class:`Volume` with the spec's labels (default: the patient folder
        under the cohort, read by :func:`~gtvlib.data.dicom.patient.load_patient`). ``patient_folder``:
        patient id → its folder, where ids are pseudonyms (default: ``<cohort>/<id>``).
        """
        from gtvlib.data.dicom.patient import load_patient

        load_volume = load_volume or (lambda pid: load_patient(self.cohort / pid, structures=self.spec.structures,
                                                               required=self.spec.labels))
        self.folder.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(self.folder)
        write_json_atomic(self.folder / "spec.json", {"spec": asdict(self.spec), "cohort": str(self.cohort),
                                                      "version": CACHE_VERSION})
        counts, listed = {}, listed_digests(self.cohort)
        for pid in patient_ids:
            image_path, label_path, grid_path = self._paths(pid)
            fingerprint = source_fingerprint(self.cohort, pid, patient_folder(pid) if patient_folder else None, listed)
            if image_path.is_file() and json.loads(grid_path.read_text()).get("source") != fingerprint:
                image_path.unlink()  # the patient's files changed since they were cached: decode them again
                self._grids.pop(pid, None)
            if not image_path.is_file():
                volume = load_volume(pid)
                images, labels = slices_of_volume(volume, self.spec)
                write_json_atomic(grid_path, {"spacing_mm": list(self.spec.grid_spacing_mm(volume)),
                                              "slices": int(labels.shape[0]), "source": fingerprint,
                                              "image_px": list(volume.shape[1:]),
                                              "pixel_mm": [float(v) for v in volume.spacing_mm[1:]]})
                with atomic_path(label_path) as tmp:  # labels and grid first: images mark completion
                    with tmp.open("wb") as handle:
                        np.save(handle, labels)
                with atomic_path(image_path) as tmp:
                    with tmp.open("wb") as handle:
                        np.save(handle, images)
            counts[pid] = int(np.load(label_path, mmap_mode="r").shape[0])
        return counts

    def load(self, patient_id: str) -> tuple[np.ndarray, np.ndarray]:
        """Memory-mapped (images, labels) of one patient: float16 (z, H, W) in [0, 1] and uint8 (z, H, W)."""
        image_path, label_path, _ = self._paths(patient_id)
        if not image_path.is_file():
            raise GtvError(f"{image_path}: patient {patient_id} is not cached; call build() first")
        return np.load(image_path, mmap_mode="r"), np.load(label_path, mmap_mode="r")

    def slices(self, pairs: list[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Images float32 (N, H, W) in [0, 1] and labels bool (N, H, W) of (patient, slice) ``pairs``, in
        their order; each patient's files are opened once."""
        opened = {pid: self.load(pid) for pid in dict.fromkeys(pid for pid, _ in pairs)}
        images = np.stack([np.asarray(opened[pid][0][k], dtype=np.float32) for pid, k in pairs])
        labels = np.stack([np.asarray(opened[pid][1][k], dtype=bool) for pid, k in pairs])
        return images, labels

    def _grid(self, patient_id: str) -> dict:
        if patient_id not in self._grids:
            grid_path = self._paths(patient_id)[2]
            if not grid_path.is_file():
                raise GtvError(f"{grid_path}: patient {patient_id} is not cached; call build() first")
            self._grids[patient_id] = json.loads(grid_path.read_text())
        return self._grids[patient_id]

    def spacing_mm(self, patient_id: str) -> tuple[float, float, float]:
        """(dz, dy, dx) in mm of one patient's cached grid (after crop and resize)."""
        return tuple(float(s) for s in self._grid(patient_id)["spacing_mm"])

    def source_geometry(self, patient_ids: list[str]) -> dict:
        """The whole images the cached slices were cut from, over ``patient_ids``: ``image_px`` (rows,
        columns; the most common matrix) and ``pixel_mm`` (dy, dx; the median pixel size). A trained model
        records it, so that its grid can be laid on a new scan (:mod:`gtvlib.segment`)."""
        grids = [self._grid(pid) for pid in patient_ids]
        shapes = [tuple(g["image_px"]) for g in grids]
        return {"image_px": list(max(set(shapes), key=shapes.count)),
                "pixel_mm": [float(np.median([g["pixel_mm"][axis] for g in grids])) for axis in (0, 1)]}

    def has_tumour(self, patient_id: str) -> np.ndarray:
        """Bool per slice of one patient: does its label hold any tumour pixel?"""
        labels = self.load(patient_id)[1]
        return np.asarray(labels.reshape(labels.shape[0], -1).max(axis=1) > 0)

    def index(self, patient_ids: list[str], strategy: str = "thetan", seed: int = 0) -> list[tuple[str, int]]:
        """(patient, slice) pairs after balance sampling per patient (seeded by ``seed`` and position);
        ``"theta0"`` gives every tumour slice and nothing else."""
        pairs = []
        for offset, pid in enumerate(patient_ids):
            pairs += [(pid, int(k)) for k in balance_sample(self.has_tumour(pid), strategy, seed + offset)]
        return pairs

    def labels(self, patient_ids: list[str]) -> list[np.ndarray]:
        """The label volumes (z, H, W) bool of the given patients, in memory."""
        return [np.asarray(self.load(pid)[1], dtype=bool) for pid in patient_ids]


def label_frequency(cache: SliceCache, patient_ids: list[str]) -> np.ndarray:
    """(H, W) count of slices in which each pixel is tumour, over the given patients' cached labels."""
    total = None
    for pid in patient_ids:
        _, labels = cache.load(pid)
        counts = np.asarray(labels, dtype=np.int32).sum(axis=0)
        total = counts if total is None else total + counts
    return total
