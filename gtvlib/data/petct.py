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

from gtvlib.util.errors import GtvError

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


TARGETS = ("igtv", "gtv")


@dataclass
class PetCtSet:
    """PET/CT cases (patient → :class:`PetCtCase`) split into training and validation patients; ``source``: what they
    are (part of a run's key)."""

    cases: dict
    training_ids: list[str]
    validation_ids: list[str]
    source: str = ""

    def subset(self, training_ids: list[str], validation_ids: list[str]) -> "PetCtSet":
        """The same cases with another split (a fold)."""
        unknown = sorted((set(training_ids) | set(validation_ids)) - set(self.cases))
        if unknown:
            raise GtvError(f"patients {unknown} are not in this PET/CT set; expected some of {sorted(self.cases)}")
        return PetCtSet(self.cases, list(training_ids), list(validation_ids), self.source)


def target_of(case: PetCtCase, target: str) -> np.ndarray:
    """The label volume a run learns: the IGTV or the planning GTV (:data:`TARGETS`)."""
    return case.igtv if target == "igtv" else case.gtv


def sample_stacks(data: PetCtSet, rng: np.random.Generator, batch_size: int, slices: int, modalities, target: str = "igtv",
                  patch_px: int = 0, foreground_fraction: float = 0.5, window: str = "mediastinal",
                  suv_scale: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (B, M, S, H, W) and middle-slice labels (B, 1, H, W) float32: a training patient drawn uniformly, then a
    slice, a share ``foreground_fraction`` among the slices with the target and the others among the slices with
    body; with ``patch_px`` a square crop centred on a target or body pixel likewise; random left-right flips."""
    from gtvlib.data.volumes import TISSUE_HU

    inputs, labels = [], []
    for _ in range(batch_size):
        case = data.cases[data.training_ids[int(rng.integers(len(data.training_ids)))]]
        volume = target_of(case, target)
        with_target = np.nonzero(volume.any(axis=(1, 2)))[0]
        with_body = np.nonzero((case.ct_hu > TISSUE_HU).any(axis=(1, 2)))[0]
        on_target = bool(rng.random() < foreground_fraction and len(with_target))
        pool = with_target if on_target else with_body
        z = int(pool[int(rng.integers(len(pool)))])
        stack, label = stack_25d(case, z, slices, tuple(modalities), window, suv_scale), volume[z]
        if patch_px:
            candidates = np.argwhere(label if on_target else case.ct_hu[z] > TISSUE_HU)
            centre = candidates[int(rng.integers(len(candidates)))]
            start = np.clip(centre - patch_px // 2, 0, np.array(label.shape) - patch_px)
            window_rc = (slice(int(start[0]), int(start[0]) + patch_px), slice(int(start[1]), int(start[1]) + patch_px))
            stack, label = stack[..., window_rc[0], window_rc[1]], label[window_rc]
        if rng.random() < 0.5:
            stack, label = stack[..., ::-1], label[..., ::-1]
        inputs.append(np.ascontiguousarray(stack))
        labels.append(np.ascontiguousarray(label, dtype=np.float32)[None])
    return np.stack(inputs), np.stack(labels)
