"""Full joint time-frequency scattering (JTFS) distance: the deterministic baseline of SCRAPL.

``JTFSLoss`` computes *every* JTFS channel of both signals and averages the per-channel
distances, i.e. the quantity whose gradient SCRAPL estimates from one random path a step.
It reproduces the peer's full-JTFS baseline (``shared/peer/README.md``, section "b. Full
JTFS"; ``shared/peer/bench_peer.py::worker_full_jtfs``; and ``JTFSTLoss`` of the SCRAPL
experiments, github.com/christhetree/scrapl ``experiments/src/losses.py``):

* ``S = JTFS(x)`` in the 'joint' layout, real ``[batch, channels, freq, time]``: the
  first-order channels, then the second-order paths in ``scrapl_keys`` order; time axis
  unpadded, frequency axis padded (like kymatio's 'joint' array output);
* ``S <- log1p(S / log1p_eps)`` if ``use_rho_log1p`` (:meth:`JTFSLoss.coefficients`);
* per channel ``d[b, c] = || S_target[b, c] - S_x[b, c] ||_p`` over (freq, time)
  (:meth:`JTFSLoss.coefficient_distances`);
* mean over the channels (order 1 included when ``first_order``), then ``reduction`` over
  the batch.  With ``reduction='mean'`` this is the peer's ``vector_norm(...).mean()`` over
  batch and channels at once (every signal has the same number of channels).

Unbiasedness: with ``first_order=False`` and ``unpad=False`` the loss is exactly the mean
over all paths of the peer's single-path distances (which are computed on padded
coefficients); with ``unpad=True`` it is the mean of the unpadded single-path distances.
:meth:`JTFSLoss.second_order_only` gives that mean whatever ``first_order`` is.

Cost: all channels, twice (input and target), on every call; see ``benchmarks/RESULTS.md``
(tens of seconds and GBs per signal for the paper's configurations on CPU).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .jtfs import JTFS

__all__ = ["JTFSLoss"]

REDUCTIONS = ("mean", "sum", "none")


class JTFSLoss(nn.Module):
    """Mean over JTFS channels of ``||S(x_target) - S(x)||_p`` over (freq, time).

    Parameters
    ----------
    shape : int
        Signal length N in samples.
    J, Q1, Q2, J_fr, Q_fr, T, F
        JTFS configuration, as in ``SCRAPLLoss`` / :class:`scrapl.jtfs.JTFS` (``Q=(Q1, Q2)``;
        ``T`` in samples and ``F`` in first-order filters, None = ``2**J`` / ``2**J_fr``).
    p : float
        Order of the norm over (freq, time) per channel (2 = Euclidean, the paper's choice).
    use_rho_log1p : bool
        Compress coefficients as ``log1p(S / log1p_eps)`` before the distance.
    log1p_eps : float
        Scale of the log1p compression (> 0).
    first_order : bool
        Include the first-order channels in the mean (the peer's full baseline does).
    reduction : {'mean', 'sum', 'none'}
        Over the batch: 'none' returns one distance per signal, shape ``[batch]``.
    paths : sequence of int, optional
        Restrict the second-order channels to these path indices (into ``scrapl_keys``);
        default all.  Useful for cheap checks; the baseline uses all paths.
    unpad : bool
        Distances on unpadded coefficients (the full JTFS, default) or on padded ones
        (what the peer's single-path SCRAPL distance uses).
    dtype : torch.dtype
        Real dtype of the filters and of the computation (float32 like the peer).

    Shapes: ``x``, ``x_target`` real ``[batch, 1, N]`` (any ``[..., N]`` is accepted and
    flattened to ``[batch', N]`` like the peer's ``view(-1, 1, N)``).
    """

    def __init__(self, shape: int, J: int, Q1: int, Q2: int, J_fr: int, Q_fr: int,
                 T: Optional[int] = None, F: Optional[int] = None, p: float = 2,
                 use_rho_log1p: bool = False, log1p_eps: float = 1e-3,
                 first_order: bool = True, reduction: str = "mean",
                 paths: Optional[Sequence[int]] = None, unpad: bool = True,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if not p > 0:
            raise ValueError(f"p must be > 0, got {p!r}")
        if use_rho_log1p and not log1p_eps > 0:
            raise ValueError(f"log1p_eps must be > 0, got {log1p_eps!r}")
        self.jtfs = JTFS(shape, J, (Q1, Q2), J_fr, Q_fr, T, F, dtype=dtype)
        n_paths = len(self.jtfs.scrapl_keys)
        if paths is not None:
            paths = [int(i) for i in paths]
            bad = [i for i in paths if not 0 <= i < n_paths]
            if bad:
                raise ValueError(f"paths must lie in [0, {n_paths}), got {bad}")
        if not first_order and paths is not None and len(paths) == 0:
            raise ValueError("paths is empty and first_order is False: no channel left")
        self.shape = shape
        self.p = p
        self.use_rho_log1p = use_rho_log1p
        self.log1p_eps = log1p_eps
        self.first_order = first_order
        self.reduction = reduction
        self.paths = paths
        self.unpad = unpad

    # ------------------------------------------------------------------ info
    @property
    def n_paths(self) -> int:
        """Number of second-order paths of the configuration (``len(scrapl_keys)``)."""
        return len(self.jtfs.scrapl_keys)

    @property
    def n_first_order(self) -> int:
        """Number of first-order channels counted by this loss (0 if ``first_order=False``)."""
        return len(self.jtfs.first_order_keys) if self.first_order else 0

    # ------------------------------------------------------------------ maths
    def _compress(self, S: torch.Tensor) -> torch.Tensor:
        return torch.log1p(S / self.log1p_eps) if self.use_rho_log1p else S

    def coefficients(self, x: torch.Tensor, first_order: Optional[bool] = None
                     ) -> torch.Tensor:
        """The compared coefficients of x: the JTFS channels, log1p-compressed if
        ``use_rho_log1p``.

        x: real ``[..., N]``.  Returns real ``[batch', C, freq, time]`` with batch' the
        product of the leading axes and C = first-order channels (if ``first_order``,
        default ``self.first_order``) followed by the selected paths.  Compare two with
        :meth:`coefficient_distances`.
        """
        if x.shape[-1] != self.shape:
            raise ValueError(f"x must have {self.shape} samples on its last axis (shape),"
                             f" got {tuple(x.shape)}")
        first_order = self.first_order if first_order is None else first_order
        S = self.jtfs.full(x.reshape(-1, self.shape), paths=self.paths,
                           first_order=first_order, unpad=self.unpad)
        return self._compress(S)

    def coefficient_distances(self, S_x: torch.Tensor, S_target: torch.Tensor
                              ) -> torch.Tensor:
        """``||S_target - S_x||_p`` over (freq, time) per signal and channel: two
        ``[batch, C, freq, time]`` outputs of :meth:`coefficients` -> ``[batch, C]``."""
        return torch.linalg.vector_norm(S_target - S_x, ord=self.p, dim=(-2, -1))

    def channel_distances(self, x: torch.Tensor, x_target: torch.Tensor,
                          first_order: Optional[bool] = None) -> torch.Tensor:
        """Per-signal, per-channel distances ``||S_target - S_x||_p`` over (freq, time).

        x, x_target: real ``[..., N]``, same shape.  Returns ``[batch', C]`` with
        batch' the product of the leading axes and C = first-order channels (if
        ``first_order``, default ``self.first_order``) followed by the selected paths.
        """
        if x.shape != x_target.shape:
            raise ValueError(f"x_target must have the shape of x, got {tuple(x_target.shape)}"
                             f" vs {tuple(x.shape)}")
        return self.coefficient_distances(self.coefficients(x, first_order),
                                          self.coefficients(x_target, first_order))

    def _reduce(self, d: torch.Tensor) -> torch.Tensor:
        if self.reduction == "mean":
            return d.mean()
        if self.reduction == "sum":
            return d.sum()
        return d

    def forward(self, x: torch.Tensor, x_target: torch.Tensor, seed: Optional[int] = None,
                path_idx: Optional[int] = None) -> torch.Tensor:
        """Full JTFS distance.

        x, x_target: real ``[batch, 1, N]``.  ``seed`` and ``path_idx`` are accepted for
        the common loss signature and ignored (every channel is used).  Returns a scalar
        ('mean' / 'sum' over the batch) or ``[batch]`` ('none').
        """
        return self._reduce(self.channel_distances(x, x_target).mean(dim=-1))

    def second_order_only(self, x: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        """Like :meth:`forward` but the mean runs over the second-order channels only.

        Equals the mean over the (selected) paths of the single-path distances, i.e.
        the expectation of SCRAPL's distance under uniform path sampling (on unpadded
        coefficients unless ``unpad=False``), whatever ``first_order`` is.
        """
        if self.paths is not None and len(self.paths) == 0:
            raise ValueError("paths is empty: no second-order channel to average")
        d = self.channel_distances(x, x_target, first_order=False)
        return self._reduce(d.mean(dim=-1))

    def extra_repr(self) -> str:
        j = self.jtfs
        return (f"shape={self.shape}, J={j.J}, Q={j.Q}, J_fr={j.J_fr}, Q_fr={j.Q_fr}, "
                f"T={j.T}, F={j.F}, p={self.p}, use_rho_log1p={self.use_rho_log1p}, "
                f"log1p_eps={self.log1p_eps}, first_order={self.first_order}, "
                f"reduction={self.reduction!r}, unpad={self.unpad}")
