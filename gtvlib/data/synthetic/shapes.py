"""Signed-distance shapes in patient coordinates (mm, DICOM LPS: x → left, y → posterior, z → superior).

A shape is a function ``sd(x, y, z) -> array`` of approximate signed distance in mm (negative inside),
evaluated on broadcast coordinate arrays. Shapes combine with ``min`` (union), ``max`` (intersection)
and ``max(a, -b)`` (difference). Each shape also carries a bounding box so that a renderer evaluates
it only where it can be non-empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Box = tuple[np.ndarray, np.ndarray]  # (low xyz, high xyz) in mm


@dataclass
class Shape:
    """A signed-distance function (mm) with the box (mm, xyz) outside which it is surely positive."""

    sd: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    low: np.ndarray
    high: np.ndarray

    def __and__(self, other: "Shape") -> "Shape":
        return Shape(lambda x, y, z: np.maximum(self.sd(x, y, z), other.sd(x, y, z)),
                     np.maximum(self.low, other.low), np.minimum(self.high, other.high))

    def __or__(self, other: "Shape") -> "Shape":
        return Shape(lambda x, y, z: np.minimum(self.sd(x, y, z), other.sd(x, y, z)),
                     np.minimum(self.low, other.low), np.maximum(self.high, other.high))

    def __sub__(self, other: "Shape") -> "Shape":
        return Shape(lambda x, y, z: np.maximum(self.sd(x, y, z), -other.sd(x, y, z)), self.low, self.high)


def _vec(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def ellipsoid(centre, radii) -> Shape:
    """Ellipsoid with semi-axes ``radii`` (mm); first-order signed distance, exact for spheres."""
    c, r = _vec(centre), _vec(radii)

    def sd(x, y, z):
        u, v, w = (x - c[0]) / r[0], (y - c[1]) / r[1], (z - c[2]) / r[2]
        f = np.sqrt(u * u + v * v + w * w)
        gradient = np.sqrt((u / r[0]) ** 2 + (v / r[1]) ** 2 + (w / r[2]) ** 2)
        return np.where(gradient > 1e-9, f * (f - 1.0) / np.maximum(gradient, 1e-9), -r.min())

    return Shape(sd, c - r, c + r)


def elliptic_cylinder(centre_xy, radii_xy: Callable[[np.ndarray], tuple], z_range, max_radii_xy) -> Shape:
    """Axial elliptic cylinder whose semi-axes vary with z: ``radii_xy(z) -> (a, b)`` in mm."""
    cx, cy = centre_xy

    def sd(x, y, z):
        a, b = radii_xy(z)
        u, v = (x - cx) / a, (y - cy) / b
        f = np.sqrt(u * u + v * v)
        gradient = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        radial = np.where(gradient > 1e-9, f * (f - 1.0) / np.maximum(gradient, 1e-9), -np.minimum(a, b))
        return np.maximum(radial, np.maximum(z_range[0] - z, z - z_range[1]))

    ax, by = max_radii_xy
    return Shape(sd, _vec([cx - ax, cy - by, z_range[0]]), _vec([cx + ax, cy + by, z_range[1]]))


def half_space(normal, offset: float) -> Shape:
    """Points with ``normal · p <= offset`` (normal is normalised here)."""
    n = _vec(normal) / np.linalg.norm(normal)
    big = 1e6
    return Shape(lambda x, y, z: n[0] * x + n[1] * y + n[2] * z - offset, _vec([-big] * 3), _vec([big] * 3))


def tube(points, radius: float | list) -> Shape:
    """A tube along a polyline: the union of capsules; ``radius`` per point or constant (mm)."""
    pts = _vec(points)
    radii = np.broadcast_to(_vec(radius), (len(pts),))

    def sd(x, y, z):
        best = None
        for i in range(len(pts) - 1):
            a, b = pts[i], pts[i + 1]
            ab = b - a
            length2 = float(ab @ ab) or 1e-9
            t = np.clip(((x - a[0]) * ab[0] + (y - a[1]) * ab[1] + (z - a[2]) * ab[2]) / length2, 0.0, 1.0)
            dx, dy, dz = x - (a[0] + t * ab[0]), y - (a[1] + t * ab[1]), z - (a[2] + t * ab[2])
            r = radii[i] + t * (radii[i + 1] - radii[i])
            d = np.sqrt(dx * dx + dy * dy + dz * dz) - r
            best = d if best is None else np.minimum(best, d)
        return best

    r_max = float(radii.max())
    return Shape(sd, pts.min(axis=0) - r_max, pts.max(axis=0) + r_max)


def extruded_segment(a_xy, b_xy, radius: float, z_range) -> Shape:
    """A 2-D capsule (segment a→b in the axial plane, radius mm) extruded along z over ``z_range``."""
    a, b = _vec(a_xy), _vec(b_xy)
    ab = b - a
    length2 = float(ab @ ab) or 1e-9

    def sd(x, y, z):
        t = np.clip(((x - a[0]) * ab[0] + (y - a[1]) * ab[1]) / length2, 0.0, 1.0)
        radial = np.hypot(x - (a[0] + t * ab[0]), y - (a[1] + t * ab[1])) - radius
        return np.maximum(radial, np.maximum(z_range[0] - z, z - z_range[1]))

    low = np.minimum(a, b) - radius
    high = np.maximum(a, b) + radius
    return Shape(sd, _vec([low[0], low[1], z_range[0]]), _vec([high[0], high[1], z_range[1]]))


def height_field(surface: Callable[[np.ndarray, np.ndarray], np.ndarray], above: bool) -> Shape:
    """Points above (``above=True``) or below a surface ``z = surface(x, y)`` (mm); vertical distance."""
    big = _vec([1e6, 1e6, 1e6])
    sign = 1.0 if above else -1.0
    return Shape(lambda x, y, z: sign * (surface(x, y) - z), -big, big)


def union(shapes: list[Shape]) -> Shape:
    """The union of several shapes (their minimum signed distance)."""
    out = shapes[0]
    for shape in shapes[1:]:
        out = out | shape
    return out
