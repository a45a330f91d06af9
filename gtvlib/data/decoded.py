"""Decoded volumes: each patient's DICOM (or NIfTI) is read once and kept as arrays that every chapter reuses.

Decoding a patient (reading every CT slice, rasterising every RTSTRUCT contour) is the slow part of a cold
cache. A chapter used to decode a patient up to three times (the cohort table, the whole-image slice cache,
the cropped slice cache), and the next chapter again for its own crop. :class:`DecodedVolumes` keeps, under
``<cache>/volumes/<key>/`` (the key: the cohort's folder and how it is read):

* ``<id>.volume.json`` and ``<id>.hu.npy``: the CT grid (spacing, origin, slice positions) and HU as int16
  when the scanner's values are whole numbers (float32 otherwise);
* ``<id>.<structures>.json`` and ``<id>.<structures>.masks.npz``: the masks read from the RTSTRUCT, the SEG
  or the NIfTI label, bit-packed and compressed (a patient's 20-odd structures are mostly empty voxels).

Each part records the fingerprint of the patient's source files (:func:`~gtvlib.util.checksums.source_fingerprint`);
an edited RTSTRUCT or a regenerated cohort is decoded again. JSON first, arrays last, each written atomically:
the array file marks a complete part. Only de-identified facts are kept (no UIDs, no file paths, no names: a
pseudonymised cohort's cache names the pseudonym), so the cache carries nothing that identifies a patient.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from gtvlib.data.volume import Volume
from gtvlib.util.atomic import atomic_path, remove_stale_partials, write_json_atomic
from gtvlib.util.checksums import settings_key

DECODED_VERSION = 1
# Facts of a volume's metadata that identify nobody; the rest (UIDs, source paths) stays out of the cache.
KEPT_METADATA = ("modality", "patient_position", "manufacturer", "slice_thickness_mm", "format")


class DecodedVolumes:
    """The decoded-volume cache of one cohort.

    ``settings``: what decides how the cohort's files are read (its folder, dataset and ROI map), hashed into
    the folder name. ``get`` returns a cached :class:`Volume` or None; ``put`` stores a decoded one and returns
    it as the cache gives it back (metadata restricted to :data:`KEPT_METADATA` and the patient's id), so a
    first and a later load return the same thing.
    """

    def __init__(self, settings: dict, cache_dir: str | os.PathLike | None = None):
        from gtvlib.util.paths import cache_dir as default_cache

        self.folder = Path(cache_dir or default_cache()) / "volumes" / settings_key({**settings, "version": DECODED_VERSION})
        self._cleaned = False

    def _paths(self, patient_id: str, structures: str) -> tuple[Path, Path, Path, Path]:
        stem = self.folder / patient_id
        return (Path(f"{stem}.volume.json"), Path(f"{stem}.hu.npy"),
                Path(f"{stem}.{structures}.json"), Path(f"{stem}.{structures}.masks.npz"))

    @staticmethod
    def _current(json_path: Path, array_path: Path, fingerprint: str) -> dict | None:
        if not array_path.is_file() or not json_path.is_file():
            return None
        facts = json.loads(json_path.read_text())
        return facts if facts.get("source") == fingerprint else None

    def get(self, patient_id: str, structures: str, fingerprint: str) -> Volume | None:
        """The cached volume of ``patient_id`` with ``structures``' masks, or None (absent or out of date)."""
        if not fingerprint:
            return None
        grid_json, hu_path, masks_json, masks_path = self._paths(patient_id, structures)
        grid = self._current(grid_json, hu_path, fingerprint)
        masks = self._current(masks_json, masks_path, fingerprint)
        if grid is None or masks is None:
            return None
        hu = np.load(hu_path).astype(np.float32)
        shape = hu.shape
        with np.load(masks_path) as packed:
            decoded = {name: np.unpackbits(packed[f"mask{k}"], axis=-1, count=shape[-1]).astype(bool).reshape(shape)
                       for k, name in enumerate(masks["names"])}
        return Volume(hu=hu, spacing_mm=tuple(grid["spacing_mm"]), origin_xyz_mm=tuple(grid["origin_xyz_mm"]),
                      slice_positions_mm=np.asarray(grid["slice_positions_mm"], dtype=float), masks=decoded,
                      metadata=dict(grid["metadata"]))

    def put(self, patient_id: str, structures: str, fingerprint: str, volume: Volume) -> Volume:
        """Store ``volume`` (decoded from files whose fingerprint is ``fingerprint``); return it as cached."""
        metadata = {key: volume.metadata[key] for key in KEPT_METADATA if key in volume.metadata}
        metadata.update(patient_folder=patient_id, source=f"<patient {patient_id}>")
        cached = Volume(hu=volume.hu, spacing_mm=tuple(float(s) for s in volume.spacing_mm),
                        origin_xyz_mm=tuple(float(v) for v in volume.origin_xyz_mm),
                        slice_positions_mm=np.asarray(volume.slice_positions_mm, dtype=float),
                        masks=dict(volume.masks), metadata=metadata)
        if not fingerprint:
            return cached
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self._cleaned:
            remove_stale_partials(self.folder)
            self._cleaned = True
        grid_json, hu_path, masks_json, masks_path = self._paths(patient_id, structures)
        if self._current(grid_json, hu_path, fingerprint) is None:
            hu_path.unlink(missing_ok=True)  # the array marks completion: drop an out-of-date one first
            write_json_atomic(grid_json, {"source": fingerprint, "spacing_mm": list(cached.spacing_mm),
                                          "origin_xyz_mm": list(cached.origin_xyz_mm),
                                          "slice_positions_mm": cached.slice_positions_mm.tolist(), "metadata": metadata})
            whole = np.array_equal(volume.hu, np.round(volume.hu)) and np.all(np.abs(volume.hu) < 32768)
            with atomic_path(hu_path) as tmp, tmp.open("wb") as handle:
                np.save(handle, volume.hu.astype(np.int16 if whole else np.float32))
        masks_path.unlink(missing_ok=True)
        names = list(volume.masks)
        write_json_atomic(masks_json, {"source": fingerprint, "names": names})
        with atomic_path(masks_path) as tmp, tmp.open("wb") as handle:
            np.savez_compressed(handle, **{f"mask{k}": np.packbits(volume.masks[name], axis=-1)
                                           for k, name in enumerate(names)})
        return cached
