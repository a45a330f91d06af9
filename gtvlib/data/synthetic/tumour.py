"""Primary lung tumours and nodal GTVs for the synthetic cohort.

A tumour is a star-shaped body around a centre: radius ``R(u) = r0 · g(u)`` over unit directions
``u`` with lobulation bumps and thin spicules, optionally stretched. ``r0`` is solved so that the shape's
volume equals the sampled GTV volume (log-normal, median 40 cm³, truncated to 1–600 cm³). Location
follows DATA.md: upper lobes and the right side more often; 30–40 % central (abutting the mediastinum
or hilum, the low-contrast cases), some juxta-pleural, the rest peripheral. Large tumours may have a
necrotic core (inside the GTV) or an air-filled cavity (outside the GTV: an inner contour).

The ``graded`` mix (:func:`sample_graded_form`, :func:`sample_companions`) makes the box-prompted task as hard
as real GTVs make it: sizes drawn in three equal strata (0.5–5, 5–30, 30–100 cm³), more ground-glass rims,
juxta-pleural tumours as often as central ones, and *companions* outside the GTV that look like tumour inside
its box: collapsed lung distal to the tumour (atelectasis, with air bronchograms; HU of soft tissue, enhancing
more than tumour with contrast) and a vessel running along the tumour's surface (blood HU).
"""

from __future__ import annotations

import numpy as np

from gtvlib.data.synthetic.shapes import Shape, ellipsoid, tube, union
from gtvlib.util.errors import GtvError

MEDIAN_VOLUME_CM3 = 40.0
LOG_SD = 0.9
VOLUME_RANGE_CM3 = (1.0, 600.0)
NODE_STATIONS = ("4R", "7", "10R", "10L", "2R", "4L", "5", "11R", "11L")
NODE_WEIGHTS = (0.2, 0.2, 0.15, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05)


def fibonacci_directions(count: int = 2000) -> np.ndarray:
    """Quasi-uniform unit vectors (count, 3) on the sphere."""
    i = np.arange(count) + 0.5
    polar = np.arccos(1 - 2 * i / count)
    azimuth = np.pi * (1 + 5 ** 0.5) * i
    return np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], axis=1)


def shape_factor(params: dict):
    """``g(ux, uy, uz)``: the dimensionless radius over directions (lobulation bumps + spicules)."""
    bumps = [(np.asarray(v), a, w) for v, a, w in params["bumps"]]
    spikes = [(np.asarray(v), length, w) for v, length, w in params["spikes"]]

    def g(ux, uy, uz):
        out = np.ones(np.broadcast(ux, uy, uz).shape, dtype=np.float64)
        for vectors in (bumps, spikes):
            for v, amplitude, width in vectors:
                cosine = ux * v[0] + uy * v[1] + uz * v[2]
                out = out + amplitude * np.exp((cosine - 1.0) / width)
        return out

    return g


def _radius_for_volume(params: dict, volume_mm3: float) -> float:
    g = shape_factor(params)
    d = fibonacci_directions()
    mean_cube = float(np.mean(g(d[:, 0], d[:, 1], d[:, 2]) ** 3))
    stretch = float(np.prod(params["stretch"]))
    return (3.0 * volume_mm3 / (4.0 * np.pi * mean_cube * stretch)) ** (1.0 / 3.0)


def _unit(rng) -> list[float]:
    v = rng.standard_normal(3)
    return (v / np.linalg.norm(v)).tolist()


def sample_tumour_form(rng: np.random.Generator, enhanced: bool) -> dict:
    """Size, surface and texture of one primary tumour (no position yet)."""
    while True:
        volume = float(np.exp(rng.normal(np.log(MEDIAN_VOLUME_CM3), LOG_SD)))
        if VOLUME_RANGE_CM3[0] <= volume <= VOLUME_RANGE_CM3[1]:
            break
    return _form(rng, volume, enhanced, part_solid_probability=0.15, solid_fraction=(0.5, 0.8))


