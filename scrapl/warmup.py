"""θ-IS warm-up: curvature of the loss per path and per synth parameter.

For a path ``p`` and a synth parameter θ_i predicted by an encoder with weights ``w``, the
warm-up measures the largest-magnitude eigenvalue of

    H_i = ∂/∂w [ J_θ(w)^T (e_i ⊙ ∂L_p/∂θ) ],

the curvature of the path loss ``L_p`` with respect to the encoder weights through θ_i alone
(the operator of the SCRAPL paper and of the peer ``scrapl-loss`` 0.1.0).  It is found by
power iteration on Hessian-vector products computed by double backward, for all θ_i at once
(one batched vector-Jacobian product per iteration via ``is_grads_batched``; a loop over θ_i
where an operation in the graph does not support batching).
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import torch

__all__ = ["theta_weight_gradients", "batched_hvp", "power_iteration"]


def theta_weight_gradients(loss: torch.Tensor, theta: torch.Tensor,
                           params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Rows ``J_θ^T (e_i ⊙ ∂loss/∂θ)`` for every θ_i, with their graph kept.

    loss: scalar; theta: (batch, n_theta) in the graph of ``loss`` and a function of
    ``params``.  Returns (n_theta, n_weights), differentiable w.r.t. ``params``.
    """
    n_theta = theta.shape[1]
    dtheta = torch.autograd.grad(loss, theta, create_graph=True, materialize_grads=True)[0]
    eye = torch.eye(n_theta, dtype=dtheta.dtype, device=dtheta.device)
    # batch b of grad_outputs keeps column b of dtheta only
    outputs = dtheta.unsqueeze(0) * eye.unsqueeze(1)                 # (n_theta, batch, n_theta)
    grads = torch.autograd.grad(theta, list(params), grad_outputs=outputs, create_graph=True,
                                materialize_grads=True, is_grads_batched=True)
    return torch.cat([g.reshape(n_theta, -1) for g in grads], dim=1)


def batched_hvp(rows: torch.Tensor, params: Sequence[torch.Tensor], tangents: torch.Tensor,
                retain_graph: bool = True, vectorize: bool = True) -> torch.Tensor:
    """``H_i v_i = ∂<rows_i, v_i>/∂w`` for every i.

    rows: (n, n_weights) from :func:`theta_weight_gradients`; tangents: (n, n_weights).
    Returns (n, n_weights).  ``vectorize`` uses one batched backward (block-diagonal
    grad_outputs); otherwise one backward per row.
    """
    n = rows.shape[0]
    params = list(params)
    if vectorize:
        eye = torch.eye(n, dtype=rows.dtype, device=rows.device)
        outputs = eye.unsqueeze(-1) * tangents.unsqueeze(0)          # (n, n, n_weights)
        grads = torch.autograd.grad(rows, params, grad_outputs=outputs, retain_graph=retain_graph,
                                    materialize_grads=True, is_grads_batched=True)
        return torch.cat([g.reshape(n, -1) for g in grads], dim=1)
    out = []
    for i in range(n):
        grads = torch.autograd.grad(rows[i], params, grad_outputs=tangents[i],
                                    retain_graph=retain_graph or i < n - 1,
                                    materialize_grads=True)
        out.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(out)


def power_iteration(hvp: Callable[[torch.Tensor], torch.Tensor], n: int, size: int,
                    n_iter: int = 20, tol: float = 1e-4,
                    generator: Optional[torch.Generator] = None,
                    dtype: torch.dtype = torch.float32,
                    device: Optional[torch.device] = None) -> torch.Tensor:
    """Largest-magnitude eigenvalue of ``n`` symmetric operators at once.

    ``hvp(V)`` maps (n, size) to (n, size) row by row.  Starts from seeded Gaussian vectors,
    iterates at most ``n_iter`` times and stops when every Rayleigh quotient changes by
    less than ``tol`` (relative).  Returns the absolute eigenvalues, (n,) float64 on the CPU.
    """
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}")
    V = torch.randn(n, size, generator=generator, dtype=torch.float64).to(dtype=dtype,
                                                                         device=device)
    V = V / V.norm(dim=1, keepdim=True)
    lam_prev: Optional[torch.Tensor] = None
    lam = torch.zeros(n, dtype=torch.float64)
    for _ in range(n_iter):
        HV = hvp(V).detach()
        lam = (V * HV).sum(dim=1).double().cpu()
        norms = HV.norm(dim=1, keepdim=True)
        V = torch.where(norms > 0, HV / norms.clamp_min(torch.finfo(HV.dtype).tiny), V)
        if lam_prev is not None and bool(((lam - lam_prev).abs()
                                          <= tol * lam.abs().clamp_min(1e-30)).all()):
            break
        lam_prev = lam
    return lam.abs()


def split_params(params: Sequence[torch.Tensor], per_tensor: bool) -> List[List[torch.Tensor]]:
    """One group with every tensor, or one group per tensor."""
    return [[p] for p in params] if per_tensor else [list(params)]
