"""Synth-in-the-loop training of an encoder (``synthmatch train``).

Every step draws a batch of presets uniformly from the synth's normalized parameter space
(seeded by the step, so a resumed run sees the same data), renders them, predicts the
parameters from the audio with an :class:`~matching.models.EncoderModel` and minimizes one
of the losses:

* ``param``: L1 distance between predicted and true normalized parameters (supervised);
* ``mss``: multi-scale spectral distance between the re-synthesized prediction and the
  target (:class:`scrapl.mss.MSSLoss`, mode ``mss_mode``);
* ``jtfs``: full JTFS distance (log1p), at 11025 Hz (:class:`scrapl.jtfs_loss.JTFSLoss`);
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
    audio_dir: Optional[str] = None
    duration: Optional[float] = None
    progress: bool = True

    def check(self) -> None:
        """ValueError naming the first bad field."""
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        for name in ("steps", "batch_size", "val_size", "val_every", "log_every",
                     "checkpoint_every", "val_paths", "latent_dim", "warmup_batches"):
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
        self.jcfg = jtfs_config(n_samples, sample_rate)
        if cfg.loss == "jtfs":
            from scrapl.jtfs_loss import JTFSLoss
            self.fn = JTFSLoss(**self.jcfg, use_rho_log1p=True)
        else:
            from scrapl.loss import SCRAPLLoss
            self.fn = self.scrapl = SCRAPLLoss(
                **self.jcfg, use_rho_log1p=True, grad_mult=1.0, use_p_adam=cfg.p_adam,
                use_p_saga=cfg.p_saga, seed=cfg.seed, n_theta=n_theta)
            P = self.scrapl.n_paths
            k = min(cfg.val_paths, P)
            self.val_path_idx = sorted({round(i * (P - 1) / max(1, k - 1)) for i in range(k)})

    def low(self, x: torch.Tensor) -> torch.Tensor:
        """Audio (batch, n) at the synth's rate -> (batch, 1, N) at the JTFS rate."""
        return resample_to_length(x.reshape(x.shape[0], -1), self.sample_rate, JTFS_RATE,
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
    """Training batches and the fixed validation set (audio, and θ when known)."""

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
            return self.train_files[idx], None
        theta = torch.rand(self.cfg.batch_size, self.synth.n_params, generator=gen)
        with torch.no_grad():
            audio = self.synth(theta).reshape(len(theta), -1)
        return audio, theta


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


def _validate(cfg, model, synth_module, audio_loss, data) -> Tuple[float, Optional[float]]:
    model.eval()
    losses, l1s, n = [], [], len(data.val_audio)
    with torch.no_grad():
        for i in range(0, n, cfg.batch_size):
            audio = data.val_audio[i:i + cfg.batch_size]
            theta = None if data.val_theta is None else data.val_theta[i:i + cfg.batch_size]
            loss, l1 = _loss(cfg, model, synth_module, audio_loss, audio, theta, True)
            losses.append(float(loss) * len(audio))
            if l1 is not None:
                l1s.append(float(l1) * len(audio))
    model.train()
    return sum(losses) / n, (sum(l1s) / n if l1s else None)


def _theta_is_warmup(cfg, model, synth_module, audio_loss, data, out: Path) -> None:
    scrapl = audio_loss.scrapl
    # batches drawn at negative steps: disjoint from training; the loss compares at the
    # JTFS rate (x), the encoder reads the synth-rate audio
    batches = []
    for i in range(cfg.warmup_batches):
        audio = data.batch(-(i + 2))[0]
        batches.append({"x": audio_loss.low(audio), "audio": audio})
    theta_fn = lambda x, audio: model(audio)
    synth_fn = lambda theta: audio_loss.low(synth_module(theta))
    scrapl.warmup_lc_hvp(theta_fn, synth_fn, batches, list(model.encoder.parameters()),
                         save_dir=str(out / "warmup"), seed=cfg.seed, progress=cfg.progress)


def train(cfg: TrainConfig, out_dir, resume: bool = True) -> Dict[str, Any]:
    """Train (or resume) an encoder; returns a summary (best validation, files, time).

    ``resume``: continue from ``out_dir/checkpoint.pt`` if it exists (its configuration must
    equal ``cfg`` except for ``steps``, ``progress``, ``checkpoint_every``, ``val_every`` and
    ``log_every``); otherwise an existing checkpoint is an error (choose another folder).
    """
    from tqdm.auto import tqdm
    cfg.check()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, metrics_path = out / CHECKPOINT_NAME, out / METRICS_NAME
    synth_module, model, audio_loss, opt = _build(cfg)
    data = _Data(cfg, synth_module)
    scrapl = None if audio_loss is None else audio_loss.scrapl

    start, best, elapsed0 = 0, {"val_loss": math.inf, "step": 0}, 0.0
    if ckpt_path.exists():
        if not resume:
            raise ValueError(f"{ckpt_path} exists: resume it or choose another output folder")
        state = load_checkpoint(ckpt_path)
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
                scrapl.attach_params(list(model.encoder.parameters()))
            scrapl.load_state_dict(state["loss"])
        torch.set_rng_state(state["rng"])
        start, best, elapsed0 = int(state["step"]), dict(state["best"]), float(state["elapsed"])
    elif cfg.theta_is:
        _theta_is_warmup(cfg, model, synth_module, audio_loss, data, out)
    if scrapl is not None and not ckpt_path.exists() and (cfg.p_adam or cfg.p_saga):
        scrapl.attach_params(list(model.encoder.parameters()))
    rows = _read_metrics(metrics_path, start)

    def checkpoint(step: int, elapsed: float) -> None:
        state = {"format": _CHECKPOINT_FORMAT, "config": json.dumps(asdict(cfg)),
                 "step": step, "encoder": model.encoder.state_dict(),
                 "optimizer": opt.state_dict(), "rng": torch.get_rng_state(),
                 "best": best, "elapsed": elapsed}
        if scrapl is not None:
            state["loss"] = scrapl.state_dict()
        _write_metrics(metrics_path, rows)
        _save_checkpoint(ckpt_path, state)

    model.train()
    if scrapl is not None:
        scrapl.train()
    t0 = time.perf_counter() - elapsed0
    window: List[Tuple[float, Optional[float]]] = []
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, unit="step",
               desc=f"train {cfg.synth}{':' + cfg.voice if cfg.voice else ''} ({cfg.loss})",
               disable=not cfg.progress)
    for step in bar:
        audio, theta = data.batch(step)
        loss, l1 = _loss(cfg, model, synth_module, audio_loss, audio, theta)
        if not torch.isfinite(loss.detach()):
            raise FloatingPointError(f"loss is {loss.item()} at step {step + 1}; lower lr "
                                     f"(now {cfg.lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
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
            val_loss, val_l1 = _validate(cfg, model, synth_module, audio_loss, data)
            rows.append({"step": done, "split": "val", "loss": f"{val_loss:.6g}",
                         "param_l1": "" if val_l1 is None else f"{val_l1:.6g}",
                         "elapsed_s": f"{elapsed:.2f}"})
            score = val_l1 if (val_l1 is not None and cfg.loss == "param") else val_loss
            if score < best["val_loss"]:
                best = {"val_loss": score, "step": done}
                model.info = {"train": asdict(cfg), "step": done, "val_loss": val_loss,
                              "val_param_l1": val_l1}
                save_model(model, out / MODEL_NAME)
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            checkpoint(done, elapsed)
    bar.close()
    plot_metrics(rows, out / "metrics.png", f"{cfg.synth} {cfg.voice or ''} {cfg.loss}")
    return {"out_dir": str(out), "steps": cfg.steps, "best": best,
            "elapsed_s": round(time.perf_counter() - t0, 2),
            "model": str(out / MODEL_NAME), "metrics": str(metrics_path)}
