"""Ground truth of the synthetic cohort: exact masks on disk, and the contours of a shape on the slice planes.

``ground_truth.npz`` holds every mask (z, y, x) bit-packed in a deflated zip with fixed timestamps, so the
file is byte-identical for the same cohort. RTSTRUCT contours are taken from the continuous shapes
(:func:`roi_planes`), so rasterising them by the pixel-centre rule returns the sampled masks.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from gtvlib.data.dicom.contours import contours_from_field
from gtvlib.data.synthetic.render import Grid
from gtvlib.data.synthetic.shapes import Shape


def save_masks(path: Path, masks: dict[str, np.ndarray]) -> None:
    """Masks (z, y, x) bit-packed in a deflated zip of .npy arrays, with fixed timestamps (reproducible)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, mask in masks.items():
            buffer = io.BytesIO()
            np.save(buffer, np.packbits(mask, axis=-1))
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())
        shape_info = zipfile.ZipInfo("shape.json", date_time=(1980, 1, 1, 0, 0, 0))
        archive.writestr(shape_info, json.dumps(list(next(iter(masks.values())).shape)))


def load_masks(path: Path) -> dict[str, np.ndarray]:
    """Read :func:`save_masks` output: bool (z, y, x) per name."""
    with zipfile.ZipFile(path) as archive:
        shape = json.loads(archive.read("shape.json"))
        return {name[:-4]: np.unpackbits(np.load(io.BytesIO(archive.read(name))), axis=-1, count=shape[2]).astype(bool)
                for name in archive.namelist() if name.endswith(".npy")}


def roi_planes(shape: Shape, grid: Grid) -> dict[int, list[np.ndarray]]:
    """Contours of a shape at every slice-centre plane it crosses: {slice index: [(row, col) polygons]}."""
    x, y, z = grid.axis_mm("x"), grid.axis_mm("y"), grid.axis_mm("z")
    pad = max(grid.spacing_mm[1:])
    ys = slice(max(int(np.searchsorted(y, shape.low[1] - pad)), 0), min(int(np.searchsorted(y, shape.high[1] + pad, "right")), len(y)))
    xs = slice(max(int(np.searchsorted(x, shape.low[0] - pad)), 0), min(int(np.searchsorted(x, shape.high[0] + pad, "right")), len(x)))
    planes = {}
    if ys.start >= ys.stop or xs.start >= xs.stop:
        return planes
    for k in np.nonzero((z >= shape.low[2] - 1e-6) & (z <= shape.high[2] + 1e-6))[0]:
        sd = shape.sd(x[xs][None, :], y[ys][:, None], np.array(z[k]))
        if not np.any(sd < 0):
            continue
        polygons = contours_from_field(sd)
        if polygons:
            planes[int(k)] = [poly + np.array([ys.start, xs.start]) for poly in polygons]
    return planes
