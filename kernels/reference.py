"""Torch reference of every kernel op: the definition the Triton and numba kernels are
tested against, and the CPU backend of :mod:`kernels.dispatch`.

Plain torch, no dependency on :mod:`scrapl` (data flows kernels -> scrapl).  Every op
works on the **last** axes, leading axes are batch axes; complex tensors are native
``torch.complex64`` / ``complex128``; every op is differentiable by autograd.

Ops (the dispatcher validates arguments before calling them; these functions do not),
plus :func:`filter_band`, the host-side helper that finds each filter's band:

* :func:`filter_periodize`  complex multiply by a bank of Fourier filters, optionally
  restricted to a band per filter, fused with Fourier-domain subsampling (periodization)
* :func:`band_fold`         the same for the one-sided spectrum of a real signal, reading
  only a gathered list of blocks per filter (``scrapl.primitives.band_fold``'s contract)
* :func:`modulus`           ``|z| + 1e-12``, optionally compressed by ``log1p(. / eps)``
* :func:`modulus_average`   ``|G @ Y| @ A``: complex operator on the short axis, modulus,
  real averaging operator on the last axis (the frequential stage of a JTFS path);
  :func:`modulus_average_chunked` computes it by time chunks without storing G Y or the
  modulus, skipping the zero columns of A (the CPU backend)
* :func:`path_distance`     ``mean_b ||target_b - x_b||_p`` over the last two axes
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

__all__ = ["MODULUS_EPS", "band_mask", "filter_band", "filter_periodize", "band_fold",
           "modulus", "modulus_average", "modulus_average_chunked", "path_distance"]

#: added to every modulus, like the peer's stable modulus (``scrapl.primitives.modulus``)
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
    summed (a sum over the periods; put 1/k in the window for a mean).
    """
    lead, nh = x_half.shape[:-1], x_half.shape[-1]
    F_shape, L = tuple(index.shape[:-1]), index.shape[-1]
    g = x_half.reshape(-1, nh).index_select(-1, index.reshape(-1))
    g = torch.view_as_real(g).reshape((g.shape[0],) + F_shape + (L, 2))
    y = torch.view_as_complex(g * window)                       # (B', *F, m * M)
    if L != M:
        y = y.reshape(y.shape[:-1] + (L // M, M)).sum(dim=-2)
    return y.reshape(lead + y.shape[1:])


def _abs_eps(z: torch.Tensor) -> torch.Tensor:
    zr = torch.view_as_real(z)
    re, im = zr[..., 0], zr[..., 1]
    return torch.addcmul(re * re, im, im).sqrt_().add_(MODULUS_EPS)


class _StableModulus(torch.autograd.Function):
    """|z| + eps with gradient z / (|z| + eps): zero where z = 0 (no NaN)."""

    @staticmethod
    def forward(ctx, z):
        z = z.resolve_conj()
        out = _abs_eps(z)
        ctx.save_for_backward(z, out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        z, out = ctx.saved_tensors
        w = (grad_out / out).unsqueeze(-1)
        return torch.view_as_complex(torch.view_as_real(z) * w)


def modulus(z: torch.Tensor, log1p_eps: Optional[float] = None) -> torch.Tensor:
    """``u = |z| + 1e-12`` of a complex tensor, or ``log1p(u / log1p_eps)`` if given.

    Real output of z's shape.  The gradient is ``z / u`` (times ``1 / (log1p_eps + u)``
    with the compression): zero at z = 0, never NaN."""
    u = _StableModulus.apply(z)
    return u if log1p_eps is None else torch.log1p(u / log1p_eps)


def modulus_average(Y: torch.Tensor, G: torch.Tensor, A: Optional[torch.Tensor] = None
                    ) -> torch.Tensor:
    """``|G @ Y| @ A``: the frequential stage of a JTFS path.

    Y: complex or real (..., n, L); G: complex (R, n), a dense operator on the short
    axis (frequential wavelet + subsampling); A: real (L, M), the temporal averaging
    operator, or None.  Returns real (..., R, M), or (..., R, L) without A; the modulus
    is :func:`modulus` (``+ 1e-12``).

    The definition, written plainly (materialises the (..., R, L) modulus).  The CPU
    backend runs :func:`modulus_average_chunked`, equal to it up to rounding.
    """
    if not Y.is_complex():
        Y = Y.to(G.dtype)
    U = modulus(torch.matmul(G, Y))
    return U if A is None else torch.matmul(U, A)


#: elements of one (batch, 2 R, time) chunk of :func:`modulus_average_chunked`
CHUNK_ELEMENTS = 2 ** 18


def _planar_operator(G: torch.Tensor) -> torch.Tensor:
    """Real (2R, 2n) [[Re G, -Im G], [Im G, Re G]]: acts on [Re y; Im y]."""
    return torch.cat([torch.cat([G.real, -G.imag], dim=1),
                      torch.cat([G.imag, G.real], dim=1)], dim=0)


def _chunks(A: torch.Tensor, B: int, R: int) -> List[Tuple[int, int, int, int]]:
    """Time chunks (t0, t1, c0, w) of A (L, M): the columns of A[t0:t1] holding a nonzero
    lie in the cyclic range c0 : c0 + w (mod M).  Chunk length: a power of 2 near
    CHUNK_ELEMENTS / (2 B R), at least 256 and L / M (one output step)."""
    L, M = A.shape
    chunk = 1 << max(8, (CHUNK_ELEMENTS // max(1, 2 * B * R)).bit_length() - 1)
    chunk = min(L, max(chunk, L // max(M, 1)))
    n_chunks = -(-L // chunk)
    A = A.detach()
    if n_chunks * chunk != L:
        A = torch.cat([A, A.new_zeros(n_chunks * chunk - L, M)])
    A = A.reshape(n_chunks, chunk, M)
    keep = ((A.amax(dim=1) != 0) | (A.amin(dim=1) != 0)).cpu().numpy()   # (n_chunks, M)
    out = []
    for i in range(n_chunks):
        t0, t1 = i * chunk, min(L, (i + 1) * chunk)
        cols = np.flatnonzero(keep[i])
        if cols.size in (0, M):
            out.append((t0, t1, 0, M if cols.size else 0))
            continue
        # shortest cyclic range covering cols = complement of the longest cyclic gap
        gaps = np.diff(np.append(cols, cols[0] + M))
        g = int(np.argmax(gaps))
        out.append((t0, t1, int(cols[(g + 1) % cols.size]), M - int(gaps[g]) + 1))
    return out


def _take_cyclic(S: torch.Tensor, c0: int, w: int) -> torch.Tensor:
    """S[..., c0 : c0 + w] with the last axis taken cyclically."""
    n = S.shape[-1]
    if c0 + w <= n:
        return S[..., c0:c0 + w]
    return torch.cat([S[..., c0:], S[..., : c0 + w - n]], dim=-1)


def _add_cyclic(S: torch.Tensor, c0: int, P: torch.Tensor) -> None:
    """S[..., c0 : c0 + w] += P with the last axis of S taken cyclically."""
    n, w = S.shape[-1], P.shape[-1]
    first = min(w, n - c0)
    S[..., c0:c0 + first] += P[..., :first]
    if first < w:
        S[..., : w - first] += P[..., first:]


class _ModulusAverageChunked(torch.autograd.Function):
    """S = |G Y| A chunk by chunk over time; saves Y, G, A and recomputes G Y in backward."""

    @staticmethod
    def forward(ctx, Y, G, A):
        B, n, L = Y.shape
        R = G.shape[0]
        Gp = _planar_operator(G)
        chunks = _chunks(A, B, R)
        S = A.new_zeros(B, R, A.shape[1])
        for t0, t1, c0, w in chunks:
            if w:
                _, U = _chunk_modulus(Gp, Y[..., t0:t1])
                _add_cyclic(S, c0, torch.matmul(U, _take_cyclic(A[t0:t1], c0, w)))
        ctx.save_for_backward(Y, G, A)
        ctx.chunks = chunks
        return S

    @staticmethod
    def backward(ctx, gS):
        Y, G, A = ctx.saved_tensors
        B, n, L = Y.shape
        R = G.shape[0]
        Gp = _planar_operator(G)
        gY = torch.zeros_like(Y) if ctx.needs_input_grad[0] else None
        gGp = torch.zeros_like(Gp) if ctx.needs_input_grad[1] else None
        gA = torch.zeros_like(A) if ctx.needs_input_grad[2] else None
        for t0, t1, c0, w in ctx.chunks:
            if not w and gA is None:
                continue
            Z, U = _chunk_modulus(Gp, Y[..., t0:t1])
            if gA is not None:        # every column: zeros of A have gradients too
                gA[t0:t1] = torch.matmul(U.transpose(-1, -2), gS).sum(0)
            if not w:
                continue
            gU = torch.matmul(_take_cyclic(gS, c0, w), _take_cyclic(A[t0:t1], c0, w).t())
            gZ = Z * gU.div_(U).repeat(1, 2, 1)                          # (B, 2R, c)
            if gY is not None:
                gyp = torch.matmul(Gp.t(), gZ)                           # (B, 2n, c)
                gY[..., t0:t1] = torch.complex(gyp[:, :n], gyp[:, n:])
            if gGp is not None:
                gGp += torch.matmul(gZ, _planar(Y[..., t0:t1]).transpose(-1, -2)).sum(0)
        gG = None
        if gGp is not None:       # d/dRe G and d/dIm G of the planar form, as Re + i Im
            gG = torch.complex(gGp[:R, :n] + gGp[R:, n:], gGp[R:, :n] - gGp[:R, n:])
        return gY, gG, gA


def _planar(y: torch.Tensor) -> torch.Tensor:
    """complex (B, n, c) -> real (B, 2n, c) = [Re y; Im y] (one copy)."""
    B, n, c = y.shape
    return torch.view_as_real(y).permute(0, 3, 1, 2).reshape(B, 2 * n, c)


def _chunk_modulus(Gp: torch.Tensor, y: torch.Tensor):
    """Z = Gp [Re y; Im y] (B, 2R, c) and U = |G y| + eps (B, R, c)."""
    Z = torch.matmul(Gp, _planar(y))
    R = Z.shape[1] // 2
    Zr, Zi = Z[:, :R], Z[:, R:]
    return Z, torch.addcmul(Zr * Zr, Zi, Zi).sqrt_().add_(MODULUS_EPS)


def modulus_average_chunked(Y: torch.Tensor, G: torch.Tensor,
                            A: Optional[torch.Tensor] = None) -> torch.Tensor:
    """:func:`modulus_average` for the CPU: with A, the time axis is cut into chunks,
    neither G Y nor the modulus is ever stored whole (backward recomputes them chunk
    by chunk; autograd saves only Y, G, A), and each chunk multiplies only the columns
    of A that are nonzero on its rows (a banded averaging operator, zeroed below a
    threshold by its owner, costs its band only).  Y: (B, n, L), same shapes otherwise.
    """
    if not Y.is_complex():
        Y = Y.to(G.dtype)
    if A is None:
        return modulus_average(Y, G)
    lead = Y.shape[:-2]
    S = _ModulusAverageChunked.apply(Y.reshape((-1,) + Y.shape[-2:]), G, A)
    return S.reshape(lead + S.shape[1:])


def path_distance(x: torch.Tensor, target: torch.Tensor, p: float = 2.0,
                  reduction: str = "mean") -> torch.Tensor:
    """``||target - x||_p`` over the last two axes (freq, time) of real (..., F, T)
    tensors, then the mean ('mean', a scalar), the sum ('sum') or nothing ('none',
    shape (...)) over the leading axes."""
    d = torch.linalg.vector_norm(target - x, ord=p, dim=(-2, -1))
    if reduction == "mean":
        return d.mean()
    if reduction == "sum":
        return d.sum()
    return d
