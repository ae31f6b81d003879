"""𝒫-Adam and 𝒫-SAGA: per-path gradient statistics for SCRAPL.

A SCRAPL step sees the gradient of one path ``p`` out of ``P``.  This module turns it into
the gradient handed to a plain SGD optimizer:

* **𝒫-Adam** keeps Adam's moments per path (``m[p]``, ``v[p]``) and the step at which each
  path was last updated; a path revisited after ``Δ`` steps decays its moments by
  ``β**(Δ/P)`` (continuous-time Adam with time measured in visits per path), and bias
  correction uses ``t/P``.  Same formula as the peer ``scrapl-loss`` 0.1.0, except that the
  step counter starts at 1 (the peer's first step is counted as 2).
* **𝒫-SAGA** keeps the last (𝒫-Adam-normalized, if enabled) gradient ``ĝ[p]`` of every path
  and returns ``ĝ_new - ĝ[p] + (1/P) Σ_q ĝ[q]``: the SAGA estimator, unbiased under uniform
  sampling (its mean over p is the mean over paths of the current gradients).  The sum is a
  running sum updated in O(|w|) per step (the peer re-sums the P x |w| table every step) and
  the divisor is ``P`` (the peer divides by the number of visited paths minus one, which is
  biased, by P/(P-1) once every path was seen).
* With importance weighting, a path drawn with probability ``π_p`` contributes
  ``(ĝ_new - ĝ[p]) / (P π_p)``, which keeps the estimator unbiased for any distribution.

Memory: only what is enabled is allocated.  With both enabled, the SAGA table is not stored
at all: ``ĝ[p]`` is a function of ``m[p]``, ``v[p]`` and the step of the last visit, so it is
recomputed from them.  State tables can be held in bfloat16 (``state_dtype``), written with
stochastic rounding: Adam's second moment moves by ~0.1 % per visit (1 - β2), less than half a
bfloat16 step, so round-to-nearest would freeze it; stochastic rounding keeps every stored
value unbiased.  The rounding noise comes from a seeded generator saved with the state, so a
resumed run is bit-identical.  The running sum stays in float32.  ``state_bytes()`` reports
what is held.

Compact second moment (``p_adam_v_dtype=torch.float8_e4m3fn``): Adam's second moment is held
as ``sqrt(v)`` (the quantity the direction uses) in float8 e4m3, 1 byte per element, with one
float32 scale per (parameter tensor, path) row: ``scale = row max / 448``, so the largest
element of the row maps to the top of the e4m3 range (an all-zero row has scale 0).  It is
written with unbiased stochastic rounding too: ``sqrt(v)`` moves by ~0.05 % per visit, far less
than an e4m3 step (1/16 to 1/8 relative), so round-to-nearest would freeze it.  Rounding
``sqrt(v)`` rather than ``v`` keeps the recursion (nearly) unbiased: the next
``sqrt(d2 s² + (1-d2) g²)`` is nearly linear in the stored ``s``, so zero-mean rounding noise
averages out instead of inflating ``v`` (``E[s²] > E[s]²`` would compound over the ~1/(1-β2)
visits of the moment's memory); the remaining convexity bias is an upward drift of sqrt(v) of
well under 1 % (measured 0.2-0.6 %), i.e. marginally smaller steps.  The price is per-element
noise: each stored sqrt(v) carries an error (zero-mean up to that drift) of a few % (steady
gradients) up to ~15 % (noisy ones), against ~2 % with bfloat16 v, a per-weight jitter of
Adam's step size.  A positive ``sqrt(v)`` is never stored as 0 (it is clamped up to the
smallest positive e4m3 value times the scale), so the direction ``m / (sqrt(v) + eps)``
cannot explode.  The first moment stays in ``state_dtype``.  Everything (updates, the derived
SAGA table, ``resum()``) reads the stored, dequantized values, so the running-sum identity
holds exactly as with bfloat16.

Bytes per weight and path with 𝒫-Adam + 𝒫-SAGA: 8 (float32), 4 (bfloat16), 3 (bfloat16 m +
e4m3 sqrt(v)), against the peer's 12 (m, v and the SAGA table in float32); on top, per weight 4
(the running sum), and per (tensor, path) 4 for the int32 step of the last visit (plus 4 for
the e4m3 scale).  For the paper's 724,642-weight encoder and 483 paths that is 1.05 GB, 0.2508
of the peer's 4.2 GB.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch

__all__ = ["PathGradientState", "STATE_DTYPES", "adam_grad_norm_cont", "adam_normalize",
           "check_v_dtype", "to_bfloat16_stochastic", "to_float8_e4m3_stochastic"]


def to_bfloat16_stochastic(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Round float32 ``x`` to bfloat16 up or down with probability given by the distance
    (unbiased): add uniform noise below the 16 kept bits, then truncate."""
    bits = x.contiguous().view(torch.int32)
    noise = torch.randint(0, 1 << 16, x.shape, generator=generator, dtype=torch.int32,
                          device=x.device)
    return ((bits + noise) & -65536).view(torch.float32).to(torch.bfloat16)


