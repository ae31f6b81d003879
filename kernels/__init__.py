"""Fused kernels for the work between the FFTs of a JTFS path, behind one dispatcher.

The FFTs stay in ``torch.fft``; these ops do everything between them:

* :func:`filter_periodize`  complex multiply of spectra (..., N) by a bank of K Fourier
  filters (K, N), fused with subsampling by s in Fourier (periodization, the mean over
  the s periods) -> (..., K, N // s); one launch for all filters of one factor; optional
  band per filter ``(start, length)`` (:func:`filter_band` finds it), only those bins
  are read
* :func:`band_fold`         the same for one-sided spectra (``rfft``) of real signals,
  reading only a gathered list of blocks per filter (the second order of a JTFS)
* :func:`band_modulus_rfft` ``rfft(|ifft(Y_k)|)`` with Y_k the band-limited filtering of
  a full spectrum, for chunks of a filter bank (the first order of a JTFS)
* :func:`modulus`           ``sqrt(|z|^2 + 1e-24)`` (``|z| + 1e-12`` to within 1e-12),
  optionally ``log1p(. / eps)``, one pass
* :func:`modulus_average`   ``|G @ Y| @ A``: the frequential stage (complex operator on
  the short axis, modulus, real temporal averaging), with an optional precomputed
  :class:`AveragePlan` of A (:func:`average_plan`); nothing of size (R, L) is stored,
  backward recomputes it
* :func:`path_distance`     ``mean_b ||target_b - x_b||_p`` over (freq, time), one
  reduction

What runs where (``auto``): CUDA float32 -> Triton (:mod:`kernels.triton_ops`);
CPU -> the CPU path: fused torch for :data:`CPU_OPS` (:mod:`kernels.cpu_ops`), else the
reference (:mod:`kernels.reference`, plain torch: the definitions); the numba kernels
(:data:`NUMBA_OPS`, :mod:`kernels.numba_ops`) run when asked for (``numba``: their import
and first call cost ~0.4 s per process, more than they save in a match).  ``SYNTHMATCH_KERNELS`` =
``reference`` | ``cpu`` | ``numba`` | ``triton`` | ``auto`` (default), or ``backend=``,
forces one (:mod:`kernels.dispatch` says exactly how).  The Triton kernels run on CPU
tensors under triton's interpreter (``TRITON_INTERPRET=1`` set before triton is
imported; tests do this in a subprocess, see ``tests/test_kernels.py``).
:func:`backend_name` tells which backend would run (tests and benchmarks only).

Every op is differentiable to any order: the Triton, numba and fused CPU ops through a
``torch.autograd.Function`` with a hand-written backward, which differentiates the
reference definition instead under ``create_graph`` and ``is_grads_batched``
(:mod:`kernels.recompute`); the reference through autograd.

Nothing here imports :mod:`scrapl`: scrapl calls kernels (only through
:mod:`kernels.dispatch`), not the reverse.

:mod:`kernels.files` (:func:`kernels.files.atomic_output`) is not a kernel: it is the one
file writer of the project, here because kernels is the bottom layer, the only package
that synths, scrapl and matching may all import.
"""
from .dispatch import (BACKENDS, CPU_OPS, ENV_VAR, NUMBA_OPS, OPS, AveragePlan,
                       average_plan, backend_name, band_fold, band_modulus_rfft,
                       chunk_length, filter_band, filter_periodize, modulus,
                       modulus_average, path_distance)

__all__ = ["BACKENDS", "CPU_OPS", "ENV_VAR", "NUMBA_OPS", "OPS", "AveragePlan",
           "average_plan", "backend_name", "band_fold", "band_modulus_rfft", "chunk_length",
           "filter_band", "filter_periodize", "modulus", "modulus_average", "path_distance"]
