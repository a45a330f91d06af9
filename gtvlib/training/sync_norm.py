"""Batch normalisation over the global batch under DDP, on any device.

With DistributedDataParallel each rank sees its share of a batch; a plain ``BatchNorm`` then normalises by that
share's statistics, and two processes no longer train what one process does on the whole batch. torch's
``SyncBatchNorm`` pools the statistics but runs only on GPUs; :class:`GlobalBatchNorm` does the same with any
process group (gloo on CPUs): each rank's per-channel sum, sum of squares and count are summed over the ranks by a
differentiable all-reduce, so the forward pass, the gradients (the backward all-reduce carries every rank's share
of the statistics' gradient) and the running statistics (unbiased variance, as ``BatchNorm``) are those of one
process on the global batch, to float rounding. The layers keep their parameters and buffers, so checkpoints
load into the plain network.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """A ``BatchNorm1d/2d/3d`` whose training-mode statistics are those of the global batch (all ranks)."""

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (batch, channels, ...), got {input.dim()}-D")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        channels = input.shape[1]
        dims = [d for d in range(input.dim()) if d != 1]
        x = input.float()
        count = torch.tensor([x.numel() / channels], dtype=x.dtype, device=x.device)
        pooled = torch.distributed.nn.functional.all_reduce(torch.cat([x.sum(dims), (x * x).sum(dims), count]))
        n = pooled[-1]
        mean = pooled[:channels] / n
        var = pooled[channels:2 * channels] / n - mean * mean  # biased, as BatchNorm normalises
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                self.running_var.mul_(1 - momentum).add_(momentum * var.detach() * n / (n - 1))
        shape = [1, channels] + [1] * (input.dim() - 2)
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(input.dtype)


def synchronise_batch_norm(module: nn.Module, device) -> nn.Module:
    """``module`` with every BatchNorm normalising over the global batch: torch's ``SyncBatchNorm`` on CUDA, else
    :class:`GlobalBatchNorm` (in place: the layers change class, their parameters and buffers stay)."""
    if torch.device(device).type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm) and not isinstance(layer, nn.SyncBatchNorm):
            layer.__class__ = GlobalBatchNorm
    return module
