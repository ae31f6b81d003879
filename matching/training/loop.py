"""The training loop: :func:`train` builds the run, resumes it (or runs the θ-IS warm-up),
then steps, logs, validates and checkpoints."""
from __future__ import annotations

import inspect
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

import synths

from ..distributed import DistContext, context
from ..models import EncoderModel, save_model
from .checkpoints import (CHECKPOINT_NAME, check_resumable, checkpoint_state, read_checkpoint,
                          restore_rng, save_checkpoint)
from .config import TrainConfig
from .data import DataSource, default_source
from .losses import AudioLoss, batch_loss
from .metrics import (METRICS_NAME, PLOT_NAME, plot_metrics, read_metrics, train_row,
                      val_row, write_metrics)
from .warmup import theta_is_warmup

__all__ = ["MODEL_NAME", "train"]

MODEL_NAME = "model.safetensors"


@dataclass
class _Run:
    """The state of one training run (this rank's)."""

    cfg: TrainConfig
    out: Path
    dist: DistContext
    model: EncoderModel
    opt: torch.optim.Optimizer
    audio_loss: Optional[AudioLoss]
    data: DataSource
    net: Optional[nn.Module] = None     # the model, under DistributedDataParallel if any
    rows: List[Dict[str, Any]] = field(default_factory=list)
    best: Dict[str, Any] = field(default_factory=lambda: {"val_loss": math.inf, "step": 0})
    start: int = 0
    elapsed0: float = 0.0

    @property
    def scrapl(self):
        return None if self.audio_loss is None else self.audio_loss.scrapl


def train(cfg: TrainConfig, out_dir, resume: bool = True,
          data: Optional[DataSource] = None) -> Dict[str, Any]:
    """Train (or resume) an encoder; returns a summary (best validation, files, time).

    ``data``: any :class:`~matching.training.data.DataSource` (e.g. a fixed dataset);
    default: random presets of the synth (:class:`~matching.training.data.RandomPresets`),
    or the sounds of ``cfg.audio_dir`` (:class:`~matching.training.data.AudioFolder`).

    ``resume``: continue from ``out_dir/checkpoint.pt`` if it exists (its configuration must
    equal ``cfg`` except for ``steps``, ``progress``, ``checkpoint_every``, ``val_every`` and
    ``log_every``); otherwise an existing checkpoint is an error (choose another folder).

    Distributed (a ``torch.distributed`` process group of N > 1 ranks is initialized, e.g.
    by ``torchrun`` and :func:`matching.distributed.init_from_env`): the encoder runs under
    ``DistributedDataParallel``; ``batch_size`` is per rank and each rank takes its slice of
    the global batch of N x ``batch_size`` drawn from the step's seed, so N ranks train like
    one process with N times the batch (same data; dropout masks are per rank).  SCRAPL:
    every rank draws the same path (identically seeded samplers, checked every step) and
    𝒫-Adam/𝒫-SAGA transform the all-reduced gradient; the θ-IS warm-up is sharded by path
    range and merged into the single-process distribution.  Validation batches are dealt
    over the ranks.  Rank 0 writes checkpoints, metrics and the model and reads the
    checkpoint to resume (other ranks need not see its folder).  A custom ``data`` object is
    used as given on every rank (give each rank its slice).
    """
    cfg.check()
    if data is not None and not isinstance(data, DataSource):
        raise ValueError(f"data must be a DataSource (batch(step) and validation(batch_size)), "
                         f"got {type(data).__name__}")
    out = Path(out_dir)
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _train_in(cfg, out, resume, data)
    except BaseException:
        if made and out.is_dir() and not any(out.iterdir()):
            out.rmdir()                   # a failed run leaves no empty folder behind
        raise


def _train_in(cfg: TrainConfig, out: Path, resume: bool,
              data: Optional[DataSource]) -> Dict[str, Any]:
    run = _setup(cfg, out, data)
    _resume_or_warm_up(run, resume)
    run.rows = read_metrics(out / METRICS_NAME, run.start) if run.dist.is_main else []
    run.net = _data_parallel(run.model, run.dist)
    t0 = _steps(run)
    if run.dist.is_main:
        plot_metrics(run.rows, out / PLOT_NAME, f"{cfg.synth} {cfg.voice or ''} {cfg.loss}")
    run.dist.barrier()                    # every rank returns once the files are written
    return {"out_dir": str(out), "steps": cfg.steps, "best": run.best,
            "elapsed_s": round(time.perf_counter() - t0, 2),
            "model": str(out / MODEL_NAME), "metrics": str(out / METRICS_NAME)}


