"""The 110 recurrence features of the seed paper, computed from masks with true spacing.

Per station *s* of the list (16 by default) six **partition parameters** (METHODS.md §4), with
ideaCTV = the union of every listed station that the CTV touches (≥ 1 voxel in common):

==============================  ==========================================================
``ln_<s>_ctv_in_station``       |CTV ∩ s| / |s|: the fraction of the station the CTV covers
``ln_<s>_ctv_in_ideactv``       |CTV ∩ s| / |ideaCTV|
``ln_<s>_gtv_in_station``       |GTV ∩ s| / |s|
``ln_<s>_gtv_in_ideactv``       |GTV ∩ s| / |ideaCTV|
``ln_<s>_ctvgtv_in_station``    |(CTV − GTV) ∩ s| / |s|
``ln_<s>_ctvgtv_in_ideactv``    |(CTV − GTV) ∩ s| / |ideaCTV|
==============================  ==========================================================

|·| is a volume in mm³ (voxel count × voxel volume; ratios of volumes on one grid do not depend on the
voxel size, the volumes do). When the CTV touches no station, ideaCTV is empty and the ``…_in_ideactv``
ratios are 0 (stated in the catalogue). Then the **patient-level** features: voxel volume, CTV and GTV
volumes, the primary's largest diameter, lung location and drainage-area coverage, and eight **clinical**
variables (:data:`CLINICAL`). GTV = every ``GTV-*`` structure (primary and involved nodes).

Where the data has no CTV, :func:`derive_ctv` grows one from the GTV: an isotropic margin in mm (a Euclidean
distance transform with the true spacing), confined to the anatomy a microscopic-extension margin may enter
(the lungs and the lymph-node stations, i.e. not the heart, great vessels, bone or chest wall).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.spatial import ConvexHull
from scipy.spatial.distance import pdist

from gtvlib.recurrence.stations import station_masks
from gtvlib.util.errors import GtvError

PARTITION = {
    "ctv_in_station": "fraction of the station's volume covered by the CTV: |CTV ∩ station| / |station|",
    "ctv_in_ideactv": "CTV volume inside the station relative to ideaCTV: |CTV ∩ station| / |ideaCTV| (0 if ideaCTV is empty)",
    "gtv_in_station": "fraction of the station's volume occupied by GTV: |GTV ∩ station| / |station|",
    "gtv_in_ideactv": "GTV volume inside the station relative to ideaCTV: |GTV ∩ station| / |ideaCTV| (0 if ideaCTV is empty)",
    "ctvgtv_in_station": "fraction of the station covered by the margin only: |(CTV − GTV) ∩ station| / |station|",
    "ctvgtv_in_ideactv": "margin-only volume inside the station relative to ideaCTV: |(CTV − GTV) ∩ station| / |ideaCTV| (0 if ideaCTV is empty)",
}
PATIENT = {
    "voxel_volume_mm3": ("mm³", "voxel resolution: the volume of one voxel (dz · dy · dx)"),
    "ctv_volume_cm3": ("cm³", "CTV volume"),
    "gtv_volume_cm3": ("cm³", "GTV volume (primary and involved nodes)"),
    "gtv_size_cm": ("cm", "largest diameter of the primary GTV (GTV-1): the farthest pair of its voxels, edge to edge"),
    "lung_location_right": ("0/1", "1 when the primary's centroid is nearer the right lung's centroid than the left's"),
    "drainage_coverage": ("ratio", "drainage-area coverage: |CTV ∩ ideaCTV| / |ideaCTV| (0 if ideaCTV is empty)"),
}
CLINICAL = {
    "age_years": ("years", "age at the start of radiotherapy"),
    "male": ("0/1", "sex: 1 male, 0 female"),
    "ecog": ("0–2", "ECOG performance status"),
    "pack_years": ("pack-years", "cumulative smoking"),
    "limited_stage": ("0/1", "1 limited stage (VALSG), 0 extensive stage treated with thoracic radiotherapy"),
    "chemo_cycles": ("cycles", "cycles of platinum–etoposide chemotherapy"),
    "pci": ("0/1", "prophylactic cranial irradiation given"),
    "thoracic_dose_gy": ("Gy", "thoracic radiotherapy dose"),
}


def feature_names(stations) -> list[str]:
    """The feature names, in table order: partition parameters by station, patient-level, clinical."""
    return ([f"ln_{s}_{p}" for s in stations for p in PARTITION] + list(PATIENT) + list(CLINICAL))


def feature_catalogue(stations) -> pd.DataFrame:
    """Every feature with its group, unit and definition (one row per feature)."""
    rows = [{"feature": f"ln_{s}_{p}", "group": f"partition (station {s})", "unit": "ratio", "definition": text}
            for s in stations for p, text in PARTITION.items()]
    rows += [{"feature": k, "group": "patient", "unit": u, "definition": d} for k, (u, d) in PATIENT.items()]
    rows += [{"feature": k, "group": "clinical", "unit": u, "definition": d} for k, (u, d) in CLINICAL.items()]
    return pd.DataFrame(rows)


def derive_ctv(gtv: np.ndarray, allowed: np.ndarray, spacing_mm, margin_mm: float) -> np.ndarray:
    """CTV = the GTV grown by ``margin_mm`` (Euclidean, true spacing), inside ``allowed`` (the GTV always stays).

    ``gtv``, ``allowed``: bool (z, y, x); ``spacing_mm``: (dz, dy, dx). A voxel joins when the distance between
    its centre and the nearest GTV voxel centre is ≤ the margin.
    """
    gtv = np.asarray(gtv, bool)
    if not np.isfinite(margin_mm) or margin_mm < 0:
        raise GtvError(f"CTV margin {margin_mm!r} mm; expected a finite number of mm ≥ 0")
    if not gtv.any():
        raise GtvError("the GTV is empty: no CTV can be grown from it (expected a non-empty GTV mask)")
    spacing = np.asarray(spacing_mm, float)
    reach = np.ceil(margin_mm / spacing).astype(int) + 1
    nonzero = np.argwhere(gtv)
    low = np.maximum(nonzero.min(axis=0) - reach, 0)
    high = np.minimum(nonzero.max(axis=0) + reach + 1, gtv.shape)
    box = tuple(slice(a, b) for a, b in zip(low, high))
    distance = ndimage.distance_transform_edt(~gtv[box], sampling=spacing)
    ctv = np.zeros_like(gtv)
    ctv[box] = (distance <= margin_mm + 1e-9) & np.asarray(allowed, bool)[box]
    return ctv | gtv


def max_diameter_mm(mask: np.ndarray, spacing_mm) -> float:
    """Largest diameter of a mask in mm, edge to edge: the farthest pair of voxel centres, plus the extent of a
    voxel along that line (so a row of n voxels along x measures n · dx). 0 for an empty mask."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return 0.0
    spacing = np.asarray(spacing_mm, float)
    surface = mask & ~ndimage.binary_erosion(mask)
    points = np.argwhere(surface) * spacing
    if len(points) == 1:  # one voxel: its longest edge
        return float(spacing.max())
    if len(points) > 4:  # the farthest pair lies on the convex hull (QJ also takes a flat, one-slice set)
        points = points[ConvexHull(points, qhull_options="QJ").vertices]
    distances = pdist(points)
    i, j = np.triu_indices(len(points), k=1)
    far = int(np.argmax(distances))
    length = float(distances[far])
    direction = (points[j[far]] - points[i[far]]) / length
    return length + float(np.sum(np.abs(direction) * spacing))


