"""What a match minimizes and how a match is scored.

:class:`MatchObjective` compares a batch of candidate renders with one target, per candidate:

* a log-spectral term: the "MSS revisited" loss (log1p-compressed multi-scale spectra,
  :class:`scrapl.mss.MSSLoss`), divided by its value for silence, so 1 means "no better than
  silence" whatever the target's level;
* an envelope term: mean absolute difference of the frame RMS levels in dB (floored at
  -80 dB), divided by 20 dB, which is what pins down decays;
* optionally a SCRAPL term (one random JTFS path per call, log1p-compressed, computed at a
  reduced sample rate to stay cheap), divided by its value for silence on the same path.

:func:`match_distances` gives the distances of the match report (log-mel, MSS, JTFS).
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torchaudio
from torch import nn

from scrapl.jtfs_loss import JTFSLoss
from scrapl.loss import SCRAPLLoss
from scrapl.mss import MSSLoss

from .audio import resample_to_length

__all__ = ["MatchObjective", "match_distances", "envelope_db", "jtfs_config"]

JTFS_RATE = 11025


def envelope_db(x: torch.Tensor, frame: int = 512, hop: int = 256, floor_db: float = -80.0
                ) -> torch.Tensor:
    """Frame RMS level in dB, (batch, frames), of x (batch, n)."""
    x = nn.functional.pad(x, (frame // 2, frame // 2))
    frames = x.unfold(-1, frame, hop)
    rms = frames.square().mean(dim=-1).clamp_min(10 ** (floor_db / 10)).sqrt()
    return 20 * torch.log10(rms)


def jtfs_config(n_samples: int, sample_rate: int) -> Dict[str, int]:
    """A JTFS configuration for signals resampled to 11025 Hz (2**J <= a quarter of N)."""
    n = max(256, int(round(n_samples * JTFS_RATE / sample_rate)))
    J = max(4, min(10, n.bit_length() - 3))
    return dict(shape=n, J=J, Q1=8, Q2=2, J_fr=3, Q_fr=2)


class MatchObjective(nn.Module):
    """Per-candidate matching loss against one target (see the module docstring).

    target: (n,) at ``sample_rate``; ``forward(x)`` with x (batch, n) or (batch, 1, n)
    returns (batch,) losses, differentiable.
    """

    def __init__(self, target: torch.Tensor, sample_rate: int, envelope_weight: float = 1.0,
                 scrapl_weight: float = 0.0, seed: int = 0):
        super().__init__()
        self.sample_rate = sample_rate
        self.envelope_weight = envelope_weight
        self.scrapl_weight = scrapl_weight
        self.register_buffer("target", target.detach().reshape(1, -1).float())
        # log1p-compressed spectra at three power-of-two scales (Hann, hop n/4): the
        # "revisited" distance, made cheap enough for a per-step objective on the CPU
        self.mss = MSSLoss(mode="revisited", fft_sizes=(256, 1024, 4096),
                           hop_sizes=(64, 256, 1024), window="hann", reduction="none")
        with torch.no_grad():
            self.silence = float(self.mss(torch.zeros_like(self.target), self.target))
            self.target_env = envelope_db(self.target)
        self.scrapl: Optional[SCRAPLLoss] = None
        if scrapl_weight > 0:
            cfg = jtfs_config(self.target.shape[-1], sample_rate)
            self.scrapl = SCRAPLLoss(**cfg, use_rho_log1p=True, grad_mult=1.0, use_p_adam=False,
                                     use_p_saga=False, seed=seed)
            self.register_buffer("target_low", self._low(self.target))

    def _low(self, x: torch.Tensor) -> torch.Tensor:
        return resample_to_length(x, self.sample_rate, JTFS_RATE, self.scrapl.jtfs.N)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        target = self.target.expand(x.shape[0], -1)
        loss = self.mss(x, target) / self.silence
        if self.envelope_weight:
            env = (envelope_db(x) - self.target_env).abs().mean(dim=-1) / 20.0
            loss = loss + self.envelope_weight * env
        if self.scrapl is not None:
            low = self._low(x).unsqueeze(1)
            tgt = self.target_low.expand(x.shape[0], -1).unsqueeze(1)
            path = self.scrapl.sample_path()
            per_item = self.scrapl.path_distances(low, tgt, [path], reduction="none")[0]
            silence = self.scrapl.path_distances(torch.zeros_like(tgt[:1]), tgt[:1], [path])[0]
            loss = loss + self.scrapl_weight * per_item / silence.detach().clamp_min(1e-12)
        return loss


def match_distances(x: torch.Tensor, target: torch.Tensor, sample_rate: int) -> Dict[str, float]:
    """Distances reported for a match (lower is better): ``log_mel`` (mean |Δ| of log-mel
    energies, 128 bands), ``mss`` (MSS log + lin.), ``mss_revisited``, ``envelope_db`` (mean
    |Δ| of frame levels, dB) and ``jtfs`` (full JTFS distance, log1p, at 11025 Hz)."""
    x, target = x.reshape(1, -1).float(), target.reshape(1, -1).float()
    with torch.no_grad():
        mel = torchaudio.transforms.MelSpectrogram(sample_rate, n_fft=2048, hop_length=256,
                                                   n_mels=128)
        lm = lambda s: torch.log(mel(s) + 1e-6)
        cfg = jtfs_config(x.shape[-1], sample_rate)
        jtfs = JTFSLoss(**cfg, use_rho_log1p=True)
        low = lambda s: resample_to_length(s, sample_rate, JTFS_RATE, cfg["shape"])
        return {
            "log_mel": float((lm(x) - lm(target)).abs().mean()),
            "mss": float(MSSLoss(mode="log")(x.unsqueeze(1), target.unsqueeze(1))),
            "mss_revisited": float(MSSLoss(mode="revisited")(x.unsqueeze(1), target.unsqueeze(1))),
            "envelope_db": float((envelope_db(x) - envelope_db(target)).abs().mean()),
            "jtfs": float(jtfs(low(x).unsqueeze(1), low(target).unsqueeze(1))),
        }
