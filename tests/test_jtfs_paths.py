"""``JTFS`` path API: ``scalogram``, ``single_path(..., scalogram=)``, ``single_paths``, ``n1_max``.

Small configurations (fast): the paths computed from a shared first order must equal
``single_path`` alone and the corresponding channels of ``full``, with the same gradients;
a scalogram that does not cover a path's first-order filters is an error.  The float64
configuration (with T and F set) also checks the hand-written backward passes of the
fused CPU ops the JTFS runs (``kernels.cpu_ops`` through ``kernels.dispatch``) against
finite differences, and their double and batched backward passes.
"""
from __future__ import annotations

import pytest
import torch

from kernels import dispatch as K
from kernels import reference
from scrapl.jtfs import JTFS, Scalogram

CONFIGS = {
    "default_TF": dict(N=4096, J=8, Q=(4, 2), J_fr=2, Q_fr=1, T=None, F=None),
    "T_F_float64": dict(N=4096, J=8, Q=(4, 2), J_fr=2, Q_fr=1, T=512, F=2,
                        dtype=torch.float64),
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def case(request):
    torch.set_num_threads(2)
    cfg = CONFIGS[request.param]
    jtfs = JTFS(**cfg)
    dtype = cfg.get("dtype", torch.float32)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, cfg["N"], generator=g, dtype=dtype)
    keys = jtfs.scrapl_keys
    # spread over n2 (all j2) and n_fr (spins, scales); repeated n2 on purpose
    idx = sorted({0, 1, len(keys) // 3, len(keys) // 3 + 1, len(keys) // 2,
                  len(keys) - 2, len(keys) - 1})
    return dict(jtfs=jtfs, x=x, idx=idx, keys=[keys[i] for i in idx], dtype=dtype)


def _tol(case, ref):
    eps = 1e-5 if case["dtype"] == torch.float32 else 1e-12
    return dict(rtol=0, atol=eps * ref.abs().max().item())


def test_n1_max_public(case):
    jtfs = case["jtfs"]
    for n2 in range(len(jtfs.j2)):
        assert jtfs.n1_max(n2) == sum(j1 < jtfs.j2[n2] for j1 in jtfs.j1)
        assert jtfs._n1_max(n2) == jtfs.n1_max(n2)