def tumour_shapes(params: dict) -> dict[str, Shape]:
    """Shapes of one placed tumour: ``gtv`` (whole, minus a cavity), ``solid``, ``necrosis``, ``cavity``,
    ``calcification`` (absent components are missing from the dict)."""
    centre = np.asarray(params["centre_mm"])
    stretch = np.asarray(params["stretch"])
    r0 = params["r0_mm"]
    g = shape_factor(params)
    r_max = r0 * (1 + sum(a for _, a, _ in params["bumps"]) + sum(length for _, length, _ in params["spikes"])) * stretch.max()

    def scaled(fraction: float) -> Shape:
        def sd(x, y, z):
            qx, qy, qz = (x - centre[0]) / stretch[0], (y - centre[1]) / stretch[1], (z - centre[2]) / stretch[2]
            distance = np.sqrt(qx * qx + qy * qy + qz * qz)
            safe = np.maximum(distance, 1e-9)
            return (distance - fraction * r0 * g(qx / safe, qy / safe, qz / safe)) * stretch.min()
        return Shape(sd, centre - r_max * fraction, centre + r_max * fraction)

    shapes = {"whole": scaled(1.0), "solid": scaled(params["solid_fraction"])}
    if params["necrosis"]:
        shapes["necrosis"] = scaled(0.45)
    if params["cavitation"]:
        shapes["cavity"] = scaled(0.3)
    if params["calcification"]:
        offset = np.asarray(params["calcification_offset"]) * 0.3 * r0
        shapes["calcification"] = ellipsoid(centre + offset, [min(3.0, 0.2 * r0)] * 3)
    shapes["gtv"] = shapes["whole"] - shapes["cavity"] if "cavity" in shapes else shapes["whole"]
    return shapes


CATEGORY_PROBABILITIES = (0.35, 0.2, 0.45)  # central, juxta-pleural, peripheral (NSCLC, DATA.md)

# The graded mix: one stratum per patient in turn (patient index mod 3), log-uniform volume inside it, so a
# third of the patients have a GTV under 5 cm³ and each stratum can be scored on its own.
GRADED_STRATA_CM3 = ((0.5, 5.0), (5.0, 30.0), (30.0, 100.0))
MIX_VERSIONS = {"graded": "1"}  # bump when the graded mix's sampling or companions change
GRADED_CATEGORIES = (0.35, 0.35, 0.3)  # central (juxta-mediastinal), juxta-pleural, peripheral
GRADED_PART_SOLID = 0.3  # share of part-solid tumours with a ground-glass rim (0.15 in the NSCLC mix)
ATELECTASIS_PROBABILITY = 0.6  # central and juxta-pleural tumours (0.3 for peripheral ones)
VESSEL_PROBABILITY = 0.6  # a vessel along the tumour's surface


def size_stratum(volume_cm3: float) -> str:
    """The book's size strata of a GTV: ``< 5 cm³``, ``5–30 cm³`` or ``> 30 cm³``."""
    return "< 5 cm³" if volume_cm3 < 5.0 else ("5–30 cm³" if volume_cm3 <= 30.0 else "> 30 cm³")


def sample_graded_form(rng: np.random.Generator, enhanced: bool, index: int) -> dict:
    """A primary tumour of the graded mix for patient ``index``: the volume log-uniform in the stratum
    ``index mod 3`` of :data:`GRADED_STRATA_CM3`; surface, texture and components as in
    :func:`sample_tumour_form`, with :data:`GRADED_PART_SOLID` part-solid tumours (solid core 30–70 % of the
    radius, the rest ground glass)."""
    low, high = GRADED_STRATA_CM3[index % len(GRADED_STRATA_CM3)]
    volume = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    return _form(rng, volume, enhanced, part_solid_probability=GRADED_PART_SOLID, solid_fraction=(0.3, 0.7))


def _form(rng, volume: float, enhanced: bool, part_solid_probability: float, solid_fraction: tuple[float, float]) -> dict:
    spiculated = bool(rng.random() < 0.35)
    part_solid = bool(rng.random() < part_solid_probability)
    return {
        "volume_cm3": volume,
        "bumps": [(_unit(rng), float(rng.uniform(0.08, 0.25)), float(rng.uniform(0.15, 0.4))) for _ in range(int(rng.integers(2, 6)))],
        "spikes": [(_unit(rng), float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.002, 0.006)))
                   for _ in range(int(rng.integers(4, 12)) if spiculated else 0)],
        "stretch": [1.0, float(rng.uniform(0.85, 1.1)), float(rng.uniform(0.9, 1.35))],
        "spiculated": spiculated,
        "part_solid": part_solid,
        "solid_fraction": float(rng.uniform(*solid_fraction)) if part_solid else 1.0,
        "ground_glass_hu": float(rng.uniform(-750, -300)),
        "solid_hu": float(rng.uniform(60, 110) if enhanced else rng.uniform(20, 60)),
        "heterogeneity_sd_hu": float(rng.uniform(10, 20)),
        "necrosis": bool(volume > 60 and rng.random() < 0.5),
        "necrosis_hu": float(rng.uniform(5, 25)),
        "cavitation": bool(volume > 30 and rng.random() < 0.1),
        "calcification": bool(rng.random() < 0.08),
        "calcification_hu": float(rng.uniform(300, 900)),
        "calcification_offset": _unit(rng),
    }


