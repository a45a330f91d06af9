"""Tables over a cohort that the chapters show: GTV statistics beside the cohort's targets, RTSTRUCT-versus-SEG
agreement, and how rasterisation conventions change a GTV.

Every function takes a :class:`~gtvlib.data.cohort.Cohort` (or volumes) and returns a pandas DataFrame;
volumes are in cm³ from voxel counts and the true spacing.
"""

from __future__ import annotations

import numpy as np

from gtvlib.data.cohort import Cohort
from gtvlib.data.dicom.contours import coverage_fraction, rasterise_polygons
from gtvlib.data.dicom.files import read_dataset
from gtvlib.data.dicom.patient import scan_patient
from gtvlib.data.dicom.rtstruct import canonical_names, rasterise_roi, roi_numbers
from gtvlib.data.volume import Volume, volume_cm3
from gtvlib.metrics import dice
from gtvlib.util.errors import GtvError

# The synthetic cohort's targets (DATA.md), shown beside what a cohort actually holds.
COHORT_TARGETS = {
    "GTV volume (cm³)": "log-normal, median ~40, 1–600",
    "slices with tumour (%)": "10–30",
    "tumour share of the volume (%)": "0.01–0.5",
}


def cohort_statistics(cohort: Cohort, label: str = "GTV-1"):
    """Per-patient table: GTV volume (cm³), slices, tumour slices and their fraction, tumour share of the
    volume (%), centroid (mm) and, for synthetic patients, the sampled volume, side, lobe and category."""
    import pandas as pd

    rows = []
    for pid in cohort.patient_ids:
        volume = cohort.load(pid)
        mask = volume.masks.get(label)
        if mask is None:
            raise GtvError(f"{pid}: no {label} mask; it has {sorted(volume.masks)}")
        tumour_slices = int(mask.any(axis=(1, 2)).sum())
        centroid = np.array(np.nonzero(mask)).mean(axis=1) if mask.any() else np.full(3, np.nan)
        row = {"patient": pid, "gtv_cm3": volume.mask_volume_cm3(label), "slices": volume.shape[0],
               "tumour_slices": tumour_slices, "tumour_slice_fraction": tumour_slices / volume.shape[0],
               "tumour_share_percent": 100.0 * float(mask.mean()),
               "centroid_x_mm": volume.origin_xyz_mm[0] + centroid[2] * volume.spacing_mm[2],
               "centroid_y_mm": volume.origin_xyz_mm[1] + centroid[1] * volume.spacing_mm[1]}
        params = cohort.parameters(pid)
        if params:
            tumour = params["tumour"]
            row.update(sampled_cm3=tumour["volume_cm3"], side=tumour["side"], lobe=tumour["lobe"],
                       category=tumour["category"], node=params["node"]["station"] if params["node"] else "none")
        rows.append(row)
    return pd.DataFrame(rows)


def cohort_summary(statistics):
    """Median [range] of GTV volume, tumour-slice fraction and tumour share from :func:`cohort_statistics`,
    beside the synthetic cohort's targets (DATA.md)."""
    import pandas as pd

    def median_range(values, digits: int) -> str:
        return f"{values.median():.{digits}f} [{values.min():.{digits}f}–{values.max():.{digits}f}]"

    return pd.DataFrame({
        "this cohort (median [range])": [median_range(statistics.gtv_cm3, 1),
                                         median_range(100 * statistics.tumour_slice_fraction, 1),
                                         median_range(statistics.tumour_share_percent, 3)],
        "target of the synthetic cohort (DATA.md)": list(COHORT_TARGETS.values()),
    }, index=list(COHORT_TARGETS))


def structure_agreement(rtstruct_volume: Volume, seg_volume: Volume,
                        names=("GTV-1", "Lung-Left", "Lung-Right", "Heart", "Esophagus", "Spinal-Cord")):
    """Voxel-by-voxel agreement of the same structures loaded from the RTSTRUCT and from the SEG.

    One row per structure present in the RTSTRUCT volume: voxels in each and voxels that differ (a genuine
    export of one segmentation gives 0 where the polygons were drawn from the same masks).
    """
    import pandas as pd

    rows = []
    for name in names:
        if name not in rtstruct_volume.masks:
            continue
        if name not in seg_volume.masks:
            raise GtvError(f"structure {name!r} is in the RTSTRUCT but not in the SEG; the SEG has {sorted(seg_volume.masks)}")
        from_rtstruct, from_seg = rtstruct_volume.masks[name], seg_volume.masks[name]
        rows.append({"structure": name, "voxels (RTSTRUCT)": int(from_rtstruct.sum()), "voxels (SEG)": int(from_seg.sum()),
                     "voxels that differ": int((from_rtstruct != from_seg).sum())})
    return pd.DataFrame(rows)


CONVENTIONS = {
    "centre (ours)": lambda fraction, centre: centre,
    "area ≥ 50 %": lambda fraction, centre: fraction >= 0.5,
    "any overlap": lambda fraction, centre: fraction > 0,
    "fully inside": lambda fraction, centre: fraction >= 1.0 - 1e-9,
}


