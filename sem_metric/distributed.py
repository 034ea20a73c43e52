"""Many processes, one answer: sem-score and the streaming metrics under ``torch.distributed``.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) ``sem-score`` shards the pairs of maps over
the ranks by index (pair ``i`` goes to rank ``i % world_size``: deterministic), every rank scores its
pairs (paper Sec. 4.1 metrics, Sem of Eq. 10, SFD), the per-pair rows and the dataset-level states are
gathered to rank 0, and rank 0 builds the result exactly as one process would (rows in the same order,
means from the same rows) and is the only one that writes. An error on any rank makes every rank exit
2, with the message printed once.

The backend is gloo on CPU, NCCL when the classifier runs on CUDA (``LOCAL_RANK`` then picks the
GPU); Python objects (rows, states) always travel over a gloo group. torch is imported only when a
process group is used.
"""
from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple

from .device import resolve_device
from .errors import InputError, SemMetricError, WeightsError

__all__ = ["Distributed", "torchrun_world_size", "init_from_env", "current"]


def torchrun_world_size() -> int:
    """``WORLD_SIZE`` set by torchrun (1 when not launched by it or when it is not a positive integer)."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


@dataclass
class Distributed:
    """This process's place in a process group, and the few collectives sem-metric needs.

    ``rank`` / ``world_size`` as in ``torch.distributed``; ``object_group``: the (gloo) group Python
    objects are gathered over (None = the default group); ``owned``: this object initialised the
    default group and destroys it in :meth:`finish`.
    """

    rank: int
    world_size: int
    local_rank: int = 0
    backend: str = "gloo"
    object_group: Any = None
    owned: bool = False

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that builds and writes the result."""
        return self.rank == 0

    def owns_index(self, index: int) -> bool:
        """Whether item ``index`` (e.g. the i-th pair of maps) belongs to this rank's shard (``index % world_size``)."""
        return index % self.world_size == self.rank

    def shard_size(self, total: int) -> int:
        """Number of the ``total`` items that belong to this rank."""
        return len(range(self.rank, total, self.world_size))

    def gather(self, obj: Any) -> List[Any]:
        """``all_gather_object``: every rank gets the list of all ranks' objects, in rank order."""
        import torch.distributed as dist

        out: List[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj, group=self.object_group)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self.object_group)
        return box[0]

    def run_and_gather(self, fn: Callable[[], Any]) -> List[Any]:
        """Run ``fn()`` on every rank and gather the results; an error on any rank is raised on every rank.

        The gather always happens, whatever ``fn`` does, so no rank is left waiting. The error raised
        is the lowest failing rank's, of the same class (:class:`InputError`, :class:`WeightsError`,
        else :class:`SemMetricError`); unexpected exceptions also print their traceback on their rank.
        """
        try:
            payload: Tuple[Any, ...] = ("ok", fn())
        except SemMetricError as e:
            payload = ("error", type(e).__name__, str(e), e.cli_message)
        except Exception as e:  # noqa: BLE001 - reported to every rank, then raised as SemMetricError
            traceback.print_exc(file=sys.stderr)
            payload = ("error", "internal", f"internal error ({type(e).__name__}: {e})", None)
        parts = self.gather(payload)
        failed = [(r, p) for r, p in enumerate(parts) if p[0] == "error"]
        if failed:
            r, (_, kind, msg, cli_msg) = failed[0]
            if len(failed) < self.world_size:
                where = f" (on rank {r} of {self.world_size})"
                msg, cli_msg = msg + where, None if cli_msg is None else cli_msg + where
            cls = {"InputError": InputError, "WeightsError": WeightsError}.get(kind, SemMetricError)
            raise cls(msg, cli_message=cli_msg)
        return [p[1] for p in parts]

    def finish(self, exit_code: int) -> int:
        """Agree on rank 0's exit code, tear down the group if this object created it; returns the code."""
        import torch.distributed as dist

        code = int(self.broadcast(int(exit_code)))
        if self.owned and dist.is_initialized():
            # every rank has received the code before any tears down: no rank exits (closing its gloo
            # sockets) while another is still inside the broadcast (seen under load: an abort at exit)
            dist.barrier(group=self.object_group)
            dist.destroy_process_group()
        return code


def init_from_env(device: Optional[str] = None, uses_device: bool = True) -> Tuple[Distributed, Optional[str]]:
    """Join the process group torchrun set up (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_*``).

    Returns the :class:`Distributed` handle and the device this rank should use: with CUDA
    (``--device cuda``, or ``auto`` when CUDA is available) ``cuda:LOCAL_RANK`` and the NCCL backend
    (plus a gloo group for Python objects), else gloo. ``uses_device=False`` (no classifier in the
    run) always uses gloo. Errors (missing variables, unreachable master) are :class:`InputError`.
    """
    import torch
    import torch.distributed as dist

    try:
        rank = int(os.environ["RANK"])
        world = int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except (KeyError, ValueError) as e:
        raise InputError(f"WORLD_SIZE is set but the torchrun environment is incomplete ({e}); launch with "
                         "`torchrun --nproc-per-node N --no-python sem-score ...`") from None
    if uses_device:
        device = resolve_device(device, local_rank)
    cuda = uses_device and device is not None and str(device).startswith("cuda")
    backend = "nccl" if cuda else "gloo"
    if dist.is_initialized():
        group = dist.new_group(backend="gloo") if dist.get_backend() != "gloo" else None
        return Distributed(dist.get_rank(), dist.get_world_size(), local_rank, dist.get_backend(), group), device
    try:
        if cuda:
            if not torch.cuda.is_available():
                raise InputError(f"--device {device} under torchrun but CUDA is not available here; use --device cpu")
            torch.cuda.set_device(torch.device(device))
            dist.init_process_group("nccl", init_method="env://", rank=rank, world_size=world)
            group = dist.new_group(backend="gloo")
        else:
            dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=world)
            group = None
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - rendezvous failures of any kind
        raise InputError(f"cannot join the torchrun process group (rank {rank} of {world}, backend {backend}): "
                         f"{type(e).__name__}: {e}") from None
    return Distributed(rank, world, local_rank, backend, group, owned=True), device


_OBJECT_GROUPS: dict = {}


def current() -> Optional[Distributed]:
    """The already initialised default process group as a :class:`Distributed` (None when there is none).

    With a non-gloo backend (NCCL) a gloo group for Python objects is created once (collectively:
    every rank must make the first call) and reused.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return None
    backend = dist.get_backend()
    group = None
    if backend != "gloo":
        key = id(dist.group.WORLD)
        if key not in _OBJECT_GROUPS:
            _OBJECT_GROUPS[key] = dist.new_group(backend="gloo")
        group = _OBJECT_GROUPS[key]
    return Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")),
                       backend, group)
