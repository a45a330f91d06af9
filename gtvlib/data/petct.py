"""PET/CT cases for the IGTV chapter (seed 004): a patient's planning CT, its PET resampled onto the CT's grid, the
planning GTV and the IGTV (the union of the breathing phases' GTVs), and 2.5-D input stacks of a slice with its
neighbours.

Arrays are (z, y, x) on the CT grid: HU, SUVbw, bool masks. A stack is (M, S, H, W) float32: M modalities in
:data:`MODALITIES` order (PET first), S slices centred on the one to segment (clamped at the volume's ends), CT
windowed to [0, 1] and SUV divided by ``suv_scale`` (the liver's SUV is ≈ 2.4: a scale of 10 keeps tumours below
about 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gtvlib.errors import GtvError

MODALITIES = ("PET", "CT")


@dataclass
class PetCtCase:
    """One patient: ``ct_hu``, ``suv`` (the PET on the CT grid), ``gtv`` (planning CT), ``igtv``; ``spacing_mm`` of the
    CT grid; ``facts`` (the PET's de-identified acquisition facts: weight, dose, uptake time)."""

    patient: str
    ct_hu: np.ndarray
    suv: np.ndarray
    gtv: np.ndarray
    igtv: np.ndarray
    spacing_mm: tuple[float, float, float]
    facts: dict


def load_petct(cohort, patient_id: str) -> PetCtCase:
    """A synthetic cohort's patient with a PET (``pet/<patient>/``): the CT and its GTV through the cohort, the PET
    read (SUVbw from its headers) and resampled onto the CT grid; the two must share a frame of reference."""
    from gtvlib.data.dicom.series import load_pet_series
    from gtvlib.data.synthetic.truth import load_masks
    from gtvlib.data.volume import resample_onto

    folder = Path(cohort.folder) / "pet" / patient_id
    if not (folder / "PT").is_dir():
        raise GtvError(f"{folder}: no PT series; expected a cohort generated with pet_patients covering {patient_id}")
    ct = cohort.load(patient_id)
    pet = load_pet_series(folder / "PT")
    ct_frame = ct.metadata.get("frame_of_reference_uid")  # absent when the CT comes from the decoded-volume cache
    if ct_frame and pet.metadata["frame_of_reference_uid"] != ct_frame:
        raise GtvError(f"{folder}: the PET and the CT of {patient_id} lie in different frames of reference; expected "
                       "a co-registered PET/CT (register them first)")
    suv = resample_onto(pet.hu, pet.spacing_mm, pet.origin_xyz_mm, ct.shape, ct.spacing_mm, ct.origin_xyz_mm)
    igtv = load_masks(folder / "ground_truth_ct.npz")["IGTV"]
    if igtv.shape != ct.shape:
        raise GtvError(f"{folder / 'ground_truth_ct.npz'}: IGTV of shape {igtv.shape}, CT of {ct.shape}; expected one grid")
    facts = {k: pet.metadata[k] for k in ("weight_kg", "dose_mbq", "uptake_min", "suv_per_bq_ml")}
    return PetCtCase(patient_id, ct.hu, suv, np.asarray(ct.masks["GTV-1"], bool), igtv, tuple(ct.spacing_mm), facts)


def stack_25d(case: PetCtCase, z: int, slices: int = 3, modalities: tuple[str, ...] = MODALITIES,
              window: str = "mediastinal", suv_scale: float = 10.0) -> np.ndarray:
    """The 2.5-D input (M, S, H, W) of slice ``z``: ``slices`` (odd) centred on it, the volume's end slices repeated
    beyond its ends; ``modalities`` a non-empty subset of :data:`MODALITIES`."""
    from gtvlib.data.windows import window_hu, window_preset

    if slices < 1 or slices % 2 == 0:
        raise GtvError(f"slices={slices}; expected an odd number ≥ 1 (the segmented slice in the middle)")
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown or not modalities:
        raise GtvError(f"modalities {list(modalities)}; expected a non-empty subset of {list(MODALITIES)}")
    depth = case.ct_hu.shape[0]
    if not 0 <= z < depth:
        raise GtvError(f"slice {z}; expected 0 to {depth - 1}")
    chosen = np.clip(np.arange(z - slices // 2, z + slices // 2 + 1), 0, depth - 1)
    chosen_window = window_preset(window)
    channels = {"PET": case.suv[chosen] / np.float32(suv_scale),
                "CT": window_hu(case.ct_hu[chosen], chosen_window.center, chosen_window.width)}
    return np.stack([channels[m] for m in modalities]).astype(np.float32)
