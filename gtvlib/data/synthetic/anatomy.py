"""The phantom's anatomy: tissue HU, the thorax's organs as signed-distance shapes, and the lymph-node
stations anchored to landmarks.

Coordinates are DICOM patient coordinates (LPS, mm) with the carina at z = 0. The realism targets (HU per
tissue, noise, organ geometry) are those of the project's DATA.md; :func:`sample_anatomy` draws one
patient's parameters and :func:`build_anatomy` turns them into shapes. Rendering them into HU:
:mod:`gtvlib.data.synthetic.render`.
"""

from __future__ import annotations

import numpy as np

from gtvlib.data.synthetic.shapes import (
    Shape,
    ellipsoid,
    elliptic_cylinder,
    extruded_segment,
    half_space,
    height_field,
    tube,
    union,
)

# Mean HU per tissue (DATA.md). Blood and solid tumour are per patient (contrast enhancement).
HU = {
    "air": -1000.0, "lung": -850.0, "fat": -100.0, "muscle": 50.0, "soft": 40.0, "liver": 55.0,
    "cancellous": 280.0, "cortical": 900.0, "rib": 750.0, "cartilage": 120.0, "disc": 80.0,
    "csf_cord": 30.0, "couch": 150.0, "couch_core": -900.0,
}


# Lymph-node stations (IASLC map, simplified to ellipsoids anchored to the landmarks; centres and
# semi-axes in mm, z relative to the landmark named).
STATIONS = {
    "1R": ((-22, -5), ("lung_apex", 5), (18, 18, 14)),
    "1L": ((22, -5), ("lung_apex", 5), (18, 18, 14)),
    "2R": ((-16, 0), ("aortic_arch_top", 28), (12, 14, 22)),
    "2L": ((14, 2), ("aortic_arch_top", 26), (10, 12, 20)),
    "3A": ((0, -48), ("aortic_arch_top", 5), (28, 10, 30)),
    "3P": ((0, 18), ("aortic_arch_top", 20), (10, 6, 35)),
    "4R": ((-18, -2), ("azygos_arch", 15), (11, 13, 16)),
    "4L": ((14, 6), ("left_pa_top", 18), (9, 11, 16)),
    "5": ((32, -6), ("left_pa_top", 10), (11, 11, 11)),
    "6": ((36, -32), ("aortic_arch_top", -5), (10, 14, 16)),
    "7": ((0, 16), ("carina", -22), (18, 14, 18)),
    "8": ((8, 30), ("carina", -75), (12, 10, 35)),
    "10R": ((-48, 8), ("carina", -18), (12, 12, 15)),
    "10L": ((48, 8), ("carina", -24), (12, 12, 15)),
    "11R": ((-66, 14), ("carina", -48), (12, 12, 12)),
    "11L": ((66, 14), ("carina", -54), (12, 12, 12)),
}


def sample_anatomy(rng: np.random.Generator) -> dict:
    """One patient's anatomical parameters (mm, HU), JSON-serialisable."""
    contrast = bool(rng.random() < 0.5)
    return {
        "body_half_width_mm": float(rng.uniform(150, 185)),
        "body_half_depth_mm": float(rng.uniform(100, 125)),
        "fat_mm": float(rng.uniform(8, 22)),
        "muscle_mm": float(rng.uniform(8, 14)),
        "lung_apex_z_mm": float(rng.uniform(95, 115)),
        "dome_right_z_mm": float(rng.uniform(-150, -120)),
        "dome_left_offset_mm": float(rng.uniform(10, 25)),
        "contrast_enhanced": contrast,
        "blood_hu": float(rng.uniform(120, 180) if contrast else rng.uniform(35, 45)),
        "lung_anterior_hu": float(rng.uniform(-900, -870)),
        "lung_posterior_hu": float(rng.uniform(-830, -790)),
        "noise_sd_hu": float(rng.uniform(13, 17)),
        "vessel_seed": int(rng.integers(0, 2**31 - 1)),
    }


