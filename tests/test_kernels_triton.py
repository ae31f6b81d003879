"""Every Triton kernel of :mod:`kernels` against the torch reference, forward and backward.

Runs on CPU tensors under triton's interpreter, which must be switched on before triton
is imported: ``tests/test_kernels.py::test_triton_kernels_under_interpreter`` runs this
module in a subprocess with ``TRITON_INTERPRET=1`` (so a plain ``pytest`` covers it
without the interpreter leaking into other tests), or run it directly with
``TRITON_INTERPRET=1 python -m pytest tests/test_kernels_triton.py``.  On a CUDA machine
without the interpreter it runs on the GPU; elsewhere it is skipped.

Tolerances: float32 results differ from the reference only by summation order (a few to
a few hundred terms of size ~1), hence rtol = atol = 1e-5 for elementwise ops and 1e-4 for
the matmul-based modulus_average; gradients are also checked with ``gradcheck`` in
float64 (the interpreter runs float64; ``fast_mode`` checks random projections of the
Jacobian, which keeps the interpreter time low).
"""
from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

import kernels
from kernels import reference

triton_ops = pytest.importorskip("kernels.triton_ops")

if triton_ops.INTERPRETED:
    DEVICE = "cpu"
elif torch.cuda.is_available():
    DEVICE = "cuda"
else:
    pytest.skip("needs a GPU or TRITON_INTERPRET=1 before triton is imported (run by "
                "tests/test_kernels.py in a subprocess)", allow_module_level=True)

T = dict(backend="triton")
F32 = dict(rtol=1e-5, atol=1e-5)
MM32 = dict(rtol=1e-4, atol=1e-4)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _randn(*shape, dtype=torch.float32, seed=0, grad=False):
    t = torch.randn(*shape, dtype=dtype, generator=_gen(seed)).to(DEVICE)
    return t.requires_grad_(grad)


def _grads(fn, inputs, seed=1):
    """Gradients of <fn(*inputs), W> for a fixed random W (complex outputs as planes)."""
    inputs = [t.detach().clone().requires_grad_(True) for t in inputs]
    out = fn(*inputs)
    out = torch.view_as_real(out) if out.is_complex() else out
    w = torch.randn(out.shape, dtype=out.dtype, generator=_gen(seed)).to(out.device)
    return out.detach(), torch.autograd.grad((out * w).sum(), inputs)


def _compare(fn_tri, fn_ref, inputs, tol):
    out_t, g_t = _grads(fn_tri, inputs)
    out_r, g_r = _grads(fn_ref, inputs)
    torch.testing.assert_close(out_t, out_r, **tol)
    for a, b in zip(g_t, g_r):
        torch.testing.assert_close(a, b, **tol)


def test_backend_is_triton_here():
    z = _randn(3, dtype=torch.complex64)
    assert kernels.backend_name(z, "modulus", backend="triton") == "triton"
    if DEVICE == "cpu":      # auto never picks the interpreter
        assert kernels.backend_name(z, "modulus_average", backend="auto") == "cpu"
        assert kernels.backend_name(z, "path_distance", backend="auto") == "reference"


