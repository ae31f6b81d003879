"""``SCRAPLLoss``: the JTFS distance of one random path per step, with 𝒫-Adam, 𝒫-SAGA and θ-IS.

Drop-in replacement for ``scrapl.SCRAPLLoss`` of the ``scrapl-loss`` 0.1.0 package: the same
constructor arguments, ``forward(x, x_target, seed=None, path_idx=None)``, attributes
(``n_paths``, ``unif_prob``, ``scrapl_keys``, ``curr_path_idx``, ``path_counts``, ``probs``,
``unsampled_paths``, ``scrapl_t``) and methods (``attach_params``, ``clear``, ``sample_path``,
``calc_dist``, ``update_prob``, ``load_probs``, ``load_probs_from_warmup_dir``,
``warmup_lc_hvp``, ``check_is_deterministic``, ``check_probs``, ``calc_log_probs``,
``adam_grad_norm_cont``, ``state_dict``/``load_state_dict``).  Training code switches with one
import.  What differs, on purpose (each is tested):

* the single-path output is unpadded in time (equal to the matching channel of the full
  JTFS); ``unpad=False`` reproduces the peer's padded output exactly;
* 𝒫-SAGA keeps a running sum (O(|w|) per step) and divides by ``n_paths`` (unbiased);
* 𝒫-Adam's step counter starts at 1 (the peer counts the first step as 2);
* state tables are allocated only for what is enabled, optionally in bfloat16
  (``state_dtype``), and with 𝒫-Adam and 𝒫-SAGA both on the SAGA table is derived from the
  Adam moments instead of stored; :meth:`SCRAPLLoss.state_bytes` reports the bytes held;
* ``p_adam_v_dtype=torch.float8_e4m3fn`` holds 𝒫-Adam's second moment as ``sqrt(v)`` in
  float8 e4m3 (1 byte per element, one float32 scale per parameter tensor and path, unbiased
  stochastic rounding): with bfloat16 ``m`` that is 3 bytes per weight and path against the
  peer's 12, 0.25 of its state (1.05 GB instead of 4.2 GB for the paper's 724k-weight encoder
  and 483 paths); see :mod:`scrapl.path_optim`;
* ``state_dict``/``load_state_dict`` resume training exactly (moments, running sums, step
  counters, path statistics, sampler RNG), and load with ``torch.load(weights_only=True)``;
* gradient accumulation: ``grad_accum_steps=k`` keeps one path for k forward/backward passes
  and applies 𝒫-Adam/𝒫-SAGA once to the accumulated gradient;
* ``min_prob_frac > 0`` works; ``importance_weighting=True`` weights a path drawn with
  probability π_p by 1/(P π_p), so non-uniform sampling stays unbiased;
* the sampler has its own generator (seeded by ``seed``, else from torch's global RNG at
  construction);
* the first-order transform of a target passed again (same tensor, unmodified) is cached;
* ``paths_per_step=k`` averages k distinct paths that share one first-order transform
  (not with 𝒫-Adam/𝒫-SAGA, whose statistics are per path);
* the θ-IS warm-up skips paths whose values are already in ``save_dir`` (resumable,
  shardable by path range), shows a progress bar with ETA, and batches the power
  iteration over the synth parameters.

Where the parts live: the transform in :mod:`scrapl.jtfs`, the path distribution in
:mod:`scrapl.path_sampling`, the 𝒫-Adam/𝒫-SAGA state in :mod:`scrapl.path_optim` and the
θ-IS warm-up in :mod:`scrapl.warmup` (public functions taking the loss; the methods of the
same names here call them).  This module holds the distance, the per-path optimizer hooks
and the state of a training run.
"""
from __future__ import annotations

import logging
import weakref
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from kernels import dispatch as K

from . import warmup as W
from .jtfs import JTFS, Scalogram
from .path_optim import PathGradientState, adam_grad_norm_cont, check_v_dtype
from .path_sampling import PathSampler, PathSamplingError, calc_log_probs, check_probs

log = logging.getLogger(__name__)

__all__ = ["SCRAPLLoss"]

STATE_FORMAT = 1