# ----------------------------------------------------------------------------- setup
def _build(cfg: TrainConfig):
    """The synth, the encoder (seeded by ``cfg.seed``), the audio loss and the optimizer."""
    synth_module = synths.get(cfg.synth, voice=cfg.voice, duration=cfg.duration,
                              seed=cfg.seed)
    torch.manual_seed(cfg.seed)
    model = EncoderModel.for_synth(synth_module, out_channels=tuple(cfg.out_channels),
                                   latent_dim=cfg.latent_dim, dropout=cfg.dropout)
    audio_loss = None if cfg.loss == "param" else AudioLoss(
        cfg, synth_module.n_samples, synth_module.sample_rate, synth_module.n_params)
    params = list(model.encoder.parameters())
    use_sgd = cfg.loss == "scrapl" and cfg.p_adam
    opt = torch.optim.SGD(params, lr=cfg.lr) if use_sgd else torch.optim.Adam(params, lr=cfg.lr)
    return synth_module, model, audio_loss, opt


def _setup(cfg: TrainConfig, out: Path, data: Optional[DataSource]) -> _Run:
    synth_module, model, audio_loss, opt = _build(cfg)
    dist = context()            # under torchrun: DistributedDataParallel (see train's doc)
    if dist.enabled and dist.rank:
        torch.manual_seed(cfg.seed * 1_000_003 + 7919 * dist.rank)   # own dropout masks
    if data is None:
        data = default_source(cfg, synth_module, dist.rank, dist.world_size)
    return _Run(cfg=cfg, out=out, dist=dist, model=model, opt=opt, audio_loss=audio_loss,
                data=data)


def _attach_path_optimizers(run: _Run) -> None:
    """Hand the encoder's weights to SCRAPL's 𝒫-Adam/𝒫-SAGA (when used).  Distributed: no
    hooks (they would act on the rank's own gradient before DDP's all-reduce);
    ``transform_grads()`` applies them to the averaged gradient instead."""
    if run.scrapl is not None and (run.cfg.p_adam or run.cfg.p_saga):
        run.scrapl.attach_params(list(run.model.encoder.parameters()),
                                 hooks=not run.dist.enabled)


def _resume_or_warm_up(run: _Run, resume: bool) -> None:
    """Restore the checkpoint in ``run.out`` if there is one (rank 0's folder decides), else
    start afresh, with the θ-IS warm-up if configured."""
    path = run.out / CHECKPOINT_NAME
    if run.dist.broadcast_object(path.exists()):
        if not resume:
            raise ValueError(f"{path} exists: resume it or choose another output folder")
        _restore(run, path, read_checkpoint(path, run.dist))
        return
    if run.cfg.theta_is:
        theta_is_warmup(run.cfg, run.model, run.audio_loss, run.data, run.out, run.dist)
    _attach_path_optimizers(run)


def _restore(run: _Run, path: Path, state: Dict[str, Any]) -> None:
    check_resumable(path, state, run.cfg)
    run.model.encoder.load_state_dict(state["encoder"])
    run.opt.load_state_dict(state["optimizer"])
    if run.scrapl is not None:
        _attach_path_optimizers(run)
        run.scrapl.load_state_dict(state["loss"])
    restore_rng(state, run.dist)
    run.start, run.best = int(state["step"]), dict(state["best"])
    run.elapsed0 = float(state["elapsed"])


def _data_parallel(model: nn.Module, dist: DistContext) -> nn.Module:
    """``model`` under DistributedDataParallel when distributed, else itself."""
    if not dist.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel
    # the features have no weights; their buffers are constants: no sync every forward
    # (the keyword is forward_sync_buffers in newer PyTorch, broadcast_buffers before)
    sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(
        DistributedDataParallel.__init__).parameters else "broadcast_buffers"
    return DistributedDataParallel(model, **{sync: False})


# ----------------------------------------------------------------------------- steps
def _steps(run: _Run) -> float:
    """Steps ``run.start`` .. ``cfg.steps``; returns the start time of the run (resumed
    runs included) on the ``time.perf_counter`` clock."""
    from tqdm.auto import tqdm
    cfg = run.cfg
    run.model.train()
    if run.scrapl is not None:
        run.scrapl.train()
    t0 = time.perf_counter() - run.elapsed0
    window: List[Tuple[float, Optional[float]]] = []
    bar = tqdm(range(run.start, cfg.steps), initial=run.start, total=cfg.steps, unit="step",
               desc=f"train {cfg.synth}{':' + cfg.voice if cfg.voice else ''} ({cfg.loss})",
               disable=not cfg.progress or not run.dist.is_main)
    for step in bar:
        window.append(_step(run, step))
        done = step + 1
        elapsed = time.perf_counter() - t0
        if done % cfg.log_every == 0 or done == cfg.steps:
            run.rows.append(train_row(done, window, elapsed))
            bar.set_postfix(loss=run.rows[-1]["loss"])
            window = []
        if done % cfg.val_every == 0 or done == cfg.steps:
            _validate_and_keep_best(run, done, elapsed)
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            _checkpoint(run, done, elapsed)
    bar.close()
    return t0


