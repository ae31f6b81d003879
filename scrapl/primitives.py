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
* ``modulus(z)``                      sqrt(|z|^2 + 1e-24), the peer's stable modulus |z| + 1e-12
                                      to within 1e-12, real output
* ``apply_left(A, x)``              A (R, n) @ x (..., n, L) -> (..., R, L): a dense linear
                                      operator on the second-to-last (short) axis
* ``apply_right(x, A)``             x (..., L) @ A (L, M) -> (..., M): on the last axis
* ``real_lowpass(u, phi, k)``         real u (..., N) -> real (..., N // k): Fourier
                                      filtering by a real low-pass phi (N,) then
                                      subsampling by k (= Re ifft(sub(fft(u) * phi, k)))
* ``rfft(x)`` / ``irfft(x_hat, n)``   one-sided DFT of a real signal (..., N) -> (..., N//2+1)
* ``band_fold(x_half, index, window)`` band-limited filtering + subsampling in Fourier of a
                                      real signal given by its one-sided spectrum: gathers
                                      only the filter's band (whole blocks of the output
                                      length), multiplies, folds the blocks (periodization)
* ``band_modulus_rfft(X, blocks, window, M)``  fused first order of a filter bank:
                                      rfft(|ifft(band-limited filtering of X)|), chunked
                                      over filters, hand-written backward
* ``modulus_average(Y, G, chunks, n_out)``  fused ``|G @ Y|`` (complex operator on the
                                      short axis) followed by a banded real averaging
                                      operator on the last axis, chunked over time so that
                                      no (..., R, L) temporary is ever materialised
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

MODULUS_EPS = 1e-12

__all__ = ["pad", "unpad", "fft", "ifft", "rfft", "irfft", "cdgmm", "subsample_fourier",
           "modulus", "apply_left", "apply_right", "real_lowpass", "band_fold",
           "planar_operator", "band_modulus_rfft", "modulus_average"]


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


def rfft(x: torch.Tensor) -> torch.Tensor:
    """One-sided DFT of a real signal along the last axis: (..., N) -> complex (..., N//2 + 1)."""
    return torch.fft.rfft(x, dim=-1)


def irfft(x_hat: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of :func:`rfft`: complex (..., n//2 + 1) -> real (..., n)."""
    return torch.fft.irfft(x_hat, n=n, dim=-1)


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


def _smooth_abs(re: torch.Tensor, im: torch.Tensor, out: torch.Tensor | None = None
                ) -> torch.Tensor:
    """sqrt(re**2 + im**2 + eps**2), optionally into ``out``.

    The stable modulus of the peer is |z| + eps (eps = 1e-12); this equals it to within
    eps absolute (exactly at z = 0 and to rounding for |z| >> eps) and is cheaper: three
    passes, no hypot, and no square root of exact zeros (a slow path of the vectorised
    sqrt, hit by all-zero rows of the frequential operators or silent inputs)."""
    eps2 = re.new_full((), MODULUS_EPS ** 2)
    out = torch.addcmul(eps2, re, re) if out is None else torch.addcmul(eps2, re, re, out=out)
    return out.addcmul_(im, im).sqrt_()


def _abs_eps(z: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Stable modulus of a complex tensor (see :func:`_smooth_abs`), optionally into
    ``out`` (real, same shape); ~2x faster than torch.abs (which uses hypot)."""
    zr = torch.view_as_real(z)
    return _smooth_abs(zr[..., 0], zr[..., 1], out)


class _StableModulus(torch.autograd.Function):
    """sqrt(|z|**2 + eps**2) ~ |z| + eps with gradient z / (that) (zero where z = 0)."""

    @staticmethod
    def forward(ctx, z):
        out = _abs_eps(z)
        ctx.save_for_backward(z, out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        z, out = ctx.saved_tensors
        return torch.view_as_complex(torch.view_as_real(z) * (grad_out / out).unsqueeze(-1))


def modulus(z: torch.Tensor) -> torch.Tensor:
    """Stable complex modulus sqrt(|z|**2 + 1e-24) (= |z| + 1e-12, the peer's, to within
    1e-12), real tensor of the same shape."""
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



def band_fold(x_half: torch.Tensor, index: torch.Tensor, window: torch.Tensor, M: int
              ) -> torch.Tensor:
    """Band-limited Fourier filtering and subsampling of real signals.

    Equals ``k * subsample_fourier(cdgmm(X, h), k)`` with ``k = n / M`` (a **sum** over
    the k periods; put a 1/k in the window for the mean) where X (n,) is the full
    spectrum of a real signal, reading only the m blocks of X (M consecutive bins,
    starting at multiples of M) that hold the filter's band:

    * ``x_half``: complex (..., n//2 + 1), the one-sided spectrum (``rfft``) of real
      signals of length n (X[f] = x_half[f] for f <= n/2, conj(x_half[n - f]) above);
    * ``index``: long (*F, m * M): for every filter (*F: filter axes, possibly none) the
      positions in ``x_half`` of the bins of its m blocks;
    * ``window``: real (*F, m * M, 2): the filter on those bins, as the pair (h, h) for
      bins read directly and (h, -h) for conjugated ones (negative frequencies).

    Returns complex (..., *F, M).  Each filter costs m * M reads instead of n.
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


def planar_operator(G: torch.Tensor) -> torch.Tensor:
    """Real (2R, 2n) form [[Re G, -Im G], [Im G, Re G]] of a complex operator G (R, n):
    ``planar_operator(G) @ [Re y; Im y] = [Re Gy; Im Gy]``."""
    return torch.cat([torch.cat([G.real, -G.imag], dim=1),
                      torch.cat([G.imag, G.real], dim=1)], dim=0).contiguous()


def _vjp_by_recomputation(plain, inputs: Tuple[torch.Tensor, ...], wrt: int, grads
                          ) -> torch.Tensor:
    """Gradient of ``plain(*inputs)`` w.r.t. ``inputs[wrt]`` against ``grads``, with its
    graph (for double backward: Hessian-vector products of the θ-IS warm-up).

    The fused Functions below have hand-written backward passes that work in place on
    buffers and are not themselves differentiable.  When the backward pass runs with
    ``create_graph=True`` (grad mode on inside ``backward``), they instead recompute the
    forward pass with plain differentiable torch operations from the saved input (which
    keeps its own graph) and differentiate that, so higher derivatives are exact."""
    with torch.enable_grad():
        outs = plain(*inputs)
        outs = outs if isinstance(outs, tuple) else (outs,)
        pairs = [(o, g) for o, g in zip(outs, grads) if g is not None]
        (g,) = torch.autograd.grad([o for o, _ in pairs], [inputs[wrt]],
                                   [g for _, g in pairs], create_graph=True,
                                   materialize_grads=True)
    return g


def _batched(grads: Sequence[Optional[torch.Tensor]]) -> bool:
    """Whether a backward pass runs under vmap (``autograd.grad(..., is_grads_batched=True)``),
    where the in-place accumulation of the fused backward passes is not allowed."""
    F_ = torch._C._functorch
    return any(g is not None and (F_.is_legacy_batchedtensor(g) or F_.is_batchedtensor(g))
               for g in grads)


def _band_modulus_vjp(z: torch.Tensor, U: torch.Tensor, window: torch.Tensor,
                      blocks: Sequence[Sequence[int]], M: int, g: torch.Tensor, N: int
                      ) -> torch.Tensor:
    """Gradient of X for one chunk of :func:`band_modulus_rfft` from the saved ifft
    outputs z and moduli U (K, B, M), out of place: complex (B, N)."""
    half = U.new_full((M // 2 + 1,), 0.5)
    half[0] = half[-1] = 1.0
    gU = torch.fft.irfft(g * half, n=M, dim=-1) / U            # adjoint of rfft, then |.|
    gz = torch.view_as_complex(torch.view_as_real(z) * gU.unsqueeze(-1))
    gyr = torch.view_as_real(torch.fft.fft(gz, dim=-1))                 # (K, B, M, 2)
    K, B = gyr.shape[:2]
    contrib = gyr.unsqueeze(1) * window.unsqueeze(2)                    # (K, m, B, M, 2)
    contrib = contrib.permute(2, 0, 1, 3, 4).reshape(B, -1, M, 2)
    idx = torch.as_tensor(blocks, device=z.device).reshape(-1)
    gXb = U.new_zeros(B, N // M, M, 2).index_add(1, idx, contrib)
    return torch.view_as_complex(gXb.reshape(B, N, 2))


def _band_modulus_rfft_plain(X: torch.Tensor, chunks, *windows) -> Tuple[torch.Tensor, ...]:
    """:func:`band_modulus_rfft` with plain (differentiable, out-of-place) operations."""
    B, N = X.shape
    Xr = torch.view_as_real(X)
    outs = []
    for (blocks, M), window in zip(chunks, windows):
        idx = torch.as_tensor(blocks, device=X.device)                   # (K, m)
        Xb = Xr.reshape(B, N // M, M, 2)[:, idx]                        # (B, K, m, M, 2)
        yr = (Xb * window).sum(dim=2).transpose(0, 1)                   # (K, B, M, 2)
        z = torch.fft.ifft(torch.view_as_complex(yr.contiguous()), dim=-1)
        zr = torch.view_as_real(z)
        U = torch.sqrt(zr[..., 0] ** 2 + zr[..., 1] ** 2 + MODULUS_EPS ** 2)
        outs.append(torch.fft.rfft(U, dim=-1))
    return tuple(outs)


class _BandModulusRfft(torch.autograd.Function):
    """rfft(|ifft(band-limited filtering of X)| + eps) for chunks of a filter bank; saves
    the complex ifft outputs and the moduli, hand-written backward that accumulates the
    gradient of X in one buffer (a differentiable recomputation under create_graph)."""

    @staticmethod
    def forward(ctx, X, chunks, *windows):
        B, N = X.shape
        Xr = torch.view_as_real(X)
        outs, saved = [], []
        for (blocks, M), window in zip(chunks, windows):
            Xb = Xr.view(B, N // M, M, 2)
            y = X.new_empty(len(blocks), B, M)
            yr = torch.view_as_real(y)
            for k, bl in enumerate(blocks):
                torch.mul(Xb[:, bl[0]], window[k, 0], out=yr[k])
                for j in range(1, len(bl)):
                    yr[k].addcmul_(Xb[:, bl[j]], window[k, j])
            z = torch.fft.ifft(y, dim=-1)                                # (K, B, M)
            U = _abs_eps(z)
            outs.append(torch.fft.rfft(U, dim=-1))
            saved += [z, U]
        ctx.save_for_backward(X, *saved, *windows)
        ctx.chunks, ctx.shape = chunks, (B, N)
        ctx.set_materialize_grads(False)
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        B, N = ctx.shape
        n = len(ctx.chunks)
        X, *saved = ctx.saved_tensors
        if torch.is_grad_enabled():           # create_graph: differentiable recomputation
            windows = saved[2 * n:]
            gX = _vjp_by_recomputation(
                lambda X_: _band_modulus_rfft_plain(X_, ctx.chunks, *windows), (X,), 0, grads)
            return (gX, None) + (None,) * n
        if _batched(grads):                   # is_grads_batched (vmap): out of place
            gX = sum(_band_modulus_vjp(saved[2 * c], saved[2 * c + 1], saved[2 * n + c],
                                       blocks, M, g, N)
                     for c, ((blocks, M), g) in enumerate(zip(ctx.chunks, grads))
                     if g is not None)
            return (gX, None) + (None,) * n
        gX = saved[0].new_zeros(B, N)
        gXr = torch.view_as_real(gX)
        for c, ((blocks, M), g) in enumerate(zip(ctx.chunks, grads)):
            if g is None:
                continue
            z, U, window = saved[2 * c], saved[2 * c + 1], saved[2 * n + c]
            # adjoint of rfft: M * irfft of the gradient with the bins 1 .. M/2 - 1
            # halved (the factor M cancels the 1/M of the adjoint of ifft); when the DC
            # and Nyquist bins get no gradient (the wavelets vanish there) that is
            # irfft(g) / 2, and the 1/2 goes into the last product
            if torch.count_nonzero(g[..., 0]) or torch.count_nonzero(g[..., -1]):
                half = U.new_full((M // 2 + 1,), 0.5)
                half[0] = half[-1] = 1.0
                g, scale = g * half, 1.0
            else:
                scale = 0.5
            gU = torch.fft.irfft(g, n=M, dim=-1).div_(U)
            gz = torch.view_as_complex(torch.view_as_real(z) * gU.unsqueeze(-1))
            gyr = torch.view_as_real(torch.fft.fft(gz, dim=-1))           # (K, B, M, 2)
            gXb = gXr.view(B, N // M, M, 2)
            for k, bl in enumerate(blocks):
                for j, b in enumerate(bl):
                    gXb[:, b].addcmul_(gyr[k], window[k, j], value=scale)
        return (gX, None) + (None,) * n


def band_modulus_rfft(X: torch.Tensor,
                      chunks: Sequence[Tuple[Sequence[Sequence[int]], int, torch.Tensor]]
                      ) -> Tuple[torch.Tensor, ...]:
    """First-order scattering spectra of a filter bank, ``rfft(modulus(ifft(Y_k)))`` with
    ``Y_k = sum_j X[block b_kj] * h_kj`` (band-limited filtering + subsampling).

    X: complex (B, N), full spectrum of real signals.  ``chunks``: a list of
    ``(blocks, M, window)``, each a few filters with the same output length M:
    ``blocks[k]`` the indices b of the m blocks of M consecutive bins of X
    (b*M .. b*M + M - 1) that hold filter k's band, window: real (K, m, M, 2) the
    filter on those bins as pairs (h, h), including any 1/k of a mean over periods.
    Returns one complex (K, B, M // 2 + 1) tensor per chunk.  Saves the (K, B, M) ifft
    outputs and moduli for its hand-written backward; keep chunks small (a few MB).
    """
    return _BandModulusRfft.apply(X, [(blocks, M) for blocks, M, _ in chunks],
                                  *[w for _, _, w in chunks])


def _planar_chunk(Y: torch.Tensor, t0: int, t1: int) -> torch.Tensor:
    """complex Y (n, B, L) -> real [Re; Im] of Y[..., t0:t1] as (2n, B * (t1 - t0))."""
    n, B = Y.shape[:2]
    return torch.view_as_real(Y[..., t0:t1]).permute(3, 0, 1, 2).reshape(2 * n, -1)


def _modulus_average_plain(Y: torch.Tensor, Gp: torch.Tensor, chunks, n_out: int
                           ) -> torch.Tensor:
    """:func:`modulus_average` with plain (differentiable, out-of-place) operations."""
    n, B, L = Y.shape
    R = Gp.shape[0] // 2
    S = Y.real.new_zeros(R * B, n_out)
    for t0, t1, c0, A in chunks:
        Z = torch.matmul(Gp, _planar_chunk(Y, t0, t1))                   # (2R, B c)
        U = torch.sqrt(Z[:R] ** 2 + Z[R:] ** 2 + MODULUS_EPS ** 2)
        cols = torch.arange(c0, c0 + A.shape[1], device=S.device) % n_out
        S = S.index_add(1, cols, torch.matmul(U.reshape(R * B, t1 - t0), A))
    return S.view(R, B, n_out).permute(1, 0, 2).contiguous()


class _ModulusAverage(torch.autograd.Function):
    """S = |G Y| A, chunked over time; saves only Y and recomputes G Y in backward (a
    differentiable recomputation under create_graph)."""

    @staticmethod
    def forward(ctx, Y, Gp, chunks, n_out):
        n, B, L = Y.shape
        R = Gp.shape[0] // 2
        S = Y.real.new_zeros(R * B, n_out)
        for t0, t1, c0, A in chunks:
            Z = torch.matmul(Gp, _planar_chunk(Y, t0, t1))               # (2R, B c)
            U = _smooth_abs(Z[:R], Z[R:])
            _add_cyclic(S, c0, torch.matmul(U.view(R * B, t1 - t0), A))
        ctx.save_for_backward(Y, Gp)
        ctx.chunks, ctx.n_out = chunks, n_out
        return S.view(R, B, n_out).permute(1, 0, 2).contiguous()

    @staticmethod
    def backward(ctx, gS):
        Y, Gp = ctx.saved_tensors
        if torch.is_grad_enabled():
            gY = _vjp_by_recomputation(
                lambda Y_: _modulus_average_plain(Y_, Gp, ctx.chunks, ctx.n_out), (Y,), 0,
                (gS,))
            return gY, None, None, None
        n, B, L = Y.shape
        R = Gp.shape[0] // 2
        gS = gS.permute(1, 0, 2).reshape(R * B, -1)
        if _batched((gS,)):                   # is_grads_batched (vmap): out of place
            parts = []
            for t0, t1, c0, A in ctx.chunks:
                c = t1 - t0
                Z = torch.matmul(Gp, _planar_chunk(Y, t0, t1))          # (2R, B c)
                U = torch.sqrt(Z[:R] ** 2 + Z[R:] ** 2 + MODULUS_EPS ** 2)
                w = torch.matmul(_take_cyclic(gS, c0, A.shape[1]), A.t()).reshape(R, B * c) / U
                gyp = torch.matmul(Gp.t(), (Z.view(2, R, B * c) * w).reshape(2 * R, B * c))
                parts.append(gyp.reshape(2, n, B, c))
            gYr = torch.cat(parts, dim=-1).permute(1, 2, 3, 0).contiguous()
            return torch.view_as_complex(gYr), None, None, None
        gY = torch.empty_like(Y)
        gYr = torch.view_as_real(gY)                                    # (n, B, L, 2)
        GpT = Gp.t()
        for t0, t1, c0, A in ctx.chunks:
            c = t1 - t0
            Z = torch.matmul(Gp, _planar_chunk(Y, t0, t1))              # (2R, B c)
            U = _smooth_abs(Z[:R], Z[R:])
            w = torch.matmul(_take_cyclic(gS, c0, A.shape[1]), A.t()).view(R, B * c).div_(U)
            Z.view(2, R, B * c).mul_(w)
            gyp = torch.matmul(GpT, Z)                                  # (2n, B c)
            gYr[:, :, t0:t1].copy_(gyp.view(2, n, B, c).permute(1, 2, 3, 0))
        return gY, None, None, None


def _add_cyclic(S: torch.Tensor, c0: int, P: torch.Tensor) -> None:
    """S[..., c0 : c0 + w] += P with the last axis of S taken cyclically."""
    n, w = S.shape[-1], P.shape[-1]
    first = min(w, n - c0)
    S[..., c0:c0 + first] += P[..., :first]
    if first < w:
        S[..., : w - first] += P[..., first:]


def _take_cyclic(S: torch.Tensor, c0: int, w: int) -> torch.Tensor:
    """S[..., c0 : c0 + w] with the last axis taken cyclically."""
    n = S.shape[-1]
    if c0 == 0 and w == n:
        return S
    if c0 + w <= n:
        return S.narrow(-1, c0, w)
    return torch.cat([S[..., c0:], S[..., : c0 + w - n]], dim=-1)


def modulus_average(Y: torch.Tensor, Gp: torch.Tensor,
                    chunks: List[Tuple[int, int, int, torch.Tensor]], n_out: int
                    ) -> torch.Tensor:
    """Fused ``apply_right(modulus(apply_left(G, Y)), A)`` for a banded real A.

    Y: complex (n, B, L) (the short axis n first); Gp: real (2R, 2n),
    :func:`planar_operator` of the complex operator G (R, n) acting on n; A (L, n_out)
    real, given as time chunks ``(t0, t1, c0, A_chunk)``: rows t0:t1 of A are zero
    outside the cyclic columns c0 : c0 + A_chunk.shape[1] (mod n_out), where they equal
    A_chunk.  Returns real (B, R, n_out) = |G Y| A (modulus + 1e-12 like :func:`modulus`).

    Works chunk by chunk in real arithmetic, so the (R, B, L) modulus is never stored;
    backward recomputes each chunk's G Y (autograd saves only Y).
    """
    return _ModulusAverage.apply(Y, Gp, chunks, n_out)