class SCRAPLLoss(nn.Module):
    """Scattering transform with random paths: a JTFS distance on one path per call.

    Parameters (the peer's, then ours)
    ----------
    shape : signal length N (samples)
    J, Q1, Q2 : octaves and wavelets per octave of the temporal filters (orders 1 and 2)
    J_fr, Q_fr : octaves and wavelets per octave of the frequential filters
    T, F : temporal / frequential averaging sizes (None: 2**J / 2**J_fr)
    p : order of the norm of the coefficient difference
    use_rho_log1p, log1p_eps : compare ``log1p(S / log1p_eps)`` instead of ``S``
    grad_mult : gradient multiplier applied by the hooks of :meth:`attach_params`
    use_p_adam, use_p_saga : 𝒫-Adam / 𝒫-SAGA (need :meth:`attach_params` and plain SGD)
    sample_all_paths_first : visit every path once before sampling from ``probs``
    n_theta : number of synth parameters (θ-IS statistics)
    min_prob_frac : every path keeps at least ``min_prob_frac / n_paths``
    probs_path : a ``.pt`` file of fixed path probabilities
    eps : floor of curvature values
    p_adam_b1, p_adam_b2, p_adam_eps : 𝒫-Adam hyper-parameters
    state_dtype : dtype of the per-path tables (``torch.bfloat16`` halves them)
    p_adam_v_dtype : dtype of 𝒫-Adam's second-moment table: None (same as ``state_dtype``)
        or ``torch.float8_e4m3fn`` (``sqrt(v)`` in 1 byte per element, with per-row scales)
    importance_weighting : weight the drawn path by 1/(P π_p)
    grad_accum_steps : backward passes per optimizer step
    paths_per_step : distinct paths averaged per call (sharing the first order)
    unpad : unpad single-path outputs in time (False: the peer's padded output)
    cache_target : reuse the first order of a target tensor passed again
    seed : seed of the path sampler (default: drawn from torch's global RNG)
    dtype : float32 (default, like the peer) or float64
    """

    def __init__(self, shape: int, J: int, Q1: int, Q2: int, J_fr: int, Q_fr: int,
                 T: Optional[Union[str, int]] = None, F: Optional[Union[str, int]] = None,
                 p: int = 2, use_rho_log1p: bool = False, log1p_eps: float = 1e-3,
                 grad_mult: float = 1e8, use_p_adam: bool = True, use_p_saga: bool = True,
                 sample_all_paths_first: bool = False, n_theta: int = 1,
                 min_prob_frac: float = 0.0, probs_path: Optional[str] = None,
                 eps: float = 1e-12, p_adam_b1: float = 0.9, p_adam_b2: float = 0.999,
                 p_adam_eps: float = 1e-8, *, state_dtype: torch.dtype = torch.float32,
                 p_adam_v_dtype: Optional[torch.dtype] = None,
                 importance_weighting: bool = False, grad_accum_steps: int = 1,
                 paths_per_step: int = 1, unpad: bool = True, cache_target: bool = True,
                 seed: Optional[int] = None, dtype: torch.dtype = torch.float32):
        super().__init__()
        if isinstance(T, str) or isinstance(F, str):
            raise ValueError("T and F must be integers or None ('global' averaging is not "
                             "supported)")
        if use_p_adam and not use_rho_log1p and grad_mult <= 1.0:
            raise ValueError("use_p_adam without use_rho_log1p needs grad_mult > 1 to avoid "
                             f"float precision errors, got grad_mult={grad_mult}")
        if n_theta < 1:
            raise ValueError(f"n_theta must be >= 1, got {n_theta}")
        if not 0.0 <= min_prob_frac < 1.0:
            raise ValueError(f"min_prob_frac must be in [0, 1), got {min_prob_frac}")
        if grad_accum_steps < 1:
            raise ValueError(f"grad_accum_steps must be >= 1, got {grad_accum_steps}")
        if p <= 0:
            raise ValueError(f"p must be > 0, got {p}")
        check_v_dtype(state_dtype, p_adam_v_dtype)
        self.p = p
        self.use_rho_log1p = use_rho_log1p
        self.log1p_eps = log1p_eps
        self.grad_mult = grad_mult
        self.use_p_adam = use_p_adam
        self.use_p_saga = use_p_saga
        self.sample_all_paths_first = sample_all_paths_first
        self.n_theta = n_theta
        self.min_prob_frac = min_prob_frac
        self.eps = eps
        self.p_adam_b1, self.p_adam_b2, self.p_adam_eps = p_adam_b1, p_adam_b2, p_adam_eps
        self.state_dtype = state_dtype
        self.p_adam_v_dtype = p_adam_v_dtype
        self.importance_weighting = importance_weighting
        self.grad_accum_steps = grad_accum_steps
        self.unpad = unpad
        self.cache_target = cache_target

        self.jtfs = JTFS(shape, J, (Q1, Q2), J_fr, Q_fr, T, F, dtype=dtype)
        self.meta = self.jtfs.meta
        self.scrapl_keys: List[Tuple[int, int]] = list(self.jtfs.scrapl_keys)
        self.n_paths = len(self.scrapl_keys)
        self.unif_prob = 1.0 / self.n_paths
        if not 1 <= paths_per_step <= self.n_paths:
            raise ValueError(f"paths_per_step must be in [1, {self.n_paths}], got {paths_per_step}")
        if paths_per_step > 1 and (use_p_adam or use_p_saga):
            raise ValueError("paths_per_step > 1 cannot be combined with use_p_adam or "
                             "use_p_saga (their statistics are per path)")
        self.paths_per_step = paths_per_step
        self.sampler = PathSampler(self.n_paths, n_theta, min_prob_frac, eps,
                                   sample_all_paths_first, seed)
        self.loaded_probs_path: Optional[str] = None
        self.attached_params: List[torch.Tensor] = []
        self.grad_state: Optional[PathGradientState] = None
        self.hook_handles: list = []
        self._reset_counters()
        self._target_ref: Optional[weakref.ref] = None
        self._target_key: Optional[tuple] = None
        self._target_scalogram = None
        if probs_path is not None:
            self.load_probs(probs_path)

    # ------------------------------------------------------------------ properties
    def _reset_counters(self) -> None:
        self.curr_path_idx: Optional[int] = None
        self.curr_path_indices: List[int] = []
        self.scrapl_t = 0
        self.path_count_tensor = torch.zeros(self.n_paths, dtype=torch.long)
        self._micro_step = 0
        self._backward_counts: List[int] = [0] * len(getattr(self, "attached_params", []))

    @property
    def probs(self) -> torch.Tensor:
        """Path sampling distribution, float64 (n_paths,) on the CPU."""
        return self.sampler.probs

    @probs.setter
    def probs(self, value: torch.Tensor) -> None:
        self.sampler.set_probs(value)

    @property
    def path_counts(self) -> Dict[int, int]:
        """Training visits per path, for visited paths only (the peer's defaultdict)."""
        idx = torch.nonzero(self.path_count_tensor).flatten().tolist()
        return {i: int(self.path_count_tensor[i]) for i in idx}

    @property
    def unsampled_paths(self) -> List[int]:
        """Paths not yet visited by ``sample_all_paths_first``."""
        return torch.nonzero(self.sampler.unsampled).flatten().tolist()

    @property
    def min_prob(self) -> float:
        return self.sampler.min_prob

    # ------------------------------------------------------------------ transform
    def check_inputs(self, x: torch.Tensor, x_target: torch.Tensor
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
        """x and x_target, (batch, channels, N) or (batch, N) of the same shape, as
        (batch * channels, 1, N); TypeError / ValueError otherwise."""
        for name, t in (("x", x), ("x_target", x_target)):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
            if t.ndim not in (2, 3) or t.shape[-1] != self.jtfs.N:
                raise ValueError(f"{name} must have shape (batch, channels, {self.jtfs.N}) or "
                                 f"(batch, {self.jtfs.N}), got {tuple(t.shape)}")
        if x.shape != x_target.shape:
            raise ValueError(f"x and x_target shapes differ: {tuple(x.shape)} vs "
                             f"{tuple(x_target.shape)}")
        return x.reshape(-1, 1, self.jtfs.N), x_target.reshape(-1, 1, self.jtfs.N)

    def coefficients(self, x: Optional[torch.Tensor], keys: List[Tuple[int, int]],
                     scalogram: Optional[Scalogram] = None) -> List[torch.Tensor]:
        """The compared coefficients (log1p-compressed if ``use_rho_log1p``) of the paths
        ``keys`` (``(n2, n_fr)`` pairs of :attr:`scrapl_keys`) of x (batch, 1, N), or of
        the signal whose first order ``scalogram`` (``self.jtfs.scalogram``) holds (x None)."""
        S = self.jtfs.single_paths(x, keys, unpad=self.unpad, scalogram=scalogram)
        if self.use_rho_log1p:
            S = [torch.log1p(s / self.log1p_eps) for s in S]
        return S

    def _target_coefficients(self, x_target: torch.Tensor, keys: List[Tuple[int, int]]
                             ) -> List[torch.Tensor]:
        """Target coefficients; the first order of a target seen twice in a row (same
        tensor, same version, no grad) is computed for every filter once and kept."""
        if not self.cache_target or x_target.requires_grad:
            return self.coefficients(x_target, keys)
        key = (x_target.data_ptr(), x_target._version, tuple(x_target.shape),
               x_target.dtype, x_target.device)
        same = (self._target_ref is not None and self._target_ref() is x_target
                and self._target_key == key)
        if not same:
            self._target_ref, self._target_key = weakref.ref(x_target), key
            self._target_scalogram = None
            return self.coefficients(x_target, keys)
        if self._target_scalogram is None:
            with torch.no_grad():
                self._target_scalogram = self.jtfs.scalogram(x_target)
        return self.coefficients(None, keys, scalogram=self._target_scalogram)

    def distance(self, S_x: torch.Tensor, S_target: torch.Tensor, reduction: str = "mean"
                 ) -> torch.Tensor:
        """``||S_target - S_x||_p`` per item: the batch mean, or (batch,) with 'none'."""
        if reduction == "mean":
            return K.path_distance(S_x, S_target, self.p, "mean")
        return K.path_distance(S_x, S_target, self.p, "none").reshape(-1)

    def calc_dist(self, x: torch.Tensor, x_target: torch.Tensor, path_idx: int
                  ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Distance on one path and both coefficient tensors ``(dist, Sx, Sx_target)``;
        x, x_target: (batch, 1, N)."""
        self.check_path_idx(path_idx)
        key = [self.scrapl_keys[path_idx]]
        S_x = self.coefficients(x, key)[0]
        S_t = self._target_coefficients(x_target, key)[0]
        return self.distance(S_x, S_t), S_x, S_t

    def path_distances(self, x: torch.Tensor, x_target: torch.Tensor,
                       paths: Sequence[int], reduction: str = "mean") -> torch.Tensor:
        """Distances on several paths sharing one first order: (len(paths),) averaged over
        the batch, or (len(paths), batch) with ``reduction='none'``.  No bookkeeping (no
        step, no count): for validation on a fixed path set and per-item objectives."""
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        x, x_target = self.check_inputs(x, x_target)
        for i in paths:
            self.check_path_idx(i)
        keys = [self.scrapl_keys[i] for i in paths]
        S_x = self.coefficients(x, keys)
        S_t = self._target_coefficients(x_target, keys)
        return torch.stack([self.distance(a, b, reduction) for a, b in zip(S_x, S_t)])

    def check_path_idx(self, path_idx: int) -> None:
        """TypeError / ValueError unless ``path_idx`` is an int (or one-element tensor)
        in [0, n_paths)."""
        if not (isinstance(path_idx, int) or (isinstance(path_idx, torch.Tensor)
                                               and path_idx.numel() == 1)):
            raise TypeError(f"path_idx must be an int, got {type(path_idx).__name__}")
        if not 0 <= int(path_idx) < self.n_paths:
            raise ValueError(f"path_idx must be in [0, {self.n_paths}), got {int(path_idx)}")

    # ------------------------------------------------------------------ forward
    def sample_path(self, seed: Optional[int] = None) -> int:
        """Draw a path index from ``probs`` (a given ``seed`` always gives the same path)."""
        return self.sampler.sample(seed, consume=self.training)

    def forward(self, x: torch.Tensor, x_target: torch.Tensor, seed: Optional[int] = None,
                path_idx: Optional[int] = None) -> torch.Tensor:
        """Mean over the batch of ``||S_p(x_target) - S_p(x)||_p`` for a drawn path p.

        x, x_target: (batch, channels, N) or (batch, N) (channels are folded into the
        batch).  ``path_idx`` fixes the path; ``seed`` makes the draw reproducible.  In
        training mode the call counts a step (the first of ``grad_accum_steps`` calls of a
        step draws the path, the others reuse it).
        """
        x, x_target = self.check_inputs(x, x_target)
        in_window = self.training and self._micro_step > 0
        if in_window:
            paths = self.curr_path_indices
            if path_idx is not None and [int(path_idx)] != paths[:1]:
                raise ValueError(f"path_idx={int(path_idx)} differs from the path "
                                 f"{paths[0]} of the current accumulation window")
        elif path_idx is not None:
            self.check_path_idx(path_idx)
            if seed is not None:
                log.warning("seed is ignored when path_idx is specified")
            paths = [int(path_idx)]
            if self.paths_per_step > 1:
                others = [i for i in self.sampler.sample_many(
                    min(self.paths_per_step, self.n_paths), seed, consume=self.training)
                    if i != paths[0]]
                paths += others[: self.paths_per_step - 1]
        else:
            paths = self.sampler.sample_many(self.paths_per_step, seed, consume=self.training)
        keys = [self.scrapl_keys[i] for i in paths]
        S_x = self.coefficients(x, keys)
        S_t = self._target_coefficients(x_target, keys)
        dist = torch.stack([self.distance(a, b) for a, b in zip(S_x, S_t)]).mean()

        self.curr_path_idx, self.curr_path_indices = paths[0], paths
        if self.training:
            if not in_window:
                self.scrapl_t += 1
                self.path_count_tensor[paths] += 1
            self._micro_step = (self._micro_step + 1) % self.grad_accum_steps
            if self.importance_weighting and not self.attached_params:
                w = sum(self.sampler.importance_weight(i) for i in paths) / len(paths)
                dist = dist * w
        return dist

    # ------------------------------------------------------------------ P-Adam / P-SAGA
    def attach_params(self, params: Iterable[torch.Tensor], *, hooks: bool = True) -> None:
        """Install the gradient hooks (𝒫-Adam, 𝒫-SAGA, ``grad_mult``, importance
        weighting) on ``params`` and allocate their per-path state.  Replaces earlier
        attached parameters; an empty list detaches.  ``hooks=False`` allocates the state
        without hooks: call :meth:`transform_grads` after each backward pass instead (e.g.
        after DistributedDataParallel's all-reduce, so the transform sees the averaged
        gradient)."""
        self._clear_grad_data()
        params = list(params)
        for i, param in enumerate(params):
            if not isinstance(param, torch.Tensor) or not param.is_leaf \
                    or not param.requires_grad:
                raise ValueError(f"params[{i}] must be a leaf tensor with requires_grad=True")
        self.attached_params = params
        self._backward_counts = [0] * len(params)
        if not params:
            return
        device = params[0].device
        self.grad_state = PathGradientState(
            [q.numel() for q in params], self.n_paths, self.use_p_adam, self.use_p_saga,
            self.p_adam_b1, self.p_adam_b2, self.p_adam_eps, self.state_dtype, device,
            p_adam_v_dtype=self.p_adam_v_dtype)
        for i, param in enumerate(params):
            if hooks:
                self.hook_handles.append(param.register_post_accumulate_grad_hook(
                    lambda q, i=i: self._after_backward(i, q)))
        log.info("Attached %d parameter tensors (%d weights); per-path state %.1f MB",
                 len(params), sum(q.numel() for q in params), self.state_bytes() / 1e6)

    def transform_grads(self) -> None:
        """Apply what the hooks of :meth:`attach_params` apply (𝒫-Adam, 𝒫-SAGA,
        ``grad_mult``, importance weight) to the ``.grad`` of every attached parameter now;
        for parameters attached with ``hooks=False``."""
        for i, param in enumerate(self.attached_params):
            self._after_backward(i, param)

    def _after_backward(self, i: int, param: torch.Tensor) -> None:
        if not self.training or param.grad is None:
            return
        self._backward_counts[i] += 1
        if self._backward_counts[i] < self.grad_accum_steps:
            return
        self._backward_counts[i] = 0
        if self.curr_path_idx is None:
            raise RuntimeError("SCRAPLLoss: backward through attached parameters before any "
                               "forward call of the loss")
        grad = param.grad
        if self.grad_mult != 1.0:
            grad = grad * self.grad_mult
        weight = (self.sampler.importance_weight(self.curr_path_idx)
                  if self.importance_weighting else 1.0)
        new = self.grad_state.transform(i, grad, self.curr_path_idx, self.scrapl_t, weight)
        param.grad.copy_(new)

    def _clear_grad_data(self) -> None:
        for handle in self.hook_handles:
            handle.remove()
        self.hook_handles = []
        self.attached_params = []
        self.grad_state = None
        self._backward_counts = []

    def state_bytes(self) -> int:
        """Bytes of per-path optimizer state held (0 without attached parameters)."""
        return self.grad_state.state_bytes() if self.grad_state is not None else 0

    def clear(self) -> None:
        """Forget everything learned: counters, path statistics, probabilities (back to
        uniform), per-path state and attached parameters."""
        self._clear_grad_data()
        self._reset_counters()
        self.sampler.reset()
        self.loaded_probs_path = None
        self._target_ref = self._target_key = self._target_scalogram = None

    # ------------------------------------------------------------------ persistence
    def get_extra_state(self) -> Dict[str, Any]:
        """Resumable state (tensors and plain numbers only)."""
        state: Dict[str, Any] = {
            "format": STATE_FORMAT, "n_paths": self.n_paths, "scrapl_t": self.scrapl_t,
            "micro_step": self._micro_step,
            "curr_path_indices": torch.tensor(self.curr_path_indices, dtype=torch.long),
            "path_counts": self.path_count_tensor.clone(),
            "backward_counts": torch.tensor(self._backward_counts, dtype=torch.long),
            "loaded_probs_path": self.loaded_probs_path or "",
            "sampler": self.sampler.state_dict()}
        if self.grad_state is not None:
            state["grad_state"] = {k: v.detach().clone()
                                   for k, v in self.grad_state.tensors().items()}
        return state

    def set_extra_state(self, state: Dict[str, Any]) -> None:
        """Restore :meth:`get_extra_state` output.  Attach the same parameters first when
        the state holds 𝒫-Adam/𝒫-SAGA statistics."""
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ValueError("not a SCRAPLLoss state (unknown format)")
        if state["n_paths"] != self.n_paths:
            raise ValueError(f"state is for {state['n_paths']} paths, this loss has "
                             f"{self.n_paths}")
        has_grad_state = "grad_state" in state
        if has_grad_state and self.grad_state is None:
            raise ValueError("the state holds P-Adam/P-SAGA statistics: call "
                             "attach_params(...) with the same parameters before loading")
        if has_grad_state:
            self.grad_state.load_tensors(state["grad_state"])
        self.sampler.load_state_dict(state["sampler"])
        self.scrapl_t = int(state["scrapl_t"])
        self._micro_step = int(state["micro_step"])
        self.curr_path_indices = [int(i) for i in state["curr_path_indices"]]
        self.curr_path_idx = self.curr_path_indices[0] if self.curr_path_indices else None
        self.path_count_tensor = state["path_counts"].clone().long()
        counts = [int(c) for c in state["backward_counts"]]
        if self.attached_params:
            self._backward_counts = counts if len(counts) == len(self.attached_params) \
                else [0] * len(self.attached_params)
        self.loaded_probs_path = state.get("loaded_probs_path") or None

    # ------------------------------------------------------------------ probabilities
    def update_prob(self, path_idx: int, val: Union[float, torch.Tensor],
                    theta_idx: int = 0) -> None:
        """Record a curvature value of path ``path_idx`` for synth parameter ``theta_idx``."""
        if self.loaded_probs_path is not None:
            raise PathSamplingError(f"cannot update probs: external probs were loaded from "
                                    f"{self.loaded_probs_path}")
        self.sampler.update(path_idx, val, theta_idx)

    # ------------------------------------------------------------------ θ-IS warm-up
    # functions of scrapl.warmup whose first argument is the loss, bound as methods (same
    # signatures): fixed probabilities from a file, the warm-up, merging its files, the
    # curvature of one path
    load_probs = W.load_probs
    load_probs_from_warmup_dir = W.load_probs_from_warmup_dir
    warmup_lc_hvp = W.warmup_lc_hvp
    calc_theta_eigs = W.calc_theta_eigs

    # ------------------------------------------------------------------ static (peer API)
    # the module functions of scrapl.warmup, scrapl.path_sampling and scrapl.path_optim
    check_is_deterministic = staticmethod(W.check_is_deterministic)
    check_probs = staticmethod(check_probs)
    calc_log_probs = staticmethod(calc_log_probs)
    adam_grad_norm_cont = staticmethod(adam_grad_norm_cont)