def convention_comparison(cohort: Cohort, roi: str = "GTV-1", factor: int = 8):
    """How rasterisation conventions change a GTV's voxel volume and Dice, per patient.

    Each RTSTRUCT contour is rasterised by our centre rule and by the area fraction of each pixel
    (``factor``² sub-pixels): area ≥ 50 %, any overlap, fully inside. Returns a table with, per
    patient and convention, the volume (cm³), the polygon's own (area-weighted) volume, their ratio,
    and Dice against the centre rule.
    """
    import pandas as pd

    rows = []
    for pid in cohort.patient_ids:
        volume = cohort.load(pid, structures="none")
        found = scan_patient(cohort.patient_folder(pid))
        ds = read_dataset(sorted(found["RTSTRUCT"])[0])
        mapping = {canonical: name for name, canonical in canonical_names(list(roi_numbers(ds)), {roi: []}).items()}
        if roi not in mapping:
            continue
        planes = rasterise_roi(ds, mapping[roi], volume, return_polygons=True)
        shape = volume.shape[1:]
        fraction = np.zeros(volume.shape, dtype=np.float32)
        centre = np.zeros(volume.shape, dtype=bool)
        for k, polygons in planes.items():
            fraction[k] = coverage_fraction(polygons, shape, factor)
            centre[k] = rasterise_polygons(polygons, shape)
        polygon_cm3 = volume_cm3(fraction, volume.spacing_mm)
        for name, rule in CONVENTIONS.items():
            mask = rule(fraction, centre)
            mask_cm3 = volume_cm3(mask, volume.spacing_mm)
            rows.append({"patient": pid, "convention": name, "volume_cm3": mask_cm3, "polygon_cm3": polygon_cm3,
                         "volume_ratio": mask_cm3 / polygon_cm3, "dice_vs_centre": dice(mask, centre)})
    return pd.DataFrame(rows)


def convention_summary(conventions, names=("any overlap", "fully inside")) -> list[str]:
    """One sentence per convention from :func:`convention_comparison`: the median volume change against the
    polygon and Dice against the centre rule, over the cohort and on its smallest GTV."""
    medians = conventions.groupby("convention", sort=False)[["volume_ratio", "dice_vs_centre"]].median()
    smallest = conventions[conventions.polygon_cm3 == conventions.polygon_cm3.min()].set_index("convention")
    return [f"{name}: median volume {100 * (medians.volume_ratio[name] - 1):+.0f} % against the polygon, Dice against "
            f"the centre rule {medians.dice_vs_centre[name]:.2f}; on the smallest GTV ({smallest.polygon_cm3.iloc[0]:.1f} cm³) "
            f"{100 * (smallest.volume_ratio[name] - 1):+.0f} % and Dice {smallest.dice_vs_centre[name]:.2f}"
            for name in names]


def convention_effects(conventions) -> dict[str, dict[str, float]]:
    """Per convention of :func:`convention_comparison`: the smallest and largest volume ratio (against the polygon)
    over the patients, the median and the smallest GTV's absolute change of volume (|ratio − 1|), and the median Dice
    against the centre rule. What chapter 2's text says of the conventions is checked on these numbers."""
    smallest = conventions.polygon_cm3 == conventions.polygon_cm3.min()
    effects = {}
    for name, rows in conventions.groupby("convention", sort=False):
        change = (rows.volume_ratio - 1).abs()
        effects[name] = {"min_ratio": float(rows.volume_ratio.min()), "max_ratio": float(rows.volume_ratio.max()),
                         "median_change": float(change.median()), "smallest_change": float(change[smallest[rows.index]].iloc[0]),
                         "median_dice": float(rows.dice_vs_centre.median())}
    return effects


def case_facts(cohort: Cohort):
    """What makes each patient easy or hard, one row per patient (index ``patient``): the primary GTV's volume (cm³,
    from the generator), its size stratum (``< 5 cm³``, ``5–30 cm³``, ``> 30 cm³``), its location (``central``:
    against the mediastinum or hilum; ``juxta-pleural``; ``peripheral``), whether it is part-solid, spiculated, has
    atelectasis or a vessel beside it, and an involved node. Real cohorts have no generator parameters: the volume
    comes from the GTV masks, the location is ``unknown`` and the rest NaN."""
    import pandas as pd

    from gtvlib.data.synthetic.tumour import size_stratum

    rows = []
    for pid in cohort.patient_ids:
        params = cohort.parameters(pid)
        if params is None:
            volume = cohort.load(pid)
            gtv = np.any([mask for name, mask in volume.masks.items() if name.startswith("GTV")], axis=0)
            cm3 = volume_cm3(gtv, volume.spacing_mm)
            rows.append({"patient": pid, "gtv_cm3": cm3, "size": size_stratum(cm3), "location": "unknown",
                         **{name: float("nan") for name in ("part_solid", "spiculated", "atelectasis", "vessel", "node")}})
            continue
        tumour = params["tumour"]
        companions = tumour.get("companions") or {}
        rows.append({"patient": pid, "gtv_cm3": float(tumour["volume_cm3"]), "size": size_stratum(tumour["volume_cm3"]),
                     "location": tumour["category"], "part_solid": bool(tumour["part_solid"]),
                     "spiculated": bool(tumour["spiculated"]), "atelectasis": companions.get("atelectasis") is not None,
                     "vessel": companions.get("vessel") is not None, "node": params.get("node") is not None})
    return pd.DataFrame(rows).set_index("patient")
