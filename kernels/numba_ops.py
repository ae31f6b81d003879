"""numba CPU kernels, only for the ops where they beat the torch reference on 2 cores.

:func:`modulus`: the torch reference makes four passes over memory (square, multiply-add,
sqrt, add eps; two more for log1p and the division) and as many temporaries; the numba
kernel makes one pass, parallel over the elements (``prange``), forward and backward.
``benchmarks/bench_kernels.py --cpu`` measures both in the same run.

:func:`path_distance` has no numba kernel: on (batch, freq, time) path coefficients
(a few thousand elements a row) numba's call overhead cancels what fusing saves and the
torch reference wins or ties (same benchmark).

Imported lazily by :mod:`kernels.dispatch` (importing it imports numba; kernels compile on
first use per dtype and are cached on disk).
"""
from __future__ import annotations

import math
from typing import Optional

import numba
import numpy as np
import torch

from .reference import MODULUS_EPS

__all__ = ["modulus"]


@numba.njit(parallel=True, cache=True)
def _modulus_fwd(z, out, eps):                                   # pragma: no cover (jit)
    for i in numba.prange(z.size):
        re, im = z[i].real, z[i].imag
        out[i] = math.sqrt(re * re + im * im) + eps


@numba.njit(parallel=True, cache=True)
def _modulus_bwd(z, g, gz, eps, log1p_eps, use_log):             # pragma: no cover (jit)
    for i in numba.prange(z.size):
        re, im = z[i].real, z[i].imag
        u = math.sqrt(re * re + im * im) + eps
        w = g[i] / u                          # z / u is 0 at z = 0: no NaN
        if use_log:
            w = w / (log1p_eps + u)
        gz[i] = complex(re * w, im * w)


def _use_torch_threads() -> None:
    """Run numba's parallel loops on as many threads as torch's intra-op pool."""
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


def _flat(t: torch.Tensor) -> np.ndarray:
    return t.detach().resolve_conj().contiguous().reshape(-1).numpy()


class _Modulus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, log1p_eps):
        z = z.resolve_conj().contiguous()
        out = torch.empty(z.shape, dtype=z.real.dtype)
        zn = _flat(z)
        _use_torch_threads()
        _modulus_fwd(zn, out.reshape(-1).numpy(), zn.real.dtype.type(MODULUS_EPS))
        if log1p_eps is not None:          # numba's scalar log1p loses to torch's SIMD one
            out.div_(log1p_eps).log1p_()
        ctx.save_for_backward(z)
        ctx.log1p_eps = log1p_eps
        return out

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        log1p_eps = ctx.log1p_eps
        zn = _flat(z)
        gz = torch.empty_like(z)
        _use_torch_threads()
        _modulus_bwd(zn, _flat(g), gz.reshape(-1).numpy(), zn.real.dtype.type(MODULUS_EPS),
                     zn.real.dtype.type(log1p_eps or 1.0), log1p_eps is not None)
        return gz, None


def modulus(z: torch.Tensor, log1p_eps: Optional[float] = None) -> torch.Tensor:
    """Complex CPU tensor z -> real ``|z| + 1e-12`` [``log1p(. / log1p_eps)``]."""
    return _Modulus.apply(z, log1p_eps)
