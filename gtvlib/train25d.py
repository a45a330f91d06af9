"""Training the 2.5-D PET/CT network of seed 004 (METHODS.md §5, :class:`gtvlib.models.igtv.IGTVNet`) on PET/CT cases
(:mod:`gtvlib.data.petct`): a slice and its neighbours per modality in, the middle slice's IGTV (or GTV) out.

The network is a registered model of the ``igtv`` family (:mod:`gtvlib.models.igtv`: its modalities, slices and
widths). Batches draw a training patient, then a slice: a share ``foreground_fraction`` among the slices with the
target, the others among the slices with body; with ``patch_px`` a square crop of it, centred on a target pixel or a
body pixel likewise (the quick profile trains on 64² crops: a step costs a quarter of a whole 128² slice); Dice +
cross entropy; AdamW with cosine decay; validation on every slice of the validation patients within the body's box
(the network is fully convolutional with batch statistics frozen, so a crop-trained model runs on any size),
scored in 3-D with the CT's spacing. ``init_from``: a checkpoint (e.g. a GTV model's run) to
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
    """Everything that determines a 2.5-D PET/CT run (written to params.yaml). ``model``: a registered ``igtv``-family
    network (it fixes the modalities and slices read); ``target``: ``"igtv"`` or ``"gtv"``; ``patch_px``: side of the
    square training crops in pixels (a multiple of 8; 0: whole slices); ``suv_scale``: SUV divided by it;
    ``validate_every``: validate after every n-th epoch and after the last."""

    name: str = "igtv"
    mode: str = "petct"
    target: str = "igtv"
    model: str = "igtv_small"
    patch_px: int = 0
    epochs: int = 10
    steps_per_epoch: int = 20
    batch_size: int = 8
    lr: float = 1.0e-3
    weight_decay: float = 1.0e-4
    foreground_fraction: float = 0.5
    window: str = "mediastinal"
    suv_scale: float = 10.0
    init_from: str = ""
    validate_every: int = 1
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


TASK = "2.5-D PET/CT segmentation"


def architecture(config: PetCtConfig) -> dict:
    """The registered settings of ``config.model`` (modalities, slices, widths, slice interaction, mixer)."""
    from gtvlib.models import model_spec

    spec = model_spec(config.model)
    if spec.task != TASK:
        raise GtvError(f"model {config.model!r} is a {spec.task} model; expected a {TASK} network of the igtv family "
                       "(e.g. igtv_small)")
    return spec.settings


def build_network(config: PetCtConfig):
    """The :class:`~gtvlib.models.igtv.IGTVNet` of ``config.model`` (random initialisation)."""
    from gtvlib.models import build_model

    architecture(config)
    return build_model(config.model)


def stack_of(case, z: int, config: PetCtConfig, settings: dict | None = None) -> np.ndarray:
    """The network's input (M, S, H, W) of slice ``z`` of ``case``: the model's modalities and slices."""
    from gtvlib.data.petct import stack_25d

    settings = settings or architecture(config)
    return stack_25d(case, z, settings["slices"], tuple(settings["modalities"]), config.window, config.suv_scale)


def target_of(case, config: PetCtConfig) -> np.ndarray:
    """The label volume the run learns: the IGTV or the planning GTV."""
    return case.igtv if config.target == "igtv" else case.gtv


def run_for(config: PetCtConfig, data: PetCtSet, root=None):
    """The run record of these settings (the key hashes the settings but not the device or checkpoints kept)."""
    from gtvlib.runs import RunRecord

    settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()
                if k not in ("device", "keep_checkpoints")}
    return RunRecord.named(config.name, {"config": settings, "model": architecture(config), "source": data.source,
                                         "training": list(data.training_ids), "validation": list(data.validation_ids)},
                           root)


def sample_batch(data: PetCtSet, config: PetCtConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (B, M, S, H, W) and middle-slice labels (B, 1, H, W) float32 (H = W = ``patch_px`` when set), with
    random left-right flips."""
    from gtvlib.train3d import TISSUE_HU

    settings = architecture(config)
    inputs, labels = [], []
    for _ in range(config.batch_size):
        case = data.cases[data.training_ids[int(rng.integers(len(data.training_ids)))]]
        target = target_of(case, config)
        with_target = np.nonzero(target.any(axis=(1, 2)))[0]
        with_body = np.nonzero((case.ct_hu > TISSUE_HU).any(axis=(1, 2)))[0]
        on_target = bool(rng.random() < config.foreground_fraction and len(with_target))
        pool = with_target if on_target else with_body
        z = int(pool[int(rng.integers(len(pool)))])
        stack, label = stack_of(case, z, config, settings), target[z]
        if config.patch_px:
            candidates = np.argwhere(label if on_target else case.ct_hu[z] > TISSUE_HU)
            centre = candidates[int(rng.integers(len(candidates)))]
            start = np.clip(centre - config.patch_px // 2, 0, np.array(label.shape) - config.patch_px)
            window = (slice(int(start[0]), int(start[0]) + config.patch_px), slice(int(start[1]), int(start[1]) + config.patch_px))
            stack, label = stack[..., window[0], window[1]], label[window]
        if rng.random() < 0.5:
            stack, label = stack[..., ::-1], label[..., ::-1]
        inputs.append(np.ascontiguousarray(stack))
        labels.append(np.ascontiguousarray(label, dtype=np.float32)[None])
    return np.stack(inputs), np.stack(labels)


def predict_case(model, case, config: PetCtConfig, device=None, batch: int = 16) -> np.ndarray:
    """The model's mask (z, y, x) bool of every slice of ``case``, predicted within the body's in-plane box (the
    largest region above −500 HU ± 4 pixels, zero-padded to the network's multiple); no GTV outside it."""
    import torch

    from gtvlib.train3d import inference_box

    settings = architecture(config)
    step = 2 ** (len(settings["widths"]) - 1)
    box = inference_box(case.ct_hu)
    rows, columns = slice(box.row0, box.row1), slice(box.col0, box.col1)
    pad = ((0, 0), (0, 0), (0, -box.height % step), (0, -box.width % step))
    device = device or next(model.parameters()).device
    model.eval()
    mask = np.zeros(case.ct_hu.shape, bool)
    with torch.no_grad():
        for start in range(0, case.ct_hu.shape[0], batch):
            zs = range(start, min(start + batch, case.ct_hu.shape[0]))
            x = np.stack([np.pad(stack_of(case, z, config, settings)[..., rows, columns], pad) for z in zs])
            logits = model(torch.from_numpy(x).to(device))[:, 0].float().cpu().numpy()
            mask[zs.start:zs.stop, rows, columns] = logits[:, :box.height, :box.width] > 0
    return mask


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
    step = 2 ** (len(architecture(config)["widths"]) - 1)
    smallest = min(min(case.ct_hu.shape[1:]) for case in data.cases.values())
    if config.patch_px and (config.patch_px % step or not 0 < config.patch_px <= smallest):
        raise GtvError(f"patch_px={config.patch_px}; expected a multiple of {step} from {step} to the smallest slice side "
                       f"({smallest} px), or 0 for whole slices")


def train_petct(config: PetCtConfig, data: PetCtSet, run=None):
    """Train the network of ``config`` on ``data``'s training patients (from ``init_from``'s weights when given);
    validate on the validation patients' whole volumes after every ``validate_every``-th epoch and the last. Returns
    the run (the loop: :func:`gtvlib.train3d.train_epochs`)."""
    import torch

    from gtvlib.device import pick_device
    from gtvlib.models.checkpoints import load_checkpoint
    from gtvlib.train3d import scheduled, train_epochs

    _check(config, data)
    device = pick_device(config.device)
    run = run or run_for(config, data)
    torch.manual_seed(config.seed)
    model = build_network(config)
    if config.init_from:
        load_checkpoint(model, config.init_from)
    model = model.to(device)
    validation = scheduled(lambda: evaluate_cases(model, data, data.validation_ids, config, device), config.validate_every,
                           config.epochs)
    return train_epochs(config, data, run, model, device, lambda rng: sample_batch(data, config, rng), validation)


def load_petct_model(run_folder, epoch: int | None = None):
    """(network, config) of a 2.5-D PET/CT run (``train_petct``'s record): the registered network with its weights of
    ``epoch`` (default: the last checkpoint), in evaluation mode on the CPU, and the run's :class:`PetCtConfig`."""
    from dataclasses import fields
    from pathlib import Path

    from gtvlib.runs import RunRecord

    run = RunRecord(Path(run_folder), writer=False)
    saved = run.params().get("config") or {}
    if saved.get("mode") != "petct":
        raise GtvError(f"{run_folder}: not a 2.5-D PET/CT run (params.yaml has mode {saved.get('mode')!r}); expected a run "
                       "written by gtvlib.train25d.train_petct")
    config = PetCtConfig(**{f.name: saved[f.name] for f in fields(PetCtConfig) if f.name in saved})
    model = build_network(config)
    run.restore(model, epoch)
    return model.eval(), config
