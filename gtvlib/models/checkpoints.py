"""Loading SAM / SAM-Med2D checkpoints into :class:`~gtvlib.models.sam_med2d.SamMed2D`.

Accepted files (neither can be downloaded by gtvlib; ``data_manifest.yaml`` says where to place them):

* the official SAM ViT-B file ``sam_vit_b_01ec64.pth``: a plain state dict for 1024 px input. The
  absolute position embedding (1, 64, 64, 768) is resized bilinearly to the model's token grid and the
  global blocks' relative-position tables (127, 64) linearly to (2·grid − 1, 64), as SAM-Med2D does to
  run at 256 px. The adapters are absent from it and stay at their initialisation (reported);
* SAM-Med2D's ``sam-med2d_b.pth``: weights under the key ``model`` at 256 px, adapters included. It also
  pickles an optimizer object, which ``torch.load(weights_only=True)`` refuses: loading it needs the
  explicit opt-in ``allow_unsafe_pickle=True`` (unpickling can run code; use files you trust);
* checkpoints gtvlib writes itself (``{"model": state_dict, ...}``).

Everything is mapped to the CPU first; missing, unexpected and resized keys are reported, never ignored
silently, and shape mismatches that cannot be resized are errors.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn import functional as F

from gtvlib.util.errors import GtvError

_REL_POS = re.compile(r"image_encoder\.blocks\.(\d+)\.attn\.rel_pos_[hw]$")


@dataclass
class LoadReport:
    """What a checkpoint load did."""

    path: str
    loaded: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    resized: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        def sample(keys):
            return ", ".join(keys[:4]) + (f", … ({len(keys)} in all)" if len(keys) > 4 else "")
        lines = [f"{self.path}: loaded {self.loaded} tensors"]
        if self.resized:
            lines.append(f"  resized to this model's input size: {sample(self.resized)}")
        if self.missing:
            lines.append(f"  missing from the file (left at initialisation): {sample(self.missing)}")
        if self.unexpected:
            lines.append(f"  in the file but not in the model (ignored): {sample(self.unexpected)}")
        return "\n".join(lines)


def read_state_dict(path: str | os.PathLike, allow_unsafe_pickle: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file (plain state dict, or under ``model`` / ``state_dict``), on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise GtvError(f"{path}: checkpoint not found (see data_manifest.yaml for where SAM and SAM-Med2D weights go)")
    with path.open("rb") as handle:
        head = handle.read(2)
    if not (zipfile.is_zipfile(path) or head[:1] == b"\x80"):  # torch's zip format, or a legacy pickle
        raise GtvError(f"{path}: not a readable torch checkpoint (neither torch's zip format nor a pickle)")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" not in str(exc):
            raise GtvError(f"{path}: not a readable torch checkpoint ({str(exc).strip().splitlines()[-1][:200]})") from exc
        if not allow_unsafe_pickle:
            raise GtvError(
                f"{path}: the file pickles Python objects beyond tensors (SAM-Med2D's sam-med2d_b.pth stores its "
                "optimizer), which a weights-only load refuses. If you trust the file, load it with "
                f"allow_unsafe_pickle=True. ({str(exc).splitlines()[0]})"
            ) from exc
        content = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise GtvError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {exc})") from exc
    if isinstance(content, dict):
        for key in ("model", "state_dict"):
            if isinstance(content.get(key), dict):
                content = content[key]
                break
    if not isinstance(content, dict) or not all(isinstance(v, torch.Tensor) for v in content.values()):
        raise GtvError(f"{path}: no state dict found (expected tensors, or tensors under 'model' or 'state_dict')")
    return content


def resize_position_embedding(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """(1, G, G, C) absolute position embedding → (1, grid, grid, C), bilinear."""
    resized = F.interpolate(pos_embed.permute(0, 3, 1, 2).float(), size=(grid, grid), mode="bilinear", align_corners=False)
    return resized.permute(0, 2, 3, 1).to(pos_embed.dtype)


def resize_relative_position(table: torch.Tensor, length: int) -> torch.Tensor:
    """(L, C) relative-position table → (length, C), linear along L (as SAM's get_rel_pos does)."""
    resized = F.interpolate(table.float().T[None], size=length, mode="linear", align_corners=False)
    return resized[0].T.to(table.dtype)


KNOWN_PREFIXES = ("module.", "model.")  # DistributedDataParallel, and wrappers that store the model as .model


def strip_known_prefix(state: dict, target: dict) -> tuple[dict, str]:
    """``state`` with a wrapper's prefix removed when that makes its keys match the model, and the prefix
    ("" when none was needed or none helps)."""
    matching = len(set(state) & set(target))
    for prefix in KNOWN_PREFIXES:
        stripped = {key[len(prefix):] if key.startswith(prefix) else key: value for key, value in state.items()}
        if len(set(stripped) & set(target)) > matching:
            return stripped, prefix
    return state, ""


def _global_blocks(model) -> set[int] | None:
    """Indexes of the global-attention blocks of a SAM image encoder (None when the model does not say)."""
    config = getattr(model, "config", None)
    indexes = getattr(config, "encoder_global_attn_indexes", None)
    return None if indexes is None else set(indexes)


def load_checkpoint(model: torch.nn.Module, path: str | os.PathLike, allow_unsafe_pickle: bool = False,
                    strict: bool = False) -> LoadReport:
    """Load a SAM, SAM-Med2D or gtvlib checkpoint into ``model``; return what happened.

    Keys saved under a wrapper (``module.`` of DistributedDataParallel, ``model.``) are matched after removing
    that prefix. A file of which no tensor fits the model is an error, not a report of 0 tensors. Relative-
    position tables are resized only for the global-attention blocks (whose table grows with the input
    size); a windowed block's table that does not fit means another architecture. With ``strict=True`` any
    missing or unexpected key is an error.
    """
    target = model.state_dict()
    state, prefix = strip_known_prefix(read_state_dict(path, allow_unsafe_pickle), target)
    report = LoadReport(str(path) + (f" (keys under {prefix!r}, prefix removed)" if prefix else ""))
    usable = {}
    mismatched = []
    global_blocks = _global_blocks(model)
    for key, tensor in state.items():
        if key not in target:
            report.unexpected.append(key)
            continue
        wanted = target[key].shape
        if tensor.shape != wanted:
            block = _REL_POS.match(key)
            if key == "image_encoder.pos_embed" and tensor.ndim == 4 and tensor.shape[-1] == wanted[-1]:
                tensor = resize_position_embedding(tensor, wanted[1])
            elif (block and tensor.ndim == 2 and tensor.shape[1] == wanted[1]
                  and (global_blocks is None or int(block.group(1)) in global_blocks)):
                tensor = resize_relative_position(tensor, wanted[0])
            else:
                mismatched.append(f"{key}: file {tuple(tensor.shape)}, model {tuple(wanted)}")
                continue
            report.resized.append(key)
        usable[key] = tensor
    if mismatched:
        raise GtvError(f"{path}: shapes do not fit this model and cannot be resized: {mismatched[:5]}"
                       + (f" … ({len(mismatched)} in all)" if len(mismatched) > 5 else ""))
    if not usable:
        raise GtvError(f"{path}: none of its {len(state)} tensors fits this model (file keys such as "
                       f"{sorted(state)[:3]}; model keys such as {sorted(target)[:3]}); expected weights of this "
                       "architecture")
    report.missing = sorted(set(target) - set(usable))
    report.loaded = len(usable)
    if strict and (report.missing or report.unexpected):
        raise GtvError(str(report))
    model.load_state_dict(usable, strict=False)
    return report
