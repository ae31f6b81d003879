"""The losses of training: :class:`AudioLoss` (mss, jtfs, scrapl) and :func:`batch_loss`,
the loss of one batch for any ``cfg.loss``."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn

from .. import audio_loss
from .config import TrainConfig

__all__ = ["AudioLoss", "batch_loss"]


class AudioLoss(audio_loss.AudioLoss):
    """The distance between re-synthesized predictions and targets for loss mss/jtfs/scrapl:
    :class:`matching.audio_loss.AudioLoss` of family ``cfg.loss`` configured by ``cfg``.

    * ``mss``: :class:`scrapl.mss.MSSLoss` (mode ``cfg.mss_mode``) at the synth's rate;
    * ``jtfs``: :class:`scrapl.jtfs_loss.JTFSLoss` (log1p);
    * ``scrapl``: :class:`scrapl.loss.SCRAPLLoss`, one random path per call, with
      𝒫-Adam/𝒫-SAGA as ``cfg`` says (``self.scrapl`` is that loss, else None).

    The JTFS losses compare at 11025 Hz with :func:`matching.audio_loss.jtfs_config`, or
    with ``cfg.jtfs`` (SCRAPLLoss arguments) at the synth's own rate.

    ``n_samples`` and ``sample_rate``: the synth's audio length and rate (Hz); ``n_theta``:
    its number of parameters (SCRAPL's θ-IS statistics).  ``forward(pred, target)``: audio
    (batch, n) each -> the training loss (a scalar)."""

    def __init__(self, cfg: TrainConfig, n_samples: int, sample_rate: int, n_theta: int):
        options = {}
        if cfg.loss == "scrapl":
            options = dict(use_p_adam=cfg.p_adam, use_p_saga=cfg.p_saga, seed=cfg.seed,
                           n_theta=n_theta)
        super().__init__(cfg.loss, n_samples, sample_rate, mss_mode=cfg.mss_mode,
                         jtfs=cfg.jtfs, **options)
        if self.scrapl is not None:
            P = self.scrapl.n_paths
            k = min(cfg.val_paths, P)
            self.val_path_idx = sorted({round(i * (P - 1) / max(1, k - 1)) for i in range(k)})

    def low(self, x: torch.Tensor) -> torch.Tensor:
        """Audio (batch, n) at the synth's rate -> (batch, 1, N) at the JTFS rate."""
        return self.resample(x)

    def validation(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The validation value: for SCRAPL the mean over the fixed paths."""
        if self.scrapl is None:
            return self.forward(pred, target)
        return self.path_distances(pred, target, self.val_path_idx).mean()


def batch_loss(model: nn.Module, synth_module: nn.Module, audio_loss: Optional[AudioLoss],
               audio: torch.Tensor, theta: Optional[torch.Tensor], validation: bool = False
               ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """``(loss, param_l1)`` of one batch: ``model`` predicts θ (B, n_params) from ``audio``
    (B, n); ``param_l1`` is the mean |θ̂ - θ| when ``theta`` is known (else None).  Without
    ``audio_loss`` (loss ``param``) the loss is ``param_l1``; else ``audio_loss`` of the
    prediction rendered by ``synth_module`` against ``audio`` (its validation value when
    ``validation``)."""
    pred = model(audio)
    param_l1 = None if theta is None else (pred - theta).abs().mean()
    if audio_loss is None:
        return param_l1, param_l1
    rendered = synth_module(pred).reshape(len(pred), -1)
    fn = audio_loss.validation if validation else audio_loss
    return fn(rendered, audio), param_l1
