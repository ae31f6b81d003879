"""Fused kernels for the work between the FFTs of a JTFS path, behind one dispatcher.

The FFTs stay in ``torch.fft``; these ops do everything between them:

* :func:`filter_periodize`  complex multiply of spectra (..., N) by a bank of K Fourier
  filters (K, N), fused with subsampling by s in Fourier (periodization, the mean over
  the s periods) -> (..., K, N // s); one launch for all filters of one factor; optional
  band per filter ``(start, length)`` (:func:`filter_band` finds it), only those bins
  are read
* :func:`band_fold`         the same for one-sided spectra (``rfft``) of real signals,
  reading only a gathered list of blocks per filter (``scrapl.primitives.band_fold``)
* :func:`modulus`           ``|z| + 1e-12``, optionally ``log1p(. / eps)``, one pass
* :func:`modulus_average`   ``|G @ Y| @ A``: the frequential stage (complex operator on
  the short axis, modulus, real temporal averaging): one Triton kernel, or time chunks
  on the CPU; nothing of size (R, L) is stored, backward recomputes it
* :func:`path_distance`     ``mean_b ||target_b - x_b||_p`` over (freq, time), one
  reduction

Every op is differentiable: the Triton and numba ops through a ``torch.autograd.Function``
with a kernel backward, the reference through autograd.

Layout: :mod:`kernels.reference` (plain torch: the definitions and the CPU backend),
:mod:`kernels.triton_ops` (Triton, CUDA; imported on first use),
:mod:`kernels.numba_ops` (numba CPU kernels, only where they beat torch: the modulus;
imported on first use),
:mod:`kernels.dispatch` (argument checks and backend choice).  Nothing here imports
:mod:`scrapl`: scrapl calls kernels, not the reverse.

Backend choice: ``backend=`` argument, else ``SYNTHMATCH_KERNELS`` = ``reference`` |
``triton`` | ``numba`` | ``auto`` (default).  ``auto``: CUDA float32 -> Triton, CPU ->
numba for :data:`NUMBA_OPS`, else the reference.  The Triton kernels run on CPU tensors
under triton's interpreter (``TRITON_INTERPRET=1`` set before triton is imported; tests
do this in a subprocess, see ``tests/test_kernels.py``).  :func:`backend_name` tells which
backend would run (tests and benchmarks only).
"""
from .dispatch import (BACKENDS, ENV_VAR, NUMBA_OPS, OPS, backend_name, band_fold,
                       filter_band, filter_periodize, modulus, modulus_average,
                       path_distance)

__all__ = ["BACKENDS", "ENV_VAR", "NUMBA_OPS", "OPS", "backend_name", "band_fold",
           "filter_band", "filter_periodize", "modulus", "modulus_average", "path_distance"]
