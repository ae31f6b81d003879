"""Synth-in-the-loop training of an encoder (``synthmatch train``).

Every step draws a batch of presets uniformly from the synth's normalized parameter space
(seeded by the step, so a resumed run sees the same data), renders them, predicts the
parameters from the audio with an :class:`~matching.models.EncoderModel` and minimizes one
of the losses:

* ``param``: L1 distance between predicted and true normalized parameters (supervised);
* ``mss``: multi-scale spectral distance between the re-synthesized prediction and the
  target (:class:`scrapl.mss.MSSLoss`, mode ``mss_mode``);
* ``jtfs``: full JTFS distance (log1p), at 11025 Hz (:class:`scrapl.jtfs_loss.JTFSLoss`),
  or with the configuration ``jtfs`` (SCRAPLLoss arguments) at the synth's own rate;
* ``scrapl``: one random JTFS path per step (:class:`scrapl.loss.SCRAPLLoss`), with
  𝒫-Adam and 𝒫-SAGA (then the optimizer is plain SGD, as in the paper) and optional θ-IS
  warm-up before the first step.

With ``audio_dir`` the targets are the user's sounds instead (unsupervised: audio losses
only, no parameter error).  Validation runs on a fixed held-out set every ``val_every``
steps; with SCRAPL its loss is the mean over a fixed set of paths, not one random path.

Outputs in ``out_dir``: ``metrics.csv`` (one row per logged train window and per
validation), ``metrics.png``, ``checkpoint.pt`` (everything needed to resume exactly:
weights, optimizer, loss state, RNG, step; loaded with ``weights_only=True``) and
``model.safetensors`` (the encoder with the best validation score, loadable by
:func:`matching.models.load_model`).
"""
from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import nn

import synths

from .audio import resample_to_length
from .models import EncoderModel, save_model
from .distributed import DistContext, context as _dist_context, shard_range
from .objective import JTFS_RATE, jtfs_config

__all__ = ["LOSSES", "TrainConfig", "train", "CHECKPOINT_NAME", "MODEL_NAME", "METRICS_NAME"]