def structure_features(masks: dict[str, np.ndarray], spacing_mm, stations, where: str, margin_mm: float = 5.0) -> dict[str, float]:
    """The partition and patient-level features of one patient (everything but the clinical variables).

    ``masks``: bool (z, y, x) by structure name: ``GTV-1`` (the primary), optional ``GTV-2``…, ``Lung-Left``,
    ``Lung-Right``, ``LN-<station>`` for every listed station, optional ``CTV`` (else derived with ``margin_mm``).
    To see what a model's segmentation does to the features, put its mask in place of ``GTV-1``. ``where``
    names the patient in errors.
    """
    spacing = tuple(float(v) for v in spacing_mm)
    if len(spacing) != 3 or not all(np.isfinite(v) and v > 0 for v in spacing):
        raise GtvError(f"{where}: spacing {spacing_mm!r}; expected three positive mm values (dz, dy, dx)")
    for name in ("Lung-Left", "Lung-Right"):
        if name not in masks:
            raise GtvError(f"{where}: no {name} structure; expected both lungs (they confine the CTV and place the tumour)")
    by_station = station_masks(masks, stations, where)
    if "GTV-1" not in masks or not np.any(masks["GTV-1"]):
        raise GtvError(f"{where}: no GTV-1 (or it is empty); expected the primary tumour's structure")
    primary = np.asarray(masks["GTV-1"], bool)
    gtv = np.logical_or.reduce([np.asarray(m, bool) for k, m in masks.items() if k.startswith("GTV")])
    for name, mask in [("GTV", gtv), *by_station.items()]:
        if mask.shape != gtv.shape:
            raise GtvError(f"{where}: mask {name} has shape {mask.shape}, the GTV {gtv.shape}; expected one grid")
    lungs = np.asarray(masks["Lung-Left"], bool) | np.asarray(masks["Lung-Right"], bool)
    all_stations = np.logical_or.reduce([np.asarray(m, bool) for k, m in masks.items() if k.startswith("LN-")])
    ctv = np.asarray(masks["CTV"], bool) if "CTV" in masks else derive_ctv(gtv, lungs | all_stations, spacing, margin_mm)
    voxel_mm3 = float(np.prod(spacing))
    idea = np.zeros_like(gtv)
    for mask in by_station.values():
        if np.any(ctv & mask):
            idea |= mask
    idea_voxels = int(np.count_nonzero(idea))
    margin_only = ctv & ~gtv
    features: dict[str, float] = {}
    for s, mask in by_station.items():
        size = np.count_nonzero(mask)
        inside = {"ctv": np.count_nonzero(ctv & mask), "gtv": np.count_nonzero(gtv & mask),
                  "ctvgtv": np.count_nonzero(margin_only & mask)}
        for part, count in inside.items():
            features[f"ln_{s}_{part}_in_station"] = count / size
            features[f"ln_{s}_{part}_in_ideactv"] = count / idea_voxels if idea_voxels else 0.0
    centroid = np.argwhere(primary).mean(axis=0) * spacing
    right = np.argwhere(masks["Lung-Right"]).mean(axis=0) * spacing
    left = np.argwhere(masks["Lung-Left"]).mean(axis=0) * spacing
    features.update({
        "voxel_volume_mm3": voxel_mm3,
        "ctv_volume_cm3": np.count_nonzero(ctv) * voxel_mm3 / 1000.0,
        "gtv_volume_cm3": np.count_nonzero(gtv) * voxel_mm3 / 1000.0,
        "gtv_size_cm": max_diameter_mm(primary, spacing) / 10.0,
        "lung_location_right": float(np.linalg.norm(centroid - right) < np.linalg.norm(centroid - left)),
        "drainage_coverage": np.count_nonzero(ctv & idea) / idea_voxels if idea_voxels else 0.0,
    })
    return {name: features[name] for name in feature_names(stations) if name in features}


