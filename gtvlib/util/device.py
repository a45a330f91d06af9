"""The one device helper: CUDA, then Apple MPS, then CPU; mixed precision; DistributedDataParallel set-up."""

from __future__ import annotations

import os
import platform


def pick_device(prefer: str = "auto"):
    """Return the ``torch.device`` to compute on.

    ``prefer`` is ``"auto"`` (CUDA, then MPS, then CPU) or an explicit device string such as
    ``"cpu"`` or ``"cuda:1"``.
    """
    import torch

    if prefer != "auto":
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast(device):
    """bf16 autocast on CUDA (Ampere and later run it at tensor-core speed); full fp32 elsewhere."""
    import torch

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def distributed_rank() -> tuple[int, int]:
    """(rank, world size) under ``torchrun`` (from ``RANK`` and ``WORLD_SIZE``); (0, 1) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def init_distributed(device):
    """Join the process group when running under ``torchrun`` (NCCL on GPUs, gloo on CPUs).

    Returns ``(device, rank, world)``: on CUDA each rank takes the GPU of its ``LOCAL_RANK``. Without
    ``torchrun`` (world size 1) nothing is initialised and ``device`` comes back unchanged.
    """
    import torch

    rank, world = distributed_rank()
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
    return device, rank, world


def cpu_name() -> str:
    """Human-readable CPU model name (Linux ``/proc/cpuinfo``), or the platform's best guess."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device=None) -> str:
    """Describe the compute device in words: GPU name for CUDA, CPU model and core count otherwise."""
    import torch

    device = device if device is not None else pick_device()
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    if device.type == "mps":
        return f"Apple MPS on {platform.machine()}"
    return f"CPU: {cpu_name()}, {os.cpu_count()} logical cores"