LOSSES = ("param", "mss", "jtfs", "scrapl")
CHECKPOINT_NAME = "checkpoint.pt"
MODEL_NAME = "model.safetensors"
METRICS_NAME = "metrics.csv"
_CHECKPOINT_FORMAT = "synthmatch-train-checkpoint-1"
# fields that may differ between a checkpoint and the run that resumes it
_RESUMABLE_CHANGES = ("steps", "progress", "checkpoint_every", "val_every", "log_every")


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in the checkpoint and the model)."""

    synth: str = "tr808"
    voice: Optional[str] = None
    loss: str = "param"
    steps: int = 1000
    batch_size: int = 16
    lr: float = 1e-3
    seed: int = 0
    val_size: int = 64
    val_every: int = 100
    val_paths: int = 16
    log_every: int = 10
    checkpoint_every: int = 100
    out_channels: Tuple[int, ...] = (32, 32, 32, 32, 32)
    latent_dim: int = 64
    dropout: float = 0.0
    mss_mode: str = "revisited"
    p_adam: bool = True
    p_saga: bool = True
    theta_is: bool = False
    warmup_batches: int = 1
    warmup_iters: int = 20
    audio_dir: Optional[str] = None
    duration: Optional[float] = None
    jtfs: Optional[Dict[str, Any]] = None
    progress: bool = True

    def check(self) -> None:
        """ValueError naming the first bad field."""
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        for name in ("steps", "batch_size", "val_size", "val_every", "log_every",
                     "checkpoint_every", "val_paths", "latent_dim", "warmup_batches",
                     "warmup_iters"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.out_channels or any(int(c) < 1 for c in self.out_channels):
            raise ValueError(f"out_channels must be positive integers, got {self.out_channels}")
        if self.audio_dir is not None and self.loss == "param":
            raise ValueError("loss 'param' needs the true parameters: with audio_dir (the "
                             "user's sounds, unsupervised) use mss, jtfs or scrapl")
        if self.theta_is and self.loss != "scrapl":
            raise ValueError("theta_is applies to loss 'scrapl' only")

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown training options {unknown}")
        d = dict(d)
        if "out_channels" in d:
            d["out_channels"] = tuple(int(c) for c in d["out_channels"])
        return cls(**d)


# ----------------------------------------------------------------------------- losses
class _AudioLoss(nn.Module):
    """The distance between re-synthesized predictions and targets for loss mss/jtfs/scrapl."""

    def __init__(self, cfg: TrainConfig, n_samples: int, sample_rate: int, n_theta: int):
        super().__init__()
        self.kind, self.sample_rate = cfg.loss, sample_rate
        self.scrapl = None
        if cfg.loss == "mss":
            from scrapl.mss import MSSLoss
            self.fn = MSSLoss(mode=cfg.mss_mode)
            return
        # a given JTFS configuration applies at the synth's own rate; else 11025 Hz
        self.rate = sample_rate if cfg.jtfs is not None else JTFS_RATE
        self.jcfg = dict(cfg.jtfs) if cfg.jtfs is not None else jtfs_config(n_samples,
                                                                             sample_rate)
        opts = {"use_rho_log1p": True, "grad_mult": 1.0, **self.jcfg}
        if cfg.loss == "jtfs":
            from scrapl.jtfs_loss import JTFSLoss
            opts.pop("grad_mult")
            self.fn = JTFSLoss(**opts)
        else:
            from scrapl.loss import SCRAPLLoss
            self.fn = self.scrapl = SCRAPLLoss(
                **opts, use_p_adam=cfg.p_adam, use_p_saga=cfg.p_saga, seed=cfg.seed,
                n_theta=n_theta)
            P = self.scrapl.n_paths
            k = min(cfg.val_paths, P)
            self.val_path_idx = sorted({round(i * (P - 1) / max(1, k - 1)) for i in range(k)})

    def low(self, x: torch.Tensor) -> torch.Tensor:
        """Audio (batch, n) at the synth's rate -> (batch, 1, N) at the JTFS rate."""
        return resample_to_length(x.reshape(x.shape[0], -1), self.sample_rate, self.rate,
                                  self.jcfg["shape"]).unsqueeze(1)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.kind == "mss":
            return self.fn(pred.reshape(pred.shape[0], 1, -1),
                           target.reshape(target.shape[0], 1, -1))
        return self.fn(self.low(pred), self.low(target))

    def validation(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The validation value: for SCRAPL the mean over the fixed paths."""
        if self.scrapl is None:
            return self.forward(pred, target)
        return self.scrapl.path_distances(self.low(pred), self.low(target),
                                          self.val_path_idx).mean()


# ----------------------------------------------------------------------------- data
def _step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step)) % (2 ** 63))


def _load_audio_dir(folder: str, synth_module) -> torch.Tensor:
    """All sounds of a folder (any format soundfile reads), prepared like match targets."""
    from .targets import load_target
    paths = sorted(p for p in Path(folder).iterdir() if p.is_file()
                   and p.suffix.lower() in (".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3"))
    if not paths:
        raise ValueError(f"audio_dir {folder}: no audio files (.wav .flac .aiff .ogg .mp3)")
    clips = [load_target(p, synth_module.sample_rate, synth_module.n_samples).audio
             for p in paths]
    return torch.stack([c[: synth_module.n_samples] for c in clips])


class _Data:
    """Training batches and the fixed validation set (audio, and θ when known).

    The interface :func:`train` uses (a custom ``data`` object must offer it too):
    ``batch(step) -> (audio (B, n), theta (B, n_params) or None, synth)`` and
    ``validation(batch_size) -> iterable of (audio, theta or None, synth)``, where ``synth``
    renders the predictions of that batch (e.g. the synth with that batch's noise seed)."""

    def __init__(self, cfg: TrainConfig, synth_module):
        self.cfg, self.synth = cfg, synth_module
        self.files = None if cfg.audio_dir is None else _load_audio_dir(cfg.audio_dir,
                                                                        synth_module)
        if self.files is not None:
            n_val = max(1, min(cfg.val_size, len(self.files) // 5))
            perm = torch.randperm(len(self.files), generator=_step_generator(cfg.seed, -1))
            self.val_audio, self.val_theta = self.files[perm[:n_val]], None
            self.train_files = self.files[perm[n_val:]] if len(self.files) > n_val \
                else self.files
        else:
            gen = _step_generator(cfg.seed + 7919, -1)   # disjoint from the training draws
            self.val_theta = torch.rand(cfg.val_size, synth_module.n_params, generator=gen)
            with torch.no_grad():
                self.val_audio = torch.cat([synth_module(t).reshape(len(t), -1)
                                            for t in self.val_theta.split(64)])

    def batch(self, step: int) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        gen = _step_generator(self.cfg.seed, step)
        if self.files is not None:
            idx = torch.randint(0, len(self.train_files), (self.cfg.batch_size,), generator=gen)
            return self.train_files[idx], None, self.synth
        theta = torch.rand(self.cfg.batch_size, self.synth.n_params, generator=gen)
        with torch.no_grad():
            audio = self.synth(theta).reshape(len(theta), -1)
        return audio, theta, self.synth

    def validation(self, batch_size: int):
        for i in range(0, len(self.val_audio), batch_size):
            theta = None if self.val_theta is None else self.val_theta[i:i + batch_size]
            yield self.val_audio[i:i + batch_size], theta, self.synth


class _ShardedData(_Data):
    """:class:`_Data` for one rank of a distributed run (``torchrun``): the global batch of
    ``world_size * batch_size`` is drawn from the step's seed exactly as one process with
    that batch size draws it, and each rank renders its own contiguous slice, so N ranks see
    the batch of one process with N times the batch size.  :meth:`full_batch` renders the
    whole global batch (the θ-IS warm-up measures curvature on it)."""

    def __init__(self, cfg: TrainConfig, synth_module, rank: int, world_size: int):
        super().__init__(cfg, synth_module)
        self.rank, self.world_size = rank, world_size

    def _draw(self, step: int) -> torch.Tensor:
        gen = _step_generator(self.cfg.seed, step)
        n = self.cfg.batch_size * self.world_size
        if self.files is not None:
            return torch.randint(0, len(self.train_files), (n,), generator=gen)
        return torch.rand(n, self.synth.n_params, generator=gen)

    def _render(self, drawn: torch.Tensor):
        if self.files is not None:
            return self.train_files[drawn], None, self.synth
        with torch.no_grad():
            audio = self.synth(drawn).reshape(len(drawn), -1)
        return audio, drawn, self.synth

    def batch(self, step: int):
        b = self.cfg.batch_size
        return self._render(self._draw(step)[self.rank * b:(self.rank + 1) * b])

    def full_batch(self, step: int):
        return self._render(self._draw(step))


# ----------------------------------------------------------------------------- metrics
_CSV_FIELDS = ("step", "split", "loss", "param_l1", "elapsed_s")


def _read_metrics(path: Path, upto: int) -> List[Dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if int(r["step"]) <= upto]


def _write_metrics(path: Path, rows: List[Dict[str, Any]]) -> None:
    from synths.files import atomic_output
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=_CSV_FIELDS)
            w.writeheader()
            w.writerows(rows)


def plot_metrics(rows: List[Dict[str, Any]], path: Path, title: str = "") -> Path:
    """Training and validation curves (loss, and parameter L1 when known) as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from synths.files import atomic_output

    def series(split: str, key: str):
        pts = [(int(r["step"]), float(r[key])) for r in rows
               if r["split"] == split and r[key] not in ("", None)]
        return [p[0] for p in pts], [p[1] for p in pts]

    has_param = any(r["param_l1"] not in ("", None) for r in rows)
    fig, axes = plt.subplots(1, 2 if has_param else 1, figsize=(11 if has_param else 6, 3.8),
                             squeeze=False)
    for split, style in (("train", "-"), ("val", "o-")):
        axes[0, 0].plot(*series(split, "loss"), style, label=split, markersize=3)
        if has_param:
            axes[0, 1].plot(*series(split, "param_l1"), style, label=split, markersize=3)
    axes[0, 0].set(xlabel="step", ylabel="loss", title=f"{title} loss".strip())
    axes[0, 0].legend()
    if has_param:
        axes[0, 1].set(xlabel="step", ylabel="mean |θ̂ - θ| (normalized)",
                       title="parameter error")
        axes[0, 1].legend()
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- checkpoints
def _save_checkpoint(path: Path, state: Dict[str, Any]) -> None:
    from synths.files import atomic_output
    with atomic_output(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> Dict[str, Any]:
    """A training checkpoint (never unpickles code: ``weights_only=True``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:                # corrupt, truncated, or not ours
        raise ValueError(f"{path}: not a readable training checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != _CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a synthmatch training checkpoint")
    return state


# ----------------------------------------------------------------------------- training
def _build(cfg: TrainConfig):
    synth_module = synths.get(cfg.synth, voice=cfg.voice, duration=cfg.duration,
                              seed=cfg.seed)
    torch.manual_seed(cfg.seed)
    model = EncoderModel.for_synth(synth_module, out_channels=tuple(cfg.out_channels),
                                   latent_dim=cfg.latent_dim, dropout=cfg.dropout)
    audio_loss = None if cfg.loss == "param" else _AudioLoss(
        cfg, synth_module.n_samples, synth_module.sample_rate, synth_module.n_params)
    params = list(model.encoder.parameters())
    use_sgd = cfg.loss == "scrapl" and cfg.p_adam
    opt = torch.optim.SGD(params, lr=cfg.lr) if use_sgd else torch.optim.Adam(params, lr=cfg.lr)
    return synth_module, model, audio_loss, opt


def _loss(cfg, model, synth_module, audio_loss, audio, theta, validation=False):
    pred = model(audio)
    param_l1 = None if theta is None else (pred - theta).abs().mean()
    if audio_loss is None:
        return param_l1, param_l1
    rendered = synth_module(pred).reshape(len(pred), -1)
    fn = audio_loss.validation if validation else audio_loss
    return fn(rendered, audio), param_l1


def _validate(cfg, model, audio_loss, data) -> Tuple[float, Optional[float]]:
    model.eval()
    losses, l1s, n = [], [], 0
    with torch.no_grad():
        for audio, theta, synth_module in data.validation(cfg.batch_size):
            loss, l1 = _loss(cfg, model, synth_module, audio_loss, audio, theta, True)
            losses.append(float(loss) * len(audio))
            n += len(audio)
            if l1 is not None:
                l1s.append(float(l1) * len(audio))
    model.train()
    return sum(losses) / n, (sum(l1s) / n if l1s else None)


def _validate_distributed(cfg, model, audio_loss, data, dist: DistContext
                          ) -> Tuple[float, Optional[float]]:
    """:func:`_validate` with the validation batches dealt round robin over the ranks and
    the sums all-reduced: every rank gets the value one process gets (within rounding)."""
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64)       # loss * n, l1 * n, n, n with l1
    with torch.no_grad():
        for i, (audio, theta, synth_module) in enumerate(data.validation(cfg.batch_size)):
            if i % dist.world_size != dist.rank:
                continue
            loss, l1 = _loss(cfg, model, synth_module, audio_loss, audio, theta, True)
            sums[0] += float(loss) * len(audio)
            sums[2] += len(audio)
            if l1 is not None:
                sums[1] += float(l1) * len(audio)
                sums[3] += len(audio)
    model.train()
    dist.all_reduce_sum(sums)
    return float(sums[0] / sums[2]), (float(sums[1] / sums[3]) if sums[3] > 0 else None)


def _step_stats(dist: DistContext, loss: torch.Tensor, l1: Optional[torch.Tensor],
                scrapl) -> Tuple[float, Optional[float], bool]:
    """One small all-reduce per step: the global mean loss (and parameter L1), whether any
    rank's loss is not finite, and a check that every rank drew the same SCRAPL path."""
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


def _theta_is_warmup(cfg, model, audio_loss, data, out: Path,
                     dist: Optional[DistContext] = None) -> None:
    scrapl = audio_loss.scrapl
    distributed = dist is not None and dist.enabled
    # distributed: every rank measures on the whole global batch (the batch of the
    # equivalent single process), each on its own range of paths
    draw = getattr(data, "full_batch", data.batch) if distributed else data.batch
    # batches drawn at negative steps: disjoint from training; the loss compares at the
    # JTFS rate (x), the encoder reads the synth-rate audio, each batch renders with its synth
    batches, synth_kwargs = [], []
    for i in range(cfg.warmup_batches):
        audio, _, synth_module = draw(-(i + 2))
        batches.append({"x": audio_loss.low(audio), "audio": audio})
        synth_kwargs.append({"synth_module": synth_module})
    theta_fn = lambda x, audio: model(audio)
    synth_fn = lambda theta, synth_module: audio_loss.low(synth_module(theta))
    if distributed:
        _sharded_warmup(cfg, model, scrapl, theta_fn, synth_fn, batches, synth_kwargs, out,
                        dist)
        return
    scrapl.warmup_lc_hvp(theta_fn, synth_fn, batches, list(model.encoder.parameters()),
                         synth_fn_kwargs=synth_kwargs, save_dir=str(out / "warmup"),
                         n_iter=cfg.warmup_iters, seed=cfg.seed, progress=cfg.progress)


def _sharded_warmup(cfg, model, scrapl, theta_fn, synth_fn, batches, synth_kwargs, out: Path,
                    dist: DistContext) -> None:
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


def _broadcast_checkpoint(path: Path, dist: DistContext) -> Dict[str, Any]:
    """Rank 0 reads the checkpoint and sends it to every rank (the other ranks need no access
    to rank 0's folder); a bad file is the same ValueError on every rank."""
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
        import warnings
        warnings.warn(f"{path}: written by {world} process(es), resumed by "
                      f"{dist.world_size}: the global batch changes from "
                      f"{world} to {dist.world_size} x batch_size")
    return payload


def _restore_rank_rng(state: Dict[str, Any], dist: DistContext) -> None:
    ranks = state.get("rng_ranks")
    if dist.rank == 0:
        torch.set_rng_state(state["rng"])
    elif ranks is not None and len(ranks) == dist.world_size:
        torch.set_rng_state(ranks[dist.rank])
    # else: a different world size; this rank keeps its own seed (dropout masks only)


def train(cfg: TrainConfig, out_dir, resume: bool = True, data=None) -> Dict[str, Any]:
    """Train (or resume) an encoder; returns a summary (best validation, files, time).

    ``data``: a custom data source with the interface of ``_Data`` (``batch(step)``,
    ``validation(batch_size)``), e.g. a fixed dataset; default: random presets of the synth
    (or ``cfg.audio_dir``).

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
    used as given on every rank (give each rank its own slice).
    """
    from tqdm.auto import tqdm
    cfg.check()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, metrics_path = out / CHECKPOINT_NAME, out / METRICS_NAME
    synth_module, model, audio_loss, opt = _build(cfg)
    dist = _dist_context()      # under torchrun: DistributedDataParallel (see train's doc)
    if dist.enabled and dist.rank:
        torch.manual_seed(cfg.seed * 1_000_003 + 7919 * dist.rank)   # own dropout masks
    if data is None:
        data = _ShardedData(cfg, synth_module, dist.rank, dist.world_size) if dist.enabled \
            else _Data(cfg, synth_module)
    scrapl = None if audio_loss is None else audio_loss.scrapl

    start, best, elapsed0 = 0, {"val_loss": math.inf, "step": 0}, 0.0
    resumed = dist.broadcast_object(ckpt_path.exists())     # rank 0's folder decides
    if resumed:
        if not resume:
            raise ValueError(f"{ckpt_path} exists: resume it or choose another output folder")
        state = load_checkpoint(ckpt_path) if not dist.enabled \
            else _broadcast_checkpoint(ckpt_path, dist)
        saved = TrainConfig.from_dict(json.loads(state["config"]))
        diffs = [f.name for f in fields(TrainConfig) if f.name not in _RESUMABLE_CHANGES
                 and getattr(saved, f.name) != getattr(cfg, f.name)]
        if diffs:
            raise ValueError(f"{ckpt_path}: the checkpoint was trained with other options "
                             f"({', '.join(f'{d}={getattr(saved, d)!r}' for d in diffs)})")
        model.encoder.load_state_dict(state["encoder"])
        opt.load_state_dict(state["optimizer"])
        if scrapl is not None:
            if cfg.p_adam or cfg.p_saga:
                scrapl.attach_params(list(model.encoder.parameters()), hooks=not dist.enabled)
            scrapl.load_state_dict(state["loss"])
        if not dist.enabled:
            torch.set_rng_state(state["rng"])
        else:
            _restore_rank_rng(state, dist)
        start, best, elapsed0 = int(state["step"]), dict(state["best"]), float(state["elapsed"])
    elif cfg.theta_is:
        _theta_is_warmup(cfg, model, audio_loss, data, out, dist)
    if scrapl is not None and not resumed and (cfg.p_adam or cfg.p_saga):
        # distributed: no hooks (they would act on the rank's own gradient before DDP's
        # all-reduce); transform_grads() applies P-Adam/P-SAGA to the averaged gradient
        scrapl.attach_params(list(model.encoder.parameters()), hooks=not dist.enabled)
    rows = _read_metrics(metrics_path, start) if dist.is_main else []
    net = model
    if dist.enabled:
        import inspect
        from torch.nn.parallel import DistributedDataParallel
        # the features have no weights; their buffers are constants: no sync every forward
        # (the keyword is forward_sync_buffers in newer PyTorch, broadcast_buffers before)
        sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(
            DistributedDataParallel.__init__).parameters else "broadcast_buffers"
        net = DistributedDataParallel(model, **{sync: False})

    def checkpoint(step: int, elapsed: float) -> None:
        state = {"format": _CHECKPOINT_FORMAT, "config": json.dumps(asdict(cfg)),
                 "step": step, "encoder": model.encoder.state_dict(),
                 "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
                 "best": best, "elapsed": elapsed}
        if scrapl is not None:
            state["loss"] = scrapl.state_dict()
        if dist.enabled:                      # every rank's RNG; rank 0 writes
            state["world_size"] = dist.world_size
            state["rng_ranks"] = dist.all_gather_object(torch.get_rng_state())
            if not dist.is_main:
                return
        _write_metrics(metrics_path, rows)
        _save_checkpoint(ckpt_path, state)

    model.train()
    if scrapl is not None:
        scrapl.train()
    t0 = time.perf_counter() - elapsed0
    window: List[Tuple[float, Optional[float]]] = []
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, unit="step",
               desc=f"train {cfg.synth}{':' + cfg.voice if cfg.voice else ''} ({cfg.loss})",
               disable=not cfg.progress or not dist.is_main)
    for step in bar:
        audio, theta, batch_synth = data.batch(step)
        loss, l1 = _loss(cfg, net, batch_synth, audio_loss, audio, theta)
        if dist.enabled:
            mean_loss, mean_l1, bad = _step_stats(dist, loss, l1, scrapl)
            if bad:
                raise FloatingPointError(f"loss is not finite on a rank at step {step + 1}; "
                                         f"lower lr (now {cfg.lr})")
        elif not torch.isfinite(loss.detach()):
            raise FloatingPointError(f"loss is {loss.item()} at step {step + 1}; lower lr "
                                     f"(now {cfg.lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()                       # distributed: DDP all-reduces (averages) here
        if dist.enabled and scrapl is not None and scrapl.attached_params:
            scrapl.transform_grads()
        opt.step()
        if dist.enabled:
            window.append((mean_loss, mean_l1))
        else:
            window.append((loss.item(), None if l1 is None else l1.item()))
        done = step + 1
        elapsed = time.perf_counter() - t0
        if done % cfg.log_every == 0 or done == cfg.steps:
            l1s = [w[1] for w in window if w[1] is not None]
            rows.append({"step": done, "split": "train",
                         "loss": f"{sum(w[0] for w in window) / len(window):.6g}",
                         "param_l1": f"{sum(l1s) / len(l1s):.6g}" if l1s else "",
                         "elapsed_s": f"{elapsed:.2f}"})
            bar.set_postfix(loss=rows[-1]["loss"])
            window = []
        if done % cfg.val_every == 0 or done == cfg.steps:
            val_loss, val_l1 = _validate(cfg, model, audio_loss, data) if not dist.enabled \
                else _validate_distributed(cfg, model, audio_loss, data, dist)
            rows.append({"step": done, "split": "val", "loss": f"{val_loss:.6g}",
                         "param_l1": "" if val_l1 is None else f"{val_l1:.6g}",
                         "elapsed_s": f"{elapsed:.2f}"})
            score = val_l1 if (val_l1 is not None and cfg.loss == "param") else val_loss
            if score < best["val_loss"]:
                best = {"val_loss": score, "step": done}
                model.info = {"train": asdict(cfg), "step": done, "val_loss": val_loss,
                              "val_param_l1": val_l1}
                if dist.is_main:
                    save_model(model, out / MODEL_NAME)
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            checkpoint(done, elapsed)
    bar.close()
    if dist.is_main:
        plot_metrics(rows, out / "metrics.png", f"{cfg.synth} {cfg.voice or ''} {cfg.loss}")
    dist.barrier()                            # every rank returns once the files are written
    return {"out_dir": str(out), "steps": cfg.steps, "best": best,
            "elapsed_s": round(time.perf_counter() - t0, 2),
            "model": str(out / MODEL_NAME), "metrics": str(metrics_path)}
