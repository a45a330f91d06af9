"""GTV-SAMGAN training throughput, peak memory and inference latency.

    .venv/bin/python benchmarks/train_and_inference.py [--models sam_med2d_tiny sam_med2d_vit_b] [--steps 20]

For each model: GAN training steps at batch 4 (``gtvlib.training.objectives.gan_step``, the loop's own step: generator
forward, discriminator update, generator update) in images/s; peak
memory (CUDA: max allocated; CPU: process peak RSS); inference latency per slice (batch 1) and per
patient volume (55 slices, batch 8). Uses CUDA when present (bf16 autocast), else the CPU. The paper's
figure for comparison: 100 epochs × 1,139 slices in about 8 h on an RTX 4060, ≈ 4 images/s.
"""

import argparse
import os
import resource
import time

import torch

from gtvlib.models import build_model, model_spec
from gtvlib.models.discriminator import Discriminator
from gtvlib.models.sam_med2d import sam_input
from gtvlib.training.objectives import gan_step
from gtvlib.util.device import autocast, device_description, pick_device


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(name: str, steps: int, device) -> str:
    torch.manual_seed(0)
    model = build_model(name).to(device)
    size = model_spec(name).input_size
    discriminator = Discriminator(size).to(device)
    optimizer_g = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=1e-4)
    images = torch.rand(4, 1, size, size, device=device)  # windowed CT in [0, 1], as the slice cache gives it
    labels = (torch.rand(4, 1, size, size, device=device) > 0.9).float()
    boxes = torch.tensor([[size * 0.2, size * 0.2, size * 0.6, size * 0.6]] * 4, device=device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step():  # the library's own training step, as train_gan runs it
        gan_step(model, discriminator, optimizer_g, optimizer_d, images, labels, boxes)

    for _ in range(2):
        step()
    _sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    train_ips = 4 * steps / (time.perf_counter() - started)
    model.eval()
    with torch.no_grad(), autocast(device):
        model(sam_input(images[:1]), boxes=boxes[:1])
        _sync(device)
        started = time.perf_counter()
        for _ in range(steps):
            model(sam_input(images[:1]), boxes=boxes[:1])
        _sync(device)
        per_slice_ms = 1000 * (time.perf_counter() - started) / steps
        volume = torch.rand(55, 1, size, size, device=device)
        volume_boxes = boxes[:1].expand(55, -1)
        started = time.perf_counter()
        for chunk in range(0, 55, 8):
            model(sam_input(volume[chunk:chunk + 8]), boxes=volume_boxes[chunk:chunk + 8])
        _sync(device)
        per_volume_s = time.perf_counter() - started
    peak = (f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB GPU" if device.type == "cuda"
            else f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB RSS (process peak)")
    return (f"| {time.strftime('%Y-%m-%d')} | {device_description(device)} | {name} ({size} px) | {train_ips:.1f} | {peak} | "
            f"{per_slice_ms:.1f} | {per_volume_s:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["sam_med2d_tiny", "sam_med2d_vit_b"])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    device = pick_device()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU threads available")
    print("| date | device | model | training (images/s, batch 4, GAN step) | peak memory | inference per slice (ms) | per 55-slice volume (s) |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        steps = args.steps if name.endswith("tiny") or device.type == "cuda" else max(2, args.steps // 10)
        print(measure(name, steps, device), flush=True)


if __name__ == "__main__":
    main()
