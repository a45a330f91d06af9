"""Segment a patient's CT series in one call, and export the GTV as RTSTRUCT + DICOM SEG for a planning system.

``python -m gtvlib.segment INPUT --out OUTPUT --model RUN`` (see :mod:`gtvlib.segment.__main__`):

1. **Input**: every DICOM series below INPUT is listed by its headers (any file names and layout; other
   series and non-DICOM files may lie beside it). One CT series is picked, or the one named by ``series``;
   several CT series without a choice, none, a gap or mixed geometry are a :class:`GtvError`.
2. **Model** (:func:`gtvlib.models.trained.load_trained`): a run folder written by training (its last
   checkpoint), a checkpoint in a run, or a weights file with its architecture named, of any family. A 2-D run's
   model grid is laid on the scan at the training pixel size (:mod:`gtvlib.segment.grid`); a 3-D run or a PET/CT
   run predicts through the inferer of its route (:mod:`gtvlib.inference.inferers`), a PET/CT network reading the
   PET series given as ``pet`` (SUVbw from its headers, put on the CT's grid); an IGTV network's ROI is
   ``IGTV-auto``.
3. **Prompt**: a prompt-free model segments every slice alone. SAM-Med2D (GTV-SAMGAN) needs a box on each
   slice it segments: from the user (``box=`` or ``click=`` in patient mm, :mod:`gtvlib.segment.prompts`) or
   from a prompt-free model's mask (``boxes_from``: the box of its largest component on each slice, the
   cascade of a detector and a prompted segmenter). Slices without a box are not segmented (the GTV-SAMGAN
   protocol).
4. **Output** (:mod:`gtvlib.segment.export`): RTSTRUCT and SEG referencing the input series, ROI ``GTV-auto``,
   generated AUTOMATIC by the named model; a QA picture; a summary without identifying values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gtvlib import __version__
from gtvlib.data.dicom.files import read_dataset
from gtvlib.data.dicom.patient import FoundSeries, scan_series
from gtvlib.data.dicom.series import check_ct_slices, volume_from_slices
from gtvlib.data.volume import volume_cm3
from gtvlib.inference.inferers import grid_mask_on_scan, predict_on_scan, predict_volume
from gtvlib.inference.inferers import seen_by as _seen_by
from gtvlib.segment.export import IGTV_ROI_NAME, ROI_NAME, write_outputs
from gtvlib.segment.prompts import UserPrompt, parse_prompt, prompt_labels
from gtvlib.util.errors import GtvError

__all__ = ["ROI_NAME", "Segmentation", "pick_ct_series", "segment_study", "predict_on_scan", "predict_volume", "parse_prompt",
           "grid_mask_on_scan"]


@dataclass
class Segmentation:
    """What :func:`segment_study` did: the mask on the scan (z, rows, columns) bool, the files written and the
    summary (also in ``summary.json``)."""

    mask: np.ndarray
    files: dict[str, Path] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


def pick_ct_series(folder: str | os.PathLike, series_number: str | None = None) -> FoundSeries:
    """The CT series below ``folder``: the only one, or the one numbered ``series_number``; else a
    :class:`GtvError` listing every series found."""
    found = scan_series(folder)
    listing = "; ".join(s.label() for s in found) or "none"
    cts = [s for s in found if s.modality == "CT"]
    if series_number is not None:
        cts = [s for s in cts if s.number == str(series_number)]
        if len(cts) != 1:
            raise GtvError(f"{folder}: {len(cts)} CT series numbered {series_number}; the series found are: {listing}")
    if not cts:
        raise GtvError(f"{folder}: no CT series found (series found: {listing}); expected a folder holding one CT series")
    if len(cts) > 1:
        raise GtvError(f"{folder}: {len(cts)} CT series ({listing}); choose one with --series NUMBER")
    return cts[0]


def segment_study(input_folder: str | os.PathLike, out: str | os.PathLike, model: str | os.PathLike, *,
                  prompts: list[str | UserPrompt] = (), boxes_from: str | os.PathLike | None = None,
                  series: str | None = None, architecture: str | None = None, allow_unsafe_pickle: bool = False,
                  pet: str | os.PathLike | None = None, verbose: bool = True) -> Segmentation:
    """Segment the GTV of the CT series below ``input_folder`` and write RTSTRUCT, SEG, QA picture and summary
    into ``out`` (see the module's description). Returns the :class:`Segmentation`."""
    from gtvlib.models.trained import load_trained

    say = print if verbose else (lambda *a, **k: None)
    chosen = pick_ct_series(input_folder, series)
    say(f"input: {chosen.label()}")
    slices = check_ct_slices([read_dataset(path) for path in chosen.paths], input_folder)
    volume = volume_from_slices(slices, input_folder)
    trained = load_trained(model, architecture, allow_unsafe_pickle)
    parsed = [p if isinstance(p, UserPrompt) else parse_prompt(p) for p in prompts]
    if trained.prompt_free and (parsed or boxes_from):
        raise GtvError(f"{model}: {trained.name} is prompt-free; a prompt or --boxes-from applies to a box-prompted "
                       "model (SAM-Med2D) only")
    if parsed and boxes_from:
        raise GtvError("give either --prompt or --boxes-from, not both (which box would a slice take?)")
    kind = trained.route.get("kind", "slices")
    if kind == "slices":
        if pet is not None:
            raise GtvError(f"{model}: {trained.name} reads CT slices only; --pet applies to a PET/CT network")
        mask, pixel_mm, prompt_source = _slice_mask(trained, volume, parsed, boxes_from, allow_unsafe_pickle)
    else:
        from gtvlib.inference.inferers import inferer_for

        inferer = inferer_for(trained)
        if pet is not None and not inferer.reads_pet:
            raise GtvError(f"{model}: {trained.name} reads no PET; --pet applies to a network that reads PET")
        pet_volume = None
        if pet is not None:
            from gtvlib.data.dicom.series import load_pet_series

            pet_volume = load_pet_series(pet)
            say(f"PET: {pet_volume.shape[0]} slices, SUVbw from its headers")
        mask = inferer(volume, pet_volume)
        target = trained.volume_spec.get("spacing_mm") or volume.spacing_mm
        pixel_mm, prompt_source = tuple(float(v) for v in target[1:]), "none (prompt-free model)"
    roi_name = IGTV_ROI_NAME if kind == "stacks" and trained.route.get("target") == "igtv" else ROI_NAME
    slices_with_tumour = int(mask.reshape(mask.shape[0], -1).any(axis=1).sum())
    summary = {
        "input_series": chosen.label(), "slices": int(volume.shape[0]),
        "scan_spacing_mm": [round(float(v), 4) for v in volume.spacing_mm],
        "model": trained.name, "model_version": trained.version, "prompt": prompt_source,
        "model_pixel_mm": [round(v, 4) for v in pixel_mm],
        "volume_cm3": round(volume_cm3(mask, volume.spacing_mm), 3), "slices_with_tumour": slices_with_tumour,
        "roi": roi_name, "gtvlib_version": __version__,
    }
    files = write_outputs(out, slices, volume, mask, trained.name, trained.version, summary, roi_name)
    say(f"{roi_name}: {summary['volume_cm3']:.2f} cm³ on {slices_with_tumour} slices; wrote "
        + ", ".join(str(p) for p in files.values()))
    return Segmentation(mask, files, summary)



def _slice_mask(trained, volume, parsed, boxes_from, allow_unsafe_pickle) -> tuple[np.ndarray, tuple, str]:
    """A 2-D run's mask on the scan, with its prompts (a box-prompted model) or none: (mask, model pixel mm, what
    prompted it)."""
    from gtvlib.models.trained import load_trained

    grid, images = _seen_by(trained, volume)
    labels, prompt_source = None, "none (prompt-free model)"
    if parsed:
        labels, prompt_source = prompt_labels(parsed, volume, grid), "user: " + "; ".join(
            f"{p.kind}={','.join(f'{v:g}' for v in p.values)} mm" for p in parsed)
    elif boxes_from:
        detector = load_trained(boxes_from, allow_unsafe_pickle=allow_unsafe_pickle)
        if not detector.prompt_free:
            raise GtvError(f"{boxes_from}: {detector.name} needs prompts itself; --boxes-from expects a prompt-free run")
        detector_grid, detector_images = _seen_by(detector, volume)
        found = detector_grid.to_scan(predict_volume(detector, detector_images, None, description="boxes"), volume.shape)
        labels = grid.mask_on_grid(found)  # the detector's mask on the scan, laid on the segmenter's grid
        prompt_source = f"boxes of {detector.name} ({detector.version}) per slice"
    if not trained.prompt_free and labels is not None and not labels.any():
        raise GtvError("no slice received a box prompt (the detector found nothing): nothing to segment")
    return grid.to_scan(predict_volume(trained, images, labels), volume.shape), grid.pixel_mm, prompt_source
