"""Multi-scale spectral (MSS) losses: the STFT baselines of the SCRAPL paper.

Mitcheltree et al., "SCRAPL: Scattering Transform with Random Paths for Machine Learning"
(ICLR 2026) compare SCRAPL with three MSS losses, named in their plotting scripts "MSS
Linear", "MSS Log + Lin." and "MSS Revisited".  Their definitions come from the authors'
experiment configs and code (read from the public repository):

* github.com/christhetree/scrapl ``experiments/src/losses.py`` (class ``LogMSSLoss``) and
  ``experiments/configs/losses/mss_revisited.yml``;
* ``configs/losses/mss_meso.yml`` and ``configs/losses/mss_meso_log.yml`` (the older config
  layout of the same code, copy read from the fork github.com/icewithfrosting/scrapl; the
  new-layout copies are referenced by ``experiments/scripts/benchmark.py`` but not stored),
  which instantiate ``auraloss.freq.MultiResolutionSTFTLoss`` (auraloss 0.4.0,
  ``auraloss/freq.py``).

Notation: for scale k (FFT size ``n_k``, hop ``h_k``, window ``w_k`` of length ``l_k``),
``X_k = STFT(x)`` with ``torch.stft(center=True, pad_mode='reflect', onesided=True,
normalized=False)``, shape ``[batch, n_k // 2 + 1, 1 + N // h_k]``; K scales.

``mode='linear'`` ("MSS Linear", ``mss_meso.yml``: auraloss with ``w_lin_mag=1``, all
other weights 0, ``mag_distance='L1'``)::

    M_k(x) = sqrt(max(|X_k|^2, 1e-8))                      (auraloss's clamped magnitude)
    d(x, y) = (1/K) sum_k mean_{f,t} |M_k(x) - M_k(y)|

``mode='log'`` ("MSS Log + Lin.", ``mss_meso_log.yml``: ``w_lin_mag=1, w_log_mag=1``)::

    d(x, y) = (1/K) sum_k [ mean_{f,t} |M_k(x) - M_k(y)| + mean_{f,t} |log M_k(x) - log M_k(y)| ]

  Both use FFT sizes 64, 128, ..., 2048, hop = n/4, window length = n, periodic Hann
  window.  auraloss averages over the batch and the time-frequency bins at once; the mean
  of the per-signal values above is the same number (same bin count for every signal).

``mode='revisited'`` ("MSS Revisited": ``LogMSSLoss`` with ``mss_revisited.yml``; the
"smooth" configuration of S. Schwär and M. Müller, "Multi-Scale Spectral Loss Revisited",
IEEE Signal Processing Letters 30, 1712-1716, 2023, doi:10.1109/LSP.2023.3333205:
flat-top windows, odd window lengths close to powers of two, hop about half the window,
``log(1 + gamma |X|)`` compression and an L2 distance)::

    d(x, y) = sum_k || log1p(gamma |X_k(x)|) - log1p(gamma |X_k(y)|) ||_p   over (f, t)

  with window lengths = FFT sizes 67, 127, 257, 509, 1021, 2053, hops = window // 2
  (33, 63, 128, 254, 510, 1026), periodic flat-top window (``scipy.signal.windows.flattop(n,
  sym=False)``), gamma = 1, p = 2, sum (not mean) over scales.  If ``log_eps != 1`` the
  compression is ``log(gamma |X| + log_eps)`` as in ``LogMSSLoss``.  ``|X|`` is the plain
  complex modulus (no clamping).

Every variant then reduces over the batch (``reduction``: 'mean' as all three sources do,
'sum', or 'none' for one value per signal).  The signature is the house loss signature
``forward(x, x_target, seed=None, path_idx=None)`` with x, x_target ``[batch, 1, N]``;
``seed`` and ``path_idx`` are ignored.  Not implemented: auraloss's spectral-convergence,
phase, mel/chroma and perceptual-weighting options, and the paper's random-resolution MSS
(``auraloss.freq.RandomResolutionSTFTLoss``, ``rand_mss.yml``).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = ["MSSLoss", "MSS_MODES", "flattop_window", "make_window", "stft_magnitude"]

MSS_MODES = ("linear", "log", "revisited")
WINDOWS = ("hann", "flattop", "rect")
REDUCTIONS = ("mean", "sum", "none")

#: auraloss's magnitude floor: |X| = sqrt(max(|X|^2, MAG_EPS)) ('linear' and 'log').
MAG_EPS = 1e-8

# Per-mode defaults (see the module docstring for their sources).
_DEFAULTS: Dict[str, dict] = {
    "linear": dict(fft_sizes=(64, 128, 256, 512, 1024, 2048), window="hann"),
    "log": dict(fft_sizes=(64, 128, 256, 512, 1024, 2048), window="hann"),
    "revisited": dict(fft_sizes=(67, 127, 257, 509, 1021, 2053), window="flattop"),
}

# Coefficients of the flat-top window (scipy.signal.windows.flattop, = MATLAB's flattopwin).
_FLATTOP = (0.21557895, 0.41663158, 0.277263158, 0.083578947, 0.006947368)


def flattop_window(length: int, dtype: torch.dtype = torch.float32,
                   device: Optional[torch.device] = None) -> torch.Tensor:
    """Periodic flat-top window ``[length]``: ``sum_j (-1)^j a_j cos(2 pi j n / length)``.

    Equals ``scipy.signal.windows.flattop(length, sym=False)`` (five-term cosine sum; it
    has small negative lobes near the ends).
    """
    n = torch.arange(length, dtype=torch.float64, device=device)
    w = torch.zeros(length, dtype=torch.float64, device=device)
    for j, a in enumerate(_FLATTOP):
        w = w + (-1) ** j * a * torch.cos(2 * math.pi * j * n / length)
    return w.to(dtype)


def make_window(name: str, length: int, dtype: torch.dtype = torch.float32,
                device: Optional[torch.device] = None) -> torch.Tensor:
    """Analysis window ``[length]``: 'hann' (``torch.hann_window``, periodic), 'flattop'
    (:func:`flattop_window`, periodic) or 'rect' (ones)."""
    if name == "hann":
        return torch.hann_window(length, dtype=dtype, device=device)
    if name == "flattop":
        return flattop_window(length, dtype=dtype, device=device)
    if name == "rect":
        return torch.ones(length, dtype=dtype, device=device)
    raise ValueError(f"window must be one of {WINDOWS}, got {name!r}")


def stft_magnitude(x: torch.Tensor, fft_size: int, hop_size: int, window: torch.Tensor,
                   clamp_eps: Optional[float] = None) -> torch.Tensor:
    """Magnitude STFT with centred frames (reflect padding by ``fft_size // 2``).

    x: real ``[batch, N]``; window: ``[win_length]`` with ``win_length <= fft_size``
    (zero-padded to ``fft_size`` on both sides by ``torch.stft``).  Returns real
    ``[batch, fft_size // 2 + 1, 1 + N // hop_size]``: ``|X|``, or
    ``sqrt(max(|X|^2, clamp_eps))`` if ``clamp_eps`` is given (auraloss's form, whose
    gradient stays finite where ``X = 0``).
    """
    X = torch.stft(x, n_fft=fft_size, hop_length=hop_size, win_length=window.shape[-1],
                   window=window, center=True, pad_mode="reflect", normalized=False,
                   onesided=True, return_complex=True)
    if clamp_eps is not None:
        return torch.sqrt(torch.clamp(X.real ** 2 + X.imag ** 2, min=clamp_eps))
    if X.requires_grad:
        return X.abs()
    # complex abs is ~2.5x slower on the CPU than sqrt(re^2 + im^2), whose gradient is NaN
    # where X = 0: the fast form only where no gradient flows
    return (X.real ** 2 + X.imag ** 2).sqrt_()


def _as_int_tuple(name: str, values: Sequence[int]) -> Tuple[int, ...]:
    try:
        out = tuple(int(v) for v in values)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of ints, got {values!r}") from None
    if any(o != v for o, v in zip(out, values)):
        raise ValueError(f"{name} must hold integers, got {values!r}")
    return out


class MSSLoss(nn.Module):
    """Multi-scale spectral distance between ``x`` and ``x_target`` (see module docstring).

    Parameters
    ----------
    fft_sizes : sequence of int, optional
        FFT size per scale; default per ``mode`` (64 ... 2048 for 'linear'/'log',
        67, 127, 257, 509, 1021, 2053 for 'revisited').
    hop_sizes : sequence of int, optional
        Hop per scale, samples; default ``fft // 4`` ('linear'/'log') or
        ``win_length // 2`` ('revisited').
    win_lengths : sequence of int, optional
        Window length per scale (<= the FFT size); default = ``fft_sizes``.
    mode : {'linear', 'log', 'revisited'}
        Which of the SCRAPL paper's MSS baselines.
    window : {'hann', 'flattop', 'rect'}, optional
        Analysis window; default 'hann' ('linear'/'log') or 'flattop' ('revisited').
    p : float, optional
        'revisited' only: order of the norm over (freq, time) per scale (default 2).
        'linear' and 'log' use auraloss's mean absolute error and take no ``p``.
    gamma : float
        'revisited' only: magnitude gain inside the log, ``log1p(gamma |X|)``.
    log_eps : float
        'revisited' only: ``log1p(gamma |X|)`` if 1 (default), else
        ``log(gamma |X| + log_eps)``.
    reduction : {'mean', 'sum', 'none'}
        Over the batch; 'none' returns ``[batch]``.

    Shapes: ``x``, ``x_target`` real ``[batch, 1, N]`` (any ``[..., N]`` is flattened to
    ``[batch', N]``); every FFT size must be ``<= N``.
    """

    def __init__(self, fft_sizes: Optional[Sequence[int]] = None,
                 hop_sizes: Optional[Sequence[int]] = None,
                 win_lengths: Optional[Sequence[int]] = None, mode: str = "linear",
                 window: Optional[str] = None, p: Optional[float] = None,
                 gamma: float = 1.0, log_eps: float = 1.0, reduction: str = "mean"):
        super().__init__()
        if mode not in MSS_MODES:
            raise ValueError(f"mode must be one of {MSS_MODES}, got {mode!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        defaults = _DEFAULTS[mode]
        window = defaults["window"] if window is None else window
        if window not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")
        if mode == "revisited":
            p = 2 if p is None else p
            if not p > 0:
                raise ValueError(f"p must be > 0, got {p!r}")
            if not gamma > 0:
                raise ValueError(f"gamma must be > 0, got {gamma!r}")
            if not log_eps > 0:
                raise ValueError(f"log_eps must be > 0, got {log_eps!r}")
        elif p is not None or gamma != 1.0 or log_eps != 1.0:
            raise ValueError(f"p, gamma and log_eps apply to mode='revisited' only "
                             f"(mode={mode!r} uses auraloss's L1 of magnitudes)")

        if fft_sizes is None:
            fft_sizes = win_lengths if win_lengths is not None else defaults["fft_sizes"]
        fft_sizes = _as_int_tuple("fft_sizes", fft_sizes)
        if len(fft_sizes) == 0:
            raise ValueError("fft_sizes must not be empty")
        win_lengths = fft_sizes if win_lengths is None else _as_int_tuple("win_lengths",
                                                                            win_lengths)
        if hop_sizes is None:
            hop_sizes = tuple(max(1, (w // 2) if mode == "revisited" else (n // 4))
                              for n, w in zip(fft_sizes, win_lengths))
        hop_sizes = _as_int_tuple("hop_sizes", hop_sizes)
        for name, seq in (("hop_sizes", hop_sizes), ("win_lengths", win_lengths)):
            if len(seq) != len(fft_sizes):
                raise ValueError(f"{name} must have one entry per FFT size "
                                 f"({len(fft_sizes)}), got {len(seq)}")
        for k, (n, h, w) in enumerate(zip(fft_sizes, hop_sizes, win_lengths)):
            if n < 2:
                raise ValueError(f"fft_sizes[{k}] must be >= 2, got {n}")
            if h < 1:
                raise ValueError(f"hop_sizes[{k}] must be >= 1, got {h}")
            if not 1 <= w <= n:
                raise ValueError(f"win_lengths[{k}] must be in [1, fft_sizes[{k}]={n}], "
                                 f"got {w}")

        self.mode = mode
        self.fft_sizes: Tuple[int, ...] = fft_sizes
        self.hop_sizes: Tuple[int, ...] = hop_sizes
        self.win_lengths: Tuple[int, ...] = win_lengths
        self.window = window
        self.p = p
        self.gamma = gamma
        self.log_eps = log_eps
        self.reduction = reduction
        for k, w in enumerate(win_lengths):
            self.register_buffer(f"window_{k}", make_window(window, w), persistent=False)

    def _windows(self) -> List[torch.Tensor]:
        return [getattr(self, f"window_{k}") for k in range(len(self.fft_sizes))]

    def _flatten(self, x: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        if x.shape != x_target.shape:
            raise ValueError(f"x_target must have the shape of x, got {tuple(x_target.shape)}"
                             f" vs {tuple(x.shape)}")
        if x.dim() < 1:
            raise ValueError("x must have a time axis [..., N]")
        N = x.shape[-1]
        too_long = [(k, n) for k, n in enumerate(self.fft_sizes) if n > N]
        if too_long:
            k, n = too_long[0]
            raise ValueError(f"fft_sizes[{k}]={n} exceeds the signal length N={N} "
                             f"(centred frames reflect-pad by fft_size // 2)")
        # one STFT call for both signals: [2 * batch', N]
        return torch.cat([x.reshape(-1, N), x_target.reshape(-1, N)], dim=0)

    def scale_distances(self, x: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        """Per-signal, per-scale distances ``[batch', K]`` before summing over the scales.

        'linear' / 'log': the per-scale term inside ``(1/K) sum_k``; 'revisited': the
        per-scale norm inside ``sum_k`` (see the module docstring).
        """
        both = self._flatten(x, x_target)
        B = both.shape[0] // 2
        if not both.is_floating_point():
            both = both.float()
        out = []
        for n, h, win in zip(self.fft_sizes, self.hop_sizes, self._windows()):
            win = win.to(dtype=both.dtype, device=both.device)
            if self.mode == "revisited":
                M = stft_magnitude(both, n, h, win)
                L = (torch.log1p(self.gamma * M) if self.log_eps == 1.0
                     else torch.log(self.gamma * M + self.log_eps))
                d = torch.linalg.vector_norm(L[B:] - L[:B], ord=self.p, dim=(-2, -1))
            else:
                M = stft_magnitude(both, n, h, win, clamp_eps=MAG_EPS)
                d = (M[:B] - M[B:]).abs().mean(dim=(-2, -1))
                if self.mode == "log":
                    logM = torch.log(M)
                    d = d + (logM[:B] - logM[B:]).abs().mean(dim=(-2, -1))
            out.append(d)
        return torch.stack(out, dim=-1)

    def forward(self, x: torch.Tensor, x_target: torch.Tensor, seed: Optional[int] = None,
                path_idx: Optional[int] = None) -> torch.Tensor:
        """MSS distance.

        x, x_target: real ``[batch, 1, N]``.  ``seed`` and ``path_idx`` are accepted for
        the common loss signature and ignored.  Returns a scalar ('mean' / 'sum' over the
        batch) or ``[batch]`` ('none').
        """
        d = self.scale_distances(x, x_target)
        d = d.sum(dim=-1) if self.mode == "revisited" else d.mean(dim=-1)
        if self.reduction == "mean":
            return d.mean()
        if self.reduction == "sum":
            return d.sum()
        return d

    def extra_repr(self) -> str:
        s = (f"mode={self.mode!r}, fft_sizes={self.fft_sizes}, hop_sizes={self.hop_sizes}, "
             f"win_lengths={self.win_lengths}, window={self.window!r}")
        if self.mode == "revisited":
            s += f", p={self.p}, gamma={self.gamma}, log_eps={self.log_eps}"
        return s + f", reduction={self.reduction!r}"
