"""Audio losses and distances of a synth's output: the one way to build them at its rate.

:class:`AudioLoss` wraps one loss family of :mod:`scrapl` for signals of ``n_samples``
samples at ``sample_rate`` (a synth's output, a match target) and owns what it needs
around the transform:

* ``mss``: :class:`scrapl.mss.MSSLoss` (``mss_mode``: linear, log, revisited), on the
  audio as it is, at ``sample_rate``;
* ``jtfs``: the full JTFS distance, :class:`scrapl.jtfs_loss.JTFSLoss`;
* ``scrapl``: the JTFS distance on one random path, :class:`scrapl.loss.SCRAPLLoss`.

For the two JTFS families the audio is resampled to :data:`JTFS_RATE` (11025 Hz, to stay
cheap) and cut or zero-padded to the length of the configuration :func:`jtfs_config`
chooses; an explicit configuration (``jtfs=``) is applied at the synth's own rate instead
(no resampling).  Coefficients are log1p-compressed (``use_rho_log1p=True``) unless told
otherwise; the SCRAPL gradient multiplier is 1 (``grad_mult=1.0``).

Users: :class:`matching.objective.MatchObjective` (its SCRAPL term),
:class:`matching.objective.Distances` (the report's MSS and JTFS distances) and training
(the mss / jtfs / scrapl losses).
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

import torch
from torch import nn

from scrapl.jtfs import Scalogram
from scrapl.jtfs_loss import JTFSLoss
from scrapl.loss import SCRAPLLoss
from scrapl.mss import MSSLoss

from .audio import resample_to_length

__all__ = ["AudioLoss", "FAMILIES", "JTFS_RATE", "jtfs_config"]

#: sample rate (Hz) the JTFS families run at, unless given an explicit configuration
JTFS_RATE = 11025
#: the loss families :class:`AudioLoss` builds
FAMILIES = ("mss", "jtfs", "scrapl")


def jtfs_config(n_samples: int, sample_rate: int) -> Dict[str, int]:
    """A JTFS configuration for signals of ``n_samples`` at ``sample_rate`` (Hz) resampled
    to 11025 Hz: ``shape`` N (at least 256 samples), ``2**J`` <= a quarter of N."""
    n = max(256, int(round(n_samples * JTFS_RATE / sample_rate)))
    J = max(4, min(10, n.bit_length() - 3))
    return dict(shape=n, J=J, Q1=8, Q2=2, J_fr=3, Q_fr=2)


class AudioLoss(nn.Module):
    """One audio loss of a family of :data:`FAMILIES`, for audio at ``sample_rate``.

    Parameters
    ----------
    family : ``"mss"``, ``"jtfs"`` or ``"scrapl"``
    n_samples : length of the audio compared (samples at ``sample_rate``)
    sample_rate : its sample rate (Hz)
    mss_mode : ``mss`` only: the MSS mode (:data:`scrapl.mss.MSS_MODES`; None: MSSLoss's
        default); ignored by the other families
    jtfs : ``jtfs``/``scrapl`` only: an explicit JTFS configuration (``shape``, ``J``,
        ``Q1``, ``Q2``, ``J_fr``, ``Q_fr``, ...) applied at ``sample_rate``; None:
        :func:`jtfs_config` at :data:`JTFS_RATE`.  Ignored by ``mss``
    **options : further arguments of the loss class (``reduction``, ``use_p_adam``,
        ``seed``, ``n_theta``, ...); they override ``use_rho_log1p=True`` (JTFS families)
        and ``grad_mult=1.0`` (``scrapl``)

    Attributes: ``family``, ``n_samples``, ``sample_rate``, ``rate`` (the rate the loss
    runs at, Hz), ``config`` (the JTFS configuration; None for ``mss``), ``fn`` (the
    wrapped :mod:`scrapl` loss module) and :attr:`scrapl` (``fn`` for ``scrapl``, else None).

    ``forward(pred, target)``: audio ``[batch, n_samples]`` or ``[batch, 1, n_samples]`` at
    ``sample_rate`` -> the wrapped loss of the two (resampled) signals: a scalar, or
    ``[batch]`` with ``reduction='none'``; differentiable.
    """

    def __init__(self, family: str, n_samples: int, sample_rate: int, *,
                 mss_mode: Optional[str] = None, jtfs: Optional[Mapping[str, Any]] = None,
                 **options: Any):
        super().__init__()
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
        self.family, self.n_samples, self.sample_rate = family, int(n_samples), int(sample_rate)
        self.config: Optional[Dict[str, Any]] = None
        if family == "mss":
            self.rate = self.sample_rate
            mode = {} if mss_mode is None else {"mode": mss_mode}
            self.fn: nn.Module = MSSLoss(**mode, **options)
            return
        # an explicit JTFS configuration applies at the synth's own rate; else 11025 Hz
        self.rate = self.sample_rate if jtfs is not None else JTFS_RATE
        self.config = dict(jtfs) if jtfs is not None else jtfs_config(n_samples, sample_rate)
        if family == "jtfs":        # a SCRAPL configuration's grad_mult means nothing here
            config = {k: v for k, v in self.config.items() if k != "grad_mult"}
            self.fn = JTFSLoss(**{"use_rho_log1p": True, **config, **options})
        else:
            self.fn = SCRAPLLoss(**{"use_rho_log1p": True, "grad_mult": 1.0, **self.config,
                                    **options})

    @property
    def scrapl(self) -> Optional[SCRAPLLoss]:
        """The wrapped :class:`scrapl.loss.SCRAPLLoss` (family ``scrapl``), else None."""
        return self.fn if isinstance(self.fn, SCRAPLLoss) else None

    def resample(self, x: torch.Tensor) -> torch.Tensor:
        """Audio ``[batch, n]`` or ``[batch, 1, n]`` at ``sample_rate`` -> the loss's
        input ``[batch, 1, N]``: for the JTFS families resampled to :attr:`rate`
        (differentiable) and cut or zero-padded to N = ``config['shape']`` samples; for
        ``mss`` the audio as it is."""
        x = x.reshape(x.shape[0], -1)
        if self.config is not None:
            x = resample_to_length(x, self.sample_rate, self.rate, self.config["shape"])
        return x.unsqueeze(1)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.fn(self.resample(pred), self.resample(target))

    # ------------------------------------------------------------------ JTFS families
    def _require(self, family: str, what: str) -> None:
        if self.family != family:
            raise ValueError(f"{what} needs family {family!r}, this loss is {self.family!r}")

    def scalogram(self, x: torch.Tensor) -> Scalogram:
        """The JTFS first order of audio x ``[batch, n]`` (at ``sample_rate``), to pass
        as ``scalogram`` to :meth:`path_coefficients` (a target's, computed once)."""
        if self.config is None:
            raise ValueError("scalogram needs a JTFS family ('jtfs' or 'scrapl')")
        return self.fn.jtfs.scalogram(self.resample(x))

    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """``jtfs``: the compared (log1p-compressed) JTFS coefficients of audio x
        ``[batch, n]`` -> ``[batch, C, freq, time]``; compare two with
        :meth:`coefficient_distances`."""
        self._require("jtfs", "coefficients")
        return self.fn.coefficients(self.resample(x))

    def coefficient_distances(self, S_x: torch.Tensor, S_target: torch.Tensor
                              ) -> torch.Tensor:
        """``jtfs``: the distance of every channel, two ``[batch, C, freq, time]`` outputs
        of :meth:`coefficients` -> ``[batch, C]`` (their mean over C is the loss)."""
        self._require("jtfs", "coefficient_distances")
        return self.fn.coefficient_distances(S_x, S_target)

    def path_coefficients(self, x: Optional[torch.Tensor], path_idx: int,
                          scalogram: Optional[Scalogram] = None) -> torch.Tensor:
        """``scrapl``: the compared coefficients of path ``path_idx`` of audio x
        ``[batch, n]``, or of the audio whose :meth:`scalogram` is given (x None)
        -> ``[batch, 1, freq, time]``; compare two with ``scrapl.distance``."""
        self._require("scrapl", "path_coefficients")
        key = [self.fn.scrapl_keys[path_idx]]
        x = None if x is None else self.resample(x)
        return self.fn.coefficients(x, key, scalogram=scalogram)[0]

    def path_distances(self, pred: torch.Tensor, target: torch.Tensor, paths: Sequence[int],
                       reduction: str = "mean") -> torch.Tensor:
        """``scrapl``: the distances on the fixed paths ``paths`` of audio ``[batch, n]``
        (no sampling, no bookkeeping; e.g. validation) -> ``[len(paths)]`` averaged over
        the batch, or ``[len(paths), batch]`` with ``reduction='none'``."""
        self._require("scrapl", "path_distances")
        return self.fn.path_distances(self.resample(pred), self.resample(target), paths,
                                      reduction)

    def extra_repr(self) -> str:
        return (f"family={self.family!r}, n_samples={self.n_samples}, "
                f"sample_rate={self.sample_rate}, rate={self.rate}")
