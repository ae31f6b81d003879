"""One entry point per op: checks arguments, then runs the Triton, numba, fused CPU or
torch reference implementation.

What runs where (``auto``, the default):

* CUDA float32/complex64 tensors -> ``triton`` (:mod:`kernels.triton_ops`, if triton
  imports; :func:`band_modulus_rfft` composes the Triton ``band_fold`` and ``modulus``
  with ``torch.fft``); float64 on CUDA, or no triton -> ``reference`` (the float64
  Triton kernels are verified only under the interpreter);
* CPU tensors -> the CPU path: ``cpu`` for :data:`CPU_OPS` (fused torch with hand-written
  backward passes, :mod:`kernels.cpu_ops`), else ``reference`` (:mod:`kernels.reference`,
  plain torch: the definitions); numba only when asked for (see :data:`NUMBA_OPS`).

Backend selection, per call: ``backend=`` argument if given, else the environment
variable ``SYNTHMATCH_KERNELS`` (read at every call), else ``"auto"``.  Values
(:data:`BACKENDS`, ValueError otherwise):

* ``reference``: the plain torch definitions, any device (the check the others are
  compared with; slower, and materialises what the fused ops avoid);
* ``cpu``: the fused CPU ops where there is one, else the reference; CPU tensors only
  (RuntimeError on CUDA);
* ``numba``: the numba kernels where there is one, else like ``cpu``; CPU tensors only;
* ``triton``: CUDA tensors, or CPU tensors when triton's interpreter is active
  (``TRITON_INTERPRET=1`` set before triton is first imported); RuntimeError otherwise;
* ``auto``: as above.

Every op is differentiable, to any order: the Triton, numba and fused CPU Functions
differentiate the reference definition under ``create_graph`` and under
``is_grads_batched`` (:mod:`kernels.recompute`).  :func:`backend_name` says which
backend a call would use (tests, benchmarks).
"""
from __future__ import annotations

import importlib
import math
import numbers
import os
from typing import Optional, Sequence, Tuple, Union

import torch

from . import cpu_ops, reference
from .cpu_ops import AveragePlan, average_plan, chunk_length
from .reference import filter_band

__all__ = ["BACKENDS", "CPU_OPS", "ENV_VAR", "NUMBA_OPS", "OPS", "AveragePlan",
           "average_plan", "backend_name", "band_fold", "band_modulus_rfft",
           "chunk_length", "filter_band", "filter_periodize", "modulus", "modulus_average",
           "path_distance"]

ENV_VAR = "SYNTHMATCH_KERNELS"
BACKENDS = ("reference", "cpu", "numba", "triton", "auto")
OPS = ("filter_periodize", "band_fold", "modulus", "modulus_average", "band_modulus_rfft",
       "path_distance")
#: ops with a numba kernel (backend ``numba``).  ``auto`` does not pick numba: importing it
#: and loading the compiled kernel cost ~0.4 s per process, more than the kernel saves
#: in a match (it is 3-5x faster than the reference modulus, milliseconds per call)
NUMBA_OPS = ("modulus",)
#: ops with a fused CPU implementation (:mod:`kernels.cpu_ops`), run by ``auto`` on the CPU
CPU_OPS = ("modulus_average", "band_modulus_rfft")

Band = Tuple[Union[torch.Tensor, Sequence[int]], Union[torch.Tensor, Sequence[int]]]

_loaded: dict = {}          # backend name -> module, or the exception its import raised


def _load(name: str):
    """The ``kernels.triton_ops`` / ``kernels.numba_ops`` module (imported on first use),
    or the exception importing it raised (cached either way)."""
    if name not in _loaded:
        try:
            _loaded[name] = importlib.import_module(f"{__package__}.{name}_ops")
        except Exception as exc:        # not installed, or broken (e.g. numpy mismatch)
            _loaded[name] = exc
    return _loaded[name]


def _available(name: str) -> bool:
    return not isinstance(_load(name), Exception)


def _module(name: str):
    mod = _load(name)
    if isinstance(mod, Exception):
        raise RuntimeError(f"backend {name!r} requested but it cannot be imported: "
                           f"{mod!r}") from mod
    return mod


def _triton_ops():
    return _module("triton")


def _numba_ops():
    return _module("numba")