def grown(mask: np.ndarray, voxels: int) -> np.ndarray:
    """``mask`` grown (``voxels`` > 0) or shrunk (< 0) by that many 6-connected voxel layers: a systematic over- or
    under-contouring of one voxel per layer."""
    mask = np.asarray(mask, bool)
    if voxels == 0:
        return mask.copy()
    operation = ndimage.binary_dilation if voxels > 0 else ndimage.binary_erosion
    return operation(mask, iterations=abs(int(voxels)))


def feature_shift(masks: dict[str, np.ndarray], spacing_mm, stations, where: str, primaries: dict[str, np.ndarray],
                  margin_mm: float = 5.0) -> pd.DataFrame:
    """The features with the reference primary (``GTV-1``) and with each of ``primaries`` (label → bool (z, y, x):
    a model's prediction, a grown or shrunk contour) in its place: one row per variant, ``reference`` first, with
    the variant's Dice against the reference primary and the number of stations in ideaCTV."""
    if "GTV-1" not in masks:
        raise GtvError(f"{where}: no GTV-1; expected the reference primary to compare the variants with")
    reference = np.asarray(masks["GTV-1"], bool)
    rows = {}
    for label, primary in {"reference": reference, **primaries}.items():
        row = structure_features({**masks, "GTV-1": primary}, spacing_mm, stations, f"{where} ({label})", margin_mm)
        overlap = np.count_nonzero(primary & reference)
        row["dice_vs_reference"] = 2 * overlap / (np.count_nonzero(primary) + np.count_nonzero(reference))
        row["stations_in_ideactv"] = sum(row[f"ln_{s}_ctv_in_ideactv"] > 0 for s in stations)
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def feature_table(structure_rows: dict[str, dict], clinical: pd.DataFrame, stations) -> pd.DataFrame:
    """One row per patient (index ``patient``), every feature of :func:`feature_names` as a column.

    ``structure_rows``: patient → :func:`structure_features`; ``clinical``: a table indexed by patient with the
    :data:`CLINICAL` columns. Patients must match one to one, and no value may be missing.
    """
    structures = pd.DataFrame.from_dict(structure_rows, orient="index")
    missing_columns = [c for c in CLINICAL if c not in clinical.columns]
    if missing_columns:
        raise GtvError(f"clinical table: columns {missing_columns} are missing; expected {list(CLINICAL)}")
    only_structures = sorted(set(structures.index) - set(clinical.index))
    only_clinical = sorted(set(clinical.index) - set(structures.index))
    if only_structures or only_clinical:
        raise GtvError(f"patient IDs do not match: with structures but no clinical row {only_structures[:5]}"
                       f"{' …' if len(only_structures) > 5 else ''}, with a clinical row but no structures "
                       f"{only_clinical[:5]}{' …' if len(only_clinical) > 5 else ''}; expected the same patients in both")
    table = structures.join(clinical[list(CLINICAL)], how="inner")
    table.index.name = "patient"
    table = table[feature_names(stations)]
    check_feature_table(table, stations)
    return table


def check_feature_table(table: pd.DataFrame, stations=None, where: str = "feature table") -> pd.DataFrame:
    """Raise :class:`GtvError` for duplicated patients, missing columns or missing / non-finite values."""
    if table.index.has_duplicates:
        raise GtvError(f"{where}: patients {sorted(set(table.index[table.index.duplicated()]))[:5]} appear twice; "
                       "expected one row per patient")
    if stations is not None:
        absent = [c for c in feature_names(stations) if c not in table.columns]
        if absent:
            raise GtvError(f"{where}: columns {absent[:5]}{' …' if len(absent) > 5 else ''} are missing; expected "
                           f"the {len(feature_names(stations))} features of feature_names()")
    values = table.apply(pd.to_numeric, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values)
    if bad.any():
        rows, columns = np.nonzero(bad)
        cells = [f"{table.index[r]}/{table.columns[c]}" for r, c in zip(rows[:5], columns[:5])]
        raise GtvError(f"{where}: {int(bad.sum())} missing or non-finite values (e.g. {', '.join(cells)}); expected a "
                       "number in every cell (impute or drop those patients before modelling, and say so)")
    return table
