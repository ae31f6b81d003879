"""scrapl's JTFS through the Triton kernels equals the reference backend.

Needs triton's interpreter, switched on before triton is imported:
``tests/test_kernels.py::test_triton_kernels_under_interpreter`` runs this module in a
subprocess with ``TRITON_INTERPRET=1`` (or run it directly with
``TRITON_INTERPRET=1 python -m pytest tests/test_jtfs_triton.py``).  On a CUDA machine
without the interpreter it runs on the GPU; elsewhere it is skipped.  Tiny configuration:
the interpreter runs the kernels in numpy, program by program.
"""
from __future__ import annotations

import torch

import kernels
from scrapl.jtfs import JTFS

# the device, or the skip of this module, like tests/test_kernels_triton.py
from test_kernels_triton import DEVICE  # noqa: E402

CFG = dict(N=512, J=5, Q=(2, 1), J_fr=2, Q_fr=1, T=None, F=None)


def _triton_functions(t: torch.Tensor) -> set:
    """Names of the Triton autograd Functions in the graph of t."""
    seen, stack, found = set(), [t.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        cls = getattr(type(fn), "_forward_cls", None)
        if cls is not None and cls.__module__.endswith("triton_ops"):
            found.add(cls.__name__)
        stack.extend(f for f, _ in fn.next_functions)
    return found


def test_single_path_and_full_triton_equal_reference(monkeypatch):
    jtfs = JTFS(**CFG).to(DEVICE)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, CFG["N"], generator=gen).to(DEVICE)
    keys = [jtfs.scrapl_keys[0], jtfs.scrapl_keys[-1]]
    results = {}
    for backend in ("reference", "triton"):
        monkeypatch.setenv(kernels.ENV_VAR, backend)
        xx = x.clone().requires_grad_(True)
        S = [jtfs.single_path(xx, n2, n_fr) for n2, n_fr in keys]
        if backend == "triton":
            names = set().union(*(_triton_functions(s) for s in S))
            assert {"_BandFold", "_Modulus", "_ModulusAverage"} <= names, names
        if backend == "reference":
            weights = [torch.randn(s.shape, generator=gen).to(DEVICE) for s in S]
        (g,) = torch.autograd.grad(sum((s * w).sum() for s, w in zip(S, weights)), xx)
        with torch.no_grad():
            full = jtfs.full(x)
        results[backend] = ([s.detach() for s in S], g, full)
    (S_r, g_r, f_r), (S_t, g_t, f_t) = results["reference"], results["triton"]
    for a, b in zip(S_t, S_r):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5 * b.abs().max().item())
    torch.testing.assert_close(g_t, g_r, rtol=0, atol=1e-5 * g_r.abs().max().item())
    torch.testing.assert_close(f_t, f_r, rtol=0, atol=1e-5 * f_r.abs().max().item())
