"""Multi-process (DDP) helpers for :mod:`sem_metric.training.train_classifier`.

``torchrun`` starts one process per GPU (or a few on a CPU) and tells each its ``RANK``, ``LOCAL_RANK``
and ``WORLD_SIZE``; :func:`init_distributed` turns that into a :class:`DistContext` (device and
backend: NCCL on CUDA, gloo on CPU). Without those variables it is a plain single process and no
process group is created.

Every rank takes a contiguous, disjoint slice of each global batch (:func:`shard_bounds`) and the
gradients are averaged by :class:`torch.nn.parallel.DistributedDataParallel`. So that a DDP run
computes what a single process computes on the same global batches, batch normalisation has to see
the statistics of the whole global batch, not of each rank's slice: :func:`convert_sync_batchnorm`
swaps every BatchNorm of the classifier for a synchronised one: timm's ``SyncBatchNormAct`` (torch's
CUDA ``SyncBatchNorm`` kernels) on CUDA, and :class:`GlobalBatchNorm2d` (below) on the CPU, where
torch's ``SyncBatchNorm`` refuses to run. The parameter and buffer names stay those of plain
BatchNorm, so checkpoints and exported weights are interchangeable between world sizes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..device import resolve_device
from ..errors import InputError

# rank 0 validates while the other ranks wait in a collective: give it plenty of time
DEFAULT_TIMEOUT = timedelta(minutes=60)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among ``world_size`` processes and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"
    backend: str | None = None  # "nccl" / "gloo" when a process group was created, else None

    @property
    def distributed(self) -> bool:
        """True when there is more than one process (gradients are all-reduced)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes checkpoints, logs and weights."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InputError(f"environment variable {name}={value!r} is not an integer (set by torchrun)") from None


def resolve_train_device(device: str = "auto", local_rank: int = 0) -> str:
    """The training device of this rank: :func:`sem_metric.device.resolve_device` (the one resolver) with
    ``LOCAL_RANK`` (``auto`` -> ``cuda:<local_rank>`` when a GPU is visible, else ``cpu``)."""
    return resolve_device(device, local_rank)


def init_distributed(device: str = "auto", timeout: timedelta = DEFAULT_TIMEOUT) -> DistContext:
    """Read torchrun's environment and, for ``WORLD_SIZE > 1``, join the process group.

    The backend follows the device: NCCL for CUDA, gloo for the CPU. On CUDA each rank uses the GPU
    ``LOCAL_RANK`` (one rank per GPU). Without torchrun's variables this returns a single-process
    context and creates no process group.
    """
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    dev = resolve_train_device(device, local_rank)
    if world <= 1:
        if dev.startswith("cuda"):
            torch.cuda.set_device(torch.device(dev))
        return DistContext(device=dev)
    if not dist.is_available():
        raise InputError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    backend = "nccl" if dev.startswith("cuda") else "gloo"
    if dev.startswith("cuda"):
        torch.cuda.set_device(torch.device(dev))
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=timeout)
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank,
                       device=dev, backend=backend)


def current_context(device: str) -> DistContext:
    """The context of an already initialised process group (or a single process) for ``device``."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(),
                           local_rank=_env_int("LOCAL_RANK", 0), device=device, backend=dist.get_backend())
    return DistContext(device=device)


def shutdown_distributed() -> None:
    """Leave the process group, if any (call once at the end of ``main``)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[lo, hi)`` of rank ``rank``'s contiguous slice of ``n`` items (the first ``n % world`` get one more)."""
    q, r = divmod(n, world_size)
    lo = rank * q + min(rank, r)
    return lo, lo + q + (1 if rank < r else 0)


def seed_for_rank(seed: int, rank: int) -> int:
    """A torch seed for the stochastic layers (dropout) of rank ``rank > 0``, distinct from ``seed``'s stream."""
    return int(np.random.SeedSequence([seed, rank, 0x5EED]).generate_state(1)[0])


