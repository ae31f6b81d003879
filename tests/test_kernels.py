"""The kernels package: torch reference, fused CPU ops, dispatcher, numba kernels,
argument checks, double and batched backward passes.

The Triton kernels are tested in ``tests/test_kernels_triton.py`` (and scrapl's JTFS
through them in ``tests/test_jtfs_triton.py``), which need triton's interpreter switched
on before triton is imported; :func:`test_triton_kernels_under_interpreter` runs each in
a subprocess with ``TRITON_INTERPRET=1`` (about 15 s and 10 s).
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.autograd import gradcheck

import kernels
from kernels import cpu_ops, dispatch, reference

ROOT = Path(__file__).resolve().parents[1]
HAS_NUMBA = dispatch._available("numba")
HAS_TRITON = dispatch._available("triton")


def _randn(*shape, dtype=torch.float32, seed=0):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


# -------------------------------------------------------------------------- reference
def test_reference_band_fold_equals_dense_filtering():
    """band_fold of a one-sided spectrum == filter_periodize of the full spectrum (sum over
    the periods) for a filter given by its blocks, conjugated bins above N/2."""
    N, M = 24, 6
    x = _randn(3, N, dtype=torch.float64)
    X, x_half = torch.fft.fft(x), torch.fft.rfft(x)
    h = torch.zeros(N, dtype=torch.float64)
    blocks = torch.tensor([1, 3])
    f = (blocks[:, None] * M + torch.arange(M)).reshape(-1)
    h[f] = _randn(f.numel(), dtype=torch.float64, seed=1)
    neg = f > N // 2
    index = torch.where(neg, N - f, f)
    window = torch.stack([h[f], torch.where(neg, -h[f], h[f])], dim=-1)
    torch.testing.assert_close(reference.band_fold(x_half, index, window, M),
                               N // M * reference.filter_periodize(X, h[None], N // M)[:, 0])


def test_reference_band_modulus_rfft_equals_dense_definition():
    """rfft(|ifft(periodized filtering)|) of a filter bank given by blocks and windows."""
    B, N, M = 2, 32, 8
    X = _randn(B, N, dtype=torch.complex128)
    H = torch.zeros(3, N, dtype=torch.float64)
    blocks = torch.tensor([[0, 1], [1, 2], [3, 0]])
    for k, bl in enumerate(blocks.tolist()):
        for b in bl:
            H[k, b * M:(b + 1) * M] = _randn(M, dtype=torch.float64, seed=k + 3 * b)
    window = H.reshape(3, N // M, M)[torch.arange(3)[:, None], blocks] / (N // M)
    window = torch.stack([window, window], dim=-1)
    (out,) = reference.band_modulus_rfft(X, [(blocks, window)])
    dense = reference.filter_periodize(X, H, N // M)                     # (B, K, M)
    expected = torch.fft.rfft(reference.modulus(torch.fft.ifft(dense)), dim=-1)
    torch.testing.assert_close(out, expected.transpose(0, 1))


def test_reference_modulus_is_stable_abs():
    z = _randn(6, dtype=torch.complex128)
    z[0] = 0
    u = reference.modulus(z)
    torch.testing.assert_close(u, torch.sqrt(z.abs() ** 2 + reference.MODULUS_EPS ** 2))
    assert u[0].item() == reference.MODULUS_EPS
    torch.testing.assert_close(u, z.abs() + reference.MODULUS_EPS, rtol=1e-15, atol=1e-12)


def test_reference_band_equals_dense_on_zeroed_filters():
    N = 20
    band = ([17, 4], [6, 20])
    h = _randn(2, N) * reference.band_mask(N, band)
    x = _randn(3, N, dtype=torch.complex64, seed=1)
    torch.testing.assert_close(reference.filter_periodize(x, h, 5, band),
                               reference.filter_periodize(x, h, 5))


def test_filter_band_finds_cyclic_bands():
    N = 16
    h = torch.zeros(4, N)
    h[0, 3:7] = 1                       # plain band
    h[1, [14, 15, 0, 1]] = 1            # wraps past N
    h[2] = 1                            # full
    h[3, 5] = 1e-9                      # one bin (the threshold is relative)
    start, length = kernels.filter_band(h)
    assert start.tolist() == [3, 14, start[2].item(), 5]
    assert length.tolist() == [4, 4, 16, 1]
    assert kernels.filter_band(torch.zeros(1, N))[1].tolist() == [0]
    # the band covers every significant bin: band-limited == dense
    x = _randn(2, N, dtype=torch.complex64)
    torch.testing.assert_close(reference.filter_periodize(x, h, 2, (start, length)),
                               reference.filter_periodize(x, h, 2))


def test_reference_modulus_gradient_is_zero_at_zero():
    z = torch.zeros(3, dtype=torch.complex128, requires_grad=True)
    for eps in (None, 1e-3):
        (g,) = torch.autograd.grad(reference.modulus(z, eps).sum(), z, create_graph=True)
        assert torch.equal(g, torch.zeros_like(g))
        (gg,) = torch.autograd.grad(g.real.sum(), z)          # second order: finite too
        assert torch.isfinite(torch.view_as_real(gg)).all()


def _banded_average(L, M, dtype=torch.float32):
    """A (L, M) nonzero only near the diagonal l M / L (cyclic): a banded average."""
    l = torch.arange(L).reshape(-1, 1) * M / L
    d = torch.remainder(torch.arange(M).reshape(1, -1) - l + M / 2, M) - M / 2
    return torch.where(d.abs() < 1.5, torch.exp(-d ** 2), torch.zeros(())).to(dtype)


# ------------------------------------------------------------------------ fused CPU
@pytest.mark.parametrize("banded", [True, False])
def test_chunked_modulus_average_equals_definition(banded, monkeypatch):
    monkeypatch.setattr(cpu_ops, "CHUNK_ELEMENTS", 1)         # 64-step chunks: 10 of them
    Y = _randn(2, 4, 600, dtype=torch.complex128)
    G = _randn(3, 4, dtype=torch.complex128, seed=1)
    A = _banded_average(600, 8, torch.float64) if banded else _randn(600, 8, seed=2,
                                                                     dtype=torch.float64)
    W = _randn(2, 3, 8, dtype=torch.float64, seed=3)
    results = []
    for fn in (lambda y, g, a: cpu_ops.modulus_average(y, g, a, None),
               reference.modulus_average):
        inputs = [t.clone().requires_grad_() for t in (Y, G, A)]
        S = fn(*inputs)
        results.append([S.detach()] + list(torch.autograd.grad((S * W).sum(), inputs)))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b)
    small = [t[..., :300].clone() if i == 0 else t for i, t in enumerate((Y, G, A[:300]))]
    small = [t.detach().requires_grad_() for t in small]
    assert gradcheck(lambda y, g, a: cpu_ops.modulus_average(y, g, a, None), small,
                     fast_mode=True)


def test_dispatch_modulus_average_cpu_runs_chunked(monkeypatch):
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    Y = _randn(2, 3, 4, 50, dtype=torch.complex64).requires_grad_()
    G = _randn(5, 4, dtype=torch.complex64, seed=1)
    A = _banded_average(50, 5)
    for backend in (None, "cpu", "numba"):
        S = kernels.modulus_average(Y, G, A, backend=backend)
        assert S.shape == (2, 3, 5, 5)
        torch.testing.assert_close(S, reference.modulus_average(Y, G, A), rtol=1e-5,
                                   atol=1e-5)
        names = {type(f).__name__ for f, _ in S.grad_fn.next_functions if f is not None}
        assert "_ModulusAverageBackward" in names | {type(S.grad_fn).__name__}
    S = kernels.modulus_average(Y, G, A, backend="reference")        # plain definition
    assert "_ModulusAverage" not in type(S.grad_fn).__name__


def test_average_plan_bands_and_dense():
    A = _banded_average(40, 8, torch.float64)
    A[16:24] = 0                                    # a chunk with no column: skipped
    plan = kernels.average_plan(A, 8)
    assert plan.shape == (40, 8) and len(plan.chunks) == 5
    assert [c[:2] for c in plan.chunks] == [(0, 8), (8, 16), (16, 24), (24, 32), (32, 40)]
    assert plan.chunks[2][3].shape == (8, 0)
    assert [Ac.shape[1] for _, _, _, Ac in plan.chunks] == [4, 4, 0, 4, 5]
    assert plan.chunks[0][2] == 7                   # rows 0-7: columns 7, 0, 1, 2 (cyclic)
    torch.testing.assert_close(plan.dense(), A, rtol=0, atol=0)
    assert plan.dense() is plan.dense()             # built once
    # a threshold drops the small weights, from the plan and from its dense form
    dropped = kernels.average_plan(A, 8, threshold=0.5)
    kept = A.abs() > 0.5 * A.abs().max()
    torch.testing.assert_close(dropped.dense() * kept, A * kept, rtol=0, atol=0)
    assert dropped.dense()[~kept].abs().max() < A.abs().max()
    assert kernels.chunk_length(10 ** 6, 2 ** 16) == 64
    assert kernels.chunk_length(10 ** 6, 2 ** 10) == 1024
    assert kernels.chunk_length(50, 2) == 50


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_modulus_average_plan_equals_operator(backend):
    Y = _randn(2, 4, 3, 64, dtype=torch.complex128).requires_grad_()
    G = _randn(5, 3, dtype=torch.complex128, seed=1)
    A = _banded_average(64, 8, torch.float64)
    plan = kernels.average_plan(A, 16)
    S = kernels.modulus_average(Y, G, plan=plan, backend=backend)
    ref = reference.modulus_average(Y, G, A)
    torch.testing.assert_close(S, ref)
    W = _randn(*S.shape, dtype=torch.float64, seed=2)
    (g,) = torch.autograd.grad((S * W).sum(), Y)
    (g_ref,) = torch.autograd.grad((ref * W).sum(), Y)
    torch.testing.assert_close(g, g_ref)


def test_band_modulus_rfft_cpu_equals_reference():
    X = _randn(3, 2, 32, dtype=torch.complex128).requires_grad_()
    w1 = torch.rand(2, 1, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    w2 = torch.rand(1, 2, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    chunks = [([[0], [1]], torch.stack([w1, w1], -1)),
              (torch.tensor([[0, 3]]), torch.stack([w2, -w2], -1))]
    outs = {b: kernels.band_modulus_rfft(X, chunks, backend=b) for b in ("cpu", "reference")}
    assert [tuple(o.shape) for o in outs["cpu"]] == [(2, 3, 2, 9), (1, 3, 2, 5)]
    W = [_randn(*o.shape, dtype=torch.complex128, seed=i) for i, o in enumerate(outs["cpu"])]
    grads = {}
    for b, out in outs.items():
        for a, r in zip(out, outs["reference"]):
            torch.testing.assert_close(a, r)
        loss = sum((torch.view_as_real(o) * torch.view_as_real(w)).sum()
                   for o, w in zip(out, W))
        grads[b] = torch.autograd.grad(loss, X)[0]
    torch.testing.assert_close(grads["cpu"], grads["reference"])
    # a window that requires grad goes to the reference (the CPU op has no window gradient)
    w = chunks[1][1].clone().requires_grad_()
    (out,) = kernels.band_modulus_rfft(X, [(chunks[1][0], w)], backend="cpu")
    assert "_BandModulusRfft" not in type(out.grad_fn).__name__
    assert kernels.band_modulus_rfft(X, []) == ()


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
def test_numba_modulus_double_and_batched_backward():
    """The numba Function differentiates the reference under create_graph and vmap."""
    z = _randn(3, 4, dtype=torch.complex128).requires_grad_()
    assert torch.autograd.gradgradcheck(lambda a: kernels.modulus(a, 1e-2, backend="numba"),
                                        (z,))
    u = kernels.modulus(z, backend="numba").reshape(-1)
    V = _randn(2, u.numel(), dtype=torch.float64, seed=4)
    (batched,) = torch.autograd.grad(u, z, V, retain_graph=True, is_grads_batched=True)
    for i in range(2):
        torch.testing.assert_close(batched[i], torch.autograd.grad(u, z, V[i],
                                                                   retain_graph=True)[0])


def test_kernels_do_not_import_scrapl():
    """Data flows kernels -> scrapl: nothing in kernels/ imports scrapl (or anything above)."""
    for path in (ROOT / "kernels").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in ("scrapl", "synths", "matching"), (path, name)


# ------------------------------------------------------------------------- dispatcher
def test_auto_on_cpu(monkeypatch):
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    z = _randn(3, dtype=torch.complex64)
    for op in kernels.OPS:
        expected = "cpu" if op in kernels.CPU_OPS else "reference"     # numba: when asked
        assert kernels.backend_name(z, op) == expected
        assert kernels.backend_name(z, op, backend="cpu") == (
            "cpu" if op in kernels.CPU_OPS else "reference")


def test_env_override_and_argument(monkeypatch):
    z = _randn(3, dtype=torch.complex64)
    monkeypatch.setenv(kernels.ENV_VAR, "reference")
    assert kernels.backend_name(z, "modulus") == "reference"
    if HAS_NUMBA:
        assert kernels.backend_name(z, "modulus", backend="numba") == "numba"
        monkeypatch.setenv(kernels.ENV_VAR, " NUMBA ")   # case and spaces ignored
        assert kernels.backend_name(z, "modulus") == "numba"
        assert kernels.backend_name(z, "filter_periodize") == "reference"   # no numba kernel
        assert kernels.backend_name(z, "band_modulus_rfft") == "cpu"        # the CPU path
        assert kernels.backend_name(z, "modulus", backend="reference") == "reference"
    monkeypatch.setenv(kernels.ENV_VAR, "fast")
    with pytest.raises(ValueError, match="SYNTHMATCH_KERNELS must be one of"):
        kernels.modulus(z)
    with pytest.raises(ValueError, match="backend must be one of"):
        kernels.modulus(z, backend="cuda")
    monkeypatch.setenv(kernels.ENV_VAR, "")
    assert kernels.backend_name(z, "path_distance") == "reference"
    with pytest.raises(ValueError, match="op must be one of"):
        kernels.backend_name(z, "fft")


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
def test_dispatch_runs_the_selected_backend(monkeypatch):
    z = _randn(4, dtype=torch.complex64).requires_grad_()
    monkeypatch.setenv(kernels.ENV_VAR, "numba")
    assert "numba_ops" in type(kernels.modulus(z).grad_fn)._forward_cls.__module__
    monkeypatch.setenv(kernels.ENV_VAR, "reference")          # plain torch: no Function
    assert getattr(type(kernels.modulus(z).grad_fn), "_forward_cls", None) is None


@pytest.mark.skipif(not HAS_TRITON, reason="triton not installed")
def test_forced_triton_on_cpu_needs_the_interpreter():
    if dispatch._triton_ops().INTERPRETED:
        pytest.skip("triton's interpreter is active in this process")
    z = _randn(3, dtype=torch.complex64)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        kernels.modulus(z, backend="triton")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        kernels.backend_name(z, "filter_periodize", backend="triton")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_on_cuda(monkeypatch):
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    z = torch.zeros(3, dtype=torch.complex64, device="cuda")
    assert kernels.backend_name(z) == ("triton" if HAS_TRITON else "reference")
    assert kernels.backend_name(z.to(torch.complex128)) == "reference"
    with pytest.raises(RuntimeError, match="CPU tensors only"):
        kernels.backend_name(z, backend="numba")
    with pytest.raises(RuntimeError, match="CPU tensors only"):
        kernels.backend_name(z, "modulus_average", backend="cpu")


# ------------------------------------------------------------------------------ numba
@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("log1p_eps", [None, 1e-3])
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_numba_modulus_matches_reference(dtype, log1p_eps):
    z = _randn(3, 7, dtype=dtype)
    z[0, :2] = 0
    outs, grads = [], []
    for backend in ("numba", "reference"):
        zz = z.clone().requires_grad_()
        u = kernels.modulus(zz, log1p_eps, backend=backend)
        (g,) = torch.autograd.grad((u * torch.arange(u.numel()).reshape(u.shape)).sum(), zz)
        outs.append(u.detach())
        grads.append(g)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == torch.complex64 else {}
    torch.testing.assert_close(outs[0], outs[1], **tol)
    torch.testing.assert_close(grads[0], grads[1], **tol)
    assert torch.equal(grads[0][0, :2], torch.zeros(2, dtype=dtype))


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
def test_numba_modulus_gradcheck_and_views():
    z = _randn(4, 3, dtype=torch.complex128).requires_grad_()
    assert gradcheck(lambda a: kernels.modulus(a, 1e-2, backend="numba"), (z,))
    view = z.detach().conj()[:, ::2]
    torch.testing.assert_close(kernels.modulus(view, backend="numba"), reference.modulus(view))


# ----------------------------------------------------------------------------- checks
C = torch.complex64
BAD_CALLS = {
    "x_hat real": (lambda: kernels.filter_periodize(_randn(2, 12), _randn(1, 12), 2),
                   "x_hat must be complex"),
    "filters N": (lambda: kernels.filter_periodize(_randn(2, 12, dtype=C), _randn(3, 10), 2),
                  r"filters must have shape \(K, 12\)"),
    "filters 1-d": (lambda: kernels.filter_periodize(_randn(2, 12, dtype=C), _randn(12), 2),
                    r"filters must have shape \(K, 12\)"),
    "filters dtype": (lambda: kernels.filter_periodize(
        _randn(2, 12, dtype=C), _randn(1, 12, dtype=torch.float64), 2),
        "filters must be real torch.float32"),
    "filters complex dtype": (lambda: kernels.filter_periodize(
        _randn(2, 12, dtype=C), _randn(1, 12, dtype=torch.complex128), 2),
        "complex filters must have x_hat's dtype"),
    "factor divides": (lambda: kernels.filter_periodize(_randn(2, 12, dtype=C),
                                                        _randn(1, 12), 5),
                       "factor must divide N=12"),
    "factor positive": (lambda: kernels.filter_periodize(_randn(2, 12, dtype=C),
                                                         _randn(1, 12), 0),
                        "factor must be an integer >= 1"),
    "band pair": (lambda: kernels.filter_periodize(_randn(2, 12, dtype=C), _randn(2, 12), 2,
                                                   band=[0, 1, 2]),
                  "band must be a pair"),
    "band shape": (lambda: kernels.filter_periodize(_randn(2, 12, dtype=C), _randn(2, 12), 2,
                                                    band=([0], [3])),
                   r"band start must have shape \(2,\)"),
    "band values": (lambda: kernels.filter_periodize(_randn(2, 12, dtype=C), _randn(2, 12),
                                                     2, band=([0, 12], [3, 3])),
                    r"band start must be in \[0, 12\)"),
    "band dtype": (lambda: kernels.filter_periodize(_randn(2, 12, dtype=C), _randn(2, 12), 2,
                                                    band=([0.0, 1.0], [3, 3])),
                   "band start must hold integers"),
    "index dtype": (lambda: kernels.band_fold(_randn(2, 9, dtype=C),
                                              torch.zeros(2, 6, dtype=torch.int32),
                                              _randn(2, 6, 2), 3),
                    "index must be a long tensor"),
    "index M": (lambda: kernels.band_fold(_randn(2, 9, dtype=C),
                                          torch.zeros(2, 6, dtype=torch.long),
                                          _randn(2, 6, 2), 4),
                r"index must have shape \(\*F, m \* M\) with M=4"),
    "window shape": (lambda: kernels.band_fold(_randn(2, 9, dtype=C),
                                               torch.zeros(2, 6, dtype=torch.long),
                                               _randn(2, 6), 3),
                     r"window must have shape \(2, 6, 2\)"),
    "z real": (lambda: kernels.modulus(_randn(3)), "z must be complex"),
    "log1p_eps": (lambda: kernels.modulus(_randn(3, dtype=C), 0.0),
                  "log1p_eps must be None or a number > 0"),
    "Y 1-d": (lambda: kernels.modulus_average(_randn(5, dtype=C), _randn(2, 5, dtype=C)),
              r"Y must have shape \(\.\.\., n, L\)"),
    "G n": (lambda: kernels.modulus_average(_randn(2, 3, 20, dtype=C), _randn(4, 5, dtype=C)),
            r"G must have shape \(R, 3\)"),
    "G dtype": (lambda: kernels.modulus_average(_randn(2, 3, 20, dtype=C),
                                                _randn(4, 3, dtype=torch.complex128)),
                "G must be torch.complex64"),
    "A L": (lambda: kernels.modulus_average(_randn(2, 3, 20, dtype=C), _randn(4, 3, dtype=C),
                                            _randn(19, 2)),
            r"A must have shape \(20, M\)"),
    "A complex": (lambda: kernels.modulus_average(_randn(2, 3, 20, dtype=C),
                                                  _randn(4, 3, dtype=C),
                                                  _randn(20, 2, dtype=C)),
                  "A must be real"),
    "x complex": (lambda: kernels.path_distance(_randn(2, 3, 4, dtype=C),
                                                _randn(2, 3, 4, dtype=C)),
                  "x must be real"),
    "x 1-d": (lambda: kernels.path_distance(_randn(4), _randn(4)),
              r"x must have shape \(\.\.\., F, T\)"),
    "target shape": (lambda: kernels.path_distance(_randn(2, 3, 4), _randn(2, 4, 3)),
                     r"target must have x's shape \(2, 3, 4\)"),
    "p": (lambda: kernels.path_distance(_randn(2, 3, 4), _randn(2, 3, 4), 0),
          r"p must be a number > 0"),
    "p nan": (lambda: kernels.path_distance(_randn(2, 3, 4), _randn(2, 3, 4), float("nan")),
              r"p must be a number > 0"),
    "A and plan": (lambda: kernels.modulus_average(
        _randn(2, 3, 20, dtype=C), _randn(4, 3, dtype=C), _randn(20, 2),
        plan=kernels.average_plan(_randn(20, 2), 8)), "as A or as plan, not both"),
    "plan L": (lambda: kernels.modulus_average(
        _randn(2, 3, 20, dtype=C), _randn(4, 3, dtype=C),
        plan=kernels.average_plan(_randn(19, 2), 8)),
        r"plan must be of an operator \(20, M\)"),
    "plan dtype": (lambda: kernels.modulus_average(
        _randn(2, 3, 20, dtype=C), _randn(4, 3, dtype=C),
        plan=kernels.average_plan(_randn(20, 2, dtype=torch.float64), 8)),
        "plan must be torch.float32"),
    "X real": (lambda: kernels.band_modulus_rfft(_randn(2, 16), [([[0]], _randn(1, 1, 8, 2))]),
               "X must be complex"),
    "chunks pair": (lambda: kernels.band_modulus_rfft(_randn(2, 16, dtype=C),
                                                      [(_randn(1, 1, 8, 2),)]),
                    r"chunks\[0\] must be a pair"),
    "chunks list": (lambda: kernels.band_modulus_rfft(_randn(2, 16, dtype=C),
                                                      _randn(1, 1, 8, 2)),
                    "chunks must be a list"),
    "chunk window shape": (lambda: kernels.band_modulus_rfft(_randn(2, 16, dtype=C),
                                                       [([[0]], _randn(1, 8, 2))]),
                     r"chunks\[0\] window must have shape \(K, m, M, 2\)"),
    "chunk window M": (lambda: kernels.band_modulus_rfft(_randn(2, 16, dtype=C),
                                                   [([[0]], _randn(1, 1, 6, 2))]),
                 "M=6 must divide N=16"),
    "chunk window dtype": (lambda: kernels.band_modulus_rfft(
        _randn(2, 16, dtype=C), [([[0]], _randn(1, 1, 8, 2, dtype=torch.float64))]),
        r"chunks\[0\] window must be real torch.float32"),
    "blocks shape": (lambda: kernels.band_modulus_rfft(_randn(2, 16, dtype=C),
                                                       [([[0, 1]], _randn(1, 1, 8, 2))]),
                     r"chunks\[0\] blocks must have shape \(1, 1\)"),
    "blocks range": (lambda: kernels.band_modulus_rfft(_randn(2, 16, dtype=C),
                                                       [([[2]], _randn(1, 1, 8, 2))]),
                     r"chunks\[0\] blocks must be in \[0, 2\)"),
    "blocks dtype": (lambda: kernels.band_modulus_rfft(_randn(2, 16, dtype=C),
                                                       [([[0.0]], _randn(1, 1, 8, 2))]),
                     r"chunks\[0\] blocks must hold integers"),
    "reduction": (lambda: kernels.path_distance(_randn(2, 3, 4), _randn(2, 3, 4),
                                                reduction="max"),
                  "reduction must be 'mean', 'sum' or 'none'"),
}


@pytest.mark.parametrize("backend", ["reference", "auto"])
@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_arguments_raise_value_error(case, backend, monkeypatch):
    monkeypatch.setenv(kernels.ENV_VAR, backend)
    call, match = BAD_CALLS[case]
    with pytest.raises(ValueError, match=match):
        call()


def test_plan_must_be_a_plan():
    with pytest.raises(TypeError, match="plan must be a kernels.AveragePlan"):
        kernels.modulus_average(_randn(2, 3, 20, dtype=C), _randn(4, 3, dtype=C),
                                plan=_randn(20, 2))


# --------------------------------------------------------------- Triton (interpreter)
@pytest.mark.skipif(not HAS_TRITON, reason="triton not installed")
@pytest.mark.parametrize("test_file", ["test_kernels_triton.py", "test_jtfs_triton.py"])
def test_triton_kernels_under_interpreter(test_file):
    """Run tests/test_kernels_triton.py (every Triton kernel vs the reference) and
    tests/test_jtfs_triton.py (scrapl's JTFS through the Triton backend vs the reference
    backend) in a fresh process with TRITON_INTERPRET=1 (triton's interpreter must be on
    before triton is imported; a subprocess keeps it out of every other test)."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip(f"interpreter active here: tests/{test_file} runs directly")
    env = dict(os.environ, TRITON_INTERPRET="1")
    env.pop(kernels.ENV_VAR, None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(ROOT / "tests" / test_file)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout.splitlines()[-1]
