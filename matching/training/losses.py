"""The losses of training: :class:`AudioLoss` (mss, jtfs, scrapl) and :func:`batch_loss`,
the loss of one batch for any ``cfg.loss``."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn

from ..audio import resample_to_length
from ..objective import JTFS_RATE, jtfs_config
from .config import TrainConfig

__all__ = ["AudioLoss", "batch_loss"]


class AudioLoss(nn.Module):
    """The distance between re-synthesized predictions and targets for loss mss/jtfs/scrapl.

    * ``mss``: :class:`scrapl.mss.MSSLoss` (mode ``cfg.mss_mode``) at the synth's rate;
    * ``jtfs``: :class:`scrapl.jtfs_loss.JTFSLoss` (log1p);
    * ``scrapl``: :class:`scrapl.loss.SCRAPLLoss`, one random path per call, with
      𝒫-Adam/𝒫-SAGA as ``cfg`` says (``self.scrapl`` is that loss, else None).

    The JTFS losses compare at 11025 Hz with :func:`matching.objective.jtfs_config`, or with
    ``cfg.jtfs`` (SCRAPLLoss arguments) at the synth's own rate.

    ``n_samples`` and ``sample_rate``: the synth's audio length and rate (Hz); ``n_theta``:
    its number of parameters (SCRAPL's θ-IS statistics)."""

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
        """The training loss (a scalar) of audio ``pred`` and ``target``, each (batch, n)."""
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
