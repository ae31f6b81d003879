"""Triton kernels of the JTFS path ops, each with its backward, as autograd Functions.

Imported lazily by :mod:`kernels.dispatch` (importing this module imports triton).
Triton has no complex type: complex tensors are passed as their ``torch.view_as_real``
float buffers (re, im interleaved, last axis of size 2) and loaded as ``[BLOCK, 2]``
tiles, split into real and imaginary planes in registers.  float32/complex64 and
float64/complex128 are both supported; the float32 matmuls use ``input_precision=
"ieee"`` (no TF32), so the results match the torch reference to float32 rounding.

Interpreter: with ``TRITON_INTERPRET=1`` in the environment **before triton is first
imported**, ``@triton.jit`` builds interpreted kernels that run on CPU tensors (numpy
semantics; slow).  Whether this module was imported that way is :data:`INTERPRETED`;
the dispatcher allows CPU tensors only then.

Ops (the argument checks live in :mod:`kernels.dispatch`; see :mod:`kernels.reference`
for the definitions):

* :func:`filter_periodize`  one launch for all K filters of one subsampling factor;
  each program reads only the bins of its filter's band (``(start, length)``)
* :func:`band_fold`         gather-multiply-fold; backward scatters with atomics
* :func:`modulus`           ``sqrt(|z|^2 + eps^2)`` and optional ``log1p(. / eps)``, one pass
* :func:`modulus_average`   ``|G Y| A`` in one kernel (the (R, L) modulus never leaves
  registers); backward recomputes ``G Y`` tile by tile in one kernel
* :func:`path_distance`     one program per batch item reduces ``|target - x|^p``

Under ``create_graph`` (double backward) and under ``vmap`` (``is_grads_batched``) the
backward passes differentiate the reference definitions instead of launching kernels
(:mod:`kernels.recompute`).  :func:`kernels.dispatch.band_modulus_rfft` has no kernel of
its own: it composes :func:`band_fold`, ``torch.fft.ifft``, :func:`modulus` and
``torch.fft.rfft``.
"""
from __future__ import annotations

import contextlib
from typing import Optional

import torch
import triton
import triton.language as tl

from . import reference
from .recompute import modulus_function, needs_recomputation, vjp_by_recomputation
from .reference import MODULUS_EPS

#: the modulus is ``sqrt(re^2 + im^2 + EPS2)`` (:func:`kernels.reference.stable_abs`)
EPS2 = MODULUS_EPS ** 2

__all__ = ["INTERPRETED", "filter_periodize", "band_fold", "modulus", "modulus_average",
           "path_distance"]


def _np2(n: int, lo: int = 16) -> int:
    return max(lo, triton.next_power_of_2(max(int(n), 1)))


def _device(t: torch.Tensor):
    """Launch on the tensor's GPU (triton launches on the current CUDA device)."""
    return torch.cuda.device(t.device) if t.is_cuda else contextlib.nullcontext()


def _planes(z: torch.Tensor) -> torch.Tensor:
    """Contiguous real view (..., 2) of a complex tensor (resolving a conjugate bit)."""
    return torch.view_as_real(z.resolve_conj().contiguous())


