"""Encoder input features: a log-compressed wavelet scalogram.

:class:`ScalogramFeatures` resamples audio to ``rate`` (11025 Hz by default), takes the
first-order time scattering of :class:`scrapl.jtfs.JTFS` (Morlet wavelets, ``Q`` per octave
over ``J`` octaves, each band's modulus averaged over ``2**J`` samples: a constant-Q
scalogram) and compresses it with ``log1p(S / eps)``.  Output: (batch, bins, frames), the
input of :class:`~matching.encoders.Spectral2DCNN`.  Its configuration is a plain dict
(:meth:`ScalogramFeatures.config`) stored with every trained model.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
from torch import nn

from scrapl.jtfs import JTFS

from .audio import resample_to_length

__all__ = ["ScalogramFeatures", "FEATURE_RATE"]

FEATURE_RATE = 11025


class ScalogramFeatures(nn.Module):
    """Log-compressed constant-Q scalogram of fixed-length audio.

    Parameters
    ----------
    n_samples, sample_rate : the audio this is applied to (e.g. a synth's output)
    rate : analysis sample rate (audio is resampled to it)
    J : octaves (None: the largest with ``2**J`` at most a quarter of the resampled
        length, capped at 9); also the averaging scale ``2**J`` samples
    Q : wavelets per octave
    eps : log compression ``log1p(S / eps)``

    ``forward(audio)``: (batch, n_samples) or (batch, 1, n_samples) -> (batch, bins, frames).
    """

    def __init__(self, n_samples: int, sample_rate: int, rate: int = FEATURE_RATE,
                 J: Optional[int] = None, Q: int = 8, eps: float = 1e-3):
        super().__init__()
        if n_samples < 1 or sample_rate < 1 or rate < 1:
            raise ValueError(f"n_samples, sample_rate and rate must be >= 1, got "
                             f"{n_samples}, {sample_rate}, {rate}")
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.n_samples, self.sample_rate, self.rate = int(n_samples), int(sample_rate), int(rate)
        self.n = max(64, int(round(self.n_samples * self.rate / self.sample_rate)))
        if J is None:
            J = max(3, min(9, self.n.bit_length() - 3))
        if not 1 <= J or 2 ** J > self.n:
            raise ValueError(f"J must be >= 1 with 2**J <= {self.n} samples, got {J}")
        self.J, self.Q, self.eps = int(J), int(Q), float(eps)
        self.jtfs = JTFS(self.n, self.J, (self.Q, 1), J_fr=1, Q_fr=1)

    def config(self) -> Dict[str, Any]:
        """Constructor arguments (JSON-serializable), to rebuild the same features."""
        return dict(n_samples=self.n_samples, sample_rate=self.sample_rate, rate=self.rate,
                    J=self.J, Q=self.Q, eps=self.eps)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 3:
            audio = audio.reshape(audio.shape[0], -1)
        if audio.dim() != 2 or audio.shape[-1] != self.n_samples:
            raise ValueError(f"audio must have shape (batch, {self.n_samples}) or (batch, 1, "
                             f"{self.n_samples}), got {tuple(audio.shape)}")
        x = resample_to_length(audio, self.sample_rate, self.rate, self.n)
        S = self.jtfs.time_scattering(x)
        return torch.log1p(S.clamp_min(0) / self.eps)