def _requested(backend: Optional[str]) -> str:
    name = backend if backend is not None else os.environ.get(ENV_VAR, "") or "auto"
    name = str(name).strip().lower()
    if name not in BACKENDS:
        source = "backend" if backend is not None else ENV_VAR
        raise ValueError(f"{source} must be one of {BACKENDS}, got {name!r}")
    return name


def _cpu_path(op: str) -> str:
    return "cpu" if op in CPU_OPS else "reference"


def _select(op: str, tensor: torch.Tensor, backend: Optional[str], empty: bool = False
            ) -> str:
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    name = _requested(backend)
    if name == "reference" or empty:          # nothing to launch a kernel for
        return "reference"
    if name == "triton":
        if not tensor.is_cuda and not _triton_ops().INTERPRETED:
            raise RuntimeError(
                f"backend 'triton' needs CUDA tensors, got a tensor on {tensor.device}; to run "
                "the Triton kernels on the CPU set TRITON_INTERPRET=1 before triton is first "
                "imported (a fresh process)")
        return name
    if name in ("numba", "cpu"):
        if tensor.is_cuda:
            raise RuntimeError(f"backend {name!r} runs on CPU tensors only, got a CUDA tensor")
        if name == "numba" and op in NUMBA_OPS:
            _numba_ops()                         # raises if numba cannot be imported
            return "numba"
        return _cpu_path(op)
    # auto
    if tensor.is_cuda:
        is_float32 = tensor.dtype in (torch.float32, torch.complex64)
        return "triton" if is_float32 and _available("triton") else "reference"
    return _cpu_path(op)


def backend_name(tensor: torch.Tensor, op: str = "modulus",
                 backend: Optional[str] = None) -> str:
    """Which backend (``"reference"``, ``"cpu"``, ``"numba"`` or ``"triton"``) ``op``
    would run on ``tensor`` (its first input) with ``backend`` / the environment as they
    are now.  Raises like the op would (bad name, triton without CUDA or interpreter, ...)."""
    return _select(op, tensor, backend)


# ----------------------------------------------------------------------------- checks
def _check_tensor(name: str, t, shape_text: str) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor {shape_text}, got {type(t).__name__}")


def _check_complex(name: str, t: torch.Tensor, shape_text: str) -> None:
    _check_tensor(name, t, shape_text)
    if t.dtype not in (torch.complex64, torch.complex128):
        raise ValueError(f"{name} must be complex64 or complex128 {shape_text}, got {t.dtype}")


def _check_real(name: str, t: torch.Tensor, shape_text: str, dtype=None) -> None:
    _check_tensor(name, t, shape_text)
    allowed = (dtype,) if dtype is not None else (torch.float32, torch.float64)
    if t.dtype not in allowed:
        raise ValueError(f"{name} must be real {' or '.join(str(d) for d in allowed)} "
                         f"{shape_text}, got {t.dtype}")


def _check_device(ref: torch.Tensor, **others) -> None:
    for name, t in others.items():
        if t is not None and t.device != ref.device:
            raise ValueError(f"{name} is on {t.device}, expected {ref.device} like the input")


def _real_dtype(z: torch.Tensor) -> torch.dtype:
    return torch.float64 if z.dtype in (torch.complex128, torch.float64) else torch.float32


def _complex_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.complex128 if t.dtype in (torch.complex128, torch.float64) else torch.complex64


def _check_int(name: str, v, low: int) -> int:
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


def _band_tensors(band, K: int, N: int, device) -> Tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(band, (tuple, list)) and len(band) == 2):
        raise ValueError(f"band must be a pair (start, length) of {K} integers each, "
                         f"got {type(band).__name__}")
    out = []
    for name, v in (("band start", band[0]), ("band length", band[1])):
        t = torch.as_tensor(v)
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise ValueError(f"{name} must hold integers, got {t.dtype}")
        if t.shape != (K,):
            raise ValueError(f"{name} must have shape ({K},) (one entry per filter), "
                             f"got {tuple(t.shape)}")
        out.append(t.to(device=device, dtype=torch.long).contiguous())
    start, length = out
    if not start.is_cuda:        # value checks only where they cost no device sync
        if K and (int(start.min()) < 0 or int(start.max()) >= N):
            raise ValueError(f"band start must be in [0, {N}), got {start.tolist()}")
        if K and (int(length.min()) < 0 or int(length.max()) > N):
            raise ValueError(f"band length must be in [0, {N}], got {length.tolist()}")
    return start, length


