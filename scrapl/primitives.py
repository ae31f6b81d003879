"""Narrow set of torch primitives used by the JTFS (``scrapl.jtfs``).

Every function works on the **last** axis of a tensor (leading axes are batch /
channel axes) and is differentiable by autograd.  Complex tensors are native
``torch.complex64`` / ``complex128``.  A later issue swaps these for Triton
kernels behind a dispatcher, so keep the signatures plain:

* ``pad(x, left, right)``             reflect padding, real (..., N) -> (..., N + left + right)
* ``unpad(x, i0, i1)``                slice (..., N) -> (..., i1 - i0)
* ``fft(x, n)`` / ``ifft(x)``         full complex DFT along the last axis (no scaling /
                                      1/N scaling, like ``torch.fft``); ``n`` zero-pads
* ``cdgmm(x_hat, filters)``           x_hat (..., N) complex times a real filter (N,) or a
                                      bank (K, N) -> (..., N) or (..., K, N)
* ``subsample_fourier(x_hat, k)``     periodization (mean over k periods): spectrum of the
                                      signal subsampled by k, (..., N) -> (..., N // k)
* ``modulus(z)``                      |z| + 1e-12 (the peer's stable modulus), real output
* ``apply_left(A, x)``              A (R, n) @ x (..., n, L) -> (..., R, L): a dense linear
                                      operator on the second-to-last (short) axis
* ``apply_right(x, A)``             x (..., L) @ A (L, M) -> (..., M): on the last axis
* ``real_lowpass(u, phi, k)``         real u (..., N) -> real (..., N // k): Fourier
                                      filtering by a real low-pass phi (N,) then
                                      subsampling by k (= Re ifft(sub(fft(u) * phi, k)))
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

MODULUS_EPS = 1e-12

__all__ = ["pad", "unpad", "fft", "ifft", "cdgmm", "subsample_fourier", "modulus",
           "apply_left", "apply_right", "real_lowpass"]


def pad(x: torch.Tensor, pad_left: int, pad_right: int, mode: str = "reflect"
        ) -> torch.Tensor:
    """Reflect-pad real x (..., N) along the last axis -> (..., N + pad_left + pad_right)."""
    if mode != "constant" and (pad_left >= x.shape[-1] or pad_right >= x.shape[-1]):
        raise ValueError("Indefinite padding size (larger than tensor).")
    shape = x.shape
    y = F.pad(x.reshape(-1, 1, shape[-1]), (pad_left, pad_right), mode=mode)
    return y.reshape(shape[:-1] + (y.shape[-1],))


def unpad(x: torch.Tensor, i0: int, i1: int) -> torch.Tensor:
    """x[..., i0:i1]."""
    return x[..., i0:i1]


def fft(x: torch.Tensor, n: int | None = None) -> torch.Tensor:
    """Full DFT along the last axis (real or complex input) -> complex (..., n).

    If n is given and larger than x.shape[-1], x is zero-padded on the right first.
    """
    return torch.fft.fft(x, n=n, dim=-1)


def ifft(x_hat: torch.Tensor) -> torch.Tensor:
    """Inverse DFT along the last axis (1/N normalisation) -> complex (..., N)."""
    return torch.fft.ifft(x_hat, dim=-1)


def cdgmm(x_hat: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """Multiply a spectrum by a real filter or a bank of real filters.

    x_hat: complex (..., N); filters: real (N,) -> (..., N), or real (K, N) -> (..., K, N)
    (x_hat broadcast against the bank: one op for all K filters).
    """
    if filters.dim() == 1:
        return x_hat * filters
    return x_hat.unsqueeze(-2) * filters


def subsample_fourier(x_hat: torch.Tensor, k: int) -> torch.Tensor:
    """Spectrum of the signal subsampled by k: mean over the k periods.

    x_hat: complex (..., N) with N divisible by k -> (..., N // k).
    """
    if k == 1:
        return x_hat
    N = x_hat.shape[-1]
    return x_hat.reshape(x_hat.shape[:-1] + (k, N // k)).mean(dim=-2)


class _StableModulus(torch.autograd.Function):
    """|z| + eps with gradient z / (|z| + eps) (zero where z = 0)."""

    @staticmethod
    def forward(ctx, z):
        out = torch.abs(z) + MODULUS_EPS
        ctx.save_for_backward(z, out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        z, out = ctx.saved_tensors
        return z * (grad_out / out)


def modulus(z: torch.Tensor) -> torch.Tensor:
    """Complex modulus |z| + 1e-12 (real tensor of the same shape)."""
    return _StableModulus.apply(z)


def real_lowpass(u: torch.Tensor, phi: torch.Tensor, k: int) -> torch.Tensor:
    """Low-pass filter a real signal in Fourier then subsample by k.

    u: real (..., N); phi: real (N,) Fourier low-pass -> real (..., N // k),
    equal to ``ifft(subsample_fourier(fft(u) * phi, k)).real``.
    """
    return ifft(subsample_fourier(cdgmm(fft(u), phi), k)).real


def apply_left(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Dense operator on the second-to-last axis: A (R, n) @ x (..., n, L) -> (..., R, L).

    A and x must share the dtype (complex A needs complex x)."""
    return torch.matmul(A, x)


def apply_right(x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """Dense operator on the last axis: x (..., L) @ A (L, M) -> (..., M)."""
    return torch.matmul(x, A)
