"""The θ-IS warm-up of SCRAPL before the first training step: the curvature of every JTFS
path with respect to the encoder's weights is measured on a few batches and turned into the
path sampling distribution (:meth:`scrapl.loss.SCRAPLLoss.warmup_lc_hvp`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List

import torch
from torch import nn

from ..distributed import DistContext, shard_range
from .config import TrainConfig
from .data import DataSource
from .losses import AudioLoss

__all__ = ["theta_is_warmup"]


def theta_is_warmup(cfg: TrainConfig, model: nn.Module, audio_loss: AudioLoss,
                    data: DataSource, out: Path, dist: DistContext) -> None:
    """Measure ``cfg.warmup_batches`` batches (drawn at steps -2, -3, ...: disjoint from
    training) with ``cfg.warmup_iters`` iterations per path; the per-path values are saved
    in ``out/warmup/``.  Distributed: every rank measures on the whole global batch (the
    batch of the equivalent single process, ``data.full_batch`` when it exists), each on
    its own range of paths."""
    scrapl = audio_loss.scrapl
    draw = getattr(data, "full_batch", data.batch) if dist.enabled else data.batch
    # the loss compares at the JTFS rate (x), the encoder reads the synth-rate audio, each
    # batch renders with its synth
    batches, synth_kwargs = [], []
    for i in range(cfg.warmup_batches):
        audio, _, synth_module = draw(-(i + 2))
        batches.append({"x": audio_loss.low(audio), "audio": audio})
        synth_kwargs.append({"synth_module": synth_module})
    theta_fn = lambda x, audio: model(audio)
    synth_fn = lambda theta, synth_module: audio_loss.low(synth_module(theta))
    if dist.enabled:
        _sharded_warmup(cfg, model, scrapl, theta_fn, synth_fn, batches, synth_kwargs, out,
                        dist)
        return
    scrapl.warmup_lc_hvp(theta_fn, synth_fn, batches, list(model.encoder.parameters()),
                         synth_fn_kwargs=synth_kwargs, save_dir=str(out / "warmup"),
                         n_iter=cfg.warmup_iters, seed=cfg.seed, progress=cfg.progress)


def _sharded_warmup(cfg: TrainConfig, model: nn.Module, scrapl: nn.Module,
                    theta_fn: Callable, synth_fn: Callable, batches: List[Dict[str, Any]],
                    synth_kwargs: List[Dict[str, Any]], out: Path, dist: DistContext) -> None:
    """θ-IS warm-up over the ranks: rank r measures the paths of its range
    (:func:`~matching.distributed.shard_range`), the per-path values are exchanged so every
    rank's ``warmup/`` folder is complete (no shared filesystem needed), then every rank
    folds all of them into its path distribution, which is the single-process one: with
    every path measured, the distribution depends on the values only, not on their order."""
    from synths.files import atomic_output
    params = list(model.encoder.parameters())
    save_dir = out / "warmup"
    save_dir.mkdir(parents=True, exist_ok=True)
    kw = dict(synth_fn_kwargs=synth_kwargs, save_dir=str(save_dir), n_iter=cfg.warmup_iters,
              seed=cfg.seed)
    start, end = shard_range(scrapl.n_paths, dist.rank, dist.world_size)
    if end > start:
        scrapl.warmup_lc_hvp(theta_fn, synth_fn, batches, params, start_path_idx=start,
                             end_path_idx=end, progress=cfg.progress and dist.is_main, **kw)
    mine = {i: torch.load(save_dir / f"vals_{i}.pt", map_location="cpu", weights_only=True)
            for i in range(start, end)}
    for shard in dist.all_gather_object(mine):
        for i, vals in shard.items():
            path = save_dir / f"vals_{i}.pt"
            if not path.is_file():
                with atomic_output(path) as tmp:
                    torch.save(vals, tmp)
    # every file exists now: this pass only reads them
    scrapl.warmup_lc_hvp(theta_fn, synth_fn, batches, params, progress=False, **kw)