def _step(run: _Run, step: int) -> Tuple[float, Optional[float]]:
    """One optimizer step; returns the (global) mean loss and parameter L1 of its batch."""
    audio, theta, batch_synth = run.data.batch(step)
    loss, l1 = batch_loss(run.net, batch_synth, run.audio_loss, audio, theta)
    mean_loss, mean_l1, bad = _step_stats(run.dist, loss, l1, run.scrapl)
    if bad:
        where = "not finite on a rank" if run.dist.enabled else str(loss.item())
        raise FloatingPointError(f"loss is {where} at step {step + 1}; lower lr "
                                 f"(now {run.cfg.lr})")
    run.opt.zero_grad(set_to_none=True)
    loss.backward()                       # distributed: DDP all-reduces (averages) here
    if run.dist.enabled and run.scrapl is not None and run.scrapl.attached_params:
        run.scrapl.transform_grads()
    run.opt.step()
    return mean_loss, mean_l1


def _step_stats(dist: DistContext, loss: torch.Tensor, l1: Optional[torch.Tensor],
                scrapl) -> Tuple[float, Optional[float], bool]:
    """One small all-reduce per step (none for one process): the global mean loss (and
    parameter L1), whether any rank's loss is not finite, and a check that every rank drew
    the same SCRAPL path."""
    path = -1.0 if scrapl is None or scrapl.curr_path_idx is None else float(scrapl.curr_path_idx)
    value = float(loss.detach())
    stats = torch.tensor([value if math.isfinite(value) else 0.0,
                          0.0 if l1 is None else float(l1.detach()),
                          0.0 if math.isfinite(value) else 1.0, path, path * path],
                         dtype=torch.float64)
    dist.all_reduce_sum(stats)
    n = dist.world_size
    if float(stats[4]) * n != float(stats[3]) ** 2:    # sum p^2 * n == (sum p)^2 iff all equal
        raise RuntimeError("SCRAPL: the ranks drew different paths in one step (their loss "
                           "states diverged; resume all ranks from the same checkpoint)")
    return float(stats[0]) / n, (None if l1 is None else float(stats[1]) / n), bool(stats[2])


# ----------------------------------------------------------------------------- validation
def _validate(run: _Run) -> Tuple[float, Optional[float], Optional[List[float]]]:
    """The mean validation loss, parameter L1 and per-parameter L1 (None when no batch has
    θ) over the whole held-out set: the batches are dealt round robin over the ranks (one
    process takes them all) and the sums all-reduced, so every rank gets the value of one
    process."""
    dist = run.dist
    run.model.eval()
    P = len(run.model.param_names)
    # loss * n, l1 * n, n, n with l1, then sum |θ̂ - θ| per parameter
    sums = torch.zeros(4 + P, dtype=torch.float64)
    with torch.no_grad():
        for i, (audio, theta, synth_module) in enumerate(
                run.data.validation(run.cfg.batch_size)):
            if i % dist.world_size != dist.rank:
                continue
            loss, l1 = batch_loss(run.model, synth_module, run.audio_loss, audio, theta, True)
            sums[0] += float(loss) * len(audio)
            sums[2] += len(audio)
            if l1 is not None:
                sums[1] += float(l1) * len(audio)
                sums[3] += len(audio)
                sums[4:] += (run.model(audio) - theta).abs().sum(0).double().cpu()
    run.model.train()
    dist.all_reduce_sum(sums)
    if sums[3] == 0:
        return float(sums[0] / sums[2]), None, None
    return (float(sums[0] / sums[2]), float(sums[1] / sums[3]),
            [float(v) for v in sums[4:] / sums[3]])


def _validate_and_keep_best(run: _Run, done: int, elapsed: float) -> None:
    """Validate, log it, and save the model when its score is the best so far (the
    parameter L1 for loss ``param``, else the validation loss)."""
    cfg = run.cfg
    val_loss, val_l1, val_each = _validate(run)
    run.rows.append(val_row(done, val_loss, val_l1, elapsed, val_each))
    score = val_l1 if (val_l1 is not None and cfg.loss == "param") else val_loss
    if score < run.best["val_loss"]:
        run.best = {"val_loss": score, "step": done}
        run.model.info = {"train": asdict(cfg), "step": done, "val_loss": val_loss,
                          "val_param_l1": val_l1}
        if run.dist.is_main:
            save_model(run.model, run.out / MODEL_NAME)


def _checkpoint(run: _Run, step: int, elapsed: float) -> None:
    """Every rank contributes its generator; rank 0 writes the metrics and the checkpoint."""
    state = checkpoint_state(run.cfg, step, run.model.encoder, run.opt, run.scrapl, run.best,
                             elapsed, run.dist)
    if run.dist.is_main:
        write_metrics(run.out / METRICS_NAME, run.rows)
        save_checkpoint(run.out / CHECKPOINT_NAME, state)
