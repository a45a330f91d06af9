"""Training GTV-SAMGAN: one readable loop per mode (``train_supervised``, ``train_gan``).

Data: tumour slices of the training patients from a :class:`~gtvlib.data.slices.SliceCache` whose spec
crops (GTV-MFIT) and resizes to the model input; validation on the validation patients' tumour slices
with ground-truth boxes (no jitter), scored per slice and per patient on the stitched 3-D volume (mm).
Optimiser: Adam, lr 1e-4, batch 4 (the paper); the authors' code choices are named options
(``generator_every=5``, ``betas=(0.5, 0.999)``, ``discriminator_input="logits"``).

Reproducibility: shuffling and box jitter are seeded per epoch, so resuming from the last checkpoint
gives the same result as an uninterrupted run (on the CPU). Each epoch writes
``runs/<name>/checkpoints/epoch_XXX.pt`` (atomically), a row of ``epochs.csv`` and rows of
``per_patient.csv``; ``params.yaml`` holds the configuration. bf16 autocast on CUDA. Under ``torchrun``
the model is wrapped in DistributedDataParallel (NCCL on GPUs, gloo on CPUs); rank 0 validates and writes.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from gtvlib.atomic import atomic_path, write_text_atomic
from gtvlib.data.slices import SliceCache
from gtvlib.device import pick_device
from gtvlib.errors import GtvError
from gtvlib.losses import LossWeights, discriminator_loss, generator_loss
from gtvlib.metrics import score
from gtvlib.prompts import box_from_mask


@dataclass
class TrainConfig:
    """Everything that determines a run (written to params.yaml)."""

    name: str = "gtv_samgan"
    model: str = "sam_med2d_tiny"
    epochs: int = 2
    batch_size: int = 4
    lr: float = 1.0e-4
    betas: tuple[float, float] = (0.9, 0.999)  # the authors' code: (0.5, 0.999)
    weights: dict = field(default_factory=lambda: asdict(LossWeights()))
    generator_every: int = 1  # the authors' code updates the generator every 5th batch
    discriminator_input: str = "probabilities"  # or "logits" (the authors' code)
    box_jitter_px: int = 5
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    checkpoint: str = ""  # pretrained SAM / SAM-Med2D weights, if present
    allow_unsafe_pickle: bool = False
    # SAM-Med2D freezes the (pretrained) encoder except its adapters; from random weights there is nothing
    # worth freezing, so the quick profile trains it all ("all"). Not in the paper: a named option.
    train_encoder: str = "adapters"
    augment: bool = False  # random flips and transposes (seeded); not in the paper, used by the quick profile


class PromptedSlices(torch.utils.data.Dataset):
    """Tumour slices with a box prompt; the jitter is drawn from (seed, epoch, index) for reproducibility."""

    def __init__(self, cache: SliceCache, pairs: list[tuple[str, int]], jitter_px: int, seed: int, augment: bool = False):
        self.cache, self.pairs, self.jitter_px, self.seed, self.epoch = cache, pairs, jitter_px, seed, 0
        self.augment = augment
        self._open: dict = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        pid, k = self.pairs[index]
        if pid not in self._open:
            self._open[pid] = self.cache.load(pid)
        images, labels = self._open[pid]
        label, image = np.asarray(labels[k], dtype=bool), np.asarray(images[k], dtype=np.float32)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.augment:  # one of the 8 flips/transposes of the square, applied to image and label alike
            flip_rows, flip_columns, transpose = rng.integers(0, 2, size=3)
            for array_index, array in enumerate((image, label)):
                array = array[::-1] if flip_rows else array
                array = array[:, ::-1] if flip_columns else array
                array = array.T if transpose else array
                image, label = (array, label) if array_index == 0 else (image, array)
            image, label = np.ascontiguousarray(image), np.ascontiguousarray(label)
        box = box_from_mask(label, self.jitter_px, rng)
        image = torch.from_numpy(image * 255.0)[None].expand(3, -1, -1).clone()
        return {"image": image, "label": torch.from_numpy(label.astype(np.float32))[None], "box": torch.from_numpy(box),
                "patient": pid, "slice_index": k}


def run_folder(name: str, config: TrainConfig, cache: SliceCache, training_ids, validation_ids) -> Path:
    """``runs/<name>-<key>``: the key hashes everything that determines the run except the epoch count,
    so the same settings resume (or reuse) one run and different settings never mix."""
    import hashlib
    import json

    from gtvlib.paths import runs_dir

    settings = {k: v for k, v in asdict(config).items() if k not in ("epochs", "num_workers", "device")}
    text = json.dumps({"config": settings, "spec": asdict(cache.spec), "cohort": str(cache.cohort),
                       "training": list(training_ids), "validation": list(validation_ids)}, sort_keys=True, default=str)
    return runs_dir() / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def tumour_pairs(cache: SliceCache, patient_ids: list[str]) -> list[tuple[str, int]]:
    """(patient, slice) of every slice with tumour (theta0 balance sampling)."""
    return cache.index(patient_ids, "theta0")


def _distributed() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _setup(config: TrainConfig, run_dir: Path, cache: SliceCache, training_ids, validation_ids):
    """Model, device, data loaders and the resume point shared by both loops."""
    from gtvlib.models import build_model
    from gtvlib.models.checkpoints import load_checkpoint

    rank, world = _distributed()
    device = pick_device(config.device)
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
    torch.manual_seed(config.seed)
    model = build_model(config.model)
    if config.checkpoint:
        print(load_checkpoint(model, config.checkpoint, config.allow_unsafe_pickle))
    size = model.config.image_size
    train_pairs = tumour_pairs(cache, training_ids)
    if not train_pairs:
        raise GtvError(f"no tumour slices among the training patients {training_ids}")
    sample = cache.load(train_pairs[0][0])[0]
    if sample.shape[1:] != (size, size):
        raise GtvError(f"cached slices are {sample.shape[1:]}, the model {config.model} takes {size} × {size}: "
                       "build the slice cache with size equal to the model input")
    if config.train_encoder not in ("adapters", "all"):
        raise GtvError(f"train_encoder={config.train_encoder!r}; expected 'adapters' (SAM-Med2D) or 'all'")
    if config.train_encoder == "all":
        for parameter in model.parameters():
            parameter.requires_grad = True
    dataset = PromptedSlices(cache, train_pairs, config.box_jitter_px, config.seed, config.augment)
    run_dir.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        write_text_atomic(run_dir / "params.yaml", yaml.safe_dump({
            "config": asdict(config), "training_patients": list(training_ids), "validation_patients": list(validation_ids),
            "slice_spec": asdict(cache.spec), "cohort": str(cache.cohort), "training_slices": len(train_pairs),
        }, sort_keys=False))
    return model.to(device), device, dataset, rank, world


def _loader(dataset: PromptedSlices, config: TrainConfig, epoch: int, world: int, rank: int):
    dataset.epoch = epoch
    if world > 1:
        sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=config.seed)
        sampler.set_epoch(epoch)
        return torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, num_workers=config.num_workers)
    generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    return torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True, generator=generator,
                                       num_workers=config.num_workers)


def _autocast(device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)


def _last_checkpoint(run_dir: Path) -> Path | None:
    found = sorted((run_dir / "checkpoints").glob("epoch_*.pt"))
    return found[-1] if found else None


def _save(run_dir: Path, epoch: int, modules: dict, config: TrainConfig) -> None:
    state = {name: module.state_dict() for name, module in modules.items()}
    state.update(epoch=epoch, config=asdict(config))
    with atomic_path(run_dir / "checkpoints" / f"epoch_{epoch:03d}.pt") as tmp:
        torch.save(state, tmp)


def _resume(run_dir: Path, modules: dict) -> int:
    """Restore the last checkpoint of ``run_dir`` into ``modules``; return the next epoch (1 when fresh)."""
    last = _last_checkpoint(run_dir)
    if last is None:
        return 1
    state = torch.load(last, map_location="cpu", weights_only=True)
    for name, module in modules.items():
        module.load_state_dict(state[name])
    for table in ("epochs.csv", "per_patient.csv"):  # drop rows of epochs after the checkpoint
        path = run_dir / table
        if path.is_file():
            rows = list(csv.DictReader(path.open()))
            keep = [r for r in rows if int(r["epoch"]) <= state["epoch"]]
            _write_rows(path, keep, rows[0].keys() if rows else [])
    return int(state["epoch"]) + 1


def _write_rows(path: Path, rows: list[dict], fields) -> None:
    with atomic_path(path) as tmp:
        with tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(fields), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)


def _append(path: Path, rows: list[dict]) -> None:
    existing = list(csv.DictReader(path.open())) if path.is_file() else []
    _write_rows(path, existing + rows, rows[0].keys())


@torch.no_grad()
def predict_slices(model, cache: SliceCache, pairs, device, batch_size: int = 8) -> dict[tuple[str, int], np.ndarray]:
    """Masks (S, S) bool per (patient, slice), prompted with the ground-truth box (no jitter)."""
    model.eval()
    dataset = PromptedSlices(cache, pairs, jitter_px=0, seed=0)
    out = {}
    for batch in torch.utils.data.DataLoader(dataset, batch_size=batch_size):
        with _autocast(device):
            logits = model(batch["image"].to(device), boxes=batch["box"].to(device))["masks"]
        for pid, k, mask in zip(batch["patient"], batch["slice_index"].tolist(), (logits.float() > 0).cpu().numpy()):
            out[(pid, k)] = mask[0]
    return out


def validate(model, cache: SliceCache, validation_ids, device, spacing_mm) -> tuple[dict, list[dict]]:
    """Slice-level means over tumour slices and per-patient 3-D scores of the stitched predictions.

    ``spacing_mm``: (dz, dy, dx) of the cached (cropped, resized) grid.
    """
    pairs = tumour_pairs(cache, validation_ids)
    predictions = predict_slices(model, cache, pairs, device)
    slice_scores = [score(predictions[(pid, k)], np.asarray(cache.load(pid)[1][k], bool), spacing_mm[1:]) for pid, k in pairs]
    per_patient = []
    for pid in validation_ids:
        labels = np.asarray(cache.load(pid)[1], dtype=bool)
        stitched = np.zeros_like(labels)
        for (p, k), mask in predictions.items():
            if p == pid:
                stitched[k] = mask
        s = score(stitched, labels, spacing_mm)
        per_patient.append({"patient": pid, "dice": s.dice, "sensitivity": s.sensitivity, "jaccard": s.jaccard,
                            "hd95_mm": s.hd95_mm, "flag": s.flag})
    def mean_defined(values):  # the empty-mask policy: undefined values are counted, not averaged
        defined = [v for v in values if not np.isnan(v)]
        return float(np.mean(defined)) if defined else float("nan")

    summary = {f"val_slice_{m}": mean_defined([getattr(s, m) for s in slice_scores])
               for m in ("dice", "sensitivity", "specificity", "jaccard", "hd95_mm")}
    summary["val_slice_hd95_undefined"] = sum(np.isnan(s.hd95_mm) for s in slice_scores)
    summary["val_patient_dice"] = float(np.mean([p["dice"] for p in per_patient]))
    return summary, per_patient


def _epoch_end(run_dir, epoch, modules, config, model, cache, validation_ids, device, spacing_mm, train_stats, started, rank):
    if rank != 0:
        return
    core = model.module if hasattr(model, "module") else model
    summary, per_patient = validate(core, cache, validation_ids, device, spacing_mm)
    row = {"epoch": epoch, **{k: round(v, 6) for k, v in train_stats.items()}, **{k: round(v, 6) for k, v in summary.items()},
           "seconds": round(time.perf_counter() - started, 2)}
    _append(run_dir / "epochs.csv", [row])
    _append(run_dir / "per_patient.csv", [{"epoch": epoch, **p} for p in per_patient])
    _save(run_dir, epoch, modules, config)
    if not os.environ.get("GTVLIB_BATCH"):
        print(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "epoch"))


def _progress(iterable, total, description):
    if os.environ.get("GTVLIB_BATCH"):
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=description, leave=False)


def train_supervised(config: TrainConfig, cache: SliceCache, training_ids, validation_ids, run_dir, spacing_mm) -> Path:
    """Fine-tune SAM-Med2D with the generator loss only (no discriminator): the SAM-Med2D baseline."""
    run_dir = Path(run_dir)
    model, device, dataset, rank, world = _setup(config, run_dir, cache, training_ids, validation_ids)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr, betas=tuple(config.betas))
    modules = {"model": model, "optimizer": optimizer}
    first = _resume(run_dir, modules)
    net = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True) if world > 1 else model
    weights = LossWeights(**config.weights)
    for epoch in range(first, config.epochs + 1):
        started, net, totals = time.perf_counter(), net.train(), []
        loader = _loader(dataset, config, epoch, world, rank)
        for batch in _progress(loader, len(loader), f"epoch {epoch}"):
            images, labels, boxes = (batch[k].to(device) for k in ("image", "label", "box"))
            with _autocast(device):
                out = net(images, boxes=boxes)
                loss, parts = generator_loss(out["masks"].float(), labels, out["iou_pred"].float(), None, weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            totals.append(float(loss.detach()))
        _epoch_end(run_dir, epoch, modules, config, net, cache, validation_ids, device, spacing_mm,
                   {"train_g_loss": float(np.mean(totals))}, started, rank)
    _finish(world, net)
    return run_dir


def train_gan(config: TrainConfig, cache: SliceCache, training_ids, validation_ids, run_dir, spacing_mm) -> Path:
    """GTV-SAMGAN: the generator loss plus an adversarial term from the mask discriminator."""
    from gtvlib.models.discriminator import Discriminator

    run_dir = Path(run_dir)
    model, device, dataset, rank, world = _setup(config, run_dir, cache, training_ids, validation_ids)
    discriminator = Discriminator(model.config.image_size).to(device)
    betas = tuple(config.betas)
    optimizer_g = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr, betas=betas)
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=betas)
    modules = {"model": model, "discriminator": discriminator, "optimizer": optimizer_g, "optimizer_d": optimizer_d}
    first = _resume(run_dir, modules)
    net = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True) if world > 1 else model
    judge = torch.nn.parallel.DistributedDataParallel(discriminator) if world > 1 else discriminator
    weights = LossWeights(**config.weights)
    for epoch in range(first, config.epochs + 1):
        started, net, g_losses, d_losses = time.perf_counter(), net.train(), [], []
        loader = _loader(dataset, config, epoch, world, rank)
        for step, batch in enumerate(_progress(loader, len(loader), f"epoch {epoch}")):
            images, labels, boxes = (batch[k].to(device) for k in ("image", "label", "box"))
            with _autocast(device):
                out = net(images, boxes=boxes)
            logits = out["masks"].float()
            fake = logits if config.discriminator_input == "logits" else torch.sigmoid(logits)
            loss_d = discriminator_loss(judge(labels), judge(fake.detach()))  # 1 − D(real) + D(fake)
            optimizer_d.zero_grad(set_to_none=True)
            loss_d.backward()
            optimizer_d.step()
            d_losses.append(float(loss_d.detach()))
            if step % config.generator_every == 0:
                loss_g, parts = generator_loss(logits, labels, out["iou_pred"].float(), judge(fake), weights)
                optimizer_g.zero_grad(set_to_none=True)
                loss_g.backward()
                optimizer_g.step()
                g_losses.append(float(loss_g.detach()))
        _epoch_end(run_dir, epoch, modules, config, net, cache, validation_ids, device, spacing_mm,
                   {"train_g_loss": float(np.mean(g_losses)), "train_d_loss": float(np.mean(d_losses))}, started, rank)
    _finish(world, net)
    return run_dir


def _finish(world: int, net) -> None:
    """Under DDP, check that every rank ends with the same weights, then leave the process group."""
    if world <= 1:
        return
    import torch.distributed as dist

    checksum = torch.stack([p.detach().double().sum() for p in net.parameters()]).sum().reshape(1)
    gathered = [torch.zeros_like(checksum) for _ in range(world)]
    dist.all_gather(gathered, checksum)
    if not all(torch.equal(g, gathered[0]) for g in gathered):
        raise RuntimeError(f"DDP ranks diverged: parameter checksums {[float(g) for g in gathered]}")
    dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    """``python -m gtvlib.train --config run.yaml`` (also under ``torchrun``).

    run.yaml: ``mode`` (gan | supervised), ``run_dir``, ``cohort`` (folder), ``training_patients``,
    ``validation_patients``, ``window``, ``crop`` ([row0, col0, row1, col1] or null), ``spacing_mm``
    ([dz, dy, dx] of the cached grid), ``cache_dir`` (optional) and ``config`` (TrainConfig fields).
    """
    import argparse

    from gtvlib.data.slices import SliceSpec

    parser = argparse.ArgumentParser(prog="python -m gtvlib.train")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    spec = yaml.safe_load(args.config.read_text())
    config = TrainConfig(**spec.get("config", {}))
    from gtvlib.models import model_config

    size = model_config(config.model).image_size
    crop = spec.get("crop")
    from gtvlib.data.slices import Box

    slice_spec = SliceSpec.from_window(spec.get("window", "hcf_paper"), crop=Box(*crop) if crop else None, size=size)
    cache = SliceCache(spec["cohort"], slice_spec, cache_dir=spec.get("cache_dir"))
    rank, _ = _distributed()
    if rank == 0:
        cache.build(spec["training_patients"] + spec["validation_patients"])
    if int(os.environ.get("WORLD_SIZE", 1)) > 1:
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        dist.barrier()
    loop = train_gan if spec.get("mode", "gan") == "gan" else train_supervised
    loop(config, cache, spec["training_patients"], spec["validation_patients"], spec["run_dir"], tuple(spec["spacing_mm"]))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
