"""The configuration of a training run: :class:`TrainConfig`.

Each field's ``metadata`` holds its help text (and, where the command line differs from the
field's name, its flag); ``synthmatch train`` derives its flags from it
(:mod:`matching.cli_options`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Tuple

from scrapl.mss import MSS_MODES

__all__ = ["LOSSES", "RESUMABLE_CHANGES", "TrainConfig"]

LOSSES = ("param", "mss", "jtfs", "scrapl")
#: fields that may differ between a checkpoint and the run that resumes it
RESUMABLE_CHANGES = ("steps", "progress", "checkpoint_every", "val_every", "log_every")
_POSITIVE_INTS = ("steps", "batch_size", "val_size", "val_every", "log_every",
                  "checkpoint_every", "val_paths", "latent_dim", "warmup_batches",
                  "warmup_iters")


def _option(default: Any, help: Optional[str] = None, **cli: Any) -> Any:
    """A field with its default and command-line metadata (no ``help``: not a flag)."""
    return field(default=default, metadata=dict(cli, **({} if help is None else {"help": help})))


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in the checkpoint and the model).

    Counts are steps of the optimizer; audio lengths and rates are the synth's unless a
    field says otherwise.  :meth:`check` validates the values."""

    synth: str = _option("tr808", "synth name")
    voice: Optional[str] = _option(
        None, "voice of the synth (default: the synth's default voice)")
    loss: str = _option("param", "training loss (param: supervised on the true parameters)",
                        choices=LOSSES)
    steps: int = _option(1000, "total steps")
    batch_size: int = _option(
        16, "presets per step; under torchrun per process: N processes train like one with "
            "N times the batch")
    lr: float = _option(1e-3, "learning rate")
    seed: int = _option(0, "random seed (data, initial weights, SCRAPL paths)")
    val_size: int = _option(64, "validation presets (with --audio-dir: at most a fifth of "
                                "the sounds)")
    val_every: int = _option(100, "validate every N steps", metavar="N")
    val_paths: int = _option(16, "SCRAPL: JTFS paths of the validation loss (evenly "
                                 "spaced, fixed)", metavar="N")
    log_every: int = _option(10, "write the mean training loss every N steps", metavar="N")
    checkpoint_every: int = _option(100, "checkpoint every N steps", metavar="N")
    out_channels: Tuple[int, ...] = _option(
        (32, 32, 32, 32, 32), "encoder channels per block (the paper: 128 x 5)",
        flag="--channels", metavar="C")
    latent_dim: int = _option(64, "encoder latent width")
    dropout: float = _option(0.0, "encoder dropout probability, in [0, 1)")
    mss_mode: str = _option("revisited", "loss mss: the multi-scale spectral distance",
                            choices=MSS_MODES)
    p_adam: bool = _option(True, "SCRAPL without P-Adam (Adam instead of SGD + P-Adam)",
                           flag="--no-p-adam")
    p_saga: bool = _option(True, "SCRAPL without P-SAGA", flag="--no-p-saga")
    theta_is: bool = _option(False, "SCRAPL: theta-IS warm-up first")
    warmup_batches: int = _option(1, "theta-IS: batches the curvature is measured on",
                                  metavar="N")
    warmup_iters: int = _option(20, "theta-IS: power iterations per path", metavar="N")
    audio_dir: Optional[str] = _option(
        None, "train on the sounds in DIR instead of random presets (unsupervised)",
        metavar="DIR")
    duration: Optional[float] = _option(
        None, "seconds of audio per sound (default: the voice's own duration)", metavar="S")
    #: SCRAPLLoss arguments (``shape``, ``J``, ``Q1``, ``Q2``, ``J_fr``, ``Q_fr``, ...) of the
    #: JTFS at the synth's own rate; None: :func:`matching.audio_loss.jtfs_config` at 11025 Hz
    jtfs: Optional[Dict[str, Any]] = _option(None)
    progress: bool = _option(True, "no progress bar", flag="--quiet")

    def check(self) -> None:
        """ValueError naming the first bad field."""
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.out_channels or any(int(c) < 1 for c in self.out_channels):
            raise ValueError(f"out_channels must be positive integers, got {self.out_channels}")
        if self.loss == "mss" and self.mss_mode not in MSS_MODES:
            raise ValueError(f"mss_mode must be one of {MSS_MODES}, got {self.mss_mode!r}")
        if self.audio_dir is not None and self.loss == "param":
            raise ValueError("loss 'param' needs the true parameters: with audio_dir (the "
                             "user's sounds, unsupervised) use mss, jtfs or scrapl")
        if self.theta_is and self.loss != "scrapl":
            raise ValueError("theta_is applies to loss 'scrapl' only")

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TrainConfig":
        """The configuration of a dict (e.g. ``asdict`` of one, through JSON); ValueError
        for unknown keys."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown training options {unknown}")
        d = dict(d)
        if "out_channels" in d:
            d["out_channels"] = tuple(int(c) for c in d["out_channels"])
        return cls(**d)

    def resume_conflicts(self, saved: "TrainConfig") -> List[str]:
        """The fields in which ``saved`` (a checkpoint's configuration) differs from this one
        and that a resumed run may not change (all but :data:`RESUMABLE_CHANGES`)."""
        return [f.name for f in fields(self) if f.name not in RESUMABLE_CHANGES
                and getattr(saved, f.name) != getattr(self, f.name)]