def build_anatomy(p: dict) -> dict:
    """The anatomy's shapes and landmarks from ``sample_anatomy`` parameters."""
    a0, b0 = p["body_half_width_mm"], p["body_half_depth_mm"]
    apex, dome_r = p["lung_apex_z_mm"], p["dome_right_z_mm"]
    dome_l = dome_r - p["dome_left_offset_mm"]
    z_lo, z_hi = -600.0, 400.0
    fat, wall = p["fat_mm"], p["fat_mm"] + p["muscle_mm"]

    def body_radii(z):
        neck = 1.0 - 0.35 * np.clip((z - (apex - 10)) / 60.0, 0.0, 1.0)  # narrower towards the neck
        return a0 * neck, b0 * (0.92 + 0.08 * neck)

    def inset(offset):
        return lambda z: tuple(np.maximum(r - offset, 5.0) for r in body_radii(z))

    def dome(z_top, side):
        """Diaphragm dome under one lung: a paraboloid peaking at z_top (mm)."""
        return lambda x, y: z_top - 45.0 * (((x - side * 0.45 * a0) / (0.45 * a0)) ** 2 + (y / b0) ** 2)

    body = elliptic_cylinder((0, 0), body_radii, (z_lo, z_hi), (a0, b0))
    muscle = elliptic_cylinder((0, 0), inset(fat), (z_lo, z_hi), (a0, b0))
    cavity = elliptic_cylinder((0, 0), inset(wall + 6), (z_lo, apex + 20), (a0, b0))
    mediastinum_half_width = 0.22 * a0
    lungs = {}
    for name, side, z_dome in (("Lung-Right", -1, dome_r), ("Lung-Left", 1, dome_l)):
        def lung_radii(z):
            taper = np.sqrt(np.clip((apex - z) / 55.0, 0.02, 1.0))  # rounded apex
            return 0.36 * a0 * taper, 0.74 * b0 * taper

        lung = elliptic_cylinder((side * 0.5 * a0, 0.06 * b0), lung_radii, (z_dome - 60, apex), (0.36 * a0, 0.74 * b0))
        lungs[name] = lung & cavity & half_space((-side, 0, 0), -mediastinum_half_width) & height_field(dome(z_dome, side), above=True)

    y_vertebra = b0 - 58.0
    y_canal = y_vertebra + 26.0
    spine_axis = [(0, y_canal, z_lo), (0, y_canal, z_hi)]
    heart = ellipsoid((25.0, -0.30 * b0, -95.0), (0.36 * a0, 0.40 * b0, 55.0)) & height_field(dome(dome_l + 5, 1), above=True)
    y_aorta = y_vertebra - 8.0
    svc_xy = (-25.0, -0.18 * b0)
    airway = [((0, 4, z_hi), (0, 4, 0), 9.0), ((0, 4, 0), (-45, 10, -22), 7.0), ((0, 4, 0), (45, 10, -28), 6.0)]
    couch_y = b0 + 22.0
    shapes = {
        "body": body,
        "muscle": muscle,
        "cavity": cavity,
        "vertebra": elliptic_cylinder((0, y_vertebra), lambda z: (17.0, 15.0), (z_lo, z_hi), (17, 15)),
        "neural_arch": tube(spine_axis, 14.0),
        "canal": tube(spine_axis, 9.0),
        "cord": tube(spine_axis, 5.0),
        "spinous": extruded_segment((0, y_canal + 10), (0, b0 - fat - 6), 4.0, (z_lo, z_hi)),
        "heart": heart,
        "aorta": tube([(8, -0.28 * b0, -60), (8, -0.24 * b0, 25), (14, -0.05 * b0, 38), (22, y_aorta, 30),
                       (24, y_aorta, -100), (18, y_aorta - 10, z_lo)], [15, 15, 13, 12, 12, 11]),
        "pulmonary": (tube([(15, -0.33 * b0, -50), (12, -12, -10), (48, 8, -12)], [13, 12, 10])
                      | tube([(12, -12, -10), (-50, 4, -20)], 10.0)),
        "svc": tube([(*svc_xy, z_hi), (*svc_xy, -45)], 9.0),
        "azygos": tube([(-10, y_vertebra - 10, 0), (-14, y_vertebra - 8, 12), (-22, -5, 16), (*svc_xy, 14)], 5.0),
        "airway_wall": union([tube([a, b], r + 2.0) for a, b, r in airway]),
        "airway_air": union([tube([a, b], r) for a, b, r in airway]),
        "esophagus": tube([(6, y_vertebra - 28, z_hi), (8, y_vertebra - 26, -60), (14, y_vertebra - 30, z_lo)], 8.0),
        "esophagus_air": tube([(6, y_vertebra - 28, z_hi), (8, y_vertebra - 26, -60)], 2.0),
        "sternum": elliptic_cylinder((0, -b0 + fat + 8), lambda z: (14.0, 6.0), (-110, 55), (14, 6)),
        "liver": cavity & height_field(dome(dome_r, -1), above=False) & half_space((1, 0, 0), 45.0),
        "stomach": cavity & height_field(dome(dome_l, 1), above=False) & half_space((-1, 0, 0), -40.0),
        "couch": extruded_segment((-235, couch_y), (235, couch_y), 9.0, (z_lo, z_hi)),
        "couch_core": extruded_segment((-232, couch_y), (232, couch_y), 6.0, (z_lo, z_hi)),
        "rib_radii": inset(fat + 0.5 * p["muscle_mm"] + 3.0),
        "rib_z_range": (dome_r - 40.0, apex + 5.0),
        "landmarks": {"carina": 0.0, "lung_apex": apex, "aortic_arch_top": 45.0, "azygos_arch": 14.0,
                      "left_pa_top": -4.0, "dome_right": dome_r, "dome_left": dome_l},
        "y_vertebra": y_vertebra,
        "mediastinum_half_width": mediastinum_half_width,
    }
    # The lungs wrap around the mediastinal organs; carve those out (the heart indents the left lung).
    organs = union([shapes[name] for name in ("heart", "aorta", "pulmonary", "svc", "airway_wall", "esophagus", "vertebra")])
    shapes["lungs"] = {name: lung - organs for name, lung in lungs.items()}
    return shapes


