"""PET series: activity concentration from the stored values, and the body-weight SUV from the headers, as a clinic
computes it.

``SUVbw = C × W / D(t)``: ``C`` the decay-corrected activity concentration (Bq/ml, the rescaled pixel values of a
series in Units BQML), ``W`` the patient's weight in g (1 ml of tissue taken as 1 g), ``D(t) = D₀ · 2^(−Δt / T½)``
the injected dose ``D₀`` (Bq) decayed from the injection to the time the image values are decay-corrected to
(DecayCorrection START: the series' start, SeriesDate and SeriesTime). Every header the formula needs is checked;
what is missing or inconsistent is a :class:`~gtvlib.util.errors.GtvError` that names the file, the attribute and the
value. A PET series is read by the same series rules as a CT (:mod:`gtvlib.data.dicom.series`): one series and one
frame of reference, head-first supine axial, uniform slices sorted along the normal
(:func:`gtvlib.data.dicom.series.load_pet_series`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from pydicom.dataset import Dataset

from gtvlib.data.dicom.files import source_of
from gtvlib.util.errors import GtvError

F18_HALF_LIFE_S = 6586.2  # fluorine-18, 109.77 min
MAX_UPTAKE_H = 24.0  # a scan this long after the injection (or any time before it) means a wrong date or time


@dataclass(frozen=True)
class PetAcquisition:
    """What SUVbw needs, in SI units: ``weight_kg``, the injected ``dose_bq`` at ``injection`` time, the radionuclide's
    ``half_life_s``, and ``scan_start`` (what DecayCorrection START corrects to)."""

    weight_kg: float
    dose_bq: float
    half_life_s: float
    injection: datetime
    scan_start: datetime

    @property
    def uptake_s(self) -> float:
        """Seconds from the injection to the scan's start."""
        return (self.scan_start - self.injection).total_seconds()

    @property
    def decayed_dose_bq(self) -> float:
        """The dose left at the scan's start: D₀ · 2^(−Δt / T½)."""
        return self.dose_bq * 2.0 ** (-self.uptake_s / self.half_life_s)

    @property
    def suv_per_bq_ml(self) -> float:
        """SUVbw per Bq/ml: weight (g) / decayed dose (Bq)."""
        return self.weight_kg * 1000.0 / self.decayed_dose_bq


def _datetime(date: str, time: str, what: str, source: str) -> datetime:
    """A DICOM DA + TM pair (TM may carry fractions of a second, and may omit minutes or seconds)."""
    date, time = str(date).strip(), str(time).strip()
    try:
        day = datetime.strptime(date, "%Y%m%d")
        whole, _, fraction = time.partition(".")
        hours, minutes, seconds = int(whole[0:2]), int(whole[2:4] or 0), int(whole[4:6] or 0)
        return day + timedelta(hours=hours, minutes=minutes, seconds=seconds + (float(f"0.{fraction}") if fraction else 0.0))
    except (ValueError, IndexError):
        raise GtvError(f"{source}: {what} {date!r} {time!r} is not a DICOM date and time; expected YYYYMMDD and "
                       "HHMMSS[.ffffff]") from None