# -------------------------------------------------------------------------------- ops
def filter_periodize(x_hat: torch.Tensor, filters: torch.Tensor, factor: int,
                     band: Optional[Band] = None, *, backend: Optional[str] = None
                     ) -> torch.Tensor:
    """Multiply spectra by a bank of Fourier filters and subsample by ``factor`` in one op.

    x_hat: complex (..., N), full spectra (``torch.fft.fft``); filters: (K, N), real of
    x_hat's precision (float32 for complex64) or complex of x_hat's dtype; factor: s >= 1
    dividing N; band: optional ``(start, length)``, K integers each (tensors or
    sequences): filter k is taken as zero outside the cyclic bins
    ``[start_k, start_k + length_k) mod N`` and only those bins are read (keep the band
    tensors on x_hat's device, e.g. as buffers, to avoid a copy per call).
    Returns complex (..., K, N // s) with
    ``out[..., k, m] = (1/s) sum_{r<s} x_hat[..., m + r N/s] filters[k, m + r N/s]``
    (the spectrum of the filtered signal subsampled by s).  Triton on CUDA, else the
    reference.
    """
    _check_complex("x_hat", x_hat, "(..., N)")
    if x_hat.dim() < 1:
        raise ValueError("x_hat must have shape (..., N), got a 0-d tensor")
    N = x_hat.shape[-1]
    _check_tensor("filters", filters, f"(K, {N})")
    if filters.dim() != 2 or filters.shape[1] != N:
        raise ValueError(f"filters must have shape (K, {N}) (K filters over the N={N} bins "
                         f"of x_hat), got {tuple(filters.shape)}")
    if filters.is_complex():
        _check_complex("filters", filters, f"(K, {N})")
        if filters.dtype != x_hat.dtype:
            raise ValueError(f"complex filters must have x_hat's dtype {x_hat.dtype}, "
                             f"got {filters.dtype}")
    else:
        _check_real("filters", filters, f"(K, {N})", _real_dtype(x_hat))
    _check_device(x_hat, filters=filters)
    s = _check_int("factor", factor, 1)
    if N % s:
        raise ValueError(f"factor must divide N={N} (the last axis of x_hat), got {s}")
    K = filters.shape[0]
    if band is not None:
        band = _band_tensors(band, K, N, x_hat.device)
    name = _select("filter_periodize", x_hat, backend, empty=x_hat.numel() * K == 0)
    if name != "triton":
        return reference.filter_periodize(x_hat, filters, s, band)
    if band is None:
        start = torch.zeros(K, dtype=torch.long, device=x_hat.device)
        length = torch.full((K,), N, dtype=torch.long, device=x_hat.device)
    else:
        start, length = band
    lead = x_hat.shape[:-1]
    out = _triton_ops().filter_periodize(x_hat.reshape(-1, N), filters, s, start, length)
    return out.reshape(lead + out.shape[1:])


def band_fold(x_half: torch.Tensor, index: torch.Tensor, window: torch.Tensor, M: int,
              *, backend: Optional[str] = None) -> torch.Tensor:
    """Band-limited Fourier filtering and periodization of real signals.

    x_half: complex (..., nh), one-sided spectra (``torch.fft.rfft``); index: long
    (*F, m * M), positions in x_half (in [0, nh), not checked) of the bins of each
    filter's m blocks of M bins; window: real (*F, m * M, 2) of x_half's precision, the
    filter on those bins as (h, h), or (h, -h) for conjugated (negative-frequency) bins.
    Returns complex (..., *F, M): sum over the m blocks of window * x_half[index]
    (componentwise).  Triton on CUDA, else the reference (a gather).
    """
    _check_complex("x_half", x_half, "(..., nh)")
    if x_half.dim() < 1:
        raise ValueError("x_half must have shape (..., nh), got a 0-d tensor")
    _check_tensor("index", index, "(*F, m * M)")
    if index.dtype != torch.long or index.dim() < 1:
        raise ValueError(f"index must be a long tensor (*F, m * M), got {index.dtype} "
                         f"of shape {tuple(index.shape)}")
    M = _check_int("M", M, 1)
    L = index.shape[-1]
    if L % M or L == 0:
        raise ValueError(f"index must have shape (*F, m * M) with M={M}, got "
                         f"{tuple(index.shape)} (last axis not a positive multiple of M)")
    _check_real("window", window, f"{tuple(index.shape) + (2,)}", _real_dtype(x_half))
    if window.shape != index.shape + (2,):
        raise ValueError(f"window must have shape {tuple(index.shape) + (2,)} (index's "
                         f"shape + (2,)), got {tuple(window.shape)}")
    _check_device(x_half, index=index, window=window)
    name = _select("band_fold", x_half, backend, empty=x_half.numel() * index.numel() == 0)
    if name != "triton":
        return reference.band_fold(x_half, index, window, M)
    lead, F_shape = x_half.shape[:-1], index.shape[:-1]
    out = _triton_ops().band_fold(x_half.reshape(-1, x_half.shape[-1]),
                                  index.reshape(-1, L).contiguous(),
                                  window.reshape(-1, L, 2).contiguous(), M)
    return out.reshape(lead + F_shape + (M,))


