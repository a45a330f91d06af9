"""The one device helper: CUDA, then Apple MPS, then CPU."""

from __future__ import annotations

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
    import os

    import torch

    device = device if device is not None else pick_device()
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"
    if device.type == "mps":
        return f"Apple MPS on {platform.machine()}"
    return f"CPU: {cpu_name()}, {os.cpu_count()} logical cores"
