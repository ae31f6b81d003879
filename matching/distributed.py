"""Several processes, one job: the small layer over ``torch.distributed`` that
``synthmatch match`` (batch mode) and ``synthmatch train`` use under ``torchrun``.

Launch with PyTorch's own launcher; nothing here starts processes::

    torchrun --nproc_per_node=4 -m matching train --loss scrapl -o run/      # one machine
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 \\
             --nproc_per_node=4 -m matching match sounds/ --out presets/    # each machine

(``-m matching`` is ``synthmatch``; ``torchrun ... $(which synthmatch) ...`` works too.)
``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``; :func:`init_from_env` reads them and joins the process group.  The backend is
``gloo`` (training and matching run on the CPU; ``gloo`` also carries the small object
exchanges), or ``SYNTHMATCH_DIST_BACKEND`` (e.g. ``nccl``).

Without those variables (or with ``WORLD_SIZE=1``) every helper is a no-op for a single
process, so the same code runs with and without ``torchrun``.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator, List, Sequence, Tuple, TypeVar

import torch

__all__ = ["DistContext", "context", "init_from_env", "session", "shard_range", "shard_list",
           "env_world_size"]

T = TypeVar("T")
BACKEND_ENV = "SYNTHMATCH_DIST_BACKEND"


def env_world_size() -> int:
    """``WORLD_SIZE`` as set by ``torchrun`` (1 when absent)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def _initialized() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size`` (``enabled`` when > 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # ---------------------------------------------------------------- collectives
    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The element-wise sum over the ranks (in place; returned for chaining)."""
        if self.enabled:
            torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
        return tensor

    def broadcast_object(self, obj: Any, src: int = 0) -> Any:
        """``obj`` of rank ``src`` on every rank (pickled; for small control data)."""
        if not self.enabled:
            return obj
        box = [obj if self.rank == src else None]
        torch.distributed.broadcast_object_list(box, src=src)
        return box[0]

    def all_gather_object(self, obj: Any) -> List[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if not self.enabled:
            return [obj]
        out: List[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out


def context() -> DistContext:
    """The current process group's view (a single process when none is initialized)."""
    if not _initialized():
        return DistContext()
    return DistContext(torch.distributed.get_rank(), torch.distributed.get_world_size(),
                       int(os.environ.get("LOCAL_RANK", "0")))


def init_from_env(backend: str | None = None, timeout_s: float = 1800.0) -> DistContext:
    """Join the process group ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1);
    a no-op for a single process or when a group is already initialized."""
    if _initialized() or env_world_size() <= 1:
        return context()
    if not torch.distributed.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed")
    backend = backend or os.environ.get(BACKEND_ENV, "gloo")
    torch.distributed.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
    return context()


@contextlib.contextmanager
def session(backend: str | None = None) -> Iterator[DistContext]:
    """:func:`init_from_env` for the duration of a ``with`` block; the group is destroyed at
    the end if this call created it."""
    created = not _initialized() and env_world_size() > 1
    ctx = init_from_env(backend)
    try:
        yield ctx
    finally:
        if created and _initialized():
            torch.distributed.destroy_process_group()


def shard_range(n: int, rank: int, world_size: int) -> Tuple[int, int]:
    """The contiguous slice ``[start, end)`` of ``range(n)`` for ``rank``: sizes differ by at
    most one and the slices cover ``range(n)`` in order (empty when ``n < world_size``)."""
    return n * rank // world_size, n * (rank + 1) // world_size


def shard_list(items: Sequence[T], rank: int, world_size: int) -> List[T]:
    """Every ``world_size``-th item from ``rank`` on (round robin: neighbours in a sorted
    list, e.g. files of similar length, go to different ranks)."""
    return list(items[rank::world_size])