def modulus(z: torch.Tensor, log1p_eps: Optional[float] = None, *,
            backend: Optional[str] = None) -> torch.Tensor:
    """Stable complex modulus ``u = sqrt(|z|^2 + 1e-24)`` (``|z| + 1e-12`` to within
    1e-12; real, z's shape), or ``log1p(u / log1p_eps)`` with ``log1p_eps > 0``.
    Gradient ``z / u`` (times ``1 / (log1p_eps + u)``): zero at z = 0.  Triton on CUDA,
    numba when asked for, else the reference."""
    _check_complex("z", z, "(...)")
    if log1p_eps is not None:
        if isinstance(log1p_eps, bool) or not isinstance(log1p_eps, numbers.Real) \
                or not log1p_eps > 0:
            raise ValueError(f"log1p_eps must be None or a number > 0, got {log1p_eps!r}")
        log1p_eps = float(log1p_eps)
    name = _select("modulus", z, backend, empty=z.numel() == 0)
    if name == "triton":
        return _triton_ops().modulus(z, log1p_eps)
    if name == "numba":
        return _numba_ops().modulus(z, log1p_eps)
    return reference.modulus(z, log1p_eps)


def modulus_average(Y: torch.Tensor, G: torch.Tensor, A: Optional[torch.Tensor] = None, *,
                    plan: Optional[AveragePlan] = None, backend: Optional[str] = None
                    ) -> torch.Tensor:
    """Frequential stage of a JTFS path: ``|G @ Y| @ A``.

    Y: (..., n, L), complex or real (cast to complex); G: complex (R, n) of Y's
    precision, a dense operator on the short axis (frequential wavelet + subsampling);
    A: real (L, M) of Y's precision (temporal averaging), or None; or instead of A,
    ``plan``: an :class:`AveragePlan` of it (:func:`average_plan`: A cut into time chunks
    with each chunk's band of nonzero columns, found once; a constant, no gradient).
    Returns real (..., R, M), or (..., R, L) without A; the modulus is the reference's.

    CPU path (:func:`kernels.cpu_ops.modulus_average`): by time chunks, multiplying only
    each chunk's band of A (the plan's, else one made from A at every call, exact zeros
    only: zero A below a threshold first, or pass a plan); neither G Y nor the modulus is
    stored, backward recomputes them.  Triton: one kernel, dense A (``plan.dense()``).
    Y may have any strides: an (n, B, L) tensor transposed to (B, n, L) is read in place
    by the CPU path.
    """
    _check_tensor("Y", Y, "(..., n, L)")
    if Y.dim() < 2:
        raise ValueError(f"Y must have shape (..., n, L), got {tuple(Y.shape)}")
    if Y.dtype not in (torch.float32, torch.float64, torch.complex64, torch.complex128):
        raise ValueError(f"Y must be float32/64 or complex64/128 (..., n, L), got {Y.dtype}")
    n, L = Y.shape[-2:]
    _check_complex("G", G, f"(R, {n})")
    if G.dim() != 2 or G.shape[1] != n:
        raise ValueError(f"G must have shape (R, {n}) (an operator on the n={n} axis of Y), "
                         f"got {tuple(G.shape)}")
    if G.dtype != _complex_dtype(Y):
        raise ValueError(f"G must be {_complex_dtype(Y)} to match Y's precision, "
                         f"got {G.dtype}")
    if A is not None:
        if plan is not None:
            raise ValueError("give the averaging operator as A or as plan, not both")
        _check_real("A", A, f"({L}, M)", _real_dtype(Y))
        if A.dim() != 2 or A.shape[0] != L:
            raise ValueError(f"A must have shape ({L}, M) (an operator on the L={L} axis of "
                             f"Y), got {tuple(A.shape)}")
    if plan is not None:
        if not isinstance(plan, AveragePlan):
            raise TypeError(f"plan must be a kernels.AveragePlan (from kernels.average_plan), "
                            f"got {type(plan).__name__}")
        if plan.shape[0] != L:
            raise ValueError(f"plan must be of an operator ({L}, M) on the L={L} axis of Y, "
                             f"got one of shape {plan.shape}")
        if plan.dtype != _real_dtype(Y):
            raise ValueError(f"plan must be {_real_dtype(Y)} to match Y's precision, "
                             f"got {plan.dtype}")
        if plan.device != Y.device:
            raise ValueError(f"plan is on {plan.device}, expected {Y.device} like the input")
    _check_device(Y, G=G, A=A)
    if not Y.is_complex():
        Y = Y.to(G.dtype)
    M = A.shape[1] if A is not None else plan.shape[1] if plan is not None else L
    name = _select("modulus_average", Y, backend, empty=Y.numel() * G.shape[0] * M == 0)
    lead = Y.shape[:-2]
    if name == "cpu":
        out = cpu_ops.modulus_average(Y.reshape((-1, n, L)).resolve_conj(), G, A, plan)
    else:
        if plan is not None:
            A = plan.dense()
        if name == "triton":
            out = _triton_ops().modulus_average(Y.reshape((-1, n, L)), G, A)
        else:
            return reference.modulus_average(Y, G, A)
    return out if len(lead) == 1 else out.reshape(lead + out.shape[1:])


