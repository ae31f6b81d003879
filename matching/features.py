"""Encoder input features: a log-compressed constant-Q scalogram.

:class:`ScalogramFeatures` resamples audio to ``rate`` (11025 Hz by default) and computes
``log1p(S / eps)`` of a constant-Q scalogram ``S`` (batch, bins, frames), in one of two ways:

* ``kind="cqt"`` (default, cheap): STFT magnitudes (Hann, ``n_fft`` 2048, hop 512) summed by
  a bank of Gaussian bands centred on ``fmin * 2**(k / Q)`` with constant-Q bandwidth
  ``f_k (2**(1/Q) - 1)``, widened to at least two STFT bins at the bottom (a variable-Q
  transform: constant Q above ~200 Hz at the default settings, like a pseudo-CQT);
* ``kind="scattering"``: the first-order wavelet scattering of :class:`scrapl.jtfs.JTFS`
  (Morlet wavelets, ``Q`` per octave over ``J`` octaves, each band's modulus averaged over
  ``2**J`` samples): exact wavelets, ~50x the cost of ``cqt`` on the CPU.

Output: (batch, bins, frames), the input of :class:`~matching.encoders.Spectral2DCNN`.  The
configuration is a plain dict (:meth:`ScalogramFeatures.config`) stored with every model.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import torch
from torch import nn

from .audio import resample_to_length

__all__ = ["ScalogramFeatures", "FEATURE_RATE", "FEATURE_KINDS", "cq_filterbank"]

FEATURE_RATE = 11025
FEATURE_KINDS = ("cqt", "scattering")


def cq_filterbank(rate: int, n_fft: int, Q: int, fmin: float, fmax: float) -> torch.Tensor:
    """(bins, n_fft // 2 + 1) Gaussian bands at ``fmin * 2**(k/Q)`` up to ``fmax``: width
    (standard deviation) half the constant-Q bandwidth ``f (2**(1/Q) - 1)``, at least one STFT
    bin; each row sums to 1."""
    n_bins = int(math.floor(Q * math.log2(fmax / fmin))) + 1
    centres = fmin * 2.0 ** (torch.arange(n_bins, dtype=torch.float64) / Q)
    df = rate / n_fft
    sigma = torch.clamp(centres * (2 ** (1 / Q) - 1) / 2, min=df)
    f = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * df
    W = torch.exp(-0.5 * ((f[None, :] - centres[:, None]) / sigma[:, None]) ** 2)
    return (W / W.sum(dim=1, keepdim=True)).float()


class ScalogramFeatures(nn.Module):
    """Log-compressed constant-Q scalogram of fixed-length audio.

    Parameters
    ----------
    n_samples, sample_rate : the audio this is applied to (e.g. a synth's output)
    rate : analysis sample rate (audio is resampled to it)
    kind : ``"cqt"`` (STFT + constant-Q bands) or ``"scattering"`` (wavelets, see above)
    Q : bins per octave
    J : scattering only: octaves and averaging scale ``2**J`` (None: the largest with
        ``2**J`` at most a quarter of the resampled length, capped at 9)
    fmin : cqt only: lowest centre frequency (Hz); bins go up to 0.45 * rate
    n_fft, hop : cqt only: STFT size and hop (samples at ``rate``)
    eps : log compression ``log1p(S / eps)``

    ``forward(audio)``: (batch, n_samples) or (batch, 1, n_samples) -> (batch, bins, frames).
    """

    def __init__(self, n_samples: int, sample_rate: int, rate: int = FEATURE_RATE,
                 kind: str = "cqt", Q: int = 12, J: Optional[int] = None,
                 fmin: float = 32.7, n_fft: int = 2048, hop: int = 512, eps: float = 1e-3):
        super().__init__()
        if n_samples < 1 or sample_rate < 1 or rate < 1:
            raise ValueError(f"n_samples, sample_rate and rate must be >= 1, got "
                             f"{n_samples}, {sample_rate}, {rate}")
        if kind not in FEATURE_KINDS:
            raise ValueError(f"kind must be one of {FEATURE_KINDS}, got {kind!r}")
        if not eps > 0 or Q < 1:
            raise ValueError(f"eps must be > 0 and Q >= 1, got eps={eps}, Q={Q}")
        self.n_samples, self.sample_rate, self.rate = int(n_samples), int(sample_rate), int(rate)
        self.kind, self.Q, self.eps = kind, int(Q), float(eps)
        self.n = max(64, int(round(self.n_samples * self.rate / self.sample_rate)))
        self.J, self.fmin, self.n_fft, self.hop = J, float(fmin), int(n_fft), int(hop)
        if kind == "scattering":
            from scrapl.jtfs import JTFS
            if J is None:
                J = max(3, min(9, self.n.bit_length() - 3))
            if J < 1 or 2 ** J > self.n:
                raise ValueError(f"J must be >= 1 with 2**J <= {self.n} samples, got {J}")
            self.J = int(J)
            self.jtfs = JTFS(self.n, self.J, (self.Q, 1), J_fr=1, Q_fr=1)
        else:
            if not 0 < self.fmin < 0.45 * self.rate or self.hop < 1 or self.n_fft < 16:
                raise ValueError(f"need 0 < fmin < {0.45 * self.rate} Hz, hop >= 1, "
                                 f"n_fft >= 16; got {fmin}, {hop}, {n_fft}")
            self.register_buffer("bands", cq_filterbank(self.rate, self.n_fft, self.Q,
                                                        self.fmin, 0.45 * self.rate),
                                 persistent=False)
            self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)

    def config(self) -> Dict[str, Any]:
        """Constructor arguments (JSON-serializable), to rebuild the same features."""
        return dict(n_samples=self.n_samples, sample_rate=self.sample_rate, rate=self.rate,
                    kind=self.kind, Q=self.Q, J=self.J, fmin=self.fmin, n_fft=self.n_fft,
                    hop=self.hop, eps=self.eps)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 3:
            audio = audio.reshape(audio.shape[0], -1)
        if audio.dim() != 2 or audio.shape[-1] != self.n_samples:
            raise ValueError(f"audio must have shape (batch, {self.n_samples}) or (batch, 1, "
                             f"{self.n_samples}), got {tuple(audio.shape)}")
        x = resample_to_length(audio, self.sample_rate, self.rate, self.n)
        if self.kind == "scattering":
            S = self.jtfs.time_scattering(x).clamp_min(0)
        else:
            spec = torch.stft(x, self.n_fft, self.hop, window=self.window, center=True,
                              return_complex=True).abs()           # (batch, freqs, frames)
            S = torch.matmul(self.bands, spec)
        return torch.log1p(S / self.eps)
