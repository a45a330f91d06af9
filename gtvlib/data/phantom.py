"""A chest-CT phantom: anatomy and tumours drawn from signed-distance shapes, with partial volume and
correlated noise, in Hounsfield units.

Coordinates are DICOM patient coordinates (LPS, mm) with the carina at z = 0; arrays are (z, y, x).
Each slice is rendered on ``supersample_z`` sub-planes and averaged (partial volume along z); in-plane,
edges are soft over one pixel. Ground-truth masks are the shapes at the slice-centre plane sampled at
pixel centres, which is also where the RTSTRUCT contours are taken from.

The realism targets (HU per tissue, noise, tumour size, location and texture) are those of the project's
DATA.md; ``sample_anatomy`` and ``sample_tumour`` draw one patient's parameters from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from gtvlib.data.tumour import tumour_shapes
from gtvlib.data.shapes import (
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


@dataclass(frozen=True)
class Grid:
    """The voxel grid: ``shape`` (z, y, x), ``spacing_mm`` (dz, dy, dx), ``origin_mm`` (x, y, z) of voxel 0."""

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]

    def axis_mm(self, axis: str) -> np.ndarray:
        """Pixel-centre coordinates (mm) along ``x``, ``y`` or ``z``."""
        index = {"x": 2, "y": 1, "z": 0}[axis]
        origin = self.origin_mm[{"x": 0, "y": 1, "z": 2}[axis]]
        return origin + np.arange(self.shape[index]) * self.spacing_mm[index]


class Renderer:
    """Paints shapes into an HU volume rendered on ``supersample_z`` sub-planes per slice."""

    def __init__(self, grid: Grid, supersample_z: int = 3, background_hu: float = HU["air"]):
        if supersample_z < 1 or supersample_z % 2 == 0:
            raise ValueError("supersample_z must be odd, so that the middle sub-plane is the slice centre")
        self.grid, self.s = grid, supersample_z
        nz, ny, nx = grid.shape
        dz = grid.spacing_mm[0]
        offsets = (np.arange(self.s) - (self.s - 1) / 2) * dz / self.s
        self.z_fine = (grid.axis_mm("z")[:, None] + offsets[None, :]).ravel()
        self.x, self.y = grid.axis_mm("x"), grid.axis_mm("y")
        self.edge_mm = min(grid.spacing_mm[1], grid.spacing_mm[2])
        self.hu = np.full((nz * self.s, ny, nx), background_hu, dtype=np.float32)

    def _window(self, shape: Shape):
        pad = self.edge_mm
        def span(coords, low, high):
            start = int(np.searchsorted(coords, low - pad, side="left"))
            stop = int(np.searchsorted(coords, high + pad, side="right"))
            return slice(max(start, 0), min(stop, len(coords)))
        return span(self.z_fine, shape.low[2], shape.high[2]), span(self.y, shape.low[1], shape.high[1]), span(self.x, shape.low[0], shape.high[0])

    def _coords(self, window):
        zs, ys, xs = window
        return self.x[xs][None, None, :], self.y[ys][None, :, None], self.z_fine[zs][:, None, None]

    def paint(self, shape: Shape, value, mask: bool = False):
        """Blend ``value`` (HU, or a function of x, y, z) into the volume with soft occupancy.

        Returns the ground-truth mask (z, y, x) at slice centres when ``mask`` is true.
        """
        window = self._window(shape)
        if any(w.start >= w.stop for w in window):
            return np.zeros(self.grid.shape, dtype=bool) if mask else None
        x, y, z = self._coords(window)
        sd = shape.sd(x, y, z).astype(np.float32)
        alpha = np.clip(0.5 - sd / self.edge_mm, 0.0, 1.0)
        target = self.hu[window]
        fill = value(x, y, z) if callable(value) else np.float32(value)
        self.hu[window] = target + alpha * (fill - target)
        return self._centre_mask(sd, window) if mask else None

    def mask(self, shape: Shape) -> np.ndarray:
        """Ground truth of a shape without painting it: sd < 0 at slice centres and pixel centres."""
        window = self._window(shape)
        if any(w.start >= w.stop for w in window):
            return np.zeros(self.grid.shape, dtype=bool)
        x, y, z = self._coords(window)
        return self._centre_mask(shape.sd(x, y, z), window)

    def _centre_mask(self, sd: np.ndarray, window) -> np.ndarray:
        out = np.zeros(self.grid.shape, dtype=bool)
        zs, ys, xs = window
        fine = np.arange(zs.start, zs.stop)
        centre = fine % self.s == self.s // 2
        out[fine[centre] // self.s, ys, xs] = sd[centre] < 0
        return out

    def volume(self) -> np.ndarray:
        """The rendered HU volume (z, y, x), float32, averaged over the sub-planes."""
        nz, ny, nx = self.grid.shape
        return self.hu.reshape(nz, self.s, ny, nx).mean(axis=1)


def correlated_noise(rng: np.random.Generator, shape, sigma_px: float, sd_hu: float) -> np.ndarray:
    """White noise smoothed in-plane with a Gaussian of ``sigma_px`` and rescaled to ``sd_hu``."""
    white = rng.standard_normal(shape).astype(np.float32)
    smooth = ndimage.gaussian_filter(white, sigma=(0, sigma_px, sigma_px))
    # The smoothing shrinks the SD by a known factor for a Gaussian kernel; renormalise exactly.
    return smooth * np.float32(sd_hu / smooth.std())


def smooth_texture(rng: np.random.Generator, shape, sigma_px: float, sd_hu: float) -> np.ndarray:
    """Smooth 3-D random texture (tissue heterogeneity), zero mean, ``sd_hu`` standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma=sigma_px)
    return field * np.float32(sd_hu / max(float(field.std()), 1e-6))


