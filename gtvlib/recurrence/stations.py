"""Lymph-node stations: the regions of the seed paper's recurrence table, their ROI names, and their masks.

The paper (METHODS.md §4) divides the mediastinal and hilar lymph-node regions into 16 stations of the
IASLC map; its recurrence table counts 170 regional recurrences in 94 of 180 patients by station
(:data:`PAPER_RECURRENCES`). A station is a structure named ``LN-<station>`` (the synthetic cohort writes them
into its RTSTRUCT and SEG; a clinic's automatic station segmentation can be mapped to these names in the
manifest's ``roi_map``), read through the same loaders as every other structure.
"""

from __future__ import annotations

import numpy as np

from gtvlib.util.errors import GtvError

PAPER_STATIONS = ("1L", "1R", "2L", "2R", "3A", "3P", "4L", "4R", "5", "6", "7", "8", "10L", "10R", "11L", "11R")
# Recurrences by region in the paper (170 in 94 of 180 patients): the paper's numbers, not ours.
PAPER_RECURRENCES = {"10R": 50, "4R": 24, "10L": 23, "7": 18, "11R": 11, "6": 10, "11L": 10, "2R": 8, "1R": 3,
                     "3A": 3, "4L": 3, "5": 3, "1L": 2, "8": 2, "2L": 0, "3P": 0}


def roi_name(station: str) -> str:
    """The structure name of a station: ``LN-<station>``."""
    return f"LN-{station}"


def parse_stations(stations) -> tuple[str, ...]:
    """A list of stations (a comma-separated string or a sequence), checked against the paper's 16."""
    names = [s.strip() for s in stations.split(",")] if isinstance(stations, str) else [str(s).strip() for s in stations]
    names = [s for s in names if s]
    unknown = [s for s in names if s not in PAPER_STATIONS]
    if unknown or not names:
        raise GtvError(f"stations {unknown or stations!r}: expected one or more of {', '.join(PAPER_STATIONS)} "
                       "(the IASLC stations of the recurrence table)")
    if len(set(names)) != len(names):
        raise GtvError(f"stations {names}: a station is listed twice; expected each once")
    return tuple(names)


def station_masks(masks: dict[str, np.ndarray], stations, where: str) -> dict[str, np.ndarray]:
    """The mask of every station in ``stations`` (station → bool (z, y, x)), from structures named ``LN-<station>``.

    ``where`` names the patient or file in errors. A missing or empty station mask is a :class:`GtvError`: the
    partition features of a station that the scan does not show would be zeros that mean nothing.
    """
    missing = [roi_name(s) for s in stations if roi_name(s) not in masks]
    if missing:
        found = sorted(name for name in masks if name.startswith("LN-")) or "none"
        raise GtvError(f"{where}: no station mask for {missing} (station masks found: {found}); expected a "
                       "structure LN-<station> for every station of the list (map a clinic's names in roi_map)")
    empty = [roi_name(s) for s in stations if not np.any(masks[roi_name(s)])]
    if empty:
        raise GtvError(f"{where}: station masks {empty} are empty on this scan; expected the scan to cover every "
                       "station of the list (or leave those stations out of the list)")
    return {s: np.asarray(masks[roi_name(s)], bool) for s in stations}

