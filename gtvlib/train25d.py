"""Training the 2.5-D PET/CT network of seed 004 (METHODS.md §5, :class:`gtvlib.models.igtv.IGTVNet`) on PET/CT cases
(:mod:`gtvlib.data.petct`): a slice and its neighbours per modality in, the middle slice's IGTV (or GTV) out.

Batches draw a training patient, then a slice: a share ``foreground_fraction`` among the slices with the target,
the others among the slices with body; Dice + cross entropy; AdamW with cosine decay; validation on every slice of
the validation patients, scored in 3-D with the CT's spacing. ``init_from``: a checkpoint (e.g. a GTV model's run) to
start from, loaded with :func:`gtvlib.models.checkpoints.load_checkpoint`: the transfer-learning arm. Runs are
:class:`~gtvlib.runs.RunRecord` folders; slice draws are seeded per epoch, so a resumed run equals an
uninterrupted one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from gtvlib.errors import GtvError

TARGETS = ("igtv", "gtv")


@dataclass
class PetCtConfig:
    """Everything that determines a 2.5-D PET/CT run (written to params.yaml); the architecture's fields are those of
    :class:`~gtvlib.models.igtv.IGTVNet`."""

    name: str = "igtv"
    mode: str = "petct"
    target: str = "igtv"
    modalities: tuple[str, ...] = ("PET", "CT")
    slices: int = 3
    widths: tuple[int, ...] = (16, 32, 64, 128)
    slice_interaction: bool = True
    mixer: str = "conv"
    epochs: int = 10
    steps_per_epoch: int = 20
    batch_size: int = 8
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-4
    foreground_fraction: float = 0.5
    window: str = "mediastinal"
    suv_scale: float = 10.0
    init_from: str = ""
    seed: int = 0
    keep_checkpoints: int = 1
    device: str = "auto"


@dataclass
class PetCtSet:
    """PET/CT cases (patient → :class:`~gtvlib.data.petct.PetCtCase`) split into training and validation patients."""

    cases: dict
    training_ids: list[str]
    validation_ids: list[str]
    source: str = ""

    def subset(self, training_ids: list[str], validation_ids: list[str]) -> "PetCtSet":
        unknown = sorted((set(training_ids) | set(validation_ids)) - set(self.cases))
        if unknown:
            raise GtvError(f"patients {unknown} are not in this PET/CT set; expected some of {sorted(self.cases)}")
        return PetCtSet(self.cases, list(training_ids), list(validation_ids), self.source)


def build_network(config: PetCtConfig):
    """The :class:`~gtvlib.models.igtv.IGTVNet` of ``config``."""
    from gtvlib.models.igtv import IGTVNet

    return IGTVNet(modalities=len(config.modalities), slices=config.slices, widths=tuple(config.widths),
                   slice_interaction=config.slice_interaction, mixer=config.mixer)


def target_of(case, config: PetCtConfig) -> np.ndarray:
    """The label volume the run learns: the IGTV or the planning GTV."""
    return case.igtv if config.target == "igtv" else case.gtv


def run_for(config: PetCtConfig, data: PetCtSet, root=None):
    """The run record of these settings (the key hashes the settings but not the device or checkpoints kept)."""
    from gtvlib.runs import RunRecord

    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()
                if k not in ("device", "keep_checkpoints")}
    return RunRecord.named(config.name, {"config": settings, "source": data.source, "training": list(data.training_ids),
                                         "validation": list(data.validation_ids)}, root)


def sample_batch(data: PetCtSet, config: PetCtConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (B, M, S, H, W) and middle-slice labels (B, 1, H, W) float32, with random left-right flips."""
    from gtvlib.data.petct import stack_25d

    inputs, labels = [], []
    for _ in range(config.batch_size):
        case = data.cases[data.training_ids[int(rng.integers(len(data.training_ids)))]]
        target = target_of(case, config)
        with_target = np.nonzero(target.any(axis=(1, 2)))[0]
        with_body = np.nonzero((case.ct_hu > -500).any(axis=(1, 2)))[0]
        pool = with_target if rng.random() < config.foreground_fraction and len(with_target) else with_body
        z = int(pool[int(rng.integers(len(pool)))])
        stack, label = stack_25d(case, z, config.slices, config.modalities, config.window, config.suv_scale), target[z]
        if rng.random() < 0.5:
            stack, label = stack[..., ::-1], label[..., ::-1]
        inputs.append(np.ascontiguousarray(stack))
        labels.append(np.ascontiguousarray(label, dtype=np.float32)[None])
    return np.stack(inputs), np.stack(labels)


def predict_case(model, case, config: PetCtConfig, device=None, batch: int = 16) -> np.ndarray:
    """The model's mask (z, y, x) bool of every slice of ``case``."""
    import torch

    from gtvlib.data.petct import stack_25d

    device = device or next(model.parameters()).device
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, case.ct_hu.shape[0], batch):
            zs = range(start, min(start + batch, case.ct_hu.shape[0]))
            x = np.stack([stack_25d(case, z, config.slices, config.modalities, config.window, config.suv_scale) for z in zs])
            out.append(model(torch.from_numpy(x).to(device))[:, 0].float().cpu().numpy() > 0)
    return np.concatenate(out)


def evaluate_cases(model, data: PetCtSet, patient_ids, config: PetCtConfig, device=None):
    """Whole-volume predictions of ``patient_ids`` scored in 3-D: a :class:`~gtvlib.train3d.VolumeEvaluation`."""
    from gtvlib.train3d import patient_scores

    cases = {pid: data.cases[pid] for pid in patient_ids}
    return patient_scores({pid: predict_case(model, case, config, device) for pid, case in cases.items()},
                          {pid: target_of(case, config) for pid, case in cases.items()},
                          {pid: case.spacing_mm for pid, case in cases.items()})


def _check(config: PetCtConfig, data: PetCtSet) -> None:
    if config.target not in TARGETS:
        raise GtvError(f"target={config.target!r}; expected one of {list(TARGETS)}")
    if not 0 <= config.foreground_fraction <= 1:
        raise GtvError(f"foreground_fraction={config.foreground_fraction}; expected a fraction from 0 to 1")
    if not data.training_ids or not data.validation_ids:
        raise GtvError(f"{len(data.training_ids)} training and {len(data.validation_ids)} validation patients; expected "
                       "at least one of each")


def train_petct(config: PetCtConfig, data: PetCtSet, run=None):
    """Train the network of ``config`` on ``data``'s training patients (from ``init_from``'s weights when given);
    validate every epoch on the validation patients' whole volumes. Returns the run (the loop:
    :func:`gtvlib.train3d.train_epochs`)."""
    import torch

    from gtvlib.device import pick_device
    from gtvlib.models.checkpoints import load_checkpoint
    from gtvlib.train3d import train_epochs

    _check(config, data)
    device = pick_device(config.device)
    run = run or run_for(config, data)
    torch.manual_seed(config.seed)
    model = build_network(config)
    if config.init_from:
        load_checkpoint(model, config.init_from)
    model = model.to(device)
    return train_epochs(config, data, run, model, device, lambda rng: sample_batch(data, config, rng),
                        lambda epoch: evaluate_cases(model, data, data.validation_ids, config, device))
