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
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch

__all__ = ["PathGradientState"]


def to_bfloat16_stochastic(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Round float32 ``x`` to bfloat16 up or down with probability given by the distance
    (unbiased): add uniform noise below the 16 kept bits, then truncate."""
    bits = x.contiguous().view(torch.int32)
    noise = torch.randint(0, 1 << 16, x.shape, generator=generator, dtype=torch.int32,
                          device=x.device)
    return ((bits + noise) & -65536).view(torch.float32).to(torch.bfloat16)


def _adam_normalize(m: torch.Tensor, v: torch.Tensor, t: float, b1: float, b2: float,
                    eps: float) -> torch.Tensor:
    """Bias-corrected Adam direction m̂ / (sqrt(v̂) + eps) at normalized time ``t`` (> 0)."""
    return (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + eps)


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
    """

    def __init__(self, numels: Sequence[int], n_paths: int, use_p_adam: bool, use_p_saga: bool,
                 b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                 state_dtype: torch.dtype = torch.float32,
                 device: Optional[torch.device] = None, seed: int = 0):
        if state_dtype not in (torch.float32, torch.bfloat16, torch.float64):
            raise ValueError(f"state_dtype must be torch.float32, torch.bfloat16 or "
                             f"torch.float64, got {state_dtype}")
        self.numels = [int(n) for n in numels]
        self.n_paths = n_paths
        self.use_p_adam = use_p_adam
        self.use_p_saga = use_p_saga
        self.b1, self.b2, self.eps = b1, b2, eps
        self.state_dtype = state_dtype
        self.work_dtype = torch.float64 if state_dtype == torch.float64 else torch.float32
        sum_dtype = self.work_dtype
        table = lambda: [torch.zeros(n_paths, n, dtype=state_dtype, device=device)
                         for n in self.numels]
        self.m: List[torch.Tensor] = table() if use_p_adam else []
        self.v: List[torch.Tensor] = table() if use_p_adam else []
        # SAGA table only when it cannot be derived from the Adam moments
        self.table: List[torch.Tensor] = table() if (use_p_saga and not use_p_adam) else []
        self.saga_sum: List[torch.Tensor] = (
            [torch.zeros(n, dtype=sum_dtype, device=device) for n in self.numels]
            if use_p_saga else [])
        # step (1-based) of each parameter's last update on each path; 0 = never
        self.last_step = torch.zeros(len(self.numels), n_paths, dtype=torch.long)
        self.rounding = torch.Generator(device=device or "cpu")
        self.rounding.manual_seed(seed)

    def _store(self, table: torch.Tensor, path: int, value: torch.Tensor) -> None:
        if table.dtype == torch.bfloat16:
            table[path] = to_bfloat16_stochastic(value.float(), self.rounding)
        else:
            table[path] = value.to(table.dtype)

    # ------------------------------------------------------------------ core
    def _stored_direction(self, i: int, path: int, step: int) -> torch.Tensor:
        """ĝ[path] of parameter i as stored (zeros if never visited), float32/64."""
        dt = self.saga_sum[i].dtype
        if step == 0:
            return torch.zeros(self.numels[i], dtype=dt, device=self.saga_sum[i].device)
        if not self.use_p_adam:
            return self.table[i][path].to(dt, copy=True)
        return _adam_normalize(self.m[i][path].to(dt), self.v[i][path].to(dt),
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
            v = d2 * self.v[i][path].to(work) + (1 - d2) * g * g
            self._store(self.m[i], path, m)
            self._store(self.v[i], path, v)
            if self.state_dtype != work:      # what is stored is what SAGA will recompute
                m, v = self.m[i][path].to(work), self.v[i][path].to(work)
            g = _adam_normalize(m, v, t, self.b1, self.b2, self.eps)
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
        for name in ("m", "v", "table", "saga_sum"):
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
        """Bytes held by the statistics (tables, running sums, step counters)."""
        return sum(t.numel() * t.element_size() for k, t in self.tensors().items()
                   if k != "rounding")
