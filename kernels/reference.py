"""Torch reference of every kernel op: the definitions the Triton, numba and fused CPU
implementations are tested against, and the ``reference`` backend of
:mod:`kernels.dispatch` (forced by ``SYNTHMATCH_KERNELS=reference`` or
``backend="reference"``; ``auto`` runs it for the ops without a faster implementation).

Plain torch, no dependency on :mod:`scrapl` (data flows kernels -> scrapl).  Every op
works on the **last** axes, leading axes are batch axes; complex tensors are native
``torch.complex64`` / ``complex128``.  Every op is made of differentiable torch operations
only (no custom backward), so it is differentiable to any order and under ``vmap``: the
other backends differentiate these definitions for double backward and
``is_grads_batched`` (:mod:`kernels.recompute`).

Ops (the dispatcher validates arguments before calling them; these functions do not),
plus :func:`filter_band`, the host-side helper that finds each filter's band:

* :func:`filter_periodize`  complex multiply by a bank of Fourier filters, optionally
  restricted to a band per filter, fused with Fourier-domain subsampling (periodization)
* :func:`band_fold`         the same for the one-sided spectrum of a real signal, reading
  only a gathered list of blocks per filter
* :func:`modulus`           ``sqrt(|z|^2 + 1e-24)`` (= ``|z| + 1e-12`` to within 1e-12),
  optionally compressed by ``log1p(. / eps)``
* :func:`modulus_average`   ``|G @ Y| @ A``: complex operator on the short axis, modulus,
  real averaging operator on the last axis (the frequential stage of a JTFS path)
* :func:`band_modulus_rfft` ``rfft(|ifft(band_fold(X))|)`` for chunks of a filter bank
  (the first order of a JTFS)
* :func:`path_distance`     ``mean_b ||target_b - x_b||_p`` over the last two axes
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple, Union

import torch

__all__ = ["MODULUS_EPS", "band_mask", "filter_band", "filter_periodize", "band_fold",
           "stable_abs", "stable_abs_planes", "modulus", "modulus_average",
           "band_modulus_rfft", "path_distance"]

#: the modulus is ``sqrt(|z|^2 + MODULUS_EPS^2)``, the peer's ``|z| + MODULUS_EPS`` to
#: within MODULUS_EPS
MODULUS_EPS = 1e-12

Band = Tuple[Union[torch.Tensor, Sequence[int]], Union[torch.Tensor, Sequence[int]]]


def band_mask(N: int, band: Band, device=None) -> torch.Tensor:
    """Boolean mask (K, N) of the cyclic bands ``[start_k, start_k + length_k) mod N``.

    band: ``(start, length)``, two integer sequences or tensors of K entries."""
    start = torch.as_tensor(band[0], dtype=torch.long, device=device).reshape(-1, 1)
    length = torch.as_tensor(band[1], dtype=torch.long, device=device).reshape(-1, 1)
    n = torch.arange(N, device=device).reshape(1, -1)
    return torch.remainder(n - start, N) < length


def filter_band(filters: torch.Tensor, rel_threshold: float = 1e-7
                ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Shortest cyclic band ``(start, length)`` holding each filter's significant bins.

    filters: real or complex (K, N).  A bin is significant if its magnitude exceeds
    ``rel_threshold`` times the filter's largest; the band is the complement of the
    longest cyclic run of other bins.  Returns two long tensors (K,) on the CPU (an
    all-zero filter gets length 0), the ``band`` argument of :func:`filter_periodize`.
    Host-side, for filter banks built once.
    """
    mag = filters.detach().abs().cpu()
    K, N = mag.shape
    start = torch.zeros(K, dtype=torch.long)
    length = torch.zeros(K, dtype=torch.long)
    for k in range(K):
        keep = torch.nonzero(mag[k] > rel_threshold * mag[k].max()).flatten()
        if keep.numel() == 0 or mag[k].max() == 0:
            continue
        gaps = torch.diff(torch.cat([keep, keep[:1] + N]))     # gaps[i]: keep[i] -> next
        g = int(torch.argmax(gaps))
        start[k] = int(keep[(g + 1) % keep.numel()])
        length[k] = N - int(gaps[g]) + 1
    return start, length


