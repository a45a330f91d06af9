"""Prompts for SAM-Med2D: boxes and points from a ground truth, clicks from errors, and prompts a clinic has.

Coordinates are pixels of the model input, (x, y) = (column, row), boxes (x0, y0, x1, y1) inclusive of
the tumour's extreme pixels. Masks are (H, W) bool arrays.

* Training box: the largest connected component's box, shifted by one random offset of up to ±5 px in
  x and in y, never more than half the box's shorter side (SAM-Med2D's jitter); no jitter at test time.
* Points: one random foreground pixel, or k points, half foreground (label 1) and half background (0).
* Iterative refinement: the next click is the pixel deepest inside the larger error region of the
  previous prediction (missed tumour → label 1, false positive → label 0).
* Without a ground truth: a box around a clicked point of a given size, or the box of another model's mask.

Box prompts as a clinic gives them (:class:`BoxPrompt`, :data:`BOX_PROMPTS`), for training and for scoring; each
says what it costs a clinician per patient:

* ``truth``: the ground-truth box of each tumour slice's largest component, exact (the papers' test prompt: an
  oracle, since it carries the tumour's extent on every slice);
* ``drawn``: a box drawn on each tumour slice, each edge off by a normal error of SD ``edge_sd_mm`` (3 mm: about
  the in-plane spread of physicians' GTV edges, a third to a half of a pixel of the paper's 0.98-mm CT and a
  pixel here); one box per tumour slice;
* ``lesion``: one box drawn once per patient around the lesion (the largest 3-D component) on the axial view, edges
  off by the same error, and its first and last slices marked; every tumour slice gets that box, loose at the
  lesion's cranial and caudal ends; one box and two slice marks per patient;
* ``click``: one click on a random tumour pixel of each tumour slice and a square of ``typical_side_mm`` around it
  (the training patients' median tumour extent, never the scored tumour's); one click per tumour slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from gtvlib.util.errors import GtvError


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a 2-D mask (empty stays empty)."""
    from gtvlib.util.components import largest_components

    return largest_components(mask, 1, "full")


