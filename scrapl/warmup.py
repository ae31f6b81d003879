"""θ-IS warm-up: curvature of the loss per path and per synth parameter.

For a path ``p`` and a synth parameter θ_i predicted by an encoder with weights ``w``, the
warm-up measures the largest-magnitude eigenvalue of

    H_i = ∂/∂w [ J_θ(w)^T (e_i ⊙ ∂L_p/∂θ) ],

the curvature of the path loss ``L_p`` with respect to the encoder weights through θ_i alone
(the operator of the SCRAPL paper and of the peer ``scrapl-loss`` 0.1.0).  It is found by
power iteration on Hessian-vector products computed by double backward, for all θ_i at once
(one batched vector-Jacobian product per iteration via ``is_grads_batched``; a loop over θ_i
where an operation in the graph does not support batching).

Two layers:

* the maths, on any loss: :func:`theta_weight_gradients`, :func:`batched_hvp`,
  :func:`power_iteration`, :func:`split_params`;
* the orchestration on a :class:`scrapl.loss.SCRAPLLoss`, passed first (its methods of
  the same names are these functions): :func:`path_theta_weight_gradients` and
  :func:`calc_theta_eigs` (one path), :func:`warmup_lc_hvp` (every path of a range, saved
  to ``vals_{i}.pt`` files, resumable and shardable), :func:`load_probs_from_warmup_dir`
  (merge those files), :func:`load_probs` (a fixed distribution), :func:`update_from_vals`
  / :func:`aggregate_vals` (fold one path's values in) and :func:`check_is_deterministic`.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Literal, Optional, Sequence, Union

import torch

from .path_sampling import PathSamplingError
from .tensor_files import load_tensor, save_tensor

if TYPE_CHECKING:                       # loss.py imports this module
    from .loss import SCRAPLLoss

log = logging.getLogger(__name__)

__all__ = ["Agg", "aggregate_vals", "batched_hvp", "calc_theta_eigs", "check_is_deterministic",
           "load_probs", "load_probs_from_warmup_dir", "path_theta_weight_gradients",
           "power_iteration", "split_params", "theta_weight_gradients", "update_from_vals",
           "warmup_lc_hvp"]

#: how the values of several parameter groups (``agg != 'none'``: one per tensor) are merged
Agg = Literal["none", "mean", "max", "med"]


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


# ----------------------------------------------------------------------------- on a SCRAPLLoss
def check_is_deterministic(theta_fn: Callable[..., torch.Tensor],
                           theta_fn_kwargs: Dict[str, Any],
                           synth: Callable[..., torch.Tensor],
                           synth_fn_kwargs: Optional[Dict[str, Any]] = None) -> bool:
    """True if ``theta_fn`` and ``synth`` give the same output twice."""
    with torch.no_grad():
        theta_1, theta_2 = theta_fn(**theta_fn_kwargs), theta_fn(**theta_fn_kwargs)
        if not torch.allclose(theta_1, theta_2):
            log.warning("theta_fn is not deterministic")
            return False
        kw = synth_fn_kwargs or {}
        if not torch.allclose(synth(theta_1, **kw), synth(theta_2, **kw)):
            log.warning("synth_fn is not deterministic")
            return False
    return True


def aggregate_vals(vals: torch.Tensor, n_theta: int, agg: Agg, source: str = "vals"
                   ) -> torch.Tensor:
    """The curvature values of one path, (n_theta,) float64, from a (groups, n_theta)
    tensor (a ``vals_{i}.pt`` file, named ``source`` in errors): its one row
    (``agg='none'``), or the mean, max or median over the groups."""
    if vals.ndim != 2 or vals.shape[1] != n_theta:
        raise ValueError(f"{source}: expected shape (groups, {n_theta}), got "
                         f"{tuple(vals.shape)}")
    if agg == "none":
        if vals.shape[0] != 1:
            raise ValueError(f"{source}: agg='none' needs one parameter group, got "
                             f"{vals.shape[0]}")
        v = vals[0]
    elif agg == "mean":
        v = vals.mean(dim=0)
    elif agg == "max":
        v = vals.max(dim=0).values
    elif agg == "med":
        v = vals.median(dim=0).values
    else:
        raise ValueError(f"agg must be 'none', 'mean', 'max' or 'med', got {agg!r}")
    return v.double()


def update_from_vals(loss: "SCRAPLLoss", vals: torch.Tensor, path_idx: int, agg: Agg,
                     source: str = "vals") -> None:
    """Fold the (groups, n_theta) curvature values of path ``path_idx`` into the path
    distribution of ``loss`` (see :func:`aggregate_vals`)."""
    loss.sampler.update(path_idx, aggregate_vals(vals, loss.n_theta, agg, source))


def load_probs(loss: "SCRAPLLoss", probs_path: Union[str, Path]) -> None:
    """Give ``loss`` fixed path probabilities from a ``.pt`` file holding a (n_paths,)
    tensor (e.g. the ``probs.pt`` of a warm-up)."""
    if not os.path.isfile(probs_path):
        raise FileNotFoundError(f"probs file not found: {probs_path}")
    probs = load_tensor(probs_path)
    loss.sampler.set_probs(probs, source=str(probs_path))
    loss.loaded_probs_path = str(probs_path)


def load_probs_from_warmup_dir(loss: "SCRAPLLoss", warmup_dir: Union[str, Path],
                               agg: Agg = "none") -> None:
    """Merge the per-path files ``vals_{i}.pt`` of one or several (sharded) warm-up
    runs into the path distribution of ``loss``.  Clears the loss first, like the peer."""
    if not os.path.isdir(warmup_dir):
        raise FileNotFoundError(f"warm-up folder not found: {warmup_dir}")
    loss.clear()
    missing = []
    for path_idx in range(loss.n_paths):
        vals_path = Path(warmup_dir) / f"vals_{path_idx}.pt"
        if not vals_path.is_file():
            missing.append(path_idx)
            continue
        update_from_vals(loss, load_tensor(vals_path), path_idx, agg, str(vals_path))
    if missing:
        log.warning("warm-up values missing for %d of %d paths (e.g. %s)", len(missing),
                    loss.n_paths, missing[:5])
    loss.loaded_probs_path = str(warmup_dir)


def path_theta_weight_gradients(loss: "SCRAPLLoss", path_idx: int,
                                theta_fn: Callable[..., torch.Tensor],
                                synth_fn: Callable[..., torch.Tensor],
                                theta_fn_kwargs: Dict[str, Any],
                                synth_fn_kwargs: Optional[Dict[str, Any]],
                                params: Sequence[torch.Tensor]) -> torch.Tensor:
    """:func:`theta_weight_gradients` of the distance of ``loss`` on path ``path_idx``
    for one batch: θ̂ = ``theta_fn(**theta_fn_kwargs)`` (batch, n_theta), rendered by
    ``synth_fn(θ̂, **synth_fn_kwargs)`` (batch, 1, N) and compared with the target audio
    ``theta_fn_kwargs['x']`` (batch, 1, N).  Returns (n_theta, n_weights) rows with their
    graph kept."""
    theta_hat = theta_fn(**theta_fn_kwargs)
    if theta_hat.ndim != 2 or theta_hat.shape[1] != loss.n_theta:
        raise ValueError(f"theta_fn must return (batch, n_theta={loss.n_theta}), got "
                         f"{tuple(theta_hat.shape)}")
    x_hat = synth_fn(theta_hat, **(synth_fn_kwargs or {}))
    x, x_hat = loss.check_inputs(theta_fn_kwargs["x"], x_hat)
    key = [loss.scrapl_keys[path_idx]]
    dist = loss.distance(loss.coefficients(x_hat, key)[0], loss.coefficients(x, key)[0])
    return theta_weight_gradients(dist, theta_hat, params)


def calc_theta_eigs(loss: "SCRAPLLoss", path_idx: int, theta_fn: Callable[..., torch.Tensor],
                    synth_fn: Callable[..., torch.Tensor],
                    theta_fn_kwargs: Sequence[Dict[str, Any]], params: List[torch.Tensor],
                    synth_fn_kwargs: Optional[Sequence[Dict[str, Any]]] = None,
                    n_iter: int = 20, tol: float = 1e-4, seed: int = 0) -> torch.Tensor:
    """Largest-magnitude curvature eigenvalue per synth parameter for path ``path_idx``
    of ``loss``, (n_theta,) float64; the curvature operators of several batches
    (``theta_fn_kwargs``, one dict per batch) are averaged.  Power iteration from a
    Gaussian start seeded by ``seed`` and the path."""
    loss.check_path_idx(path_idx)
    if isinstance(theta_fn_kwargs, dict):
        theta_fn_kwargs = [theta_fn_kwargs]
    synth_fn_kwargs = list(synth_fn_kwargs) if synth_fn_kwargs is not None \
        else [None] * len(theta_fn_kwargs)
    rows_cache: List[torch.Tensor] = []
    if len(theta_fn_kwargs) == 1:   # keep the one graph for every iteration
        rows_cache.append(path_theta_weight_gradients(
            loss, path_idx, theta_fn, synth_fn, theta_fn_kwargs[0], synth_fn_kwargs[0], params))
    vectorize = [True]

    def hvp_rows(rows: torch.Tensor, V: torch.Tensor, retain: bool) -> torch.Tensor:
        if vectorize[0]:
            try:
                return batched_hvp(rows, params, V, retain_graph=True)
            except RuntimeError as err:     # an op without batching support
                log.info("θ-IS: batched HVP unavailable (%s); looping over θ", err)
                vectorize[0] = False
        return batched_hvp(rows, params, V, retain_graph=retain, vectorize=False)

    def hvp(V: torch.Tensor) -> torch.Tensor:
        if rows_cache:
            return hvp_rows(rows_cache[0], V, True)
        total = None
        for tk, sk in zip(theta_fn_kwargs, synth_fn_kwargs):
            rows = path_theta_weight_gradients(loss, path_idx, theta_fn, synth_fn, tk, sk,
                                               params)
            out = hvp_rows(rows, V, False)
            total = out if total is None else total + out
        return total / len(theta_fn_kwargs)

    size = sum(q.numel() for q in params)
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed * 1_000_003 + path_idx)
    return power_iteration(hvp, loss.n_theta, size, n_iter=n_iter, tol=tol,
                           generator=gen, dtype=params[0].dtype, device=params[0].device)


def warmup_lc_hvp(loss: "SCRAPLLoss", theta_fn: Callable[..., torch.Tensor],
                  synth_fn: Callable[..., torch.Tensor],
                  theta_fn_kwargs: List[Dict[str, Any]], params: List[torch.Tensor],
                  synth_fn_kwargs: Optional[List[Dict[str, Any]]] = None,
                  start_path_idx: int = 0, end_path_idx: Optional[int] = None,
                  save_dir: Optional[str] = "scrapl_warmup", n_iter: int = 20,
                  agg: Agg = "none", force_multibatch: bool = False,
                  tol: float = 1e-4, seed: int = 0, progress: bool = True) -> None:
    """θ-IS warm-up: set the path distribution of ``loss`` from the curvature of each path.

    For paths ``start_path_idx <= i < end_path_idx``: the largest-magnitude eigenvalue
    of the curvature operator per synth parameter (:func:`calc_theta_eigs`), on the
    batches ``theta_fn_kwargs`` (each a dict of ``theta_fn`` arguments including the
    target audio ``x``), saved to ``save_dir/vals_{i}.pt`` (a (groups, n_theta) float32
    tensor, the peer's format) and folded into ``loss.probs``.  Paths whose file already
    exists are read instead of recomputed, so an interrupted warm-up resumes and
    shards run in separate processes (disjoint path ranges, one ``save_dir``) merge with
    :func:`load_probs_from_warmup_dir`.  A warm-up of every path also saves
    ``save_dir/probs.pt``.  ``agg`` != 'none' measures each parameter tensor separately
    and aggregates.  ``force_multibatch`` is accepted for the peer's signature (several
    batches are always averaged).  Shows a progress bar with ETA.
    """
    from tqdm.auto import tqdm
    params = list(params)
    if not params:
        raise ValueError("params must not be empty")
    if any(q.grad is not None for q in params):
        raise ValueError("params must have no gradients before warm-up (zero_grad(set_to_none=True))")
    if loss.attached_params:
        raise ValueError("detach parameters (attach_params([])) before warm-up")
    if not theta_fn_kwargs:
        raise ValueError("theta_fn_kwargs must hold at least one batch")
    if isinstance(theta_fn_kwargs, dict):
        theta_fn_kwargs = [theta_fn_kwargs]
    if any("x" not in kw for kw in theta_fn_kwargs):
        raise ValueError("every dict in theta_fn_kwargs must hold the target audio 'x'")
    if synth_fn_kwargs is not None and len(synth_fn_kwargs) != len(theta_fn_kwargs):
        raise ValueError(f"len(synth_fn_kwargs)={len(synth_fn_kwargs)} != "
                         f"len(theta_fn_kwargs)={len(theta_fn_kwargs)}")
    if loss.loaded_probs_path is not None:
        raise PathSamplingError(f"cannot warm up: fixed probs were loaded from "
                                f"{loss.loaded_probs_path} (call clear() first)")
    end_path_idx = loss.n_paths if end_path_idx is None else end_path_idx
    if not 0 <= start_path_idx < end_path_idx <= loss.n_paths:
        raise ValueError(f"need 0 <= start_path_idx < end_path_idx <= {loss.n_paths}, got "
                         f"{start_path_idx}, {end_path_idx}")
    if not check_is_deterministic(theta_fn, theta_fn_kwargs[0], synth_fn,
                                  (synth_fn_kwargs or [None])[0]):
        log.warning("θ-IS warm-up: theta_fn or synth_fn is not deterministic; the "
                    "curvature estimates will be noisy")
    if save_dir is not None:
        os.makedirs(save_dir, exist_ok=True)
    groups = split_params(params, per_tensor=agg != "none")
    bar = tqdm(range(start_path_idx, end_path_idx), desc="θ-IS warm-up", unit="path",
               disable=not progress)
    for path_idx in bar:
        vals_path = Path(save_dir) / f"vals_{path_idx}.pt" if save_dir else None
        if vals_path is not None and vals_path.is_file():
            vals = load_tensor(vals_path)
        else:
            vals = torch.stack([calc_theta_eigs(
                loss, path_idx, theta_fn, synth_fn, theta_fn_kwargs, group, synth_fn_kwargs,
                n_iter=n_iter, tol=tol, seed=seed) for group in groups]).float()
            if vals_path is not None:
                save_tensor(vals, vals_path)
        update_from_vals(loss, vals, path_idx, agg, str(vals_path or "vals"))
    if save_dir is not None and start_path_idx == 0 and end_path_idx == loss.n_paths:
        save_tensor(loss.probs.clone(), Path(save_dir) / "probs.pt")