def sample_companions(rng: np.random.Generator, tumour: dict, enhanced: bool, blood_hu: float, lung: Shape) -> dict:
    """Structures next to a placed tumour that are *not* GTV but look like it inside its box.

    ``atelectasis``: collapsed lung beside the tumour, an ellipsoid whose long axis (1–2 × the tumour's radius r0)
    starts inside the tumour and points into ``lung`` (the tumour's lung): away from the hilum (obstructive
    collapse) when that direction stays in the lung, else the one of eight random directions that does most;
    HU +25…+45 unenhanced, +70…+110 with contrast (collapsed lung enhances more than tumour), with 1–3 air
    bronchograms (air tubes of 1–1.5 mm radius along it). ``vessel``: a pulmonary vessel of 2–4 mm radius
    running past the tumour at its surface, blood HU. Each is None when absent. Both are clipped to the
    tumour's lung when rendered (:func:`companion_shapes`)."""
    centre = np.asarray(tumour["centre_mm"], float)
    r0 = float(tumour["r0_mm"])
    hilum = np.array([-48.0 if tumour["side"] == "right" else 48.0, 8.0, -18.0])
    outward = centre - hilum
    outward = outward / max(np.linalg.norm(outward), 1e-6)
    probability = ATELECTASIS_PROBABILITY if tumour["category"] != "peripheral" else ATELECTASIS_PROBABILITY / 2
    atelectasis = None
    if rng.random() < probability:
        length = float(rng.uniform(1.0, 2.0)) * max(r0, 6.0)
        width = float(rng.uniform(0.5, 0.9)) * max(r0, 6.0)
        outward = _most_in_lung([outward, *(_unit_array(rng) for _ in range(8))], centre, 0.6 * r0, 2 * length, lung)
        start = centre + outward * 0.6 * r0
        bronchi = [[(start + outward * length * 0.1 + np.cross(outward, _unit_array(rng)) * 0.3 * width).tolist(),
                    (start + outward * length * 1.6).tolist(), float(rng.uniform(1.0, 1.5))]
                   for _ in range(int(rng.integers(1, 4)))]
        atelectasis = {"centre_mm": (start + outward * length).tolist(), "axis": outward.tolist(), "length_mm": length,
                       "width_mm": width, "hu": float(rng.uniform(70, 110) if enhanced else rng.uniform(25, 45)),
                       "bronchi": bronchi}
    vessel = None
    if rng.random() < VESSEL_PROBABILITY:
        radius = float(rng.uniform(2.0, 4.0))
        side = np.cross(outward, _unit_array(rng))
        side = side / max(np.linalg.norm(side), 1e-6)
        along = np.cross(side, _unit_array(rng))
        along = along / max(np.linalg.norm(along), 1e-6)
        touch = centre + side * (r0 + radius * 0.5)
        half = max(3.0 * r0, 35.0)
        vessel = {"points_mm": [(touch - along * half).tolist(), touch.tolist(), (touch + along * half).tolist()],
                  "radius_mm": radius, "hu": float(blood_hu)}
    return {"atelectasis": atelectasis, "vessel": vessel}


def _most_in_lung(directions, centre: np.ndarray, start_mm: float, length_mm: float, lung: Shape) -> np.ndarray:
    """The first of ``directions`` whose axis (from ``start_mm`` to ``start_mm + length_mm`` off ``centre``) lies at
    least 80 % inside ``lung``, else the one with the most of it inside."""
    steps = np.linspace(start_mm, start_mm + length_mm, 12)
    best, best_share = directions[0], -1.0
    for direction in directions:
        direction = np.asarray(direction, float) / np.linalg.norm(direction)
        points = centre[None] + steps[:, None] * direction[None]
        share = float(np.mean(lung.sd(points[:, 0], points[:, 1], points[:, 2]) < 0))
        if share >= 0.8:
            return direction
        if share > best_share:
            best, best_share = direction, share
    return np.asarray(best, float) / np.linalg.norm(best)


def _unit_array(rng) -> np.ndarray:
    return np.asarray(_unit(rng))


def companion_shapes(companions: dict | None) -> dict[str, tuple[Shape, float]]:
    """Shapes and HU of a tumour's companions: ``atelectasis`` (minus its air bronchograms), ``bronchograms``
    (air) and ``vessel``; absent ones are missing. Callers clip them to the tumour's lung."""
    out = {}
    if not companions:
        return out
    if (a := companions.get("atelectasis")) is not None:
        collapsed = oriented_ellipsoid(a["centre_mm"], a["axis"], a["length_mm"], a["width_mm"])
        out["atelectasis"] = (collapsed, a["hu"])
        out["bronchograms"] = (union([tube([b[0], b[1]], b[2]) for b in a["bronchi"]]) & collapsed, -950.0)
    if (v := companions.get("vessel")) is not None:
        out["vessel"] = (tube(v["points_mm"], v["radius_mm"]), v["hu"])
    return out