# --------------------------------------------------------------------------- anatomy

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


def _ribs(anatomy: dict) -> Shape:
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


def _vessel_tree(rng: np.random.Generator, hilum, side: float, generations: int = 3) -> list[tuple]:
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


def render_patient(anatomy_params: dict, grid: Grid, rng: np.random.Generator, tumour: dict | None,
                   node: dict | None, supersample_z: int = 3):
    """Render one patient. Returns ``(hu, masks, roi_shapes)``.

    ``hu``: float32 (z, y, x) in HU with partial volume, texture and correlated noise.
    ``masks``: bool (z, y, x) ground truth per canonical ROI name, plus ``Body`` and the tissue layers
    ``Fat-Layer`` and ``Muscle-Layer`` (for realism checks). ``roi_shapes``: the shape of each ROI,
    from which the RTSTRUCT contours are taken.
    """
    p = anatomy_params
    anatomy = build_anatomy(p)
    blood = p["blood_hu"]
    renderer = Renderer(grid, supersample_z)
    paint = renderer.paint
    paint(anatomy["couch"], HU["couch"])
    paint(anatomy["couch_core"], HU["couch_core"])
    masks = {"Body": paint(anatomy["body"], HU["fat"], mask=True)}
    muscle = paint(anatomy["muscle"], HU["muscle"], mask=True)
    ribs = paint(_ribs(anatomy), HU["rib"], mask=True)
    cavity = paint(anatomy["cavity"], HU["fat"] + 10, mask=True)
    # tissue layers, for realism checks (not ROIs, not written to the cohort)
    masks["Fat-Layer"] = masks["Body"] & ~muscle
    masks["Muscle-Layer"] = muscle & ~cavity & ~ribs
    y_front, y_back = -p["body_half_depth_mm"] * 0.7, p["body_half_depth_mm"] * 0.8

    def lung_hu(x, y, z):
        t = np.clip((y - y_front) / (y_back - y_front), 0, 1)  # denser posteriorly (gravity)
        return (p["lung_anterior_hu"] + t * (p["lung_posterior_hu"] - p["lung_anterior_hu"])).astype(np.float32)

    for name, lung in anatomy["lungs"].items():
        masks[name] = paint(lung, lung_hu, mask=True)
    paint(anatomy["liver"], HU["liver"] + (45.0 if p["contrast_enhanced"] else 0.0))
    paint(anatomy["stomach"], 35.0)
    masks["Heart"] = paint(anatomy["heart"], blood, mask=True)
    for vessel in ("aorta", "pulmonary", "svc", "azygos"):
        paint(anatomy[vessel], blood)
    masks["Esophagus"] = paint(anatomy["esophagus"], HU["soft"], mask=True)
    paint(anatomy["esophagus_air"], HU["air"])
    paint(anatomy["airway_wall"], HU["soft"])
    paint(anatomy["airway_air"], HU["air"])
    vertebra = anatomy["vertebra"]
    paint(vertebra, HU["cortical"])
    paint(ellipsoid_like_inset(vertebra, 2.0), HU["cancellous"])
    paint(_discs(vertebra), HU["disc"])
    paint(anatomy["neural_arch"] - anatomy["canal"], HU["cortical"] * 0.7)
    paint(anatomy["spinous"], HU["cortical"] * 0.7)
    paint(anatomy["canal"], 10.0)
    masks["Spinal-Cord"] = paint(anatomy["cord"], HU["csf_cord"], mask=True)
    paint(anatomy["sternum"], HU["cancellous"] + 150)
    vessel_rng = np.random.default_rng(p["vessel_seed"])
    for lung_name, hilum, side in (("Lung-Right", (-48, 8, -15), -1.0), ("Lung-Left", (48, 8, -20), 1.0)):
        for start, end, r0, r1 in _vessel_tree(vessel_rng, hilum, side):
            paint(tube([start, end], [r0, r1]) & anatomy["lungs"][lung_name], blood)

    forbidden = forbidden_organs(anatomy)
    roi_shapes = {"Lung-Left": anatomy["lungs"]["Lung-Left"], "Lung-Right": anatomy["lungs"]["Lung-Right"],
                  "Heart": anatomy["heart"], "Esophagus": anatomy["esophagus"], "Spinal-Cord": anatomy["cord"]}
    if tumour is not None:
        parts = tumour_shapes(tumour)
        gtv = parts["gtv"] - forbidden
        if tumour["part_solid"]:
            paint(parts["whole"] - forbidden, tumour["ground_glass_hu"])
        paint(parts["solid"] - forbidden, tumour["solid_hu"])
        if "necrosis" in parts:
            paint(parts["necrosis"], tumour["necrosis_hu"])
        if "calcification" in parts:
            paint(parts["calcification"], tumour["calcification_hu"])
        if "cavity" in parts:
            paint(parts["cavity"], HU["air"] + 50)
        roi_shapes["GTV-1"] = gtv
        masks["GTV-1"] = renderer.mask(gtv)
        solid_mask = renderer.mask(parts["solid"] - forbidden)
    if node is not None:
        node_shape = ellipsoid(node["centre_mm"], node["radii_mm"]) - forbidden
        masks["GTV-2"] = paint(node_shape, node["hu"], mask=True)
        roi_shapes["GTV-2"] = node_shape
    lungs = anatomy["lungs"]["Lung-Left"] | anatomy["lungs"]["Lung-Right"]
    for name, shape in station_shapes(anatomy["landmarks"], forbidden, lungs).items():
        roi_shapes[name] = shape
        masks[name] = renderer.mask(shape)

    hu = renderer.volume()
    lung_mask = masks["Lung-Left"] | masks["Lung-Right"]
    hu += smooth_texture(rng, hu.shape, 1.2, 18.0) * lung_mask
    if tumour is not None:
        texture_mask = solid_mask & ~renderer.mask(parts["necrosis"]) if "necrosis" in parts else solid_mask
        hu += smooth_texture(rng, hu.shape, 1.0, tumour["heterogeneity_sd_hu"]) * texture_mask
    hu += correlated_noise(rng, hu.shape, sigma_px=0.8, sd_hu=p["noise_sd_hu"])
    np.clip(hu, -1024.0, 3071.0, out=hu)
    return hu, masks, roi_shapes


def forbidden_organs(anatomy: dict) -> Shape:
    """Organs a GTV cannot occupy: heart, great vessels, airway, oesophagus, vertebra and canal."""
    out = anatomy["heart"]
    for name in ("aorta", "pulmonary", "svc", "airway_wall", "esophagus", "vertebra", "neural_arch"):
        out = out | anatomy[name]
    return out


def ellipsoid_like_inset(shape: Shape, inset_mm: float) -> Shape:
    """The shape shrunk by ``inset_mm`` (valid for the approximately Euclidean signed distances here)."""
    return Shape(lambda x, y, z: shape.sd(x, y, z) + inset_mm, shape.low, shape.high)


def _discs(vertebra: Shape, period_mm: float = 30.0, half_height_mm: float = 3.0) -> Shape:
    """Intervertebral discs: thin bands of the vertebral body every ``period_mm`` along z."""
    def sd(x, y, z):
        phase = np.abs(np.mod(z + 1000.0, period_mm) - period_mm / 2) - half_height_mm
        return np.maximum(vertebra.sd(x, y, z) + 1.0, phase)
    return Shape(sd, vertebra.low, vertebra.high)