class _AllReduceSum(torch.autograd.Function):
    """Differentiable sum over ranks: the gradient of a sum is the sum of the ranks' gradients."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group) -> torch.Tensor:  # noqa: D102
        ctx.group = group
        out = tensor.clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM, group=group)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        return grad, None


def all_reduce_sum(tensor: torch.Tensor, group=None) -> torch.Tensor:
    """Sum of ``tensor`` over the ranks of ``group`` (default: world) with autograd support."""
    return _AllReduceSum.apply(tensor, group)


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch, on any device (gloo on CPU).

    Used by DDP on the CPU, where ``torch.nn.SyncBatchNorm`` is not supported. In training mode with
    more than one rank it computes the per-channel mean and (biased) variance over all ranks' samples
    with two differentiable all-reduces (sum and count, then the centred sum of squares: a two-pass
    variance, as accurate as a single process's), normalises with them and updates the running
    statistics exactly like ``nn.BatchNorm2d`` (unbiased variance, same momentum). In eval mode or
    in a single process it is plain ``nn.BatchNorm2d``. The optional ``drop`` and ``act`` submodules
    reproduce timm's ``BatchNormAct2d`` (BN, then drop, then activation). Parameters and buffers are
    shared with the module it replaces and keep their names.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, group=None) -> None:
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine,
                         track_running_stats=track_running_stats)
        self.group = group

    @classmethod
    def from_batchnorm(cls, bn: nn.BatchNorm2d, group=None) -> "GlobalBatchNorm2d":
        """A synchronised replacement for ``bn`` (sharing its parameters and buffers, and its act/drop)."""
        new = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats, group)
        if bn.affine:
            new.weight, new.bias = bn.weight, bn.bias
        if bn.track_running_stats:
            new.running_mean, new.running_var = bn.running_mean, bn.running_var
            new.num_batches_tracked = bn.num_batches_tracked
        new.train(bn.training)
        return new

    def _synchronised(self) -> bool:
        return (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size(self.group) > 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        y = self._global_batch_norm(x) if self._synchronised() else super().forward(x)
        if hasattr(self, "drop"):
            y = self.drop(y)
        if hasattr(self, "act"):
            y = self.act(y)
        return y

    def _global_batch_norm(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"GlobalBatchNorm2d expects a 4-D input, got shape {tuple(x.shape)}")
        c = self.num_features
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x  # statistics in >= fp32
        local_count = xf.new_full((1,), float(xf.numel() // c))
        total = all_reduce_sum(torch.cat([xf.sum(dim=(0, 2, 3)), local_count]), self.group)
        count = total[c].detach()
        if float(count) < 2:
            raise ValueError("GlobalBatchNorm2d needs more than one value per channel over all ranks")
        mean = total[:c] / count
        centred = xf - mean.view(1, c, 1, 1)
        var = all_reduce_sum((centred * centred).sum(dim=(0, 2, 3)), self.group) / count
        y = centred * torch.rsqrt(var + self.eps).view(1, c, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - factor).add_(mean.detach().to(self.running_mean.dtype), alpha=factor)
                unbiased = var.detach() * (count / (count - 1))
                self.running_var.mul_(1 - factor).add_(unbiased.to(self.running_var.dtype), alpha=factor)
        return y.to(x.dtype)


def _convert_cpu(module: nn.Module, group) -> nn.Module:
    out = GlobalBatchNorm2d.from_batchnorm(module, group) if isinstance(module, nn.BatchNorm2d) else module
    for name, child in module.named_children():
        out.add_module(name, _convert_cpu(child, group))
    return out


def convert_sync_batchnorm(model: nn.Module, device: str, group=None) -> nn.Module:
    """Replace every BatchNorm of ``model`` with a synchronised one for DDP (see the module docstring).

    CUDA: timm's ``convert_sync_batchnorm`` (keeps ``BatchNormAct2d``'s activation, unlike torch's own
    conversion, which would silently drop it). CPU: :class:`GlobalBatchNorm2d`. Returns the model
    (converted in place where possible); parameter order and state-dict keys are unchanged.
    """
    if str(device).startswith("cuda"):
        from timm.layers import convert_sync_batchnorm as timm_convert

        return timm_convert(model, process_group=group)
    return _convert_cpu(model, group)