def oriented_ellipsoid(centre, axis, length_mm: float, width_mm: float) -> Shape:
    """A spheroid with semi-axis ``length_mm`` along the unit vector ``axis`` and ``width_mm`` across it
    (first-order signed distance, mm)."""
    c, u = np.asarray(centre, float), np.asarray(axis, float) / np.linalg.norm(axis)

    def sd(x, y, z):
        dx, dy, dz = x - c[0], y - c[1], z - c[2]
        along = dx * u[0] + dy * u[1] + dz * u[2]
        across2 = np.maximum(dx * dx + dy * dy + dz * dz - along * along, 0.0)
        f = np.sqrt((along / length_mm) ** 2 + across2 / width_mm ** 2)
        gradient = np.sqrt((along / length_mm ** 2) ** 2 + across2 / width_mm ** 4)
        return np.where(gradient > 1e-9, f * (f - 1.0) / np.maximum(gradient, 1e-9), -min(length_mm, width_mm))

    reach = max(length_mm, width_mm)
    return Shape(sd, c - reach, c + reach)


def place_tumour(rng: np.random.Generator, form: dict, anatomy: dict, forbidden: Shape,
                 categories: tuple[float, float, float] = CATEGORY_PROBABILITIES) -> dict:
    """Choose side, lobe, category and centre; return the full tumour parameters.

    ``categories``: probabilities of a central, juxta-pleural and peripheral tumour (small-cell lung cancer,
    mostly central, takes others than the default's NSCLC mix).

    Rejection sampling keeps a candidate whose body lies inside the thoracic cavity, overlaps the
    forbidden organs (heart, great vessels, airways, oesophagus, vertebra) by < 3 % of its volume, and
    whose depth in the lung matches its category.
    """
    side = "right" if rng.random() < 0.6 else "left"
    lobe = rng.choice(["upper", "middle", "lower"], p=[0.6, 0.1, 0.3]) if side == "right" else rng.choice(["upper", "lower"], p=[0.65, 0.35])
    category = rng.choice(["central", "juxta-pleural", "peripheral"], p=list(categories))
    lung = anatomy["lungs"]["Lung-Right" if side == "right" else "Lung-Left"]
    marks = anatomy["landmarks"]
    z_ranges = {"upper": (-10.0, marks["lung_apex"] - 25.0), "middle": (-80.0, -30.0),
                "lower": (marks["dome_right"] + 25.0, -35.0)}
    params = dict(form, side=side, lobe=str(lobe), category=str(category))
    params["r0_mm"] = _radius_for_volume(params, form["volume_cm3"] * 1000.0)
    sign = -1.0 if side == "right" else 1.0
    probe = fibonacci_directions(300)
    radius = params["r0_mm"]
    for attempt in range(4000):
        relax = 1.0 + attempt / 1000.0  # widen the acceptance if a large tumour finds no place
        z = rng.uniform(*z_ranges[str(lobe)])
        x = sign * rng.uniform(anatomy["mediastinum_half_width"], anatomy["mediastinum_half_width"] + 110)
        y = rng.uniform(-70, 80) if str(lobe) != "middle" else rng.uniform(-70, 0)
        depth = -float(lung.sd(np.array(x), np.array(y), np.array(z)))
        medial_gap = abs(x) - anatomy["mediastinum_half_width"]
        if category == "central":
            ok = 0.2 * radius < depth < radius * relax and medial_gap < radius * relax + 5
        elif category == "juxta-pleural":
            ok = 0.2 * radius < depth < radius * relax and medial_gap > radius + 15
        else:
            ok = depth > min(1.2 * radius, 25.0) / relax
        if not ok:
            continue
        params["centre_mm"] = [float(x), float(y), float(z)]
        points = np.asarray(params["centre_mm"]) + probe * (0.85 * radius)
        px, py, pz = points[:, 0], points[:, 1], points[:, 2]
        if float(np.mean(forbidden.sd(px, py, pz) < 0)) > 0.03 / relax:
            continue
        if np.any(anatomy["cavity"].sd(px, py, pz) > 0):
            continue
        return params
    raise GtvError(f"no admissible position for a {form['volume_cm3']:.0f} cm³ {category} tumour in the {side} "
                   f"{lobe} lobe after 4000 draws; expected sampled anatomy to leave room (check the anatomy "
                   "parameters)")


def sample_node(rng: np.random.Generator, station_centres: dict[str, np.ndarray], enhanced: bool,
                station: str | None = None) -> dict:
    """An involved lymph node (GTV-2) in one of the commonly involved stations, or in ``station`` when given."""
    station = str(rng.choice(NODE_STATIONS, p=NODE_WEIGHTS)) if station is None else station
    offset = rng.uniform(-4, 4, size=3)
    return {
        "station": station,
        "centre_mm": (station_centres[station] + offset).tolist(),
        "radii_mm": rng.uniform(6, 13, size=3).tolist(),
        "hu": float(rng.uniform(50, 90) if enhanced else rng.uniform(25, 50)),
    }
