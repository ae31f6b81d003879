"""The JTFS gives the same paths, gradients and full transform with every kernels backend.

scrapl's JTFS calls only the kernels dispatcher (``kernels.dispatch``), which picks the
implementation per call from the tensors' device and ``SYNTHMATCH_KERNELS``:

* ``reference`` (the plain torch definitions) vs ``cpu`` (fused CPU ops) and ``auto``
  (on the CPU: the fused CPU ops), on small configurations, float32 and
  float64: single paths with their input gradient, and the full transform;
* ``triton``: ``tests/test_jtfs_triton.py``, run under triton's interpreter in a
  subprocess by ``tests/test_kernels.py::test_triton_kernels_under_interpreter`` (the
  interpreter must be on before triton is imported).
"""
from __future__ import annotations

import pytest
import torch

import kernels
from scrapl.jtfs import JTFS

CONFIGS = {
    "default_TF": dict(N=2048, J=7, Q=(4, 2), J_fr=2, Q_fr=1, T=None, F=None),
    "T_F_float64": dict(N=2048, J=7, Q=(4, 2), J_fr=2, Q_fr=1, T=256, F=2,
                        dtype=torch.float64),
}
BACKENDS = ("reference", "cpu", "auto")


def _run(jtfs, x, keys, weights):
    """Paths of ``keys`` one by one, their input gradient for fixed weights, the full
    transform (no grad)."""
    xx = x.clone().requires_grad_(True)
    S = [jtfs.single_path(xx, n2, n_fr) for n2, n_fr in keys]
    (g,) = torch.autograd.grad(sum((s * w).sum() for s, w in zip(S, weights)), xx)
    with torch.no_grad():
        full = jtfs.full(x)
    return [s.detach() for s in S], g, full


@pytest.mark.parametrize("name", list(CONFIGS))
def test_backends_agree(name, monkeypatch):
    torch.set_num_threads(2)
    cfg = CONFIGS[name]
    jtfs = JTFS(**cfg)
    dtype = cfg.get("dtype", torch.float32)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, cfg["N"], generator=gen, dtype=dtype)
    n = len(jtfs.scrapl_keys)
    keys = [jtfs.scrapl_keys[i] for i in sorted({0, n // 3, n // 2, n - 1})]
    monkeypatch.setenv(kernels.ENV_VAR, "reference")
    with torch.no_grad():
        weights = [torch.randn(jtfs.single_path(x, n2, n_fr).shape, generator=gen,
                               dtype=dtype) for n2, n_fr in keys]
    results = {}
    for backend in BACKENDS:
        monkeypatch.setenv(kernels.ENV_VAR, backend)
        results[backend] = _run(jtfs, x, keys, weights)
    z = torch.zeros(1, dtype=torch.complex64)
    assert kernels.backend_name(z, "modulus_average") == "cpu"        # auto on the CPU
    assert kernels.backend_name(z, "band_modulus_rfft") == "cpu"
    eps = 1e-5 if dtype == torch.float32 else 1e-12
    S_ref, g_ref, full_ref = results["reference"]
    for backend in BACKENDS[1:]:
        S, g, full = results[backend]
        for a, b in zip(S, S_ref):
            torch.testing.assert_close(a, b, rtol=0, atol=eps * b.abs().max().item())
        torch.testing.assert_close(g, g_ref, rtol=0, atol=eps * g_ref.abs().max().item())
        torch.testing.assert_close(full, full_ref, rtol=0,
                                   atol=eps * full_ref.abs().max().item())