def station_centres(landmarks: dict) -> dict[str, np.ndarray]:
    """Centre (x, y, z mm) of each lymph-node station from the landmarks."""
    return {name: np.array([x, y, landmarks[mark] + dz], dtype=float)
            for name, ((x, y), (mark, dz), _) in STATIONS.items()}


def station_shapes(landmarks: dict, organs: Shape, lungs: Shape) -> dict[str, Shape]:
    """Station ROIs: ellipsoids at the anchored centres, minus the organs they cannot contain.

    Mediastinal stations (1–9) also exclude the lungs; hilar and interlobar ones (10, 11) lie at the
    lung root and keep their overlap with it.
    """
    centres = station_centres(landmarks)
    shapes = {}
    for name, (_, _, radii) in STATIONS.items():
        hilar = name.startswith(("10", "11"))
        shapes[f"LN-{name}"] = ellipsoid(centres[name], radii) - (organs if hilar else organs | lungs)
    return shapes


def rib_cage(anatomy: dict) -> Shape:
    """Ribs: a bony ring inside the chest wall, cut into inclined bands along z, open anteriorly."""
    radii, (z_low, z_high) = anatomy["rib_radii"], anatomy["rib_z_range"]
    period, half_width, half_thickness = 26.0, 5.0, 4.0

    def sd(x, y, z):
        a, b = radii(z)
        f = np.sqrt((x / a) ** 2 + (y / b) ** 2)
        ring = np.abs((f - 1.0) * np.minimum(a, b)) - half_thickness
        angle = np.arctan2(y, x)
        phase = np.mod(z + 16.0 * np.sin(angle) + 1000.0, period) - period / 2
        band = np.abs(phase) - half_width
        anterior_gap = 0.35 - np.abs(np.angle(np.exp(1j * (angle + np.pi / 2))))  # > 0 near the sternum
        out = np.maximum(np.maximum(ring, band), anterior_gap * 40.0)
        return np.maximum(out, np.maximum(z_low - z, z - z_high))

    a_max, b_max = radii(np.array(-1000.0))
    return Shape(sd, np.array([-a_max - 10, -b_max - 10, z_low]), np.array([a_max + 10, b_max + 10, z_high]))


def vessel_tree(rng: np.random.Generator, hilum, side: float, generations: int = 3) -> list[tuple]:
    """Branching pulmonary vessels from a hilum: a list of (start, end, radius start, radius end)."""
    segments = []
    stack = [(np.asarray(hilum, float), np.array([side, 0.1, 0.0]), 5.0, 0)]
    while stack:
        start, direction, radius, level = stack.pop()
        for _ in range(2 if level else 3):
            turn = rng.normal(0, 0.6, 3)
            turn[2] *= 1.8  # vessels fan out up and down
            new_direction = direction + turn
            new_direction /= np.linalg.norm(new_direction)
            end = start + new_direction * rng.uniform(28, 45)
            end_radius = max(radius * 0.62, 1.0)
            segments.append((start.tolist(), end.tolist(), radius, end_radius))
            if level + 1 < generations:
                stack.append((end, new_direction, end_radius, level + 1))
    return segments


def forbidden_organs(anatomy: dict) -> Shape:
    """Organs a GTV cannot occupy: heart, great vessels, airway, oesophagus, vertebra and canal."""
    out = anatomy["heart"]
    for name in ("aorta", "pulmonary", "svc", "airway_wall", "esophagus", "vertebra", "neural_arch"):
        out = out | anatomy[name]
    return out


def ellipsoid_like_inset(shape: Shape, inset_mm: float) -> Shape:
    """The shape shrunk by ``inset_mm`` (valid for the approximately Euclidean signed distances here)."""
    return Shape(lambda x, y, z: shape.sd(x, y, z) + inset_mm, shape.low, shape.high)


def intervertebral_discs(vertebra: Shape, period_mm: float = 30.0, half_height_mm: float = 3.0) -> Shape:
    """Intervertebral discs: thin bands of the vertebral body every ``period_mm`` along z."""
    def sd(x, y, z):
        phase = np.abs(np.mod(z + 1000.0, period_mm) - period_mm / 2) - half_height_mm
        return np.maximum(vertebra.sd(x, y, z) + 1.0, phase)
    return Shape(sd, vertebra.low, vertebra.high)
