"""SCRAPL: scattering transform with random paths.

* :class:`scrapl.loss.SCRAPLLoss` — the JTFS distance on one random path per step, with
  𝒫-Adam, 𝒫-SAGA and θ-IS; a drop-in replacement for ``scrapl-loss`` 0.1.0's ``SCRAPLLoss``.
  Its parts: the path distribution (:class:`scrapl.path_sampling.PathSampler`), the
  per-path optimizer state (:class:`scrapl.path_optim.PathGradientState`) and the θ-IS
  warm-up (:mod:`scrapl.warmup`, functions taking the loss; ``.pt`` files through
  :mod:`scrapl.tensor_files`).
* Baselines with the same call signature: :class:`scrapl.jtfs_loss.JTFSLoss` (full JTFS) and
  :class:`scrapl.mss.MSSLoss` (multi-scale spectral: linear, log, revisited).
* :class:`scrapl.jtfs.JTFS` — the joint time-frequency scattering transform (full and single
  path, first order as a :class:`scrapl.jtfs.Scalogram`), on the filter bank of
  :mod:`scrapl.filter_bank` (kymatio 0.3.0 design functions, the filters of the kymatio
  0.4.0.dev0 copy of ``scrapl-loss``).

scrapl imports only :mod:`kernels` (the fused ops, and :mod:`kernels.files` for atomic
writes) among this project's packages.
"""
from .jtfs import JTFS, Scalogram
from .jtfs_loss import JTFSLoss
from .loss import SCRAPLLoss
from .mss import MSS_MODES, MSSLoss
from .path_optim import PathGradientState
from .path_sampling import PathSampler, PathSamplingError

__all__ = ["JTFS", "JTFSLoss", "MSSLoss", "MSS_MODES", "PathGradientState", "PathSampler",
           "PathSamplingError", "SCRAPLLoss", "Scalogram"]
