"""Provenance: what produced an executed notebook (code, environment, machine, data, parameters)."""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from gtvlib.util.checksums import sha256_file


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def now_iso() -> str:
    """Current time, UTC, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def environment_provenance(root: Path) -> dict:
    """Facts shared by every notebook of one run: git state, versions, device, data manifest hash."""
    import torch

    import gtvlib
    from gtvlib.util.device import device_description, pick_device

    commit = _git(root, "rev-parse", "HEAD")
    manifest = root / "data_manifest.yaml"
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {
        "git_commit": commit or "unknown (not a git checkout)",
        "git_dirty": None if status is None else bool(status),
        "gtvlib_version": gtvlib.__version__,
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "device": device_description(pick_device()),
        "platform": platform.platform(),
        "data_manifest_sha256": sha256_file(manifest) if manifest.is_file() else None,
    }