def _positive(value, keyword: str, source: str, unit: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GtvError(f"{source}: {keyword} {value!r} is not a number; expected a positive value in {unit}") from None
    if not np.isfinite(number) or number <= 0:
        raise GtvError(f"{source}: {keyword} {number:g}; expected a positive value in {unit}")
    return number


def pet_acquisition(ds: Dataset) -> PetAcquisition:
    """The SUV headers of one PET image, checked: Units BQML, DecayCorrection START, CorrectedImage with ATTN and
    DECY, PatientWeight, and the first RadiopharmaceuticalInformationSequence item's RadionuclideTotalDose,
    RadionuclideHalfLife and RadiopharmaceuticalStartTime (or StartDateTime); the injection before the series'
    start, by less than a day."""
    source = source_of(ds)
    if ds.get("Modality") != "PT":
        raise GtvError(f"{source}: Modality {ds.get('Modality')!r}; expected 'PT' (a PET image) for SUV")
    units = str(ds.get("Units", ""))
    if units != "BQML":
        raise GtvError(f"{source}: Units {units!r}; expected 'BQML' (activity concentration): counts (CNTS) need a "
                       "vendor's private calibration, and values already in SUV or other units cannot be rescaled")
    decay = str(ds.get("DecayCorrection", ""))
    if decay != "START":
        raise GtvError(f"{source}: DecayCorrection {decay!r}; expected 'START' (values decay-corrected to the series' "
                       "start, which the dose is decayed to); ADMIN or NONE need another reference time")
    corrected = [str(v) for v in np.atleast_1d(ds.get("CorrectedImage", []))]
    lacking = [c for c in ("ATTN", "DECY") if c not in corrected]
    if lacking:
        raise GtvError(f"{source}: CorrectedImage {corrected} lacks {lacking}; expected an attenuation- and "
                       "decay-corrected image (SUV of uncorrected counts is meaningless)")
    if ds.get("PatientWeight") in (None, ""):
        raise GtvError(f"{source}: PatientWeight missing; expected the weight in kg (SUVbw divides by it)")
    weight = _positive(ds.PatientWeight, "PatientWeight", source, "kg")
    if not 1.0 <= weight <= 500.0:
        raise GtvError(f"{source}: PatientWeight {weight:g} kg; expected a body weight in kg (1 to 500: grams or "
                       "pounds written as kg?)")
    items = ds.get("RadiopharmaceuticalInformationSequence") or []
    if not len(items):
        raise GtvError(f"{source}: RadiopharmaceuticalInformationSequence empty or missing; expected the injected dose, "
                       "the half-life and the injection time")
    item = items[0]
    for keyword in ("RadionuclideTotalDose", "RadionuclideHalfLife"):
        if item.get(keyword) in (None, ""):
            raise GtvError(f"{source}: {keyword} missing in RadiopharmaceuticalInformationSequence; expected it for SUV")
    dose = _positive(item.RadionuclideTotalDose, "RadionuclideTotalDose", source, "Bq")
    half_life = _positive(item.RadionuclideHalfLife, "RadionuclideHalfLife", source, "s")
    for keyword in ("SeriesDate", "SeriesTime"):
        if ds.get(keyword) in (None, ""):
            raise GtvError(f"{source}: {keyword} missing; expected the series' start (DecayCorrection START refers to it)")
    start = _datetime(ds.SeriesDate, ds.SeriesTime, "SeriesDate/SeriesTime", source)
    if item.get("RadiopharmaceuticalStartDateTime") not in (None, ""):
        stamp = str(item.RadiopharmaceuticalStartDateTime)
        injection = _datetime(stamp[:8], stamp[8:].split("+")[0].split("-")[0], "RadiopharmaceuticalStartDateTime", source)
    elif item.get("RadiopharmaceuticalStartTime") not in (None, ""):
        injection = _datetime(ds.SeriesDate, item.RadiopharmaceuticalStartTime, "RadiopharmaceuticalStartTime (on SeriesDate)", source)
    else:
        raise GtvError(f"{source}: no RadiopharmaceuticalStartTime or StartDateTime; expected the injection time")
    acquisition = PetAcquisition(weight, dose, half_life, injection, start)
    hours = acquisition.uptake_s / 3600.0
    if not 0 < hours <= MAX_UPTAKE_H:
        raise GtvError(f"{source}: the injection ({injection:%Y-%m-%d %H:%M:%S}) lies {hours:.2f} h before the series' "
                       f"start ({start:%Y-%m-%d %H:%M:%S}); expected a positive uptake time of at most {MAX_UPTAKE_H:g} h "
                       "(a wrong date or time, or an injection after the scan)")
    return acquisition


def suv_factor(slices: list[Dataset]) -> tuple[float, PetAcquisition]:
    """SUVbw per Bq/ml of a PET series (every slice must carry the same weight, dose, times and half-life) and the
    acquisition it was computed from."""
    acquisitions = [pet_acquisition(ds) for ds in slices]
    first = acquisitions[0]
    for ds, other in zip(slices, acquisitions):
        if not np.isclose(other.suv_per_bq_ml, first.suv_per_bq_ml, rtol=1e-9):
            raise GtvError(f"{source_of(ds)}: weight, dose, half-life or times differ from the series' first slice "
                           f"(SUV factor {other.suv_per_bq_ml:.6g} vs {first.suv_per_bq_ml:.6g}); expected one "
                           "acquisition per series")
    return first.suv_per_bq_ml, first
