"""The kernels package: torch reference, dispatcher, numba kernels, argument checks.

The Triton kernels are tested in ``tests/test_kernels_triton.py``, which needs triton's
interpreter switched on before triton is imported; :func:`test_triton_kernels_under_interpreter`
runs it in a subprocess with ``TRITON_INTERPRET=1`` (about 15 s).
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
from kernels import dispatch, reference

ROOT = Path(__file__).resolve().parents[1]
HAS_NUMBA = dispatch._available("numba")
HAS_TRITON = dispatch._available("triton")


def _randn(*shape, dtype=torch.float32, seed=0):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


# -------------------------------------------------------------------------- reference
def test_reference_matches_scrapl_primitives():
    P = pytest.importorskip("scrapl.primitives")
    x = _randn(2, 24, dtype=torch.complex64)
    h = _randn(3, 24)
    torch.testing.assert_close(reference.filter_periodize(x, h, 4),
                               P.subsample_fourier(P.cdgmm(x, h), 4))
    z = _randn(5, dtype=torch.complex64)
    z[0] = 0
    torch.testing.assert_close(reference.modulus(z), P.modulus(z))
    if hasattr(P, "band_fold"):
        index = torch.tensor([[0, 3, 5, 5, 2, 1], [6, 6, 0, 1, 2, 3]])
        window = _randn(2, 6, 2, seed=1)
        x_half = _randn(4, 7, dtype=torch.complex64, seed=2)
        torch.testing.assert_close(reference.band_fold(x_half, index, window, 3),
                                   P.band_fold(x_half, index, window, 3))


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
        (g,) = torch.autograd.grad(reference.modulus(z, eps).sum(), z)
        assert torch.equal(g, torch.zeros_like(g))


def _banded_average(L, M, dtype=torch.float32):
    """A (L, M) nonzero only near the diagonal l M / L (cyclic): a banded average."""
    l = torch.arange(L).reshape(-1, 1) * M / L
    d = torch.remainder(torch.arange(M).reshape(1, -1) - l + M / 2, M) - M / 2
    return torch.where(d.abs() < 1.5, torch.exp(-d ** 2), torch.zeros(())).to(dtype)


@pytest.mark.parametrize("banded", [True, False])
def test_chunked_modulus_average_equals_definition(banded, monkeypatch):
    monkeypatch.setattr(reference, "CHUNK_ELEMENTS", 1)       # 256-row chunks: 3 of them
    Y = _randn(2, 4, 600, dtype=torch.complex128)
    G = _randn(3, 4, dtype=torch.complex128, seed=1)
    A = _banded_average(600, 8, torch.float64) if banded else _randn(600, 8, seed=2,
                                                                     dtype=torch.float64)
    W = _randn(2, 3, 8, dtype=torch.float64, seed=3)
    results = []
    for fn in (reference.modulus_average_chunked, reference.modulus_average):
        inputs = [t.clone().requires_grad_() for t in (Y, G, A)]
        S = fn(*inputs)
        results.append([S.detach()] + list(torch.autograd.grad((S * W).sum(), inputs)))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b)
    small = [t[..., :300].clone() if i == 0 else t for i, t in enumerate((Y, G, A[:300]))]
    small = [t.detach().requires_grad_() for t in small]
    assert gradcheck(reference.modulus_average_chunked, small, fast_mode=True)


def test_dispatch_modulus_average_cpu_runs_chunked():
    Y = _randn(2, 3, 4, 50, dtype=torch.complex64).requires_grad_()
    G = _randn(5, 4, dtype=torch.complex64, seed=1)
    A = _banded_average(50, 5)
    S = kernels.modulus_average(Y, G, A, backend="reference")
    assert S.shape == (2, 3, 5, 5)
    torch.testing.assert_close(S, reference.modulus_average(Y, G, A), rtol=1e-5, atol=1e-5)
    names = {type(f).__name__ for f, _ in S.grad_fn.next_functions if f is not None}
    assert "_ModulusAverageChunkedBackward" in names | {type(S.grad_fn).__name__}


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
        expected = "numba" if op in kernels.NUMBA_OPS and HAS_NUMBA else "reference"
        assert kernels.backend_name(z, op) == expected


def test_env_override_and_argument(monkeypatch):
    z = _randn(3, dtype=torch.complex64)
    monkeypatch.setenv(kernels.ENV_VAR, "reference")
    assert kernels.backend_name(z, "modulus") == "reference"
    if HAS_NUMBA:
        assert kernels.backend_name(z, "modulus", backend="numba") == "numba"
        monkeypatch.setenv(kernels.ENV_VAR, " NUMBA ")   # case and spaces ignored
        assert kernels.backend_name(z, "modulus") == "numba"
        assert kernels.backend_name(z, "filter_periodize") == "reference"   # no numba kernel
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
    monkeypatch.setenv(kernels.ENV_VAR, "reference")
    assert type(kernels.modulus(z).grad_fn)._forward_cls is reference._StableModulus


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
    "p": (lambda: kernels.path_distance(_randn(2, 3, 4), _randn(2, 3, 4), 0.5),
          "p must be a finite number >= 1"),
    "p inf": (lambda: kernels.path_distance(_randn(2, 3, 4), _randn(2, 3, 4), float("inf")),
              "p must be a finite number >= 1"),
    "reduction": (lambda: kernels.path_distance(_randn(2, 3, 4), _randn(2, 3, 4),
                                                reduction="max"),
                  "reduction must be 'mean', 'sum' or 'none'"),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_bad_arguments_raise_value_error(case, monkeypatch):
    monkeypatch.setenv(kernels.ENV_VAR, "reference")
    call, match = BAD_CALLS[case]
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------- Triton (interpreter)
@pytest.mark.skipif(not HAS_TRITON, reason="triton not installed")
def test_triton_kernels_under_interpreter():
    """Run tests/test_kernels_triton.py in a fresh process with TRITON_INTERPRET=1
    (triton's interpreter must be on before triton is imported; a subprocess keeps it out
    of every other test of the session)."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("interpreter active here: tests/test_kernels_triton.py runs directly")
    env = dict(os.environ, TRITON_INTERPRET="1")
    env.pop(kernels.ENV_VAR, None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(ROOT / "tests" / "test_kernels_triton.py")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout.splitlines()[-1]