def box_from_mask(mask: np.ndarray, jitter_px: int = 0, rng: np.random.Generator | None = None) -> np.ndarray:
    """(x0, y0, x1, y1) float box of the largest component, optionally shifted by one random offset."""
    component = largest_component(np.asarray(mask, dtype=bool))
    rows, columns = np.nonzero(component)
    if rows.size == 0:
        raise GtvError("no box can be drawn around an empty mask (use tumour slices, or a prompt without ground truth)")
    x0, y0, x1, y1 = columns.min(), rows.min(), columns.max(), rows.max()
    if jitter_px > 0:
        rng = rng or np.random.default_rng()
        limit = int(min(jitter_px, min(x1 - x0 + 1, y1 - y0 + 1) // 2))
        dx, dy = rng.integers(-limit, limit + 1, size=2) if limit > 0 else (0, 0)
        height, width = mask.shape
        x0, x1 = np.clip([x0 + dx, x1 + dx], 0, width - 1)
        y0, y1 = np.clip([y0 + dy, y1 + dy], 0, height - 1)
    return np.array([x0, y0, x1, y1], dtype=np.float32)


def sample_points(mask: np.ndarray, count: int = 1, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``count`` points (count, 2) as (x, y) and labels (count,): one foreground point, or half and half."""
    rng = rng or np.random.default_rng()
    mask = np.asarray(mask, dtype=bool)
    foreground, background = np.argwhere(mask), np.argwhere(~mask)
    if len(foreground) == 0:
        raise GtvError("no foreground pixel to sample a point from")
    n_fg = 1 if count == 1 else count - count // 2
    n_bg = count - n_fg
    chosen = [foreground[rng.integers(len(foreground), size=n_fg)], background[rng.integers(len(background), size=n_bg)]]
    points = np.concatenate(chosen)[:, ::-1].astype(np.float32)  # (row, col) → (x, y)
    return points, np.array([1] * n_fg + [0] * n_bg, dtype=np.int64)


def click_from_error(prediction: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, int] | None:
    """The next corrective click: the pixel deepest inside the larger error region, and its label.

    Returns None when the prediction is perfect.
    """
    missed = np.asarray(reference, bool) & ~np.asarray(prediction, bool)
    extra = np.asarray(prediction, bool) & ~np.asarray(reference, bool)
    if not missed.any() and not extra.any():
        return None
    region, label = (missed, 1) if missed.sum() >= extra.sum() else (extra, 0)
    depth = ndimage.distance_transform_edt(np.pad(largest_component(region), 1))[1:-1, 1:-1]
    row, column = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return np.array([column, row], dtype=np.float32), label


def box_around_point(point_xy, size_px: float, image_size: int) -> np.ndarray:
    """A square box of side ``size_px`` centred on a clicked point: a prompt a clinician can give."""
    x, y = point_xy
    half = size_px / 2
    return np.clip(np.array([x - half, y - half, x + half, y + half], dtype=np.float32), 0, image_size - 1)


BOX_PROMPTS = ("truth", "drawn", "lesion", "click")
PROMPT_COST = {"truth": "one exact box per tumour slice (an oracle)", "drawn": "one box per tumour slice",
               "lesion": "one box and two slice marks per patient", "click": "one click per tumour slice"}
EDGE_SD_MM = 3.0  # SD of a drawn box edge (mm): physicians' in-plane GTV edge spread is of this size
# how the tables name each prompt (the oracle first, the cheapest last)
PROMPT_LABELS = {"truth": "exact box per slice (oracle)", "drawn": "drawn box per slice",
                 "lesion": "one box per lesion", "click": "click + typical square"}


def mask_box(mask: np.ndarray) -> np.ndarray | None:
    """(x0, y0, x1, y1) float box of all pixels of a 2-D mask, or None when it is empty."""
    rows, columns = np.nonzero(mask)
    if rows.size == 0:
        return None
    return np.array([columns.min(), rows.min(), columns.max(), rows.max()], dtype=np.float32)


def jitter_edges(box: np.ndarray, sd_px: float, rng: np.random.Generator, size: int) -> np.ndarray:
    """``box`` with each edge moved by a rounded normal error of SD ``sd_px`` pixels, clipped to the image of side
    ``size``, at least one pixel wide (the edges never cross)."""
    moved = np.round(np.asarray(box, np.float64) + rng.normal(0.0, sd_px, 4)) if sd_px > 0 else np.asarray(box, np.float64)
    moved = np.clip(moved, 0, size - 1)
    x0, y0, x1, y1 = moved
    x0, x1 = min(x0, x1), max(x0, x1)
    y0, y1 = min(y0, y1), max(y0, y1)
    return np.array([x0, y0, x1, y1], dtype=np.float32)


def lesion_box(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The lesion a clinician boxes once: the largest 26-connected component of ``labels`` (z, S, S) bool → (its
    in-plane box (x0, y0, x1, y1) over all its slices, its slices (bool (z,))), or None without tumour."""
    from gtvlib.util.components import largest_components

    lesion = largest_components(np.asarray(labels, bool), 1, "full")
    if not lesion.any():
        return None
    return mask_box(lesion.any(axis=0)), lesion.any(axis=(1, 2))


@dataclass(frozen=True)
class BoxPrompt:
    """How the box prompt of a tumour slice is drawn (see the module's list): ``kind`` one of :data:`BOX_PROMPTS`,
    ``edge_sd_mm`` (``drawn``, ``lesion``), ``typical_side_mm`` (``click``: the side of the square around the click,
    taken from training patients)."""

    kind: str = "truth"
    edge_sd_mm: float = EDGE_SD_MM
    typical_side_mm: float = 0.0

    def __post_init__(self):
        if self.kind not in BOX_PROMPTS:
            raise GtvError(f"box prompt {self.kind!r} is unknown; expected one of {BOX_PROMPTS}")
        if not (np.isfinite(self.edge_sd_mm) and self.edge_sd_mm >= 0):
            raise GtvError(f"edge_sd_mm={self.edge_sd_mm!r}; expected a number of mm ≥ 0")
        if self.kind == "click" and not (np.isfinite(self.typical_side_mm) and self.typical_side_mm > 0):
            raise GtvError(f"typical_side_mm={self.typical_side_mm!r}; a click prompt needs the training patients' "
                           "typical tumour extent in mm (gtvlib.prompts.typical_side_mm)")

    @property
    def cost(self) -> str:
        return PROMPT_COST[self.kind]

    def slice_box(self, label: np.ndarray, pixel_mm: float, rng: np.random.Generator,
                  lesion: np.ndarray | None = None) -> np.ndarray:
        """The box (x0, y0, x1, y1) of one tumour slice ``label`` (S, S) on a grid of ``pixel_mm``: ``lesion``, the
        mask (S, S) of the patient's lesion box on this slice (``lesion`` prompts; the truth's box without it)."""
        size = label.shape[-1]
        if self.kind == "truth":
            return box_from_mask(label)
        if self.kind == "click":
            component = largest_component(np.asarray(label, bool))
            pixels = np.argwhere(component)
            if len(pixels) == 0:
                raise GtvError("no tumour pixel to click on (an empty slice has no prompt)")
            row, column = pixels[rng.integers(len(pixels))]
            return box_around_point((float(column), float(row)), self.typical_side_mm / pixel_mm, size)
        if self.kind == "lesion" and lesion is not None and lesion.any():
            return mask_box(lesion)
        return jitter_edges(box_from_mask(label), self.edge_sd_mm / pixel_mm, rng, size)

    def patient_boxes(self, labels: np.ndarray, pixel_mm: float, rng: np.random.Generator) -> dict[int, np.ndarray]:
        """The boxes of every tumour slice of one patient (``labels`` (z, S, S) bool on a grid of ``pixel_mm``):
        slice index → (x0, y0, x1, y1). A ``lesion`` box is drawn once and shared by its slices (slices of other
        lesions only get a ``drawn`` box of their own)."""
        labels = np.asarray(labels, bool)
        slices = np.nonzero(labels.any(axis=(1, 2)))[0]
        shared = None
        if self.kind == "lesion" and (found := lesion_box(labels)) is not None:
            box, on = found
            shared = (jitter_edges(box, self.edge_sd_mm / pixel_mm, rng, labels.shape[-1]), on)
        out = {}
        for k in slices:
            if shared is not None and shared[1][k]:
                out[int(k)] = shared[0]
            else:
                out[int(k)] = self.slice_box(labels[k], pixel_mm, rng)
        return out


def prompt_boxes(prompt: BoxPrompt, cache, patient_ids: list[str], seed: int = 0) -> dict[tuple[str, int], np.ndarray]:
    """Box prompts of every tumour slice of ``patient_ids`` in a slice cache: (patient, slice) → (x0, y0, x1, y1).
    Seeded per patient (the same patient gets the same boxes in any company), so every model and reference scored
    with them answers exactly the same prompts."""
    import zlib

    out = {}
    for pid in patient_ids:
        rng = np.random.default_rng([seed, zlib.crc32(pid.encode())])
        labels = np.asarray(cache.load(pid)[1], bool)
        for k, box in prompt.patient_boxes(labels, cache.spacing_mm(pid)[1], rng).items():
            out[(pid, k)] = box
    return out


def typical_side_mm(cache, patient_ids: list[str]) -> float:
    """The median over the tumour slices of ``patient_ids`` of the larger in-plane extent of the slice's largest
    tumour component (mm): the size of a click prompt's box, taken from training patients only."""
    sides = []
    for pid in patient_ids:
        labels = np.asarray(cache.load(pid)[1], bool)
        pixel_mm = cache.spacing_mm(pid)[1]
        for k in np.nonzero(labels.any(axis=(1, 2)))[0]:
            x0, y0, x1, y1 = box_from_mask(labels[k])
            sides.append((max(x1 - x0, y1 - y0) + 1) * pixel_mm)
    if not sides:
        raise GtvError(f"the patients {patient_ids} have no tumour slice; expected some to measure a typical extent")
    return float(np.median(sides))


def prompt_makers(edge_sd_mm: float = EDGE_SD_MM) -> dict:
    """Table label (:data:`PROMPT_LABELS`) → a function of a fold's prepared slices giving its :class:`BoxPrompt` (a
    click's square is that fold's training patients' median tumour extent, never the scored patients')."""
    def maker(kind):
        if kind == "click":
            return lambda data: BoxPrompt("click", edge_sd_mm, typical_side_mm(data.cache, data.training_ids))
        return lambda data: BoxPrompt(kind, edge_sd_mm)

    return {label: maker(kind) for kind, label in PROMPT_LABELS.items()}
