"""numba CPU kernels, only for the ops where they beat the torch reference on 2 cores.

:func:`modulus`: the torch reference makes three passes over memory (two multiply-adds,
sqrt; two more for log1p and the division) and as many temporaries; the numba
kernel makes one pass, parallel over the elements (``prange``), forward and backward
(under ``create_graph`` or ``vmap`` the backward differentiates the reference instead,
:mod:`kernels.recompute`).
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

from .recompute import modulus_function
from .reference import MODULUS_EPS

__all__ = ["modulus"]


@numba.njit(parallel=True, cache=True)
def _modulus_fwd(z, out, eps2):                                  # pragma: no cover (jit)
    for i in numba.prange(z.size):
        re, im = z[i].real, z[i].imag
        out[i] = math.sqrt(re * re + im * im + eps2)


@numba.njit(parallel=True, cache=True)
def _modulus_bwd(z, g, gz, eps2, log1p_eps, use_log):            # pragma: no cover (jit)
    for i in numba.prange(z.size):
        re, im = z[i].real, z[i].imag
        u = math.sqrt(re * re + im * im + eps2)
        w = g[i] / u                          # z / u is 0 at z = 0: no NaN
        if use_log:
            w = w / (log1p_eps + u)
        gz[i] = complex(re * w, im * w)


def _use_torch_threads() -> None:
    """Run numba's parallel loops on as many threads as torch's intra-op pool."""
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))


def _flat(t: torch.Tensor) -> np.ndarray:
    return t.detach().resolve_conj().contiguous().reshape(-1).numpy()


def _forward(z: torch.Tensor, log1p_eps: Optional[float]) -> torch.Tensor:
    out = torch.empty(z.shape, dtype=z.real.dtype)
    zn = _flat(z)
    _use_torch_threads()
    _modulus_fwd(zn, out.reshape(-1).numpy(), zn.real.dtype.type(MODULUS_EPS ** 2))
    if log1p_eps is not None:          # numba's scalar log1p loses to torch's SIMD one
        out.div_(log1p_eps).log1p_()
    return out


def _backward(z: torch.Tensor, g: torch.Tensor, log1p_eps: Optional[float]) -> torch.Tensor:
    zn = _flat(z)
    gz = torch.empty_like(z)
    _use_torch_threads()
    _modulus_bwd(zn, _flat(g), gz.reshape(-1).numpy(), zn.real.dtype.type(MODULUS_EPS ** 2),
                 zn.real.dtype.type(log1p_eps or 1.0), log1p_eps is not None)
    return gz


_Modulus = modulus_function(_forward, _backward)


def modulus(z: torch.Tensor, log1p_eps: Optional[float] = None) -> torch.Tensor:
    """Complex CPU tensor z -> real ``sqrt(|z|^2 + 1e-24)`` [``log1p(. / log1p_eps)``]."""
    return _Modulus.apply(z, log1p_eps)
