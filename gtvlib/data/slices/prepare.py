"""One call from a cohort to training-ready slices: split → whole-image cache → GTV-MFIT → model-grid cache.

:func:`prepare` is what every chapter that trains or evaluates a 2-D model calls. It splits the patients
(seeded, patient-level), caches the windowed whole images, finds the GTV-MFIT square on the *training*
labels only, and caches the slices cropped to it and resized to the model input. Everything is cached, so
a second chapter asking for the same slices finds them ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gtvlib.data.slices.boxes import Box, body_box, body_square, mfit_box
from gtvlib.data.slices.cache import SliceCache, SliceSpec
from gtvlib.data.slices.splits import patient_split
from gtvlib.util.errors import GtvError

CROPS = ("mfit", "body", "none")


@dataclass
class PreparedSlices:
    """Slices of a cohort ready for a model, and how they were made.

    ``cache``: the model grid (windowed, cropped, resized to ``size`` × ``size``). ``full``: the windowed
    whole images the crop was found on (None when the slices were prepared from known parts).
    ``crop``: the GTV-MFIT square on the whole image, ``union``: the union of the training tumour boxes
    it covers (both None without a crop).
    """

    training_ids: list[str]
    validation_ids: list[str]
    cache: SliceCache
    crop: Box | None = None
    union: Box | None = None
    size: int | None = None
    full: SliceCache | None = field(default=None, repr=False)

    def subset(self, training_ids: list[str], validation_ids: list[str]) -> "PreparedSlices":
        """The same slices with another split (a fold)."""
        return PreparedSlices(list(training_ids), list(validation_ids), self.cache, self.crop, self.union, self.size, self.full)

    @property
    def patient_ids(self) -> list[str]:
        return [*self.training_ids, *self.validation_ids]

    @property
    def spacing_mm(self) -> dict[str, tuple[float, float, float]]:
        """(dz, dy, dx) in mm of each patient's model grid (after crop and resize)."""
        return {pid: self.cache.spacing_mm(pid) for pid in self.patient_ids}

    def pairs(self, split: str, strategy: str = "theta0", seed: int = 0) -> list[tuple[str, int]]:
        """(patient, slice) pairs of ``split`` ("training" or "validation") after balance sampling;
        the default ``theta0`` keeps the tumour slices only."""
        ids = {"training": self.training_ids, "validation": self.validation_ids}.get(split)
        if ids is None:
            raise GtvError(f"split {split!r} is unknown; expected 'training' or 'validation'")
        return self.cache.index(ids, strategy, seed)

    def require_tumour_slices(self) -> None:
        """Raise a :class:`GtvError` unless both splits hold tumour slices on the model grid: training needs them,
        and so does validation. With few patients the GTV-MFIT crop, found on the training labels alone, can
        leave every validation tumour outside."""
        for split, ids in (("training", self.training_ids), ("validation", self.validation_ids)):
            if not self.pairs(split):
                where = (f" inside the GTV-MFIT crop {self.crop.as_xyxy()} ({self.crop.width} px, found on the "
                         f"{len(self.training_ids)} training patients)" if self.crop is not None and split == "validation" else "")
                raise GtvError(f"the {split} patients {ids} have no tumour slice{where}; expected at least one "
                               "(use more patients, another split seed, a larger mfit_multiple or no crop)")

    def pixels_outside_crop(self, patient_ids: list[str]) -> tuple[int, int]:
        """(tumour pixels outside the crop, tumour pixels in all) over the whole-image labels of ``patient_ids``."""
        if self.full is None or self.crop is None:
            return 0, 0
        labels = self.full.labels(patient_ids)
        inside = sum(int(self.crop.crop(label).sum()) for label in labels)
        total = sum(int(label.sum()) for label in labels)
        return total - inside, total

    def describe(self) -> str:
        """A few lines a chapter prints: split, crop, model grid, slices with tumour."""
        spacings = sorted(set(self.spacing_mm.values()))
        grid = " × ".join(f"{s:.2f}" for s in spacings[0]) + " mm" + (
            f" (and {len(spacings) - 1} other spacings)" if len(spacings) > 1 else "")
        lines = [f"patients: {len(self.training_ids)} training, {len(self.validation_ids)} validation (split by patient)"]
        if self.crop is not None:
            lines.append(f"GTV-MFIT crop {self.crop.as_xyxy()} ({self.crop.width} px)"
                         + (f" resized to {self.size} px" if self.size else ""))
        lines.append(f"model grid (z, y, x): {grid}")
        lines.append(f"tumour slices: {len(self.pairs('training'))} training, {len(self.pairs('validation'))} validation")
        return "\n".join(lines)