def filter_periodize(x_hat: torch.Tensor, filters: torch.Tensor, factor: int,
                     band: Optional[Band] = None) -> torch.Tensor:
    """Filter spectra by a bank of Fourier filters, then subsample by ``factor``.

    x_hat: complex (..., N) spectra (full DFT); filters: real or complex (K, N);
    factor: s, divides N; band: optional ``(start, length)`` of K entries each, filter k
    taken as zero outside the cyclic bins ``[start_k, start_k + length_k) mod N``.
    Returns complex (..., K, N // s) with
    ``out[..., k, m] = (1/s) sum_{r<s} x_hat[..., m + r N/s] * filters[k, m + r N/s]``
    (the mean over the s periods: the spectrum of the filtered signal subsampled by s).
    """
    N = x_hat.shape[-1]
    if band is not None:
        filters = filters * band_mask(N, band, filters.device)
    y = x_hat.unsqueeze(-2) * filters
    if factor == 1:
        return y
    return y.reshape(y.shape[:-1] + (factor, N // factor)).mean(dim=-2)


def band_fold(x_half: torch.Tensor, index: torch.Tensor, window: torch.Tensor, M: int
              ) -> torch.Tensor:
    """Band-limited Fourier filtering and periodization of real signals.

    x_half: complex (..., nh), one-sided spectra (``rfft``) of real signals;
    index: long (*F, m * M), for every filter (*F: filter axes) the positions in x_half of
    the bins of its m blocks of M bins; window: real (*F, m * M, 2), the filter on those
    bins as pairs (h, h) for bins read directly and (h, -h) for conjugated ones.
    Returns complex (..., *F, M): the m blocks multiplied componentwise by the window and
    summed (a sum over the periods; put 1/k in the window for a mean).  Each filter costs
    m * M reads instead of nh.
    """
    lead, nh = x_half.shape[:-1], x_half.shape[-1]
    F_shape, L = tuple(index.shape[:-1]), index.shape[-1]
    x2 = x_half.reshape(-1, nh)
    # torch.gather (parallel, with a fast scatter-add backward) rather than index_select
    g = torch.gather(x2, 1, index.reshape(1, -1).expand(x2.shape[0], -1))
    g = torch.view_as_real(g).reshape((g.shape[0],) + F_shape + (L, 2))
    y = torch.view_as_complex(g * window)                       # (B', *F, m * M)
    if L != M:
        y = y.reshape(y.shape[:-1] + (L // M, M)).sum(dim=-2)
    return y.reshape(lead + y.shape[1:])


def stable_abs_planes(re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
    """``sqrt(re**2 + im**2 + MODULUS_EPS**2)``: the modulus of every backend.

    Equals the peer's stable modulus ``|z| + 1e-12`` to within 1e-12 (exactly at z = 0,
    to rounding for ``|z| >> 1e-12``); its autograd gradient ``z / u`` is 0 at z = 0 (no
    NaN, no custom backward: differentiable to any order).  Three passes and no square
    root of exact zeros or denormals (a slow path of the vectorised CPU sqrt)."""
    eps2 = re.new_full((), MODULUS_EPS ** 2)
    return torch.addcmul(eps2, re, re).addcmul_(im, im).sqrt_()


def stable_abs(z: torch.Tensor) -> torch.Tensor:
    """:func:`stable_abs_planes` of a complex tensor: real, z's shape."""
    zr = torch.view_as_real(z.resolve_conj())
    return stable_abs_planes(zr[..., 0], zr[..., 1])


def modulus(z: torch.Tensor, log1p_eps: Optional[float] = None) -> torch.Tensor:
    """Stable modulus ``u = sqrt(|z|**2 + 1e-24)`` (``|z| + 1e-12`` to within 1e-12) of a
    complex tensor, or ``log1p(u / log1p_eps)`` if given.

    Real output of z's shape.  The gradient is ``z / u`` (times ``1 / (log1p_eps + u)``
    with the compression): zero at z = 0, never NaN."""
    u = stable_abs(z)
    return u if log1p_eps is None else torch.log1p(u / log1p_eps)


def modulus_average(Y: torch.Tensor, G: torch.Tensor, A: Optional[torch.Tensor] = None
                    ) -> torch.Tensor:
    """``|G @ Y| @ A``: the frequential stage of a JTFS path.

    Y: complex or real (..., n, L); G: complex (R, n), a dense operator on the short
    axis (frequential wavelet + subsampling); A: real (L, M), the temporal averaging
    operator, or None.  Returns real (..., R, M), or (..., R, L) without A; the modulus
    is :func:`modulus`.  Written plainly: materialises G Y and the (..., R, L) modulus
    (the CPU path, :func:`kernels.cpu_ops.modulus_average`, never does).
    """
    if not Y.is_complex():
        Y = Y.to(G.dtype)
    U = modulus(torch.matmul(G, Y))
    return U if A is None else torch.matmul(U, A)


def band_modulus_rfft(X: torch.Tensor, chunks: Sequence[Tuple[torch.Tensor, torch.Tensor]],
                      fold: Optional[Callable] = None, mod: Optional[Callable] = None
                      ) -> Tuple[torch.Tensor, ...]:
    """First-order scattering spectra of a filter bank from the full spectrum of real
    signals: ``rfft(modulus(ifft(Y_k)))`` with ``Y_k = sum_j X[block b_kj] * h_kj``.

    X: complex (B, N), full spectra (``fft``); ``chunks``: pairs ``(blocks, window)``,
    each a few filters with the same output length M (dividing N): blocks long (K, m),
    the indices b of the m blocks of M consecutive bins of X (b M .. b M + M - 1) that
    hold filter k's band; window real (K, m, M, 2), the filter on those bins as pairs
    (h, h) (times 1/k for the mean over the k = N / M periods of a subsampling).
    Returns one complex (K, B, M // 2 + 1) per chunk (filters first).

    The band-limited filtering is :func:`band_fold` of X (a full spectrum read as its
    own "one-sided" spectrum); ``fold`` / ``mod`` replace :func:`band_fold` /
    :func:`modulus` (the Triton path composes its kernels here).
    """
    fold = band_fold if fold is None else fold
    mod = modulus if mod is None else mod
    outs = []
    for blocks, window in chunks:
        K, m, M = window.shape[:3]
        index = (blocks.unsqueeze(-1) * M
                 + torch.arange(M, device=blocks.device)).reshape(K, m * M)
        y = fold(X, index, window.reshape(K, m * M, 2), M)              # (B, K, M)
        U = mod(torch.fft.ifft(y.transpose(0, 1), dim=-1))              # (K, B, M)
        outs.append(torch.fft.rfft(U, dim=-1))
    return tuple(outs)


def path_distance(x: torch.Tensor, target: torch.Tensor, p: float = 2.0,
                  reduction: str = "mean") -> torch.Tensor:
    """``||target - x||_p`` over the last two axes (freq, time) of real (..., F, T)
    tensors (p > 0, ``inf`` for the largest difference; ``torch.linalg.vector_norm``),
    then the mean ('mean', a scalar), the sum ('sum') or nothing ('none', shape (...))
    over the leading axes."""
    d = torch.linalg.vector_norm(target - x, ord=p, dim=(-2, -1))
    if reduction == "mean":
        return d.mean()
    if reduction == "sum":
        return d.sum()
    return d