def test_scalogram_object(case):
    jtfs, x = case["jtfs"], case["x"]
    sc = jtfs.scalogram(x)
    assert isinstance(sc, Scalogram)
    assert sc.batch_shape == x.shape[:-1]
    assert sc.n1_max == len(jtfs.j1)
    assert sc.groups[0][1] == 0 and all(a[2] == b[1] for a, b in zip(sc.groups, sc.groups[1:]))
    for k1, a, b, U in sc.groups:
        assert U.shape == (b - a, 6, (jtfs.N_padded >> k1) // 2 + 1)
        assert U.is_complex()
    n1 = jtfs.n1_max(jtfs.scrapl_keys[0][0])
    assert jtfs.scalogram(x, n1).n1_max == n1
    assert jtfs.scalogram(x, 0).n1_max == 0
    with pytest.raises(ValueError):
        jtfs.scalogram(x, len(jtfs.j1) + 1)


@pytest.mark.parametrize("unpad", [True, False])
def test_paths_equal_single_path_and_full(case, unpad):
    jtfs, x, keys = case["jtfs"], case["x"], case["keys"]
    with torch.no_grad():
        alone = [jtfs.single_path(x, n2, n_fr, unpad=unpad) for n2, n_fr in keys]
        sc = jtfs.scalogram(x)
        from_sc = [jtfs.single_path(None, n2, n_fr, unpad=unpad, scalogram=sc)
                   for n2, n_fr in keys]
        many = jtfs.single_paths(x, keys, unpad=unpad)
        many_sc = jtfs.single_paths(None, keys, unpad=unpad, scalogram=sc)
        full = jtfs.full(x, paths=case["idx"], first_order=False, unpad=unpad)
    assert len(many) == len(keys)
    for k, ref in enumerate(alone):
        assert ref.shape == x.shape[:-1] + full.shape[-2:]
        for other in (from_sc[k], many[k], many_sc[k], full[..., k, :, :]):
            torch.testing.assert_close(other, ref, **_tol(case, ref))
    # the path method and the channel layout of full with the first order
    with torch.no_grad():
        S = jtfs.full(x, paths=case["idx"], unpad=unpad)
        n_first = len(jtfs.first_order_keys)
        torch.testing.assert_close(S[..., n_first:, :, :], full, rtol=0, atol=0)
        one = jtfs.path(x, case["idx"][-1], unpad=unpad)
    torch.testing.assert_close(one, alone[-1], rtol=0, atol=0)


def test_gradients_equal(case):
    jtfs, x, keys = case["jtfs"], case["x"], case["keys"]
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        weights = [torch.randn(jtfs.single_path(x, n2, n_fr).shape, generator=g,
                               dtype=x.dtype) for n2, n_fr in keys]

    def grad(fn):
        xx = x.clone().requires_grad_(True)
        S = fn(xx)
        sum((s * w).sum() for s, w in zip(S, weights)).backward()
        return xx.grad

    ref = grad(lambda xx: [jtfs.single_path(xx, n2, n_fr) for n2, n_fr in keys])
    assert ref.abs().max() > 0
    for fn in (lambda xx: jtfs.single_paths(xx, keys),
               lambda xx: jtfs.single_paths(None, keys, scalogram=jtfs.scalogram(xx)),
               lambda xx: [jtfs.single_path(None, n2, n_fr, scalogram=jtfs.scalogram(xx))
                           for n2, n_fr in keys]):
        torch.testing.assert_close(grad(fn), ref, **_tol(case, ref))


def test_detached_scalogram_cuts_gradient(case):
    jtfs, x = case["jtfs"], case["x"]
    n2, n_fr = case["keys"][-1]
    xx = x.clone().requires_grad_(True)
    sc = jtfs.scalogram(xx).detach()
    S = jtfs.single_path(None, n2, n_fr, scalogram=sc)
    assert not S.requires_grad


def test_insufficient_scalogram_raises(case):
    jtfs, x = case["jtfs"], case["x"]
    n2_last = case["keys"][-1][0]
    need = jtfs.n1_max(n2_last)
    sc = jtfs.scalogram(x, need - 1)
    with pytest.raises(ValueError):
        jtfs.single_path(None, n2_last, 0, scalogram=sc)
    with pytest.raises(ValueError):
        jtfs.single_paths(None, case["keys"], scalogram=sc)
    # enough for the paths with a smaller n2
    small = [(n2, n_fr) for n2, n_fr in jtfs.scrapl_keys if jtfs.n1_max(n2) <= need - 1][:2]
    with torch.no_grad():
        for (n2, n_fr), S in zip(small, jtfs.single_paths(None, small, scalogram=sc)):
            ref = jtfs.single_path(x, n2, n_fr)
            torch.testing.assert_close(S, ref, **_tol(case, ref))
    assert jtfs.single_paths(x, []) == []


def test_finite_differences_float64():
    """Directional derivative of a path distance vs its gradient (checks the hand-written
    backward of the fused first-order and frequential primitives)."""
    jtfs = JTFS(**CONFIGS["T_F_float64"])
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, jtfs.N, generator=g, dtype=torch.float64)
    y = torch.randn(2, jtfs.N, generator=g, dtype=torch.float64)
    v = torch.randn(2, jtfs.N, generator=g, dtype=torch.float64)
    for i in (0, len(jtfs.scrapl_keys) // 2, len(jtfs.scrapl_keys) - 1):
        n2, n_fr = jtfs.scrapl_keys[i]
        with torch.no_grad():
            Sy = torch.log1p(jtfs.single_path(y, n2, n_fr) / 1e-3)

        def dist(xx):
            Sx = torch.log1p(jtfs.single_path(xx, n2, n_fr) / 1e-3)
            return torch.linalg.vector_norm(Sy - Sx, dim=(-2, -1)).mean()

        xx = x.clone().requires_grad_(True)
        dist(xx).backward()
        h = 1e-6
        with torch.no_grad():
            fd = (dist(x + h * v) - dist(x - h * v)) / (2 * h)
        assert (xx.grad * v).sum().item() == pytest.approx(fd.item(), rel=1e-6, abs=1e-9), i


def _fused_operands(seed):
    """Tiny float64 operands of the fused CPU ops: a full spectrum X (B=2, N=32) with two
    chunks of filters (one- and two-block filters), and Y (n=3, B=2, L=16) in the JTFS's
    (n, B, L) layout with an operator G (4, 3) and an averaging A (16, 8) whose bands
    wrap around (columns 6, 7, 0, 1 on rows 0-3)."""
    g = torch.Generator().manual_seed(seed)
    d = dict(dtype=torch.float64)
    X = torch.randn(2, 32, generator=g, dtype=torch.complex128, requires_grad=True)
    h1, h2 = torch.rand(2, 1, 16, generator=g, **d), torch.rand(1, 2, 8, generator=g, **d)
    chunks = [(torch.tensor([[0], [1]]), torch.stack([h1, h1], -1)),
              (torch.tensor([[0, 3]]), torch.stack([h2, h2], -1))]
    Y = torch.randn(3, 2, 16, generator=g, dtype=torch.complex128, requires_grad=True)
    G = torch.randn(4, 3, generator=g, dtype=torch.complex128)
    A = torch.randn(16, 8, generator=g, **d)
    A[:4, 2:6] = 0
    A[8:12, :5] = 0
    return X, chunks, Y, G, A


def _first(X, chunks):
    """The fused CPU first order (kernels.cpu_ops through the dispatcher)."""
    out = K.band_modulus_rfft(X, chunks, backend="cpu")
    assert type(out[0].grad_fn).__name__ == "_BandModulusRfftBackward"
    return out


def _freq(Y, G, plan):
    """The fused CPU frequential stage on Y (n, B, L), as the JTFS calls it."""
    S = K.modulus_average(Y.transpose(0, 1), G, plan=plan, backend="cpu")
    assert type(S.grad_fn).__name__ == "_ModulusAverageBackward"
    return S


def test_fused_primitives_gradcheck():
    """torch.autograd.gradcheck of the hand-written backward passes (float64, tiny sizes):
    the first-order ``band_modulus_rfft`` (one- and two-block filters) and the fused
    frequential ``modulus_average`` (banded, cyclic chunks), both equal to the reference."""
    X, chunks, Y, G, A = _fused_operands(3)
    assert torch.autograd.gradcheck(lambda X: _first(X, chunks), (X,))
    for a, b in zip(_first(X, chunks), K.band_modulus_rfft(X, chunks, backend="reference")):
        torch.testing.assert_close(a, b)
    for chunk in (4, 16):
        plan = K.average_plan(A, chunk)
        assert torch.autograd.gradcheck(lambda Y: _freq(Y, G, plan), (Y,))
        ref = reference.modulus_average(Y.transpose(0, 1), G, A)
        torch.testing.assert_close(_freq(Y, G, plan), ref)


def test_fused_primitives_double_backward():
    """Second derivatives through the fused primitives (the θ-IS warm-up differentiates the
    loss twice): torch.autograd.gradgradcheck, float64, tiny sizes."""
    X, chunks, Y, G, A = _fused_operands(5)
    assert torch.autograd.gradgradcheck(lambda X: _first(X, chunks), (X,))
    plan = K.average_plan(A, 4)
    assert torch.autograd.gradgradcheck(lambda Y: _freq(Y, G, plan), (Y,))


def test_fused_primitives_batched_backward():
    """``autograd.grad(..., is_grads_batched=True)`` (vmap over the backward pass, used by the
    θ-IS warm-up) through the fused primitives equals one backward per grad_output."""
    X, chunks, Y, G, A = _fused_operands(7)
    g = torch.Generator().manual_seed(8)
    plan = K.average_plan(A, 4)
    for fn, inp in ((lambda X: torch.cat([o.abs().reshape(-1) for o in _first(X, chunks)]), X),
                    (lambda Y: _freq(Y, G, plan).reshape(-1), Y)):
        out = fn(inp)
        V = torch.randn(3, out.numel(), generator=g, dtype=torch.float64)
        (batched,) = torch.autograd.grad(out, inp, V, retain_graph=True, is_grads_batched=True)
        for i in range(3):
            (one,) = torch.autograd.grad(out, inp, V[i], retain_graph=True)
            torch.testing.assert_close(batched[i], one)
