"""Fused CPU implementations of the JTFS path ops: plain torch with hand-written backward
passes that keep the temporaries small.  The CPU path of :mod:`kernels.dispatch`.

* :func:`band_modulus_rfft`  first order of a filter bank, ``rfft(|ifft(Y_k)|)`` with
  ``Y_k`` the band-limited filtering + subsampling of a full spectrum X: the bands are
  read block by block with fused multiply-adds into one buffer per chunk of filters;
  saves the ifft outputs and moduli, backward accumulates the gradient of X in one buffer
* :func:`modulus_average`    ``|G @ Y| @ A`` chunked over time in real arithmetic: one
  ``(2R, 2n) @ (2n, B c)`` matmul per chunk of c time steps (the planar form of the
  complex operator G), the modulus, then only the columns of A that are nonzero on the
  chunk's rows (an :class:`AveragePlan` of A); nothing of size (B, R, L) is stored,
  backward recomputes each chunk's G Y (autograd saves Y only)

The definitions are :func:`kernels.reference.band_modulus_rfft` and
:func:`kernels.reference.modulus_average`; under ``create_graph`` or ``vmap`` the backward
passes differentiate those instead (:mod:`kernels.recompute`), so second derivatives and
``is_grads_batched`` work.  The modulus is the reference's ``sqrt(|z|^2 + 1e-24)``.
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from . import reference
from .recompute import needs_recomputation, vjp_by_recomputation
from .reference import stable_abs, stable_abs_planes

__all__ = ["CHUNK_ELEMENTS", "AveragePlan", "average_plan", "chunk_length",
           "planar_operator", "modulus_average", "band_modulus_rfft"]

#: elements of one (2 R, B c) chunk of :func:`modulus_average` (see :func:`chunk_length`)
CHUNK_ELEMENTS = 2 ** 20
#: bytes of ``G Y`` that :func:`modulus_average` may keep for its backward pass instead of
#: recomputing it there (one of its three large matmuls); above, it recomputes
SAVE_PRODUCT_BYTES = 2 ** 28


# -------------------------------------------------------------------- averaging plans
class AveragePlan:
    """A real operator A (L, M) cut into time chunks with the cyclic band of columns each
    chunk's rows touch: ``chunks`` = [(t0, t1, c0, A_chunk)], rows t0:t1 of A are zero
    outside the columns c0 : c0 + w (mod M), where they equal ``A_chunk`` (t1 - t0, w);
    chunks with w = 0 (all-zero rows) are kept for their row range.  Built by
    :func:`average_plan`; passed as ``plan=`` to :func:`kernels.modulus_average` so that
    the band is found once, not at every call.  A constant: no gradient flows into it."""

    __slots__ = ("shape", "chunks", "dtype", "device", "_dense")

    def __init__(self, shape: Tuple[int, int],
                 chunks: List[Tuple[int, int, int, torch.Tensor]],
                 dtype: torch.dtype, device: torch.device):
        self.shape = (int(shape[0]), int(shape[1]))
        self.chunks = chunks
        self.dtype = dtype
        self.device = torch.device(device)
        self._dense: Optional[torch.Tensor] = None

    def dense(self) -> torch.Tensor:
        """The operator as a dense (L, M) tensor (built on first use, then kept): what the
        reference and the Triton backend multiply by."""
        if self._dense is None:
            L, M = self.shape
            A = torch.zeros(L, M, dtype=self.dtype, device=self.device)
            for t0, t1, c0, Ac in self.chunks:
                w = Ac.shape[1]
                if w:
                    cols = torch.arange(c0, c0 + w, device=self.device) % M
                    A[t0:t1].index_copy_(1, cols, Ac)
            self._dense = A
        return self._dense

    def __repr__(self) -> str:
        return (f"AveragePlan(shape={self.shape}, chunks={len(self.chunks)}, "
                f"dtype={self.dtype}, device={self.device})")


def chunk_length(L: int, rows: int) -> int:
    """Time steps per chunk of :func:`modulus_average` for ``rows`` = 2 R B rows: a power
    of 2 near ``CHUNK_ELEMENTS / rows`` (temporaries of a few MB), at least 64, at most L."""
    chunk = 1 << max(0, int(round(math.log2(max(1.0, CHUNK_ELEMENTS / max(rows, 1))))))
    return max(1, min(L, max(chunk, 64)))


def average_plan(A: torch.Tensor, chunk: int, threshold: float = 0.0) -> AveragePlan:
    """Cut A (L, M) into row chunks of ``chunk`` rows (the last one shorter) and keep, per
    chunk, the shortest cyclic range of columns holding every entry with
    ``|A| > threshold * max |A|`` (0: every nonzero).  The entries left out are dropped
    from the operator (below the threshold)."""
    L, M = A.shape
    A = A.detach()
    chunks: List[Tuple[int, int, int, torch.Tensor]] = []
    if L == 0 or M == 0:
        return AveragePlan((L, M), chunks, A.dtype, A.device)
    chunk = max(1, min(int(chunk), L))
    n_chunks = -(-L // chunk)
    mags = A.abs()
    if n_chunks * chunk != L:
        mags = torch.cat([mags, mags.new_zeros(n_chunks * chunk - L, M)])
    peak = mags.reshape(n_chunks, chunk, M).amax(dim=1)                 # (n_chunks, M)
    keep = (peak > threshold * float(mags.max())).cpu().numpy()
    for i in range(n_chunks):
        t0, t1 = i * chunk, min(L, (i + 1) * chunk)
        cols = np.flatnonzero(keep[i])
        if cols.size in (0, M):
            c0, w = 0, (M if cols.size else 0)
        else:
            # shortest cyclic range covering cols = complement of the longest cyclic gap
            gaps = np.diff(np.append(cols, cols[0] + M))
            g = int(np.argmax(gaps))
            c0, w = int(cols[(g + 1) % cols.size]), M - int(gaps[g]) + 1
        # a copy (not a view of A: the plan must not keep a dense A alive)
        chunks.append((t0, t1, c0,
                       _take_cyclic(A[t0:t1], c0, w).clone(memory_format=torch.contiguous_format)))
    return AveragePlan((L, M), chunks, A.dtype, A.device)


def _take_cyclic(S: torch.Tensor, c0: int, w: int) -> torch.Tensor:
    """S[..., c0 : c0 + w] with the last axis taken cyclically."""
    n = S.shape[-1]
    if c0 == 0 and w == n:
        return S
    if c0 + w <= n:
        return S.narrow(-1, c0, w)
    return torch.cat([S[..., c0:], S[..., : c0 + w - n]], dim=-1)


def _add_cyclic(S: torch.Tensor, c0: int, P: torch.Tensor) -> None:
    """S[..., c0 : c0 + w] += P with the last axis of S taken cyclically."""
    n, w = S.shape[-1], P.shape[-1]
    first = min(w, n - c0)
    S[..., c0:c0 + first] += P[..., :first]
    if first < w:
        S[..., : w - first] += P[..., first:]


# -------------------------------------------------------------------- modulus_average
def planar_operator(G: torch.Tensor) -> torch.Tensor:
    """Real (2R, 2n) form [[Re G, -Im G], [Im G, Re G]] of a complex operator G (R, n):
    ``planar_operator(G) @ [Re y; Im y] = [Re Gy; Im Gy]``."""
    return torch.cat([torch.cat([G.real, -G.imag], dim=1),
                      torch.cat([G.imag, G.real], dim=1)], dim=0).contiguous()


def _planar_chunk(Yn: torch.Tensor, t0: int, t1: int) -> torch.Tensor:
    """complex Yn (n, B, L) -> real [Re; Im] of Yn[..., t0:t1] as (2n, B (t1 - t0))."""
    n = Yn.shape[0]
    return torch.view_as_real(Yn[..., t0:t1]).permute(3, 0, 1, 2).reshape(2 * n, -1)


class _ModulusAverage(torch.autograd.Function):
    """S = |G Y| A chunk by chunk over time (A given by its plan); saves Y, G, A only."""

    @staticmethod
    def forward(ctx, Y, G, A, plan):
        B, n, L = Y.shape
        R, M = G.shape[0], plan.shape[1]
        Gp = planar_operator(G)
        Yn = Y.transpose(0, 1)                                          # (n, B, L) view
        S = Gp.new_zeros(R * B, M)                                      # rows (r, b)
        # keep each chunk's G Y for the backward pass when it fits the budget (saves a
        # matmul there; a second backward pass, or one by recomputation, ignores them)
        keep = (ctx.needs_input_grad[0]
                and 2 * R * B * L * Gp.element_size() <= SAVE_PRODUCT_BYTES)
        products = []
        for t0, t1, c0, Ac in plan.chunks:
            if Ac.shape[1]:
                Z = torch.matmul(Gp, _planar_chunk(Yn, t0, t1))        # (2R, B c)
                U = stable_abs_planes(Z[:R], Z[R:])
                _add_cyclic(S, c0, torch.matmul(U.view(R * B, t1 - t0), Ac))
                if keep:
                    products.append(Z)
        ctx.save_for_backward(Y, G, A)
        ctx.products = products if keep else None
        ctx.plan = plan
        return S.view(R, B, M).transpose(0, 1).contiguous()

    @staticmethod
    def backward(ctx, gS):
        Y, G, A = ctx.saved_tensors
        plan = ctx.plan
        need_y, need_g, need_a = ctx.needs_input_grad[:3]
        if needs_recomputation((gS,)):
            dense = A if A is not None else plan.dense()
            return tuple(vjp_by_recomputation(
                lambda Y_, G_, A_: reference.modulus_average(Y_, G_, dense if A_ is None
                                                             else A_),
                (Y, G, A), (need_y, need_g, need_a), (gS,))) + (None,)
        B, n, L = Y.shape
        R, M = G.shape[0], plan.shape[1]
        Gp = planar_operator(G)
        Yn = Y.transpose(0, 1)
        gS = gS.transpose(0, 1).reshape(R * B, M)                        # rows (r, b)
        gYn = Y.new_empty(n, B, L) if need_y else None
        gYr = torch.view_as_real(gYn) if need_y else None               # (n, B, L, 2)
        gGp = torch.zeros_like(Gp) if need_g else None
        gA = torch.zeros_like(A) if need_a else None
        GpT = Gp.t()
        products = iter(ctx.products) if ctx.products is not None else None
        ctx.products = None
        for t0, t1, c0, Ac in plan.chunks:
            c, w = t1 - t0, Ac.shape[1]
            if not w and not need_a:
                if need_y:
                    gYr[:, :, t0:t1].zero_()
                continue
            yp = _planar_chunk(Yn, t0, t1)                              # (2n, B c)
            Z = next(products) if (products is not None and w) else torch.matmul(Gp, yp)
            U = stable_abs_planes(Z[:R], Z[R:])                         # (R, B c)
            if need_a:        # every column: the zeros of A have gradients too
                gA[t0:t1] = torch.matmul(U.view(R * B, c).t(), gS)
            if not w:
                if need_y:
                    gYr[:, :, t0:t1].zero_()
                continue
            gU = torch.matmul(_take_cyclic(gS, c0, w), Ac.t()).view(R, B * c).div_(U)
            gZ = Z.view(2, R, B * c).mul_(gU).view(2 * R, B * c)
            if need_y:
                gyp = torch.matmul(GpT, gZ)                             # (2n, B c)
                gYr[:, :, t0:t1].copy_(gyp.view(2, n, B, c).permute(1, 2, 3, 0))
            if need_g:
                gGp += torch.matmul(gZ, yp.t())
        gY = gYn.transpose(0, 1) if need_y else None
        gG = None
        if need_g:        # d/dRe G and d/dIm G of the planar form, as Re + i Im
            gG = torch.complex(gGp[:R, :n] + gGp[R:, n:], gGp[R:, :n] - gGp[:R, n:])
        return gY, gG, gA, None


def modulus_average(Y: torch.Tensor, G: torch.Tensor, A: Optional[torch.Tensor],
                    plan: Optional[AveragePlan]) -> torch.Tensor:
    """Y complex (B, n, L) (any strides; an (n, B, L) tensor transposed costs no copy),
    G complex (R, n), A real (L, M) or None, plan: A's plan or None (then made from A,
    exact zeros only) -> real (B, R, M).  Without A and plan: the reference ``|G Y|``."""
    if A is None and plan is None:
        return reference.modulus_average(Y, G)
    if plan is None:
        B, R = Y.shape[0], G.shape[0]
        plan = average_plan(A, chunk_length(A.shape[0], 2 * R * B))
    return _ModulusAverage.apply(Y, G, A, plan)


# ------------------------------------------------------------------ band_modulus_rfft
class _BandModulusRfft(torch.autograd.Function):
    """rfft(|ifft(band-limited filtering of X)|) for chunks of a filter bank; saves the
    ifft outputs and the moduli, backward accumulates the gradient of X in one buffer."""

    @staticmethod
    def forward(ctx, X, blocks, *windows):
        B, N = X.shape
        Xr = torch.view_as_real(X)
        lists = [b.tolist() for b in blocks]
        outs, saved = [], []
        for bl_k, window in zip(lists, windows):
            M = window.shape[2]
            Xb = Xr.view(B, N // M, M, 2)
            y = X.new_empty(len(bl_k), B, M)
            yr = torch.view_as_real(y)
            for k, bl in enumerate(bl_k):
                torch.mul(Xb[:, bl[0]], window[k, 0], out=yr[k])
                for j in range(1, len(bl)):
                    yr[k].addcmul_(Xb[:, bl[j]], window[k, j])
            z = torch.fft.ifft(y, dim=-1)                               # (K, B, M)
            U = stable_abs(z)
            outs.append(torch.fft.rfft(U, dim=-1))
            saved += [z, U]
        ctx.save_for_backward(X, *saved, *windows)
        ctx.blocks, ctx.lists = blocks, lists
        ctx.set_materialize_grads(False)
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        X, *saved = ctx.saved_tensors
        n = len(ctx.lists)
        windows = saved[2 * n:]
        if needs_recomputation(grads):
            chunks = list(zip(ctx.blocks, windows))
            gX = vjp_by_recomputation(
                lambda X_: reference.band_modulus_rfft(X_, chunks), (X,),
                ctx.needs_input_grad[:1], grads)[0]
            return (gX, None) + (None,) * n
        B, N = X.shape
        gX = X.new_zeros(B, N)
        gXr = torch.view_as_real(gX)
        for c, (bl_k, g) in enumerate(zip(ctx.lists, grads)):
            if g is None:
                continue
            z, U, window = saved[2 * c], saved[2 * c + 1], windows[c]
            M = window.shape[2]
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
            for k, bl in enumerate(bl_k):
                for j, b in enumerate(bl):
                    gXb[:, b].addcmul_(gyr[k], window[k, j], value=scale)
        return (gX, None) + (None,) * n


def band_modulus_rfft(X: torch.Tensor, blocks: Sequence[torch.Tensor],
                      windows: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
    """X complex (B, N) contiguous; per chunk blocks long (K, m) and window real
    (K, m, M, 2) -> one complex (K, B, M // 2 + 1) per chunk.  No gradient for the
    windows (filter buffers).  See :func:`kernels.reference.band_modulus_rfft`."""
    return _BandModulusRfft.apply(X, list(blocks), *windows)