def band_modulus_rfft(X: torch.Tensor,
                      chunks: Sequence[Tuple[Union[torch.Tensor, Sequence[Sequence[int]]],
                                             torch.Tensor]], *,
                      backend: Optional[str] = None) -> Tuple[torch.Tensor, ...]:
    """First order of a filter bank, ``rfft(modulus(ifft(Y_k)))`` with
    ``Y_k = sum_j X[block b_kj] * h_kj`` (band-limited filtering + subsampling).

    X: complex (..., N), full spectra (``torch.fft.fft``) of real signals.  ``chunks``:
    pairs ``(blocks, window)``, each a few filters with the same output length M (M
    divides N): blocks, integers (K, m) (a long tensor, best on X's device, or nested
    sequences), the indices b in [0, N / M) of the m >= 1 blocks of M consecutive bins of
    X (b M .. b M + M - 1) holding filter k's band; window: real (K, m, M, 2) of X's
    precision, the filter on those bins as pairs (h, h), including any 1/k of a mean over
    the periods.  Returns one complex (K, ..., M // 2 + 1) per chunk (filters first).

    CPU path (:func:`kernels.cpu_ops.band_modulus_rfft`): fused multiply-adds block by
    block, a few filters at a time (keep chunks small, a few MB of (K, B, M)), one
    gradient buffer for all chunks; no gradient for the windows (a window that requires
    grad sends the call to the reference).  Triton: ``band_fold`` + ``torch.fft.ifft`` +
    ``modulus`` kernels + ``torch.fft.rfft`` (:func:`kernels.reference.band_modulus_rfft`
    with Triton ops).
    """
    _check_complex("X", X, "(..., N)")
    if X.dim() < 1:
        raise ValueError("X must have shape (..., N), got a 0-d tensor")
    N = X.shape[-1]
    if not isinstance(chunks, (tuple, list)):
        raise ValueError(f"chunks must be a list of (blocks, window) pairs, "
                         f"got {type(chunks).__name__}")
    checked = []
    for i, chunk in enumerate(chunks):
        if not (isinstance(chunk, (tuple, list)) and len(chunk) == 2):
            raise ValueError(f"chunks[{i}] must be a pair (blocks, window), got "
                             f"{type(chunk).__name__}"
                             + (f" of length {len(chunk)}" if isinstance(chunk, (tuple, list))
                                else ""))
        blocks, window = chunk
        _check_real(f"chunks[{i}] window", window, "(K, m, M, 2)", _real_dtype(X))
        if window.dim() != 4 or window.shape[-1] != 2 or window.shape[1] < 1:
            raise ValueError(f"chunks[{i}] window must have shape (K, m, M, 2) with m >= 1, "
                             f"got {tuple(window.shape)}")
        K, m, M = window.shape[:3]
        if M < 1 or N % M:
            raise ValueError(f"chunks[{i}] window: the block length M={M} must divide N={N} "
                             "(the last axis of X)")
        blocks = torch.as_tensor(blocks, device=window.device)
        if blocks.dtype.is_floating_point or blocks.dtype.is_complex \
                or blocks.dtype == torch.bool:
            raise ValueError(f"chunks[{i}] blocks must hold integers, got {blocks.dtype}")
        if blocks.shape != (K, m):
            raise ValueError(f"chunks[{i}] blocks must have shape ({K}, {m}) (the window's "
                             f"first two axes), got {tuple(blocks.shape)}")
        blocks = blocks.to(torch.long)
        if not blocks.is_cuda and blocks.numel() and \
                (int(blocks.min()) < 0 or int(blocks.max()) >= N // M):
            raise ValueError(f"chunks[{i}] blocks must be in [0, {N // M}) (blocks of {M} "
                             f"bins of N={N}), got {blocks.tolist()}")
        _check_device(X, **{f"chunks[{i}] window": window, f"chunks[{i}] blocks": blocks})
        checked.append((blocks, window))
    lead = X.shape[:-1]
    X2 = X.reshape(-1, N).resolve_conj().contiguous()
    name = _select("band_modulus_rfft", X, backend,
                   empty=X.numel() == 0 or any(w.shape[0] == 0 for _, w in checked))
    if name == "cpu" and torch.is_grad_enabled() and any(w.requires_grad for _, w in checked):
        name = "reference"
    if not checked:
        return ()
    if name == "cpu":
        outs = cpu_ops.band_modulus_rfft(X2, [b for b, _ in checked],
                                         [w.contiguous() for _, w in checked])
    elif name == "triton":
        T = _triton_ops()
        outs = reference.band_modulus_rfft(
            X2, checked, fold=lambda x, i, w, M: T.band_fold(x, i.contiguous(),
                                                             w.contiguous(), M),
            mod=T.modulus)
    else:
        outs = reference.band_modulus_rfft(X2, checked)
    if len(lead) == 1:
        return tuple(outs)
    return tuple(o.reshape(o.shape[:1] + lead + o.shape[-1:]) for o in outs)


def path_distance(x: torch.Tensor, target: torch.Tensor, p: float = 2.0,
                  reduction: str = "mean", *, backend: Optional[str] = None
                  ) -> torch.Tensor:
    """Per-item distance ``||target - x||_p`` over the last two axes (freq, time) of real
    (..., F, T) tensors, reduced over the leading axes by ``reduction``: 'mean' (scalar,
    SCRAPL's path distance), 'sum', or 'none' (shape (...)).  p > 0 (``inf``: the largest
    difference).  Gradient like ``torch.linalg.vector_norm`` (zero where the distance is
    0).  Triton on CUDA for finite p >= 1, else the reference (``vector_norm``)."""
    _check_real("x", x, "(..., F, T)")
    if x.dim() < 2:
        raise ValueError(f"x must have shape (..., F, T), got {tuple(x.shape)}")
    _check_real("target", target, f"{tuple(x.shape)}", x.dtype)
    if target.shape != x.shape:
        raise ValueError(f"target must have x's shape {tuple(x.shape)}, "
                         f"got {tuple(target.shape)}")
    _check_device(x, target=target)
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not p > 0:
        raise ValueError(f"p must be a number > 0 (or inf), got {p!r}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    name = _select("path_distance", x, backend, empty=x.numel() == 0)
    if name != "triton" or not 1 <= p < math.inf:
        return reference.path_distance(x, target, float(p), reduction)
    lead = x.shape[:-2]
    d = _triton_ops().path_distance(x.reshape(-1, x.shape[-2] * x.shape[-1]),
                                    target.reshape(-1, x.shape[-2] * x.shape[-1]),
                                    float(p), "none")
    d = d.reshape(lead)
    if reduction == "mean":
        return d.mean()
    if reduction == "sum":
        return d.sum()
    return d
