"""Loss landscapes through a synth: gradients with respect to the synth's parameters and
whether they point toward the target.

Used by ``benchmarks/landscape.py`` (issue #16: do our JTFS / SCRAPL distances carry the
granular texture's slope?).  Conventions: θ are a synth's *normalized* parameters in
[0, 1], shape ``[n, P]``; audio is ``[n, 1, N]`` (or ``[n, N]``).

* :func:`direction_accuracy`: the fraction of (start, target) pairs where the negative
  gradient of a loss at the start points toward the target, per parameter:
  ``sign(-dL/dθ_i) == sign(θ*_i - θ_i)``;
* :func:`synth_gradients`: ``dL/dθ`` by autograd through the synth (the check that the
  gradient reaches θ);
* :func:`fd_jacobian` and :func:`channel_gradients`: the gradient of *every* JTFS channel
  distance ``||S_c(x(θ)) - S_c(x*)||_2`` at once, from a central finite-difference
  Jacobian ``dS/dθ`` (2 P transforms, then any number of targets for free), for the
  per-path analysis where one backward pass per channel would cost hundreds;
* :func:`path_table`: the (j2, j_fr, spin) of each SCRAPL path of a :class:`scrapl.jtfs.JTFS`.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Tuple

import numpy as np
import torch

__all__ = ["direction_accuracy", "synth_gradients", "fd_jacobian", "channel_gradients",
           "path_table"]

Render = Callable[[torch.Tensor], torch.Tensor]


def direction_accuracy(grad: np.ndarray, theta: np.ndarray, theta_target: np.ndarray,
                       min_gap: float = 0.0) -> Tuple[np.ndarray, np.ndarray]:
    """Per parameter, the fraction of pairs whose negative gradient points to the target.

    grad: ``dL/dθ`` at the starts, ``[n, P]`` (any leading axes ``[..., P]``, flattened);
    theta, theta_target: the starts and targets, broadcastable to grad.  A pair counts for
    parameter i when ``|θ*_i - θ_i| >= min_gap`` (and > 0); it is right when
    ``sign(-grad_i) == sign(θ*_i - θ_i)``; a zero (or NaN) gradient is wrong.
    Returns ``(accuracy [P], count [P])`` (accuracy NaN where count is 0).
    """
    grad = np.asarray(grad, dtype=np.float64)
    delta = np.broadcast_to(np.asarray(theta_target, np.float64) - np.asarray(theta, np.float64),
                            grad.shape)
    P = grad.shape[-1]
    grad, delta = grad.reshape(-1, P), delta.reshape(-1, P)
    counted = (np.abs(delta) >= min_gap) & (delta != 0)
    right = np.sign(-grad) == np.sign(delta)
    count = counted.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(count > 0, (right & counted).sum(axis=0) / count, np.nan)
    return acc, count


def synth_gradients(loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                    render: Render, theta: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``dL/dθ`` ``[n, P]`` by autograd through the synth.

    render: normalized θ ``[n, P]`` -> audio ``[n, 1, N]``; loss(x, target) -> ``[n]`` per
    item (or a scalar that is a sum of per-item terms); target: ``[n, 1, N]`` (no grad).
    Items are independent, so the gradient of the sum holds each item's gradient.
    """
    th = theta.detach().clone().requires_grad_(True)
    value = loss(render(th), target.detach())
    (grad,) = torch.autograd.grad(value.sum(), th)
    return grad.detach()


def fd_jacobian(coefficients: Callable[[torch.Tensor], torch.Tensor], render: Render,
                theta: torch.Tensor, h: float = 2e-3) -> Tuple[torch.Tensor, torch.Tensor]:
    """Coefficients at θ and their central-difference Jacobian in θ.

    coefficients: audio ``[1, 1, N]`` -> ``[1, C, F, T]``; theta: one start ``[P]``,
    every entry in ``[h, 1 - h]``.  Returns ``S [C, F, T]`` (the mean of the 2 P
    evaluations, S(θ) + O(h^2)) and ``dS [P, C, F, T]``; costs 2 P transforms (no grad).
    """
    P = theta.shape[-1]
    steps = torch.eye(P, dtype=theta.dtype) * h
    with torch.no_grad():
        plus = [coefficients(render((theta + steps[i]).unsqueeze(0)))[0] for i in range(P)]
        minus = [coefficients(render((theta - steps[i]).unsqueeze(0)))[0] for i in range(P)]
    S = (torch.stack(plus).sum(0) + torch.stack(minus).sum(0)) / (2 * P)
    dS = torch.stack([(a - b) / (2 * h) for a, b in zip(plus, minus)])
    return S, dS


def channel_gradients(S: torch.Tensor, dS: torch.Tensor, S_target: torch.Tensor
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Distances and θ-gradients of every channel, for several targets.

    S: coefficients at the start ``[C, F, T]``; dS: their Jacobian ``[P, C, F, T]``;
    S_target: the targets' ``[K, C, F, T]``.  With ``r = S_c - S*_kc`` and
    ``d_kc = ||r||_2`` over (F, T): ``grad_kcp = <r, dS_pc> / d_kc``.  Returns
    ``d [K, C]`` and ``grad [K, C, P]`` (0 where d is 0).
    """
    r = S.unsqueeze(0) - S_target                                  # [K, C, F, T]
    d = torch.linalg.vector_norm(r, dim=(-2, -1))                  # [K, C]
    inner = torch.einsum("kcft,pcft->kcp", r, dS)                  # [K, C, P]
    grad = torch.where(d.unsqueeze(-1) > 0, inner / d.clamp_min(1e-30).unsqueeze(-1),
                       torch.zeros_like(inner))
    return d, grad


def path_table(jtfs) -> List[Dict[str, int]]:
    """One dict per SCRAPL path of a :class:`scrapl.jtfs.JTFS`, in ``scrapl_keys`` order:
    ``idx``, ``n2``, ``n_fr``, ``j2`` (temporal scale of the second-order wavelet, octaves),
    ``j_fr`` (frequential scale) and ``spin`` (+1 / -1; 0 for the frequential low-pass)."""
    return [dict(idx=i, n2=n2, n_fr=n_fr, j2=int(jtfs.j2[n2]),
                 j_fr=int(jtfs.j_fr[n_fr]), spin=int(jtfs.spin[n_fr]))
            for i, (n2, n_fr) in enumerate(jtfs.scrapl_keys)]
