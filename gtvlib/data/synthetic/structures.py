"""Structures without a CT: one patient's ROIs rendered as masks, for cohorts that need the geometry of the
structures and not the image.

The recurrence chapter's small-cell lung cancer (SCLC) cohort has ~180 patients; writing each as a CT, an
RTSTRUCT and a SEG would cost ~1 s per patient on a laptop core and tell the recurrence analysis nothing
more: its features are volumes of structures. :func:`sclc_patient` samples the same anatomy, stations,
tumours and nodes as :func:`gtvlib.data.synthetic.cohort.generate_patient` and renders their masks at the
slice centres and pixel centres (the rule of the DICOM cohort's ground truth, see
:mod:`gtvlib.data.synthetic.render`), on a grid of the quick preset's geometry by default.

SCLC differs from the book's NSCLC default in two documented ways: the primary is mostly central
(:data:`SCLC_CATEGORIES`) and most patients have involved nodes, 0–3 stations drawn from
:data:`SCLC_NODE_STATIONS` (limited-stage SCLC is node-positive in most series).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gtvlib.data.synthetic import anatomy, tumour
from gtvlib.data.synthetic.render import Grid, Renderer
from gtvlib.data.synthetic.shapes import ellipsoid, union
from gtvlib.util.errors import GtvError

SCLC_CATEGORIES = (0.7, 0.1, 0.2)  # central, juxta-pleural, peripheral
SCLC_NODE_COUNTS = (0.15, 0.35, 0.3, 0.2)  # probability of 0, 1, 2, 3 involved stations
SCLC_NODE_STATIONS = {"4R": 0.2, "7": 0.18, "10R": 0.15, "10L": 0.1, "2R": 0.08, "4L": 0.08, "5": 0.05,
                      "11R": 0.05, "11L": 0.04, "6": 0.03, "3A": 0.02, "2L": 0.02}


@dataclass(frozen=True)
class StructurePatient:
    """One patient's structures: ``masks`` bool (z, y, x) by ROI name (``GTV-1``; ``GTV-2``, the union of the
    involved nodes, when there are any; ``Lung-Left``, ``Lung-Right``; ``LN-<station>`` for the 16 stations),
    ``spacing_mm`` (dz, dy, dx) and the sampled ``parameters`` (JSON-serialisable)."""

    patient_id: str
    masks: dict[str, np.ndarray]
    spacing_mm: tuple[float, float, float]
    parameters: dict


def sclc_patient(index: int, seed: int, pixel_mm: float = 3.5, slice_mm: float = 5.0, matrix: int = 128,
                 prefix: str = "SCLC") -> StructurePatient:
    """Sample and render one SCLC patient's structures (deterministic in ``seed`` and ``index``)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, index, 3]))
    anatomy_params = anatomy.sample_anatomy(rng)
    shapes = anatomy.build_anatomy(anatomy_params)
    forbidden = anatomy.forbidden_organs(shapes)
    for attempt in range(10):  # a large tumour may find no place in a small thorax: draw another (deterministically)
        form = tumour.sample_tumour_form(rng, anatomy_params["contrast_enhanced"])
        try:
            primary = tumour.place_tumour(rng, form, shapes, forbidden, categories=SCLC_CATEGORIES)
            break
        except GtvError:
            if attempt == 9:
                raise
    count = int(rng.choice(len(SCLC_NODE_COUNTS), p=SCLC_NODE_COUNTS))
    names, weights = list(SCLC_NODE_STATIONS), np.array(list(SCLC_NODE_STATIONS.values()))
    stations = [str(s) for s in rng.choice(names, size=count, replace=False, p=weights / weights.sum())]
    centres = anatomy.station_centres(shapes["landmarks"])
    nodes = [tumour.sample_node(rng, centres, anatomy_params["contrast_enhanced"], station=s) for s in stations]

    top = anatomy_params["lung_apex_z_mm"] + 15.0
    bottom = min(anatomy_params["dome_right_z_mm"] - anatomy_params["dome_left_offset_mm"] - 65.0, -150.0)
    nz = int(np.ceil((top - bottom) / slice_mm)) + 1
    grid = Grid((nz, matrix, matrix), (slice_mm, pixel_mm, pixel_mm),
                (-pixel_mm * (matrix - 1) / 2, -pixel_mm * (matrix - 1) / 2, round(top - slice_mm * (nz - 1), 3)))
    renderer = Renderer(grid, supersample_z=1)
    masks = {"GTV-1": renderer.mask(tumour.tumour_shapes(primary)["gtv"] - forbidden)}
    lungs = shapes["lungs"]
    for name, lung in lungs.items():
        masks[name] = renderer.mask(lung)
    for name, shape in anatomy.station_shapes(shapes["landmarks"], forbidden, lungs["Lung-Left"] | lungs["Lung-Right"]).items():
        masks[name] = renderer.mask(shape)
    # A node lies in its station's free part (a station centre may fall in a vessel or a bronchus): its centre
    # is a voxel of the station drawn at random.
    axes = grid.axis_mm("z"), grid.axis_mm("y"), grid.axis_mm("x")
    for node in nodes:
        voxels = np.argwhere(masks[f"LN-{node['station']}"])
        k, j, i = voxels[int(rng.integers(len(voxels)))]
        node["centre_mm"] = [float(axes[2][i]), float(axes[1][j]), float(axes[0][k])]
    if nodes:
        masks["GTV-2"] = renderer.mask(union([ellipsoid(n["centre_mm"], n["radii_mm"]) for n in nodes]) - forbidden)
    patient_id = f"{prefix}-{index + 1:03d}"
    parameters = {"patient_id": patient_id, "anatomy": anatomy_params, "tumour": primary, "nodes": nodes,
                  "grid": {"shape": list(grid.shape), "spacing_mm": list(grid.spacing_mm),
                           "origin_mm": list(grid.origin_xyz_mm)}}
    return StructurePatient(patient_id, masks, grid.spacing_mm, parameters)
