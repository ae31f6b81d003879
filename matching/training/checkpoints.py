"""Training checkpoints: ``checkpoint.pt`` holds everything needed to resume exactly.

A checkpoint is a dict saved with :func:`torch.save` and read with ``weights_only=True``
(never unpickles code): ``format`` (:data:`CHECKPOINT_FORMAT`), ``config`` (the
:class:`TrainConfig` as JSON), ``step`` (steps done), ``encoder`` and ``optimizer`` (state
dicts), ``rng`` (the CPU generator of rank 0), ``best`` (``{"val_loss", "step"}``),
``elapsed`` (seconds), ``loss`` (SCRAPL's state: 𝒫-Adam/𝒫-SAGA, path sampler) and, for a
distributed run, ``world_size`` and ``rng_ranks`` (every rank's generator).
"""
from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch import nn

from ..distributed import DistContext
from .config import TrainConfig

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_NAME", "check_resumable", "checkpoint_state",
           "load_checkpoint", "read_checkpoint", "restore_rng", "save_checkpoint"]

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "synthmatch-train-checkpoint-1"


def save_checkpoint(path: Path, state: Dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (a crash leaves the previous checkpoint)."""
    from synths.files import atomic_output
    with atomic_output(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> Dict[str, Any]:
    """A training checkpoint (never unpickles code: ``weights_only=True``); ValueError for a
    file that is not one."""
    import pickle
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:          # holds Python objects: refused, never unpickled
        raise ValueError(f"{path}: not a readable training checkpoint: refused, it holds "
                         f"Python objects other than tensors and plain data, which synthmatch "
                         f"never loads (it was not written by synthmatch train)") from None
    except Exception as exc:                # corrupt, truncated, or not ours
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{path}: not a readable training checkpoint ({first})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a synthmatch training checkpoint")
    return state


def read_checkpoint(path: Path, dist: DistContext) -> Dict[str, Any]:
    """:func:`load_checkpoint`; distributed: rank 0 reads it and sends it to every rank (the
    other ranks need no access to rank 0's folder), a bad file is the same ValueError on
    every rank, and a different world size than the checkpoint's is warned about."""
    if not dist.enabled:
        return load_checkpoint(path)
    payload: Any = None
    if dist.is_main:
        try:
            payload = load_checkpoint(path)
        except ValueError as exc:
            payload = str(exc)
    payload = dist.broadcast_object(payload)
    if isinstance(payload, str):
        raise ValueError(payload)
    world = int(payload.get("world_size", 1))
    if world != dist.world_size and dist.is_main:
        warnings.warn(f"{path}: written by {world} process(es), resumed by "
                      f"{dist.world_size}: the global batch changes from "
                      f"{world} to {dist.world_size} x batch_size")
    return payload


def check_resumable(path: Path, state: Dict[str, Any], cfg: TrainConfig) -> None:
    """ValueError naming the options in which the checkpoint's run differs from ``cfg``
    (all may differ but :data:`~matching.training.config.RESUMABLE_CHANGES`)."""
    saved = TrainConfig.from_dict(json.loads(state["config"]))
    diffs = cfg.resume_conflicts(saved)
    if diffs:
        raise ValueError(f"{path}: the checkpoint was trained with other options "
                         f"({', '.join(f'{d}={getattr(saved, d)!r}' for d in diffs)})")


def checkpoint_state(cfg: TrainConfig, step: int, encoder: nn.Module,
                     opt: torch.optim.Optimizer, scrapl: Optional[nn.Module],
                     best: Dict[str, Any], elapsed: float, dist: DistContext
                     ) -> Dict[str, Any]:
    """The checkpoint of this moment (see the module docstring).  Distributed: every rank
    must call it (it gathers the ranks' generators)."""
    state = {"format": CHECKPOINT_FORMAT, "config": json.dumps(asdict(cfg)),
             "step": step, "encoder": encoder.state_dict(),
             "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
             "best": best, "elapsed": elapsed}
    if scrapl is not None:
        state["loss"] = scrapl.state_dict()
    if dist.enabled:
        state["world_size"] = dist.world_size
        state["rng_ranks"] = dist.all_gather_object(torch.get_rng_state())
    return state


def restore_rng(state: Dict[str, Any], dist: DistContext) -> None:
    """This rank's CPU generator as the checkpoint saved it (one process: ``rng``)."""
    ranks = state.get("rng_ranks")
    if dist.rank == 0:
        torch.set_rng_state(state["rng"])
    elif ranks is not None and len(ranks) == dist.world_size:
        torch.set_rng_state(ranks[dist.rank])
    # else: a different world size; this rank keeps its own seed (dropout masks only)