# --------------------------------------------------------------------- filter_periodize
@triton.jit
def _filter_periodize_fwd_kernel(x_ptr, h_ptr, start_ptr, length_ptr, out_ptr,
                                 N, M, K, inv_s,
                                 H_COMPLEX: tl.constexpr, BLOCK: tl.constexpr):
    # program (b, m-block, k): out[b, k, m] = inv_s * sum_r x[b, p] h[k, p], p = m + r M,
    # over the p of filter k's band only (unwrapped p in [start, start + length))
    b = tl.program_id(0).to(tl.int64)
    k = tl.program_id(2).to(tl.int64)
    m = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m_ok = m < M
    two = tl.arange(0, 2)
    start = tl.load(start_ptr + k)
    length = tl.load(length_ptr + k)
    acc_re = tl.zeros([BLOCK], dtype=out_ptr.dtype.element_ty)
    acc_im = tl.zeros([BLOCK], dtype=out_ptr.dtype.element_ty)
    for r in range(start // M, (start + length + M - 1) // M):
        p = r * M + m
        ok = m_ok & (p >= start) & (p < start + length)
        idx = tl.where(p >= N, p - N, p)
        xv = tl.load(x_ptr + (b * N + idx)[:, None] * 2 + two[None, :], mask=ok[:, None],
                     other=0.0)
        xr, xi = tl.split(xv)
        if H_COMPLEX:
            hv = tl.load(h_ptr + (k * N + idx)[:, None] * 2 + two[None, :],
                         mask=ok[:, None], other=0.0)
            hr, hi = tl.split(hv)
            acc_re += xr * hr - xi * hi
            acc_im += xr * hi + xi * hr
        else:
            hr = tl.load(h_ptr + k * N + idx, mask=ok, other=0.0)
            acc_re += xr * hr
            acc_im += xi * hr
    out = tl.join(acc_re * inv_s, acc_im * inv_s)
    tl.store(out_ptr + ((b * K + k) * M + m)[:, None] * 2 + two[None, :], out,
             mask=m_ok[:, None])


@triton.jit
def _filter_periodize_bwd_x_kernel(g_ptr, h_ptr, start_ptr, length_ptr, gx_ptr,
                                   N, M, K, inv_s,
                                   H_COMPLEX: tl.constexpr, BLOCK: tl.constexpr):
    # program (b, n-block): gx[b, n] = inv_s * sum_k conj(h[k, n]) g[b, k, n mod M],
    # over the k whose band holds n
    b = tl.program_id(0).to(tl.int64)
    n = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    n_ok = n < N
    m = n % M
    two = tl.arange(0, 2)
    acc_re = tl.zeros([BLOCK], dtype=gx_ptr.dtype.element_ty)
    acc_im = tl.zeros([BLOCK], dtype=gx_ptr.dtype.element_ty)
    for k in range(0, K):
        start = tl.load(start_ptr + k)
        length = tl.load(length_ptr + k)
        d = n - start
        d = tl.where(d < 0, d + N, d)
        ok = n_ok & (d < length)
        gv = tl.load(g_ptr + ((b * K + k) * M + m)[:, None] * 2 + two[None, :],
                     mask=ok[:, None], other=0.0)
        gr, gi = tl.split(gv)
        if H_COMPLEX:
            hv = tl.load(h_ptr + (k * N + n)[:, None] * 2 + two[None, :], mask=ok[:, None],
                         other=0.0)
            hr, hi = tl.split(hv)
            acc_re += gr * hr + gi * hi
            acc_im += gi * hr - gr * hi
        else:
            hr = tl.load(h_ptr + k * N + n, mask=ok, other=0.0)
            acc_re += gr * hr
            acc_im += gi * hr
    out = tl.join(acc_re * inv_s, acc_im * inv_s)
    tl.store(gx_ptr + (b * N + n)[:, None] * 2 + two[None, :], out, mask=n_ok[:, None])


@triton.jit
def _filter_periodize_bwd_h_kernel(g_ptr, x_ptr, start_ptr, length_ptr, gh_ptr,
                                   N, M, K, B, inv_s,
                                   H_COMPLEX: tl.constexpr, BLOCK: tl.constexpr):
    # program (k, n-block): gh[k, n] = inv_s * sum_b conj(x[b, n]) g[b, k, n mod M] in
    # k's band, 0 outside (real part only for real filters)
    k = tl.program_id(0).to(tl.int64)
    n = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    n_ok = n < N
    m = n % M
    two = tl.arange(0, 2)
    start = tl.load(start_ptr + k)
    length = tl.load(length_ptr + k)
    d = n - start
    d = tl.where(d < 0, d + N, d)
    ok = n_ok & (d < length)
    acc_re = tl.zeros([BLOCK], dtype=x_ptr.dtype.element_ty)
    acc_im = tl.zeros([BLOCK], dtype=x_ptr.dtype.element_ty)
    for b in range(0, B):
        gv = tl.load(g_ptr + ((b * K + k) * M + m)[:, None] * 2 + two[None, :],
                     mask=ok[:, None], other=0.0)
        xv = tl.load(x_ptr + (b * N + n)[:, None] * 2 + two[None, :], mask=ok[:, None],
                     other=0.0)
        gr, gi = tl.split(gv)
        xr, xi = tl.split(xv)
        acc_re += xr * gr + xi * gi
        acc_im += xr * gi - xi * gr
    if H_COMPLEX:
        tl.store(gh_ptr + (k * N + n)[:, None] * 2 + two[None, :],
                 tl.join(acc_re * inv_s, acc_im * inv_s), mask=n_ok[:, None])
    else:
        tl.store(gh_ptr + k * N + n, acc_re * inv_s, mask=n_ok)


class _FilterPeriodize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_hat, filters, factor, start, length):
        B, N = x_hat.shape
        K = filters.shape[0]
        M = N // factor
        h_complex = filters.is_complex()
        xr = _planes(x_hat)
        hr = _planes(filters) if h_complex else filters.contiguous()
        out = torch.empty(B, K, M, dtype=x_hat.dtype, device=x_hat.device)
        BLOCK = min(1024, _np2(M))
        with _device(x_hat):
            _filter_periodize_fwd_kernel[(B, triton.cdiv(M, BLOCK), K)](
                xr, hr, start, length, torch.view_as_real(out), N, M, K, 1.0 / factor,
                H_COMPLEX=h_complex, BLOCK=BLOCK)
        ctx.save_for_backward(x_hat, filters, start, length)
        ctx.factor = factor
        return out

    @staticmethod
    def backward(ctx, g):
        x_hat, filters, start, length = ctx.saved_tensors
        if needs_recomputation((g,)):
            return tuple(vjp_by_recomputation(
                lambda x, h: reference.filter_periodize(x, h, ctx.factor, (start, length)),
                (x_hat, filters), ctx.needs_input_grad[:2], (g,))) + (None, None, None)
        B, N = x_hat.shape
        K, M, s = filters.shape[0], N // ctx.factor, ctx.factor
        h_complex = filters.is_complex()
        gr = _planes(g)
        hr = _planes(filters) if h_complex else filters.contiguous()
        gx = gh = None
        BLOCK = min(1024, _np2(N))
        with _device(x_hat):
            if ctx.needs_input_grad[0]:
                gx = torch.empty(x_hat.shape, dtype=x_hat.dtype, device=x_hat.device)
                _filter_periodize_bwd_x_kernel[(B, triton.cdiv(N, BLOCK))](
                    gr, hr, start, length, torch.view_as_real(gx), N, M, K, 1.0 / s,
                    H_COMPLEX=h_complex, BLOCK=BLOCK)
            if ctx.needs_input_grad[1]:
                gh = torch.empty(filters.shape, dtype=filters.dtype, device=filters.device)
                _filter_periodize_bwd_h_kernel[(K, triton.cdiv(N, BLOCK))](
                    gr, _planes(x_hat), start, length,
                    torch.view_as_real(gh) if h_complex else gh, N, M, K, B, 1.0 / s,
                    H_COMPLEX=h_complex, BLOCK=BLOCK)
        return gx, gh, None, None, None


