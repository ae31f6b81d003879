"""SCRAPL: scattering transform with random paths.

* :class:`scrapl.loss.SCRAPLLoss` — the JTFS distance on one random path per step, with
  𝒫-Adam, 𝒫-SAGA and θ-IS; a drop-in replacement for ``scrapl-loss`` 0.1.0's ``SCRAPLLoss``.
* Baselines with the same call signature: :class:`scrapl.jtfs_loss.JTFSLoss` (full JTFS) and
  :class:`scrapl.mss.MSSLoss` (multi-scale spectral: linear, log, revisited).
* :class:`scrapl.jtfs.JTFS` — the joint time-frequency scattering transform (full and single
  path), on the filter bank of :mod:`scrapl.filter_bank` (kymatio 0.3.0 filter design).
"""
from .jtfs import JTFS
from .jtfs_loss import JTFSLoss
from .loss import SCRAPLLoss
from .mss import MSSLoss

__all__ = ["JTFS", "JTFSLoss", "MSSLoss", "SCRAPLLoss"]
