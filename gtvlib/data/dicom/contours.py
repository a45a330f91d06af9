"""Polygons and masks on one image plane, in (row, column) pixel coordinates: the rasterisation convention
and its inverse.

The rasterisation convention (it decides small-tumour metrics, so it is fixed and written down):

* A pixel belongs to a contour when its **centre** lies inside the polygon. Centres exactly on an
  edge follow the top-left rule: on a left or top edge they are inside, on a right or bottom edge
  outside (rows grow downwards, columns to the right), so two polygons sharing an edge never both
  claim a centre on it.
* All contours of one ROI on one plane combine **even–odd** (XOR): an inner contour is a hole, whatever
  its winding direction.

The inverse (:func:`contours_from_field`, :func:`contours_from_mask`) draws contours that this rule
rasterises back to exactly the sampled set.
"""

from __future__ import annotations

import numpy as np


def rasterise_polygons(polygons_rc: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Even–odd fill of polygons given in (row, column) pixel coordinates; bool (rows, columns).

    Pixel (i, j) has its centre at (i, j). Crossings of each row's centre line with the edges toggle a
    parity that a cumulative sum carries to the right (top-left rule for centres on edges).
    """
    rows, columns = shape
    toggles = np.zeros((rows, columns + 1), dtype=np.int32)
    edges = [(polygon[:, 0], polygon[:, 1], np.roll(polygon[:, 0], -1), np.roll(polygon[:, 1], -1))
             for polygon in (np.asarray(p, dtype=np.float64) for p in polygons_rc) if len(polygon)]
    if not edges:
        return np.zeros(shape, dtype=bool)
    r0, c0, r1, c1 = (np.concatenate(part) for part in zip(*edges))
    top, bottom = np.minimum(r0, r1), np.maximum(r0, r1)
    first = np.maximum(np.ceil(top), 0).astype(np.int64)  # row centres crossed: half-open [top, bottom)
    last = np.minimum(np.ceil(bottom).astype(np.int64) - 1, rows - 1)
    crossing_edges = np.nonzero((bottom > top) & (first <= last))[0]  # horizontal edges cross no centre line
    counts = last[crossing_edges] - first[crossing_edges] + 1
    edge = np.repeat(crossing_edges, counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    row_centres = (first[edge] + np.arange(edge.size) - starts).astype(np.float64)
    crossing = c0[edge] + (row_centres - r0[edge]) * (c1[edge] - c0[edge]) / (r1[edge] - r0[edge])
    column = np.clip(np.ceil(crossing), 0, columns).astype(np.int64)
    np.add.at(toggles, (row_centres.astype(np.int64), column), 1)
    return (np.cumsum(toggles, axis=1)[:, :columns] % 2).astype(bool)


def coverage_fraction(polygons_rc: list[np.ndarray], shape: tuple[int, int], factor: int = 8) -> np.ndarray:
    """Fraction (0–1) of each pixel's area inside the polygons (even–odd), from ``factor``² sub-pixels.

    Used to compare rasterisation conventions: centre rule (ours), area ≥ 50 %, any overlap, fully inside.
    """
    rows, columns = shape
    fine = [(np.asarray(p, dtype=float) + 0.5) * factor - 0.5 for p in polygons_rc]
    mask = rasterise_polygons(fine, (rows * factor, columns * factor))
    return mask.reshape(rows, factor, columns, factor).mean(axis=(1, 3))


def contours_from_field(signed_distance: np.ndarray) -> list[np.ndarray]:
    """Closed level-0 contours of a 2-D field sampled at pixel centres, as (n, 2) (row, column) arrays.

    The field is padded with positive values so that every contour closes; contours of a field that is
    negative inside run between inside and outside pixel centres, so the pixel-centre rule recovers
    the sampled set.
    """
    import contourpy

    padded = np.pad(np.asarray(signed_distance, dtype=np.float64), 1, constant_values=1.0)
    generator = contourpy.contour_generator(z=padded, line_type=contourpy.LineType.Separate)
    polygons = []
    for line in generator.lines(0.0):
        points = np.asarray(line)[:, ::-1] - 1.0  # (x=column, y=row) → (row, column), undo the padding
        if len(points) > 1 and np.allclose(points[0], points[-1]):
            points = points[:-1]
        if len(points) >= 3:
            polygons.append(points)
    return polygons


def contours_from_mask(mask: np.ndarray) -> list[np.ndarray]:
    """Contours of a binary 2-D mask that rasterise back to exactly the mask.

    The contour runs a quarter pixel outside the centres of the mask's boundary pixels (level 0 of
    ``0.75 − mask``, interpolated between pixel centres), so every reader's convention gives the mask back:
    the pixel-centre rule (ours; dicompyler-core's and most planning systems' point-in-polygon) finds the
    boundary centres inside and their outer neighbours, ¾ pixel away, outside; readers that round vertices to
    whole pixels and fill including the outline (rt-utils with OpenCV) round it onto the boundary centres.
    Diagonal neighbours stay separate contours (the saddle resolves to "outside").
    """
    return contours_from_field(0.75 - mask.astype(np.float64))
