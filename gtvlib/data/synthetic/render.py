"""Rendering the phantom into a CT volume in HU: partial volume along z, soft edges in-plane, tissue texture
and correlated noise; the ground-truth masks at the same time.

Arrays are (z, y, x). Each slice is rendered on ``supersample_z`` sub-planes and averaged (partial volume
along z); in-plane, edges are soft over one pixel. Ground-truth masks are the shapes at the slice-centre
plane sampled at pixel centres, which is also where the RTSTRUCT contours are taken from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from gtvlib.data.synthetic.anatomy import (
    HU,
    build_anatomy,
    ellipsoid_like_inset,
    forbidden_organs,
    intervertebral_discs,
    rib_cage,
    station_shapes,
    vessel_tree,
)
from gtvlib.data.synthetic.shapes import Shape, ellipsoid, tube
from gtvlib.data.synthetic.tumour import companion_shapes, tumour_shapes
from gtvlib.util.errors import GtvError


@dataclass(frozen=True)
class Grid:
    """The voxel grid: ``shape`` (z, y, x), ``spacing_mm`` (dz, dy, dx), ``origin_xyz_mm`` (x, y, z) of voxel 0."""

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_xyz_mm: tuple[float, float, float]

    def axis_mm(self, axis: str) -> np.ndarray:
        """Pixel-centre coordinates (mm) along ``x``, ``y`` or ``z``."""
        index = {"x": 2, "y": 1, "z": 0}[axis]
        origin = self.origin_xyz_mm[{"x": 0, "y": 1, "z": 2}[axis]]
        return origin + np.arange(self.shape[index]) * self.spacing_mm[index]


class Renderer:
    """Paints shapes into an HU volume rendered on ``supersample_z`` sub-planes per slice."""

    def __init__(self, grid: Grid, supersample_z: int = 3, background_hu: float = HU["air"]):
        if supersample_z < 1 or supersample_z % 2 == 0:
            raise GtvError(f"supersample_z={supersample_z}; expected an odd number ≥ 1, so that the middle "
                           "sub-plane is the slice centre")
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


def render_patient(anatomy_params: dict, grid: Grid, rng: np.random.Generator, tumour: dict | None,
                   node: dict | None, supersample_z: int = 3, noise_scale: float = 1.0, kernel_sigma_mm: float = 0.0):
    """Render one patient. Returns ``(hu, masks, roi_shapes)``.

    Acquisition: ``noise_scale`` multiplies the patient's noise SD (2 ≈ a quarter of the dose); ``kernel_sigma_mm``
    > 0 smooths each slice in-plane with a Gaussian of that SD in mm after the noise (a softer reconstruction
    kernel: blurrier edges, lower and coarser noise). The defaults render the cohort as it always was.

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
    ribs = paint(rib_cage(anatomy), HU["rib"], mask=True)
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
    paint(intervertebral_discs(vertebra), HU["disc"])
    paint(anatomy["neural_arch"] - anatomy["canal"], HU["cortical"] * 0.7)
    paint(anatomy["spinous"], HU["cortical"] * 0.7)
    paint(anatomy["canal"], 10.0)
    masks["Spinal-Cord"] = paint(anatomy["cord"], HU["csf_cord"], mask=True)
    paint(anatomy["sternum"], HU["cancellous"] + 150)
    vessel_rng = np.random.default_rng(p["vessel_seed"])
    for lung_name, hilum, side in (("Lung-Right", (-48, 8, -15), -1.0), ("Lung-Left", (48, 8, -20), 1.0)):
        for start, end, r0, r1 in vessel_tree(vessel_rng, hilum, side):
            paint(tube([start, end], [r0, r1]) & anatomy["lungs"][lung_name], blood)

    forbidden = forbidden_organs(anatomy)
    roi_shapes = {"Lung-Left": anatomy["lungs"]["Lung-Left"], "Lung-Right": anatomy["lungs"]["Lung-Right"],
                  "Heart": anatomy["heart"], "Esophagus": anatomy["esophagus"], "Spinal-Cord": anatomy["cord"]}
    if tumour is not None:
        lung_of_tumour = anatomy["lungs"]["Lung-Right" if tumour["side"] == "right" else "Lung-Left"]
        for shape, value in companion_shapes(tumour.get("companions")).values():  # not GTV: painted under it
            paint(shape & lung_of_tumour, value)
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
    hu += correlated_noise(rng, hu.shape, sigma_px=0.8, sd_hu=p["noise_sd_hu"] * noise_scale)
    if kernel_sigma_mm > 0:
        sigma_px = kernel_sigma_mm / np.asarray(grid.spacing_mm[1:], float)
        hu = ndimage.gaussian_filter(hu, sigma=(0.0, *sigma_px)).astype(np.float32)
    np.clip(hu, -1024.0, 3071.0, out=hu)
    return hu, masks, roi_shapes