def filter_periodize(x_hat: torch.Tensor, filters: torch.Tensor, factor: int,
                     start: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """x_hat complex (B, N), filters (K, N), start/length long (K,) on x_hat's device
    -> complex (B, K, N // factor).  See :func:`kernels.reference.filter_periodize`."""
    return _FilterPeriodize.apply(x_hat, filters, factor, start, length)


# --------------------------------------------------------------------------- band_fold
@triton.jit
def _band_fold_fwd_kernel(x_ptr, index_ptr, window_ptr, out_ptr, NH, L, M, F,
                          BLOCK: tl.constexpr):
    # program (b, m-block, f): out[b, f, m] = sum_j x[b, index[f, j M + m]] * window[...]
    b = tl.program_id(0).to(tl.int64)
    f = tl.program_id(2).to(tl.int64)
    m = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m_ok = m < M
    two = tl.arange(0, 2)
    acc = tl.zeros([BLOCK, 2], dtype=out_ptr.dtype.element_ty)
    for j in range(0, L // M):
        i = f * L + j * M + m
        idx = tl.load(index_ptr + i, mask=m_ok, other=0)
        w = tl.load(window_ptr + i[:, None] * 2 + two[None, :], mask=m_ok[:, None], other=0.0)
        xv = tl.load(x_ptr + (b * NH + idx)[:, None] * 2 + two[None, :], mask=m_ok[:, None],
                     other=0.0)
        acc += xv * w
    tl.store(out_ptr + ((b * F + f) * M + m)[:, None] * 2 + two[None, :], acc,
             mask=m_ok[:, None])


@triton.jit
def _band_fold_bwd_x_kernel(g_ptr, index_ptr, window_ptr, gx_ptr, NH, L, M, F,
                            BLOCK: tl.constexpr):
    # program (b, m-block, f): gx[b, index[f, i]] += g[b, f, m] * window[f, i] (atomics:
    # bins are shared between filters, and between f and N - f of one filter)
    b = tl.program_id(0).to(tl.int64)
    f = tl.program_id(2).to(tl.int64)
    m = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m_ok = m < M
    two = tl.arange(0, 2)
    gv = tl.load(g_ptr + ((b * F + f) * M + m)[:, None] * 2 + two[None, :],
                 mask=m_ok[:, None], other=0.0)
    for j in range(0, L // M):
        i = f * L + j * M + m
        idx = tl.load(index_ptr + i, mask=m_ok, other=0)
        w = tl.load(window_ptr + i[:, None] * 2 + two[None, :], mask=m_ok[:, None], other=0.0)
        tl.atomic_add(gx_ptr + (b * NH + idx)[:, None] * 2 + two[None, :], gv * w,
                      mask=m_ok[:, None])


class _BandFold(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_half, index, window, M):
        B, NH = x_half.shape
        F, L = index.shape
        out = torch.empty(B, F, M, dtype=x_half.dtype, device=x_half.device)
        BLOCK = min(1024, _np2(M))
        with _device(x_half):
            _band_fold_fwd_kernel[(B, triton.cdiv(M, BLOCK), F)](
                _planes(x_half), index, window, torch.view_as_real(out), NH, L, M, F,
                BLOCK=BLOCK)
        ctx.save_for_backward(x_half, index, window)
        ctx.M = M
        return out

    @staticmethod
    def backward(ctx, g):
        x_half, index, window = ctx.saved_tensors
        if needs_recomputation((g,)):
            gx, gw = vjp_by_recomputation(
                lambda x, w: reference.band_fold(x, index, w, ctx.M), (x_half, window),
                (ctx.needs_input_grad[0], ctx.needs_input_grad[2]), (g,))
            return gx, None, gw, None
        B, NH = x_half.shape
        F, L = index.shape
        M = ctx.M
        gx = gw = None
        gr = _planes(g)
        if ctx.needs_input_grad[0]:
            gx = torch.zeros(x_half.shape, dtype=x_half.dtype, device=x_half.device)
            BLOCK = min(1024, _np2(M))
            with _device(x_half):
                _band_fold_bwd_x_kernel[(B, triton.cdiv(M, BLOCK), F)](
                    gr, index, window, torch.view_as_real(gx), NH, L, M, F, BLOCK=BLOCK)
        if ctx.needs_input_grad[2]:
            # filters are buffers in practice: plain torch (gather, multiply, sum over b)
            xg = torch.view_as_real(x_half.index_select(-1, index.reshape(-1)))
            xg = xg.reshape(B, F, L // M, M, 2)
            gw = (xg * gr.reshape(B, F, 1, M, 2)).sum(0).reshape(F, L, 2)
        return gx, None, gw, None


def band_fold(x_half: torch.Tensor, index: torch.Tensor, window: torch.Tensor, M: int
              ) -> torch.Tensor:
    """x_half complex (B, nh), index long (F, L), window real (F, L, 2), all contiguous
    -> complex (B, F, M).  See :func:`kernels.reference.band_fold`."""
    return _BandFold.apply(x_half, index, window, M)


# ----------------------------------------------------------------------------- modulus
@triton.jit
def _modulus_fwd_kernel(z_ptr, out_ptr, n, eps2, log1p_eps,
                        LOG1P: tl.constexpr, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = i < n
    two = tl.arange(0, 2)
    zv = tl.load(z_ptr + i[:, None] * 2 + two[None, :], mask=ok[:, None], other=0.0)
    re, im = tl.split(zv)
    u = tl.sqrt(re * re + im * im + eps2)
    if LOG1P:
        # accurate log1p(x) = log(1 + x) * x / ((1 + x) - 1) (no libdevice needed)
        x = u / log1p_eps
        w = 1.0 + x
        dw = tl.where(w == 1.0, 1.0, w - 1.0)
        u = tl.where(w == 1.0, x, tl.log(w) * (x / dw))
    tl.store(out_ptr + i, u, mask=ok)


@triton.jit
def _modulus_bwd_kernel(z_ptr, g_ptr, gz_ptr, n, eps2, log1p_eps,
                        LOG1P: tl.constexpr, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = i < n
    two = tl.arange(0, 2)
    zv = tl.load(z_ptr + i[:, None] * 2 + two[None, :], mask=ok[:, None], other=0.0)
    g = tl.load(g_ptr + i, mask=ok, other=0.0)
    re, im = tl.split(zv)
    u = tl.sqrt(re * re + im * im + eps2)
    w = g / u                                   # z / u is 0 at z = 0: no NaN
    if LOG1P:
        w = w / (log1p_eps + u)
    tl.store(gz_ptr + i[:, None] * 2 + two[None, :], tl.join(re * w, im * w),
             mask=ok[:, None])


def _modulus_forward(z: torch.Tensor, log1p_eps: Optional[float]) -> torch.Tensor:
    out = torch.empty(z.shape, dtype=z.real.dtype, device=z.device)
    n = z.numel()
    BLOCK = 1024
    with _device(z):
        _modulus_fwd_kernel[(triton.cdiv(n, BLOCK),)](
            torch.view_as_real(z), out, n, EPS2,
            1.0 if log1p_eps is None else float(log1p_eps),
            LOG1P=log1p_eps is not None, BLOCK=BLOCK)
    return out


def _modulus_backward(z: torch.Tensor, g: torch.Tensor, log1p_eps: Optional[float]
                      ) -> torch.Tensor:
    gz = torch.empty_like(z)
    n = z.numel()
    BLOCK = 1024
    with _device(z):
        _modulus_bwd_kernel[(triton.cdiv(n, BLOCK),)](
            torch.view_as_real(z), g, torch.view_as_real(gz), n, EPS2,
            1.0 if log1p_eps is None else float(log1p_eps),
            LOG1P=log1p_eps is not None, BLOCK=BLOCK)
    return gz


#: saves only z: u is recomputed in backward (one pass, no saved modulus)
_Modulus = modulus_function(_modulus_forward, _modulus_backward)


def modulus(z: torch.Tensor, log1p_eps: Optional[float] = None) -> torch.Tensor:
    """Complex z (any shape) -> real ``sqrt(|z|^2 + 1e-24)`` [``log1p(. / log1p_eps)``]."""
    return _Modulus.apply(z, log1p_eps)


# --------------------------------------------------------------------- modulus_average
@triton.jit
def _modavg_fwd_kernel(y_ptr, g_ptr, a_ptr, s_ptr, n, R, L, M, eps2,
                       HAS_A: tl.constexpr, PRECISION: tl.constexpr,
                       BR: tl.constexpr, BN: tl.constexpr, BL: tl.constexpr,
                       BM: tl.constexpr):
    # program (b, r-block, m-block) with A: S[b, r, m] = sum_l |sum_n G[r, n] Y[b, n, l]|
    # A[l, m], looping over l-tiles; without A: program (b, r-block, l-block) stores |G Y|
    b = tl.program_id(0).to(tl.int64)
    r = tl.program_id(1) * BR + tl.arange(0, BR)
    r_ok = r < R
    two = tl.arange(0, 2)
    dt = s_ptr.dtype.element_ty
    if HAS_A:
        mm = tl.program_id(2) * BM + tl.arange(0, BM)
        m_ok = mm < M
        acc = tl.zeros([BR, BM], dtype=dt)
        l_begin = 0
        l_end = L
    else:
        l_begin = tl.program_id(2) * BL
        l_end = l_begin + BL
    for l0 in range(l_begin, l_end, BL):
        l = l0 + tl.arange(0, BL)
        l_ok = l < L
        zr = tl.zeros([BR, BL], dtype=dt)
        zi = tl.zeros([BR, BL], dtype=dt)
        for n0 in range(0, n, BN):
            nn = n0 + tl.arange(0, BN)
            n_ok = nn < n
            gmask = (r_ok[:, None] & n_ok[None, :])[:, :, None]
            gv = tl.load(g_ptr + (r[:, None] * n + nn[None, :])[:, :, None] * 2
                         + two[None, None, :], mask=gmask, other=0.0)
            gr, gi = tl.split(gv)                                   # (BR, BN)
            ymask = (n_ok[:, None] & l_ok[None, :])[:, :, None]
            yv = tl.load(y_ptr + ((b * n + nn[:, None]) * L + l[None, :])[:, :, None] * 2
                         + two[None, None, :], mask=ymask, other=0.0)
            yr, yi = tl.split(yv)                                   # (BN, BL)
            zr = tl.dot(gr, yr, zr, input_precision=PRECISION)
            zr = tl.dot(-gi, yi, zr, input_precision=PRECISION)
            zi = tl.dot(gr, yi, zi, input_precision=PRECISION)
            zi = tl.dot(gi, yr, zi, input_precision=PRECISION)
        u = tl.sqrt(zr * zr + zi * zi + eps2)
        if HAS_A:
            u = tl.where(r_ok[:, None] & l_ok[None, :], u, 0.0)
            a = tl.load(a_ptr + l[:, None] * M + mm[None, :], mask=l_ok[:, None] & m_ok[None, :],
                        other=0.0)                                  # (BL, BM)
            acc = tl.dot(u, a, acc, input_precision=PRECISION)
        else:
            tl.store(s_ptr + (b * R + r[:, None]) * L + l[None, :], u,
                     mask=r_ok[:, None] & l_ok[None, :])
    if HAS_A:
        tl.store(s_ptr + (b * R + r[:, None]) * M + mm[None, :], acc,
                 mask=r_ok[:, None] & m_ok[None, :])


@triton.jit
def _modavg_bwd_kernel(y_ptr, g_ptr, a_ptr, gs_ptr, gy_ptr, n, R, L, M, eps2,
                       HAS_A: tl.constexpr, PRECISION: tl.constexpr,
                       BR: tl.constexpr, BN: tl.constexpr, BL: tl.constexpr,
                       BM: tl.constexpr):
    # program (b, l-block): gY[b, :, l] = G^H (Z / |Z| * (gS A^T)) with Z = G Y recomputed
    # r-tile by r-tile; BN covers all n (the short axis), so gY stays in registers
    b = tl.program_id(0).to(tl.int64)
    l = tl.program_id(1) * BL + tl.arange(0, BL)
    l_ok = l < L
    nn = tl.arange(0, BN)
    n_ok = nn < n
    two = tl.arange(0, 2)
    dt = gy_ptr.dtype.element_ty
    ymask = (n_ok[:, None] & l_ok[None, :])[:, :, None]
    yv = tl.load(y_ptr + ((b * n + nn[:, None]) * L + l[None, :])[:, :, None] * 2
                 + two[None, None, :], mask=ymask, other=0.0)
    yr, yi = tl.split(yv)                                           # (BN, BL)
    gyr = tl.zeros([BN, BL], dtype=dt)
    gyi = tl.zeros([BN, BL], dtype=dt)
    for r0 in range(0, R, BR):
        r = r0 + tl.arange(0, BR)
        r_ok = r < R
        gmask = (r_ok[:, None] & n_ok[None, :])[:, :, None]
        gv = tl.load(g_ptr + (r[:, None] * n + nn[None, :])[:, :, None] * 2
                     + two[None, None, :], mask=gmask, other=0.0)
        gr, gi = tl.split(gv)                                       # (BR, BN)
        zr = tl.dot(gr, yr, input_precision=PRECISION, out_dtype=dt)
        zr = tl.dot(-gi, yi, zr, input_precision=PRECISION)
        zi = tl.dot(gr, yi, input_precision=PRECISION, out_dtype=dt)
        zi = tl.dot(gi, yr, zi, input_precision=PRECISION)
        u = tl.sqrt(zr * zr + zi * zi + eps2)
        if HAS_A:
            gu = tl.zeros([BR, BL], dtype=dt)
            for m0 in range(0, M, BM):
                mm = m0 + tl.arange(0, BM)
                m_ok = mm < M
                gs = tl.load(gs_ptr + (b * R + r[:, None]) * M + mm[None, :],
                             mask=r_ok[:, None] & m_ok[None, :], other=0.0)   # (BR, BM)
                at = tl.load(a_ptr + l[None, :] * M + mm[:, None],
                             mask=m_ok[:, None] & l_ok[None, :], other=0.0)   # (BM, BL)
                gu = tl.dot(gs, at, gu, input_precision=PRECISION)
        else:
            gu = tl.load(gs_ptr + (b * R + r[:, None]) * L + l[None, :],
                         mask=r_ok[:, None] & l_ok[None, :], other=0.0)
        w = gu / u                                  # 0 on padded rows / columns
        gzr = zr * w
        gzi = zi * w
        grt = tl.trans(gr)                                          # (BN, BR)
        git = tl.trans(gi)
        gyr = tl.dot(grt, gzr, gyr, input_precision=PRECISION)
        gyr = tl.dot(git, gzi, gyr, input_precision=PRECISION)
        gyi = tl.dot(grt, gzi, gyi, input_precision=PRECISION)
        gyi = tl.dot(-git, gzr, gyi, input_precision=PRECISION)
    tl.store(gy_ptr + ((b * n + nn[:, None]) * L + l[None, :])[:, :, None] * 2
             + two[None, None, :], tl.join(gyr, gyi), mask=ymask)


class _ModulusAverage(torch.autograd.Function):
    """Saves Y, G, A; backward recomputes G Y (the (B, R, L) modulus is never stored)."""

    PRECISION = "ieee"

    @staticmethod
    def forward(ctx, Y, G, A):
        B, n, L = Y.shape
        R = G.shape[0]
        has_a = A is not None
        M = A.shape[1] if has_a else L
        S = torch.empty(B, R, M, dtype=Y.real.dtype, device=Y.device)
        BR, BN, BL = 32, min(32, _np2(n)), 64
        BM = min(64, _np2(M))
        third = triton.cdiv(M, BM) if has_a else triton.cdiv(L, BL)
        a = A.contiguous() if has_a else S        # dummy pointer without A
        with _device(Y):
            _modavg_fwd_kernel[(B, triton.cdiv(R, BR), third)](
                _planes(Y), _planes(G), a, S, n, R, L, M, EPS2,
                HAS_A=has_a, PRECISION=_ModulusAverage.PRECISION,
                BR=BR, BN=BN, BL=BL, BM=BM)
        ctx.save_for_backward(Y, G, A if has_a else None)
        return S

    @staticmethod
    def backward(ctx, gS):
        Y, G, A = ctx.saved_tensors
        if needs_recomputation((gS,)):
            return tuple(vjp_by_recomputation(reference.modulus_average, (Y, G, A),
                                              ctx.needs_input_grad[:3], (gS,)))
        B, n, L = Y.shape
        R = G.shape[0]
        has_a = A is not None
        M = A.shape[1] if has_a else L
        gS = gS.contiguous()
        gY = gG = gA = None
        if ctx.needs_input_grad[0]:
            gY = torch.empty(Y.shape, dtype=Y.dtype, device=Y.device)    # contiguous
            BN = _np2(n)
            BL = 32 if BN <= 64 else 16
            BR, BM = 16, min(64, _np2(M))
            a = A.contiguous() if has_a else gS
            with _device(Y):
                _modavg_bwd_kernel[(B, triton.cdiv(L, BL))](
                    _planes(Y), _planes(G), a, gS, torch.view_as_real(gY), n, R, L, M,
                    EPS2, HAS_A=has_a, PRECISION=_ModulusAverage.PRECISION,
                    BR=BR, BN=BN, BL=BL, BM=BM)
        if ctx.needs_input_grad[1] or (has_a and ctx.needs_input_grad[2]):
            # operators are buffers in practice: plain torch, materialising G Y
            Z = torch.matmul(G, Y)
            U = reference.stable_abs(Z)
            gU = torch.matmul(gS, A.t()) if has_a else gS
            if ctx.needs_input_grad[1]:
                gZ = Z * (gU / U)
                gG = torch.matmul(gZ, Y.conj().transpose(-1, -2)).sum(0)
            if has_a and ctx.needs_input_grad[2]:
                gA = torch.matmul(U.transpose(-1, -2), gS).sum(0)
        return gY, gG, gA


def modulus_average(Y: torch.Tensor, G: torch.Tensor, A: Optional[torch.Tensor] = None
                    ) -> torch.Tensor:
    """Y complex (B, n, L), G complex (R, n), A real (L, M) or None -> real (B, R, M)
    or (B, R, L).  See :func:`kernels.reference.modulus_average`."""
    return _ModulusAverage.apply(Y, G, A)


# ----------------------------------------------------------------------- path_distance
@triton.jit
def _path_distance_fwd_kernel(x_ptr, t_ptr, norm_ptr, n, p,
                              P_KIND: tl.constexpr, BLOCK: tl.constexpr):
    # program b: norm[b] = (sum_i |t[b, i] - x[b, i]|^p)^(1/p); P_KIND 1, 2 or 0 (any p)
    b = tl.program_id(0).to(tl.int64)
    acc = tl.zeros([BLOCK], dtype=norm_ptr.dtype.element_ty)
    for i0 in range(0, n, BLOCK):
        i = i0 + tl.arange(0, BLOCK)
        ok = i < n
        d = tl.load(t_ptr + b * n + i, mask=ok, other=0.0) - \
            tl.load(x_ptr + b * n + i, mask=ok, other=0.0)
        a = tl.abs(d)
        if P_KIND == 2:
            acc += d * d
        elif P_KIND == 1:
            acc += a
        else:
            acc += tl.where(a > 0, tl.exp(p * tl.log(tl.where(a > 0, a, 1.0))), 0.0)
    s = tl.sum(acc, axis=0)
    if P_KIND == 2:
        norm = tl.sqrt(s)
    elif P_KIND == 1:
        norm = s
    else:
        norm = tl.where(s > 0, tl.exp(tl.log(tl.where(s > 0, s, 1.0)) / p), 0.0)
    tl.store(norm_ptr + b, norm)


@triton.jit
def _path_distance_bwd_kernel(x_ptr, t_ptr, norm_ptr, gnorm_ptr, gx_ptr, n, p,
                              P_KIND: tl.constexpr, BLOCK: tl.constexpr):
    # gx = -g * sign(d) |d|^(p-1) / norm^(p-1), d = t - x; 0 where norm = 0 (like torch)
    b = tl.program_id(0).to(tl.int64)
    i = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = i < n
    norm = tl.load(norm_ptr + b)
    g = tl.load(gnorm_ptr + b)
    d = tl.load(t_ptr + b * n + i, mask=ok, other=0.0) - \
        tl.load(x_ptr + b * n + i, mask=ok, other=0.0)
    sgn = tl.where(d > 0, 1.0, tl.where(d < 0, -1.0, 0.0))
    if P_KIND == 2:
        coef = tl.where(norm > 0, g / tl.where(norm > 0, norm, 1.0), 0.0)
        gd = d * coef
    elif P_KIND == 1:
        gd = sgn * g
    else:
        a = tl.abs(d)
        safe_n = tl.where(norm > 0, norm, 1.0)
        ratio = tl.where(a > 0, tl.exp((p - 1.0) * tl.log(tl.where(a > 0, a, 1.0) / safe_n)),
                         0.0)
        gd = tl.where(norm > 0, sgn * ratio * g, 0.0)
    tl.store(gx_ptr + b * n + i, -gd, mask=ok)


def _p_kind(p: float) -> int:
    return 2 if p == 2 else 1 if p == 1 else 0


class _PathNorms(torch.autograd.Function):
    """Per-item norms (B,) of target - x over (B, n) rows."""

    @staticmethod
    def forward(ctx, x_in, target_in, p):
        B, n = x_in.shape
        x, target = x_in.contiguous(), target_in.contiguous()
        norms = torch.empty(B, dtype=x.dtype, device=x.device)
        BLOCK = min(4096, _np2(n, 128))
        with _device(x):
            _path_distance_fwd_kernel[(B,)](x, target, norms, n, float(p),
                                            P_KIND=_p_kind(p), BLOCK=BLOCK)
        ctx.save_for_backward(x_in, target_in, norms)
        ctx.p = p
        return norms

    @staticmethod
    def backward(ctx, gnorms):
        x_in, target_in, norms = ctx.saved_tensors
        if needs_recomputation((gnorms,)):
            return tuple(vjp_by_recomputation(
                lambda a, b: reference.path_distance(a.unsqueeze(1), b.unsqueeze(1), ctx.p,
                                                     "none"),
                (x_in, target_in), ctx.needs_input_grad[:2], (gnorms,))) + (None,)
        x, target = x_in.contiguous(), target_in.contiguous()
        B, n = x.shape
        gx = torch.empty_like(x)
        BLOCK = min(1024, _np2(n, 128))
        with _device(x):
            _path_distance_bwd_kernel[(B, triton.cdiv(n, BLOCK))](
                x, target, norms, gnorms.contiguous(), gx, n, float(ctx.p),
                P_KIND=_p_kind(ctx.p), BLOCK=BLOCK)
        gt = -gx if ctx.needs_input_grad[1] else None
        return (gx if ctx.needs_input_grad[0] else None), gt, None


def path_distance(x: torch.Tensor, target: torch.Tensor, p: float = 2.0,
                  reduction: str = "mean") -> torch.Tensor:
    """x, target real (B, n) (the (freq, time) axes flattened) -> per-item norms reduced
    by ``reduction`` ('mean', 'sum', 'none').  See :func:`kernels.reference.path_distance`."""
    d = _PathNorms.apply(x, target, p)
    if reduction == "mean":
        return d.mean()
    if reduction == "sum":
        return d.sum()
    return d


def _is_interpreted() -> bool:
    from triton.runtime.jit import JITFunction
    return not isinstance(_modulus_fwd_kernel, JITFunction)


#: True when this module's kernels were built by triton's interpreter (TRITON_INTERPRET=1
#: before triton was imported): they then run on CPU tensors
INTERPRETED: bool = _is_interpreted()