def mfit_from_cache(cache: SliceCache, training_ids: list[str], multiple: int = 64, min_side: int = 0) -> tuple[Box, Box]:
    """GTV-MFIT over the cached whole-image labels of the training patients (see :func:`mfit_box`)."""
    labels = cache.labels(training_ids)
    return mfit_box(labels, labels[0].shape[1:], multiple, min_side)


def prepare(cohort, *, window: str = "hcf_paper", crop: str = "mfit", mfit_multiple: int = 64, size: int | None = None,
            validation_fraction: float = 0.2, seed: int = 0, cache_dir=None,
            validation_ids: list[str] | None = None) -> PreparedSlices:
    """Split ``cohort`` by patient and cache its slices on the model grid.

    ``cohort``: a :class:`~gtvlib.data.cohort.Cohort`. ``window``: HU window preset. ``crop``: ``"mfit"``
    (GTV-MFIT on the training labels, side a multiple of ``mfit_multiple`` px), ``"body"`` (HCF: the square
    around the training patients' body boxes) or ``"none"``. ``size``:
    the model input side in pixels (None keeps the cropped size). ``validation_fraction``, ``seed``: the
    patient split. ``cache_dir``: the cache root (default ``$GTVLIB_CACHE``). ``validation_ids``: a given
    validation (held-out) set instead of the seeded split, e.g. another chapter's, so that both score the same
    patients.
    """
    if crop not in CROPS:
        raise GtvError(f"crop={crop!r}; expected one of {CROPS}")
    if validation_ids is None:
        training_ids, validation_ids = patient_split(cohort.patient_ids, validation_fraction, seed)
    else:
        unknown = sorted(set(validation_ids) - set(cohort.patient_ids))
        if unknown or not validation_ids or len(set(validation_ids)) >= len(cohort.patient_ids):
            raise GtvError(f"validation_ids {sorted(validation_ids)}: {'unknown ' + str(unknown) if unknown else 'no training patient left'}; "
                           f"expected a non-empty proper subset of the cohort's {len(cohort.patient_ids)} patients")
        validation_ids = sorted(set(validation_ids))
        training_ids = sorted(set(cohort.patient_ids) - set(validation_ids))
    full = SliceCache(cohort.folder, SliceSpec.from_window(window), cache_dir=cache_dir)
    full.build(cohort.patient_ids, load_volume=cohort.load, patient_folder=cohort.patient_folder)
    union, box = mfit_from_cache(full, training_ids, multiple=mfit_multiple) if crop == "mfit" else (None, None)
    if crop == "body":  # HCF: the body's box (HU > −500 ± 12 px) over the training patients, squared
        bodies = [body_box(cohort.load(pid).hu) for pid in training_ids]
        union, box = None, body_square(bodies, full.load(training_ids[0])[0].shape[1:])
    cache = SliceCache(cohort.folder, SliceSpec.from_window(window, crop=box, size=size), cache_dir=cache_dir)
    cache.build(cohort.patient_ids, load_volume=cohort.load, patient_folder=cohort.patient_folder)
    return PreparedSlices(training_ids, validation_ids, cache, box, union, size, full)


def prepared_from_parts(cohort_folder, training_ids: list[str], validation_ids: list[str], *, window: str = "hcf_paper",
                        crop: Box | None = None, size: int | None = None, cache_dir=None, build: bool = True) -> PreparedSlices:
    """Prepared slices from a known split and crop (e.g. a run configuration under ``torchrun``), patients
    read from ``cohort_folder/<id>``. With ``build=False`` the cache is opened, not built (other ranks)."""
    cache = SliceCache(cohort_folder, SliceSpec.from_window(window, crop=crop, size=size), cache_dir=cache_dir)
    if build:
        cache.build([*training_ids, *validation_ids])
    return PreparedSlices(list(training_ids), list(validation_ids), cache, crop, None, size)