# --------------------------------------------------------------------- filter_periodize
@pytest.mark.parametrize("N,K,s", [(48, 3, 4), (36, 1, 3), (20, 2, 1), (16, 2, 16)])
@pytest.mark.parametrize("complex_filters", [False, True])
@pytest.mark.parametrize("banded", [False, True])
def test_filter_periodize_matches_reference(N, K, s, complex_filters, banded):
    x = _randn(2, N, dtype=torch.complex64, seed=1)
    h = _randn(K, N, dtype=torch.complex64 if complex_filters else torch.float32, seed=2)
    # bands: one wrapping past N, one starting mid-block, one full length, one empty
    starts = [N - 3, 5, 7, 0][:K]
    lengths = [9, N // 2 + 1, N, 0][:K]
    band = (starts, lengths) if banded else None
    _compare(lambda a, b: kernels.filter_periodize(a, b, s, band, **T),
             lambda a, b: reference.filter_periodize(a, b, s, band), [x, h], F32)


def test_filter_periodize_band_reads_only_the_band():
    """With a band, bins outside it are not read: NaNs there do not reach the output."""
    N, s = 24, 2
    x = _randn(1, N, dtype=torch.complex64)
    h = _randn(2, N)
    band = ([20, 3], [8, 5])
    mask = reference.band_mask(N, band, DEVICE)
    x_nan = torch.where(mask.any(0), x, torch.full_like(x, float("nan")))
    h_nan = torch.where(mask, h, torch.full_like(h, float("nan")))
    out = kernels.filter_periodize(x_nan, h_nan, s, band, **T)
    torch.testing.assert_close(out, reference.filter_periodize(x, h, s, band), **F32)


def test_filter_periodize_leading_axes_and_band_tensors():
    x = _randn(2, 3, 12, dtype=torch.complex64)
    h = _randn(2, 12)
    band = (torch.tensor([0, 6]), torch.tensor([6, 12]))
    out = kernels.filter_periodize(x, h, 2, band, **T)
    assert out.shape == (2, 3, 2, 6)
    torch.testing.assert_close(out, reference.filter_periodize(x, h, 2, band), **F32)


@pytest.mark.parametrize("complex_filters", [False, True])
def test_filter_periodize_gradcheck_float64(complex_filters):
    x = _randn(2, 12, dtype=torch.complex128, grad=True)
    h = _randn(3, 12, dtype=torch.complex128 if complex_filters else torch.float64, seed=3,
               grad=True)
    band = ([10, 2, 0], [5, 4, 12])
    assert gradcheck(lambda a, b: kernels.filter_periodize(a, b, 3, band, **T), (x, h),
                     fast_mode=True)


# --------------------------------------------------------------------------- band_fold
def _band_operands(N=32, M=8, dtype=torch.float32):
    """index/window of two filters over the one-sided spectrum of length N//2 + 1, built
    like scrapl's band_window: blocks straddling N/2 read bins f and N - f (conjugated),
    so the same x_half position appears twice in one block (exercises the atomics)."""
    blocks = torch.tensor([[1, 2], [0, 3]])                  # (F, m): block indices
    f = (blocks[..., None] * M + torch.arange(M)).reshape(2, -1)   # full-spectrum bins
    neg = f > N // 2
    index = torch.where(neg, N - f, f)
    h = torch.randn(f.shape, dtype=dtype, generator=_gen(5))
    window = torch.stack([h, torch.where(neg, -h, h)], dim=-1)
    return index.to(DEVICE), window.to(DEVICE)


def test_band_fold_matches_reference():
    index, window = _band_operands()
    x_half = _randn(3, 17, dtype=torch.complex64)
    _compare(lambda a, w: kernels.band_fold(a, index, w, 8, **T),
             lambda a, w: reference.band_fold(a, index, w, 8), [x_half, window], F32)


def test_band_fold_filter_axes_and_m1():
    index, window = _band_operands()
    x_half = _randn(2, 2, 17, dtype=torch.complex64)
    idx, win = index.reshape(2, 1, 16), window.reshape(2, 1, 16, 2)
    out = kernels.band_fold(x_half, idx, win, 16, **T)         # one block per filter
    assert out.shape == (2, 2, 2, 1, 16)
    torch.testing.assert_close(out, reference.band_fold(x_half, idx, win, 16), **F32)


def test_band_fold_gradcheck_float64():
    index, window = _band_operands(dtype=torch.float64)
    x_half = _randn(2, 17, dtype=torch.complex128, grad=True)
    assert gradcheck(lambda a, w: kernels.band_fold(a, index, w, 8, **T),
                     (x_half, window.requires_grad_()), fast_mode=True)


# ----------------------------------------------------------------------------- modulus
@pytest.mark.parametrize("log1p_eps", [None, 1e-3])
@pytest.mark.parametrize("shape", [(5,), (3, 1030), (2, 3, 7)])
def test_modulus_matches_reference(shape, log1p_eps):
    z = _randn(*shape, dtype=torch.complex64)
    z.view(-1)[:2] = 0                                          # |z| = 0 entries
    _compare(lambda a: kernels.modulus(a, log1p_eps, **T),
             lambda a: reference.modulus(a, log1p_eps), [z], F32)


@pytest.mark.parametrize("log1p_eps", [None, 1e-3])
def test_modulus_zero_gradient_is_zero(log1p_eps):
    z = torch.zeros(4, dtype=torch.complex64, device=DEVICE, requires_grad=True)
    u = kernels.modulus(z, log1p_eps, **T)
    expected = reference.modulus(z.detach(), log1p_eps)
    torch.testing.assert_close(u, expected)
    (g,) = torch.autograd.grad(u.sum(), z)
    assert torch.equal(g, torch.zeros_like(g))


def test_modulus_small_values_log1p_accurate():
    """log1p of tiny arguments (no cancellation in 1 + x)."""
    z = torch.tensor([1e-9 + 0j, 3e-7 + 4e-7j, 1.0 + 0j], dtype=torch.complex64,
                     device=DEVICE)
    torch.testing.assert_close(kernels.modulus(z, 1e-3, **T), reference.modulus(z, 1e-3),
                               rtol=1e-6, atol=0)


@pytest.mark.parametrize("log1p_eps", [None, 1e-2])
def test_modulus_gradcheck_float64(log1p_eps):
    z = _randn(3, 5, dtype=torch.complex128, grad=True)
    assert gradcheck(lambda a: kernels.modulus(a, log1p_eps, **T), (z,), fast_mode=True)


def test_modulus_conjugate_and_strided_input():
    z = _randn(4, 6, dtype=torch.complex64)
    view = z.conj()[:, ::2]
    torch.testing.assert_close(kernels.modulus(view, **T), reference.modulus(view), **F32)


# --------------------------------------------------------------------- modulus_average
@pytest.mark.parametrize("B,n,L,R,M", [(2, 5, 70, 7, 9), (1, 20, 33, 1, 1), (2, 3, 16, 17, 80)])
@pytest.mark.parametrize("with_average", [True, False])
def test_modulus_average_matches_reference(B, n, L, R, M, with_average):
    Y = _randn(B, n, L, dtype=torch.complex64)
    G = _randn(R, n, dtype=torch.complex64, seed=1)
    A = _randn(L, M, seed=2) if with_average else None
    _compare(lambda y: kernels.modulus_average(y, G, A, **T),
             lambda y: reference.modulus_average(y, G, A), [Y], MM32)


def test_modulus_average_real_input_and_leading_axes():
    Y = _randn(2, 2, 4, 19)
    G = _randn(6, 4, dtype=torch.complex64, seed=1)
    A = _randn(19, 3, seed=2)
    out = kernels.modulus_average(Y, G, A, **T)
    assert out.shape == (2, 2, 6, 3)
    _compare(lambda y: kernels.modulus_average(y, G, A, **T),
             lambda y: reference.modulus_average(y, G, A), [Y], MM32)


def test_modulus_average_zero_input_has_zero_gradient():
    Y = torch.zeros(1, 3, 16, dtype=torch.complex64, device=DEVICE, requires_grad=True)
    G = _randn(4, 3, dtype=torch.complex64)
    S = kernels.modulus_average(Y, G, _randn(16, 2), **T)
    (g,) = torch.autograd.grad(S.sum(), Y)
    assert torch.equal(g, torch.zeros_like(g))


@pytest.mark.parametrize("with_average", [True, False])
def test_modulus_average_gradcheck_float64(with_average):
    Y = _randn(2, 3, 20, dtype=torch.complex128, grad=True)
    G = _randn(4, 3, dtype=torch.complex128, seed=1, grad=True)
    inputs = (Y, G) + ((_randn(20, 5, dtype=torch.float64, seed=2, grad=True),)
                       if with_average else ())
    assert gradcheck(lambda y, g, *a: kernels.modulus_average(y, g, *a, **T), inputs,
                     fast_mode=True)


# ----------------------------------------------------------------------- path_distance
@pytest.mark.parametrize("p", [1, 2, 3, 1.5])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_path_distance_matches_reference(p, reduction):
    x = _randn(3, 6, 50)
    t = _randn(3, 6, 50, seed=1)
    t[1] = x[1]                                  # a zero distance (gradient 0, no NaN)
    t[0, 0, :5] = x[0, 0, :5]                    # zero differences in a nonzero row
    _compare(lambda a, b: kernels.path_distance(a, b, p, reduction, **T),
             lambda a, b: reference.path_distance(a, b, p, reduction), [x, t], F32)


def test_path_distance_leading_axes_and_sum():
    x = _randn(2, 3, 4, 5)
    t = _randn(2, 3, 4, 5, seed=1)
    for reduction in ("sum", "none"):
        out = kernels.path_distance(x, t, 2, reduction, **T)
        torch.testing.assert_close(out, reference.path_distance(x, t, 2, reduction), **F32)
    assert kernels.path_distance(x, t, 2, "none", **T).shape == (2, 3)


def test_path_distance_long_rows():
    """Rows longer than one block (the kernel loops over the row)."""
    x = _randn(2, 96, 64)
    t = _randn(2, 96, 64, seed=1)
    _compare(lambda a, b: kernels.path_distance(a, b, **T),
             lambda a, b: reference.path_distance(a, b), [x, t], F32)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_path_distance_gradcheck_float64(p):
    x = _randn(3, 4, 5, dtype=torch.float64, grad=True)
    t = _randn(3, 4, 5, dtype=torch.float64, seed=1, grad=True)
    assert gradcheck(lambda a, b: kernels.path_distance(a, b, p, **T), (x, t),
                     fast_mode=True)


def test_empty_inputs_fall_back_to_reference():
    z = torch.zeros(0, 3, dtype=torch.complex64, device=DEVICE)
    assert kernels.modulus(z, **T).shape == (0, 3)
    x = _randn(2, 8, dtype=torch.complex64)
    assert kernels.filter_periodize(x, _randn(0, 8), 2, **T).shape == (2, 0, 4)


# ------------------------------------------------------------------ band_modulus_rfft
def test_band_modulus_rfft_matches_reference():
    """The Triton composition (band_fold + ifft + modulus + rfft) vs the reference."""
    h1 = _randn(2, 1, 16, seed=3)
    h2 = _randn(1, 2, 8, seed=4)
    blocks = [torch.tensor([[0], [1]]).to(DEVICE), torch.tensor([[0, 3]]).to(DEVICE)]
    windows = [torch.stack([h1, h1], -1), torch.stack([h2, h2], -1)]

    def run(fn):
        return lambda x: torch.cat([torch.view_as_real(o).reshape(-1) for o in fn(
            x, list(zip(blocks, windows)))])

    X = _randn(2, 3, 32, dtype=torch.complex64)
    _compare(run(lambda x, c: kernels.band_modulus_rfft(x, c, **T)),
             run(lambda x, c: kernels.band_modulus_rfft(x, c, backend="reference")), [X],
             MM32)
    out = kernels.band_modulus_rfft(X, list(zip(blocks, windows)), **T)
    assert [tuple(o.shape) for o in out] == [(2, 2, 3, 9), (1, 2, 3, 5)]


def test_modulus_average_with_plan():
    Y = _randn(2, 3, 40, dtype=torch.complex64)
    G = _randn(4, 3, dtype=torch.complex64, seed=1)
    A = _randn(40, 5, seed=2)
    A[:20, 1:4] = 0
    plan = kernels.average_plan(A, 16)
    _compare(lambda y: kernels.modulus_average(y, G, plan=plan, **T),
             lambda y: reference.modulus_average(y, G, A), [Y], MM32)


# ------------------------------------------------- double and batched backward passes
DOUBLE_CASES = {
    "filter_periodize": (lambda a: kernels.filter_periodize(a, _randn(2, 12, dtype=torch.float64,
                                                                      seed=3), 3, **T),
                         (2, 12), torch.complex128),
    "band_fold": (lambda a: kernels.band_fold(a, *_band_operands(dtype=torch.float64), 8, **T),
                  (2, 17), torch.complex128),
    "modulus": (lambda a: kernels.modulus(a, 1e-2, **T), (3, 5), torch.complex128),
    "modulus_average": (lambda a: kernels.modulus_average(
        a, _randn(4, 3, dtype=torch.complex128, seed=1),
        _randn(10, 3, dtype=torch.float64, seed=2), **T), (2, 3, 10), torch.complex128),
    "path_distance": (lambda a: kernels.path_distance(
        a, _randn(3, 4, 5, dtype=torch.float64, seed=1), 3, "none", **T), (3, 4, 5),
        torch.float64),
}


@pytest.mark.parametrize("op", sorted(DOUBLE_CASES))
def test_double_and_batched_backward(op):
    """Under create_graph and is_grads_batched the Triton Functions differentiate the
    reference (the θ-IS warm-up of SCRAPL needs both)."""
    fn, shape, dtype = DOUBLE_CASES[op]
    a = _randn(*shape, dtype=dtype, grad=True)
    assert torch.autograd.gradgradcheck(fn, (a,), fast_mode=True)
    out = fn(a)
    out = (torch.view_as_real(out) if out.is_complex() else out).reshape(-1)
    V = torch.randn(2, out.numel(), dtype=out.dtype, generator=_gen(9)).to(DEVICE)
    (batched,) = torch.autograd.grad(out, a, V, retain_graph=True, is_grads_batched=True)
    for i in range(2):
        (one,) = torch.autograd.grad(out, a, V[i], retain_graph=True)
        torch.testing.assert_close(batched[i], one)