E4M3_MAX = 448.0                 # largest finite float8 e4m3fn value
E4M3_MIN_NORMAL = 2.0 ** -6      # below it e4m3 is subnormal, on a fixed grid of 2**-9
E4M3_TINY = 2.0 ** -9            # smallest positive e4m3 value
STATE_DTYPES = (torch.float32, torch.bfloat16, torch.float64)


def _round_e4m3_stochastic(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Float32 ``x`` (non-negative, clamped to [0, 448]) rounded stochastically onto the
    float8 e4m3fn grid, still as float32: down or up to the neighbouring representable
    values with probability given by the distance (unbiased)."""
    x = x.float().clamp(0.0, E4M3_MAX)
    # subnormal range (x < 2**-6): fixed spacing 2**-9, which is e4m3's spacing in the first
    # normal binade [2**-6, 2**-5): shift x there (exact up to float32's 2**-29 there, a bias
    # of at most 2**-21 of a step), round like a normal value, shift back (exact)
    small = x < E4M3_MIN_NORMAL
    y = torch.where(small, x + E4M3_MIN_NORMAL, x)
    noise = torch.randint(0, 1 << 20, x.shape, generator=generator, dtype=torch.int32,
                          device=x.device)
    # normal range: e4m3 keeps 3 of float32's 23 mantissa bits; noise below them, truncate
    # (a carry into the exponent gives the next binade's first value, the upper neighbour;
    # x <= 448 = 1.75 * 2**8 never carries past 448)
    bits = y.view(torch.int32)
    bits += noise
    bits &= -(1 << 20)
    return torch.where(small, y - E4M3_MIN_NORMAL, y)


def to_float8_e4m3_stochastic(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Round float32 ``x`` (non-negative, <= 448) to float8 e4m3fn up or down with
    probability given by the distance (unbiased)."""
    return _round_e4m3_stochastic(x, generator).to(torch.float8_e4m3fn)


def check_v_dtype(state_dtype: torch.dtype, p_adam_v_dtype: Optional[torch.dtype]) -> None:
    """Raise ValueError unless ``p_adam_v_dtype`` is None, ``state_dtype`` or
    ``torch.float8_e4m3fn``."""
    if p_adam_v_dtype is not None and p_adam_v_dtype not in (state_dtype,
                                                              torch.float8_e4m3fn):
        raise ValueError(f"p_adam_v_dtype must be None (same as state_dtype), the state_dtype "
                         f"({state_dtype}) or torch.float8_e4m3fn, got {p_adam_v_dtype!r}")


def adam_normalize(m: torch.Tensor, v: torch.Tensor, t: float, b1: float, b2: float,
                    eps: float) -> torch.Tensor:
    """Bias-corrected Adam direction m̂ / (sqrt(v̂) + eps) at normalized time ``t`` (> 0)."""
    return (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + eps)


def adam_grad_norm_cont(grad: torch.Tensor, prev_m: torch.Tensor, prev_v: torch.Tensor,
                        t: float, prev_t: float, b1: float = 0.9, b2: float = 0.999,
                        eps: float = 1e-8) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One continuous-time Adam update (the peer's formula): the moments decay by
    ``b**(t - prev_t)``; returns ``(direction, m, v)``, each of the shape of ``grad``."""
    d1, d2 = b1 ** (t - prev_t), b2 ** (t - prev_t)
    m = d1 * prev_m + (1 - d1) * grad
    v = d2 * prev_v + (1 - d2) * grad ** 2
    return adam_normalize(m, v, t, b1, b2, eps), m, v


def _adam_normalize_sqrt(m: torch.Tensor, sqrt_v: torch.Tensor, t: float, b1: float, b2: float,
                         eps: float) -> torch.Tensor:
    """:func:`adam_normalize` given ``sqrt(v)`` instead of ``v``."""
    return (m / (1 - b1 ** t)) / (sqrt_v / math.sqrt(1 - b2 ** t) + eps)


class PathGradientState:
    """Per-path 𝒫-Adam / 𝒫-SAGA statistics for a list of parameter tensors.

    Parameters
    ----------
    shapes : number of elements of each attached parameter tensor
    n_paths : P
    use_p_adam, use_p_saga : which statistics to keep
    b1, b2, eps : 𝒫-Adam hyper-parameters
    state_dtype : dtype of the P x |w| tables (float32, bfloat16 with stochastic rounding,
        or float64 for tests); the running SAGA sum is float32 (float64 with float64 tables)
    device : where the tables live (that of the parameters)
    seed : seed of the stochastic-rounding generator
    p_adam_v_dtype : dtype of 𝒫-Adam's second-moment table: None (= ``state_dtype``) or
        ``torch.float8_e4m3fn``: ``v[i]`` then holds ``sqrt(v) / scale`` in e4m3 (stochastic
        rounding) and ``v_scale[i]`` the (P,) float32 row scales; ignored without 𝒫-Adam

    Attributes: ``m``, ``v`` (and ``v_scale``) the 𝒫-Adam tables, ``table`` the 𝒫-SAGA table
    (only without 𝒫-Adam), ``saga_sum`` the running sums, ``last_step`` (int32, tensors x P).
    """

    def __init__(self, numels: Sequence[int], n_paths: int, use_p_adam: bool, use_p_saga: bool,
                 b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                 state_dtype: torch.dtype = torch.float32,
                 device: Optional[torch.device] = None, seed: int = 0,
                 p_adam_v_dtype: Optional[torch.dtype] = None):
        if state_dtype not in STATE_DTYPES:
            raise ValueError(f"state_dtype must be torch.float32, torch.bfloat16 or "
                             f"torch.float64, got {state_dtype}")
        check_v_dtype(state_dtype, p_adam_v_dtype)
        self.numels = [int(n) for n in numels]
        self.n_paths = n_paths
        self.use_p_adam = use_p_adam
        self.use_p_saga = use_p_saga
        self.b1, self.b2, self.eps = b1, b2, eps
        self.state_dtype = state_dtype
        self.v_dtype = state_dtype if p_adam_v_dtype is None else p_adam_v_dtype
        self.compact_v = use_p_adam and self.v_dtype == torch.float8_e4m3fn
        self.work_dtype = torch.float64 if state_dtype == torch.float64 else torch.float32
        sum_dtype = self.work_dtype
        table = lambda dtype=state_dtype: [torch.zeros(n_paths, n, dtype=dtype, device=device)
                                           for n in self.numels]
        self.m: List[torch.Tensor] = table() if use_p_adam else []
        self.v: List[torch.Tensor] = table(self.v_dtype) if use_p_adam else []
        # float32 scale of each (tensor, path) row of the e4m3 sqrt(v) table; 0 = all zero
        self.v_scale: List[torch.Tensor] = (
            [torch.zeros(n_paths, dtype=torch.float32, device=device) for _ in self.numels]
            if self.compact_v else [])
        # SAGA table only when it cannot be derived from the Adam moments
        self.table: List[torch.Tensor] = table() if (use_p_saga and not use_p_adam) else []
        self.saga_sum: List[torch.Tensor] = (
            [torch.zeros(n, dtype=sum_dtype, device=device) for n in self.numels]
            if use_p_saga else [])
        # step (1-based) of each parameter's last update on each path; 0 = never (int32:
        # 2**31 steps; an int64 table of older checkpoints loads through copy_)
        self.last_step = torch.zeros(len(self.numels), n_paths, dtype=torch.int32)
        self.rounding = torch.Generator(device=device or "cpu")
        self.rounding.manual_seed(seed)

    def _store(self, table: torch.Tensor, path: int, value: torch.Tensor) -> None:
        if table.dtype == torch.bfloat16:
            table[path] = to_bfloat16_stochastic(value.float(), self.rounding)
        else:
            table[path] = value.to(table.dtype)

    def _store_sqrt_v(self, i: int, path: int, v: torch.Tensor) -> None:
        """Write second moment ``v`` of parameter i, path ``path`` as e4m3 ``sqrt(v)`` with
        its row scale (compact form)."""
        s = v.float().sqrt()
        if s.numel() == 0:
            return
        scale = s.max() / E4M3_MAX                       # 0 for an all-zero row
        x = s / torch.where(scale > 0, scale, torch.ones_like(scale))
        q = _round_e4m3_stochastic(x, self.rounding)
        # a positive sqrt(v) stored as 0 would make the direction m / (sqrt(v) + eps)
        # explode: clamp it up to the smallest positive e4m3 value (times the scale)
        q = torch.where(s > 0, q.clamp_min(E4M3_TINY), q)
        self.v[i][path] = q.to(torch.float8_e4m3fn)
        self.v_scale[i][path] = scale

    def _sqrt_v(self, i: int, path: int) -> torch.Tensor:
        """Stored (dequantized) ``sqrt(v)`` of parameter i, path ``path`` (compact form), in
        the working dtype: what every update and the derived SAGA table read."""
        work = self.work_dtype
        return self.v[i][path].to(work) * self.v_scale[i][path].to(work)

    def second_moment(self, i: int, path: int) -> torch.Tensor:
        """Stored 𝒫-Adam second moment ``v`` of parameter i on path ``path`` (working dtype)."""
        if self.compact_v:
            return self._sqrt_v(i, path).square()
        return self.v[i][path].to(self.work_dtype)

    # ------------------------------------------------------------------ core
    def _stored_direction(self, i: int, path: int, step: int) -> torch.Tensor:
        """ĝ[path] of parameter i as stored (zeros if never visited), float32/64."""
        dt = self.saga_sum[i].dtype
        if step == 0:
            return torch.zeros(self.numels[i], dtype=dt, device=self.saga_sum[i].device)
        if not self.use_p_adam:
            return self.table[i][path].to(dt, copy=True)
        if self.compact_v:
            return _adam_normalize_sqrt(self.m[i][path].to(dt), self._sqrt_v(i, path),
                                        step / self.n_paths, self.b1, self.b2, self.eps)
        return adam_normalize(self.m[i][path].to(dt), self.v[i][path].to(dt),
                               step / self.n_paths, self.b1, self.b2, self.eps)

    def transform(self, i: int, grad: torch.Tensor, path: int, step: int,
                  weight: float = 1.0) -> torch.Tensor:
        """The gradient handed to the optimizer for parameter ``i`` at step ``step`` (>= 1)
        after sampling path ``path``; updates the statistics.  ``weight`` is the importance
        weight 1/(P π_path) (1 for uniform sampling)."""
        if step < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        shape, work = grad.shape, self.work_dtype
        g = grad.reshape(-1).to(work)
        prev_step = int(self.last_step[i, path])
        if self.use_p_saga:
            old = self._stored_direction(i, path, prev_step)
        if self.use_p_adam:
            t, t_prev = step / self.n_paths, prev_step / self.n_paths
            d1, d2 = self.b1 ** (t - t_prev), self.b2 ** (t - t_prev)
            m = d1 * self.m[i][path].to(work) + (1 - d1) * g
            if self.compact_v:
                v = d2 * self._sqrt_v(i, path).square() + (1 - d2) * g * g
                self._store(self.m[i], path, m)
                self._store_sqrt_v(i, path, v)
                if self.state_dtype != work:
                    m = self.m[i][path].to(work)
                # the stored values, as _stored_direction will recompute them
                g = _adam_normalize_sqrt(m, self._sqrt_v(i, path), t, self.b1, self.b2,
                                         self.eps)
            else:
                v = d2 * self.v[i][path].to(work) + (1 - d2) * g * g
                self._store(self.m[i], path, m)
                self._store(self.v[i], path, v)
                if self.state_dtype != work:  # what is stored is what SAGA will recompute
                    m, v = self.m[i][path].to(work), self.v[i][path].to(work)
                g = adam_normalize(m, v, t, self.b1, self.b2, self.eps)
        elif self.use_p_saga:
            self._store(self.table[i], path, g)
            if self.state_dtype != work:
                g = self.table[i][path].to(work)
        self.last_step[i, path] = step
        if self.use_p_saga:
            out = weight * (g - old) + self.saga_sum[i] / self.n_paths
            self.saga_sum[i] += g - old
        else:
            out = weight * g if weight != 1.0 else g
        return out.to(grad.dtype).reshape(shape)

    def resum(self) -> None:
        """Recompute the running SAGA sums exactly from the stored directions (removes
        rounding drift; O(P |w|))."""
        for i in range(len(self.saga_sum)):
            total = torch.zeros_like(self.saga_sum[i])
            for path in range(self.n_paths):
                total += self._stored_direction(i, path, int(self.last_step[i, path]))
            self.saga_sum[i] = total

    # ------------------------------------------------------------------ bookkeeping
    def tensors(self) -> Dict[str, torch.Tensor]:
        """Every state tensor by name (for ``state_dict``)."""
        out: Dict[str, torch.Tensor] = {"last_step": self.last_step,
                                        "rounding": self.rounding.get_state()}
        for name in ("m", "v", "v_scale", "table", "saga_sum"):
            for i, tensor in enumerate(getattr(self, name)):
                out[f"{name}.{i}"] = tensor
        return out

    def load_tensors(self, state: Dict[str, torch.Tensor]) -> None:
        """Copy :meth:`tensors` output into this state (shapes must match)."""
        mine = self.tensors()
        missing = sorted(set(mine) - set(state))
        extra = sorted(set(state) - set(mine))
        if missing or extra:
            raise ValueError(f"P-Adam/P-SAGA state does not match the attached parameters "
                             f"and options (missing {missing[:4]}, unexpected {extra[:4]})")
        self.rounding.set_state(state["rounding"].cpu())
        for key, tensor in mine.items():
            if key == "rounding":
                continue
            if tuple(state[key].shape) != tuple(tensor.shape):
                raise ValueError(f"P-Adam/P-SAGA state '{key}' has shape "
                                 f"{tuple(state[key].shape)}, expected {tuple(tensor.shape)}")
            tensor.copy_(state[key])

    def state_bytes(self) -> int:
        """Bytes held by the statistics (tables, e4m3 scales, running sums, step counters)."""
        return sum(t.numel() * t.element_size() for k, t in self.tensors().items()
                   if k != "rounding")
