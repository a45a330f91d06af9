"""Training a 3-D network on patches (iSeg, seed 002, METHODS.md §3): the volumes of a cohort windowed to [0, 1],
patches sampled around the GTV and elsewhere, Dice + cross entropy, AdamW with cosine decay, and validation after
every epoch on whole volumes by sliding-window inference, scored in 3-D with the true spacing.

The 2-D loops of :mod:`gtvlib.train` work on cached slices; this one on :class:`VolumeSet` (whole volumes in
memory). Runs are :class:`~gtvlib.runs.RunRecord` folders like theirs (``params.yaml``, ``epochs.csv``,
``per_patient.csv``, checkpoints); patch sampling and augmentation are seeded per epoch, so a resumed run equals an
uninterrupted one.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from gtvlib.errors import GtvError

TISSUE_HU = -500.0  # above: soft tissue, vessels and bone (the candidates for "tissue" negatives); below: air and lung
NEGATIVES = ("tissue", "anywhere")
BODY_MARGIN_VOXELS = 4  # margin of the body box that confines whole-volume inference, in voxels each side


def inference_box(hu: np.ndarray):
    """The in-plane box (:class:`~gtvlib.data.slices.boxes.Box`) of a volume's (z, y, x) HU within which its GTV is
    predicted: the body (the largest region above ``TISSUE_HU``; not the couch) ± ``BODY_MARGIN_VOXELS``."""
    from gtvlib.data.slices.boxes import body_box

    return body_box(hu, margin_px=BODY_MARGIN_VOXELS, threshold_hu=TISSUE_HU)


@dataclass
class VolumeConfig:
    """Everything that determines a 3-D run (written to params.yaml). ``patch``: (z, y, x) voxels, each a multiple of
    8; ``foreground_fraction``: the share of patches centred on a GTV voxel (the rest anywhere in the volume);
    ``negatives``: where the other patches are centred: ``"tissue"`` (a voxel above −500 HU outside the GTV: the
    mediastinum, vessels, chest wall and tumour-like structures the network must learn to leave out) or
    ``"anywhere"`` (a voxel drawn uniformly, mostly air and lung); ``overlap``: of the sliding windows at validation;
    ``validate_every``: validate on whole volumes after every n-th epoch and after the last (the others record no
    validation scores: whole-volume inference costs as much as many training steps on a CPU)."""

    name: str = "unet3d"
    mode: str = "volume"
    model: str = "unet3d_small"
    epochs: int = 10
    steps_per_epoch: int = 20
    batch_size: int = 2
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-5
    patch: tuple[int, int, int] = (16, 32, 32)
    foreground_fraction: float = 0.5
    negatives: str = "tissue"
    augment: bool = True
    overlap: float = 0.25
    validate_every: int = 1
    seed: int = 0
    keep_checkpoints: int = 1
    device: str = "auto"


@dataclass
class VolumeSet:
    """Windowed volumes (z, y, x) float32 in [0, 1] with their GTV labels (bool) and spacings (dz, dy, dx) mm, by
    patient, split into training and validation patients. ``source``: what the volumes are (part of a run's key);
    ``tissue``: by patient, the flat indices (int32) of the voxels above −500 HU outside the GTV, where ``"tissue"``
    negatives are centred; ``boxes``: by patient, the body's in-plane box (± ``BODY_MARGIN_VOXELS``) that confines
    whole-volume inference."""

    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    spacing_mm: dict[str, tuple[float, float, float]]
    training_ids: list[str]
    validation_ids: list[str]
    source: str = ""
    tissue: dict[str, np.ndarray] = field(default_factory=dict)
    boxes: dict = field(default_factory=dict)

    def subset(self, training_ids: list[str], validation_ids: list[str]) -> "VolumeSet":
        """The same volumes with another split (a fold)."""
        unknown = sorted((set(training_ids) | set(validation_ids)) - set(self.images))
        if unknown:
            raise GtvError(f"patients {unknown} are not in this volume set; expected some of {sorted(self.images)}")
        return VolumeSet(self.images, self.labels, self.spacing_mm, list(training_ids), list(validation_ids), self.source,
                         self.tissue, self.boxes)


def volume_set(cohort, patient_ids: list[str], window: str = "hcf_paper", structure: str = "GTV-1",
               validation_ids: list[str] = (), spacing_mm: tuple[float, float, float] | None = None) -> VolumeSet:
    """Load ``patient_ids`` of ``cohort`` (a :class:`~gtvlib.data.cohort.Cohort`), window their HU to [0, 1] and keep
    ``structure`` as the label; ``validation_ids`` (a subset) are the validation patients, the others train.
    ``spacing_mm`` (dz, dy, dx): resample every volume to it first (HU linearly, the label by its linearly
    interpolated fraction ≥ 0.5), as a network trained at one spacing needs for scans of another; None keeps each
    scan's own."""
    from gtvlib.data.windows import window_hu, window_preset

    chosen = window_preset(window)
    images, labels, spacing, tissue, boxes = {}, {}, {}, {}, {}
    for pid in patient_ids:
        volume = cohort.load(pid)
        if structure not in volume.masks:
            raise GtvError(f"patient {pid}: no {structure} structure (found {sorted(volume.masks)}); expected the GTV to train on")
        hu, label = volume.hu, np.asarray(volume.masks[structure], bool)
        spacing[pid] = tuple(float(s) for s in volume.spacing_mm)
        if spacing_mm is not None and not np.allclose(spacing[pid], spacing_mm, atol=1e-3):
            hu, label = resample(hu, label, spacing[pid], spacing_mm)
            spacing[pid] = tuple(float(s) for s in spacing_mm)
        images[pid] = window_hu(hu, chosen.center, chosen.width)
        labels[pid] = label
        tissue[pid] = np.flatnonzero((hu > TISSUE_HU) & ~label).astype(np.int32)
        boxes[pid] = inference_box(hu)
    training = [pid for pid in patient_ids if pid not in set(validation_ids)]
    resampled = "" if spacing_mm is None else f" | resampled to {tuple(float(s) for s in spacing_mm)} mm"
    return VolumeSet(images, labels, spacing, training, list(validation_ids),
                     f"{cohort.source} | window {window}{resampled}", tissue, boxes)


def resample(hu: np.ndarray, label: np.ndarray, spacing_mm, target_mm) -> tuple[np.ndarray, np.ndarray]:
    """HU (z, y, x) and a bool label on a grid of ``spacing_mm`` resampled to ``target_mm`` over the same field of
    view (the outer voxel edges aligned, so target voxel i is centred at source index (i + ½)·t/s − ½): HU
    trilinearly (float32), the label as its trilinear fraction ≥ 0.5 (no ties at a factor-2 change, so the volume
    is kept)."""
    from scipy import ndimage

    if len(target_mm) != 3 or not all(np.isfinite(t) and t > 0 for t in target_mm):
        raise GtvError(f"spacing_mm={tuple(target_mm)}; expected three positive voxel sides (dz, dy, dx) in mm")
    shape = [max(1, int(round(n * s / t))) for n, s, t in zip(hu.shape, spacing_mm, target_mm)]
    step = [t / s for s, t in zip(spacing_mm, target_mm)]  # source voxels per target voxel
    coordinates = np.meshgrid(*[(np.arange(n) + 0.5) * f - 0.5 for n, f in zip(shape, step)], indexing="ij")
    out_hu = ndimage.map_coordinates(np.asarray(hu, np.float32), coordinates, order=1, mode="nearest")
    out_label = ndimage.map_coordinates(np.asarray(label, np.float32), coordinates, order=1, mode="nearest") >= 0.5
    return out_hu.astype(np.float32), out_label


def run_for(config: VolumeConfig, data: VolumeSet, root=None):
    """The run record of these settings: ``<root>/<name>-<key>``, the key hashing the settings (not where it computes
    or how many checkpoints it keeps), the architecture, the volumes' source and the split."""
    from gtvlib.models import model_spec
    from gtvlib.runs import RunRecord

    settings = {k: v for k, v in asdict(config).items() if k not in ("device", "keep_checkpoints")}
    return RunRecord.named(config.name, {"config": settings, "model": model_spec(config.model).settings,
                                         "source": data.source, "training": list(data.training_ids),
                                         "validation": list(data.validation_ids)}, root)


def sample_patches(data: VolumeSet, config: VolumeConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One batch: images and labels (B, 1, z, y, x) float32 of ``config.patch``, from training patients drawn
    uniformly; a share ``foreground_fraction`` centred on a GTV voxel, the others as ``config.negatives`` says;
    zero-padded where the volume is smaller;
    random flips along each axis when ``augment``."""
    patch = np.asarray(config.patch)
    images, labels = [], []
    for _ in range(config.batch_size):
        pid = data.training_ids[int(rng.integers(len(data.training_ids)))]
        image, label = data.images[pid], data.labels[pid]
        if rng.random() < config.foreground_fraction and label.any():
            voxels = np.argwhere(label)
            centre = voxels[int(rng.integers(len(voxels)))]
        elif config.negatives == "tissue" and len(data.tissue.get(pid, ())):
            candidates = data.tissue[pid]
            centre = np.array(np.unravel_index(int(candidates[int(rng.integers(len(candidates)))]), image.shape))
        else:
            centre = np.array([int(rng.integers(s)) for s in image.shape])
        start = np.clip(centre - patch // 2, 0, np.maximum(np.array(image.shape) - patch, 0))
        window = tuple(slice(int(a), int(a + p)) for a, p in zip(start, patch))
        out_image, out_label = np.zeros(patch, np.float32), np.zeros(patch, np.float32)
        region = tuple(slice(0, min(int(p), s - int(a))) for p, s, a in zip(patch, image.shape, start))
        out_image[region], out_label[region] = image[window], label[window]
        if config.augment:
            for axis in range(3):
                if rng.random() < 0.5:
                    out_image, out_label = np.flip(out_image, axis), np.flip(out_label, axis)
        images.append(np.ascontiguousarray(out_image))
        labels.append(np.ascontiguousarray(out_label))
    return np.stack(images)[:, None], np.stack(labels)[:, None]


@dataclass
class VolumeEvaluation:
    """Whole-volume predictions of some patients: ``masks`` (patient → bool (z, y, x)), ``per_patient`` rows
    (patient, dice, sensitivity, jaccard, hd95_mm, flag, predicted, reference and false-positive cm³) and a
    ``summary``."""

    masks: dict[str, np.ndarray]
    per_patient: list[dict]
    summary: dict


def patient_scores(masks: dict[str, np.ndarray], labels: dict[str, np.ndarray], spacing_mm: dict) -> VolumeEvaluation:
    """Each patient's mask (bool (z, y, x)) scored in 3-D against its label with its spacing: rows of patient, dice,
    sensitivity, jaccard, hd95_mm, flag, predicted, reference and false-positive (predicted but not reference) cm³,
    and the mean and median patient Dice."""
    from gtvlib.data.volume import volume_cm3
    from gtvlib.metrics import score

    rows = []
    for pid, mask in masks.items():
        label, spacing = labels[pid], spacing_mm[pid]
        result = score(mask, label, spacing)
        rows.append({"patient": pid, "dice": result.dice, "sensitivity": result.sensitivity, "jaccard": result.jaccard,
                     "hd95_mm": result.hd95_mm, "flag": result.flag, "predicted_cm3": volume_cm3(mask, spacing),
                     "reference_cm3": volume_cm3(label, spacing), "false_positive_cm3": volume_cm3(mask & ~label, spacing)})
    dice = [r["dice"] for r in rows]
    summary = {"patient_dice": float(np.mean(dice)) if dice else float("nan"),
               "patient_dice_median": float(np.median(dice)) if dice else float("nan")}
    return VolumeEvaluation(dict(masks), rows, summary)


def evaluate_volumes(model, data: VolumeSet, patient_ids: list[str], patch, overlap: float = 0.25,
                     device=None) -> VolumeEvaluation:
    """Predict ``patient_ids`` of ``data`` whole (sliding windows within each body box) and score each in 3-D with
    its spacing."""
    from gtvlib.models.unet3d import sliding_window_logits

    masks = {pid: sliding_window_logits(model, data.images[pid], patch, overlap, device=device, box=data.boxes.get(pid)) > 0
             for pid in patient_ids}
    return patient_scores(masks, data.labels, data.spacing_mm)


def _check(config: VolumeConfig, data: VolumeSet) -> None:
    from gtvlib.models import model_spec
    from gtvlib.models.unet3d import MULTIPLE

    if model_spec(config.model).task != "volume segmentation":
        raise GtvError(f"model {config.model!r} is a {model_spec(config.model).task} model; expected a 3-D network "
                       "(task 'volume segmentation', e.g. unet3d_small)")
    if len(config.patch) != 3 or any(int(p) <= 0 or int(p) % MULTIPLE for p in config.patch):
        raise GtvError(f"patch {tuple(config.patch)}; expected three sides in voxels, each a positive multiple of {MULTIPLE}")
    if not 0 <= config.foreground_fraction <= 1:
        raise GtvError(f"foreground_fraction={config.foreground_fraction}; expected a fraction from 0 to 1")
    if isinstance(config.validate_every, bool) or not isinstance(config.validate_every, int) or config.validate_every < 1:
        raise GtvError(f"validate_every={config.validate_every!r}; expected an integer ≥ 1 (epochs)")
    if config.negatives not in NEGATIVES:
        raise GtvError(f"negatives={config.negatives!r}; expected one of {list(NEGATIVES)}")
    if not data.training_ids or not data.validation_ids:
        raise GtvError(f"{len(data.training_ids)} training and {len(data.validation_ids)} validation patients; expected "
                       "at least one of each")
    if not any(data.labels[pid].any() for pid in data.training_ids):
        raise GtvError(f"no GTV voxel in the training patients {data.training_ids}; expected labelled volumes")


def train_epochs(config, data, run, model, device, sample, evaluate):
    """The loop the 3-D patch route and the 2.5-D PET/CT route (:mod:`gtvlib.train25d`) share: AdamW with cosine
    decay over all steps, the run started (or resumed exactly), then per epoch ``config.steps_per_epoch`` steps of
    Dice + cross entropy on ``sample(rng)`` → (inputs, labels) float32 arrays, ``evaluate(epoch)`` → a
    :class:`VolumeEvaluation`, and a checkpoint. ``config`` holds epochs, steps_per_epoch, lr, weight_decay, seed and
    keep_checkpoints; ``data`` its split and source. Returns ``run``."""
    import math

    import torch

    from gtvlib.losses import dice_loss

    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = max(config.epochs * config.steps_per_epoch, 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total)))
    run.start(asdict(config), training_patients=list(data.training_ids), validation_patients=list(data.validation_ids),
              source=data.source)
    modules = {"model": model, "optimizer": optimizer, "scheduler": scheduler}
    first = run.resume(modules)
    for epoch in range(first, config.epochs + 1):
        started, losses = time.perf_counter(), []
        rng = np.random.default_rng([config.seed, epoch])
        torch.manual_seed(config.seed * 1000 + epoch)
        model.train()
        for _ in range(config.steps_per_epoch):
            inputs, labels = (torch.from_numpy(a).to(device) for a in sample(rng))
            logits = model(inputs)
            loss = dice_loss(logits, labels) + torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
        run.end_epoch(epoch, {"train_loss": float(np.mean(losses))}, evaluate(epoch), time.perf_counter() - started, modules)
        run.prune_checkpoints(config.keep_checkpoints)
    return run


def train_volumes(config: VolumeConfig, data: VolumeSet, run=None):
    """Train ``config.model`` on patches of ``data``'s training patients; validate on its validation patients' whole
    volumes after every ``validate_every``-th epoch and the last. Returns the :class:`~gtvlib.runs.RunRecord`."""
    import torch

    from gtvlib.device import pick_device
    from gtvlib.models import build_model

    _check(config, data)
    device = pick_device(config.device)
    run = run or run_for(config, data)
    torch.manual_seed(config.seed)
    model = build_model(config.model).to(device)

    validation = scheduled(lambda: evaluate_volumes(model, data, data.validation_ids, config.patch, config.overlap, device),
                           config.validate_every, config.epochs)
    return train_epochs(config, data, run, model, device, lambda rng: sample_patches(data, config, rng), validation)


def scheduled(evaluate, validate_every: int, epochs: int):
    """``evaluate()`` (→ :class:`VolumeEvaluation`) after every ``validate_every``-th epoch and after the last, as a
    function of the epoch; the other epochs record no scores (NaN)."""
    def validation(epoch: int) -> VolumeEvaluation:
        if epoch % validate_every == 0 or epoch == epochs:
            return evaluate()
        return VolumeEvaluation({}, [], {"patient_dice": float("nan"), "patient_dice_median": float("nan")})

    return validation


def load_volume_model(run_folder, epoch: int | None = None):
    """The 3-D network of a run (``train_volumes``' record) with its weights of ``epoch`` (default: the last
    checkpoint), in evaluation mode on the CPU."""
    from pathlib import Path

    from gtvlib.models import build_model
    from gtvlib.runs import RunRecord

    run = RunRecord(Path(run_folder), writer=False)
    config = run.params().get("config") or {}
    if config.get("mode") != "volume" or "model" not in config:
        raise GtvError(f"{run_folder}: not a 3-D training run (params.yaml has mode {config.get('mode')!r}); expected a "
                       "run written by gtvlib.train3d.train_volumes")
    model = build_model(config["model"])
    run.restore(model, epoch)
    return model.eval()


def ensemble_mask(models, image: np.ndarray, patch, overlap: float = 0.25, box=None) -> np.ndarray:
    """GTV mask (z, y, x) bool of ``image`` (windowed, [0, 1]): the mean of the ``models``' sliding-window logits > 0
    (the folds' models as one predictor, as nnU-Net ensembles its folds), windows confined to the in-plane ``box``
    where given (the body's; :func:`~gtvlib.models.unet3d.sliding_window_logits`)."""
    from gtvlib.models.unet3d import sliding_window_logits

    if not models:
        raise GtvError("no models to predict with; expected the trained models of the folds")
    return np.mean([sliding_window_logits(m, image, patch, overlap, box=box) for m in models], axis=0) > 0


def ensemble_masks(models, data: VolumeSet, patch, overlap: float = 0.25) -> dict[str, np.ndarray]:
    """:func:`ensemble_mask` of every patient of ``data``, each within its body box: patient → bool (z, y, x)."""
    return {pid: ensemble_mask(models, data.images[pid], patch, overlap, data.boxes.get(pid)) for pid in data.images}
