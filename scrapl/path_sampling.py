"""Which SCRAPL path to compute next: the path distribution and its updates (θ-IS).

:class:`PathSampler` holds the sampling distribution over the ``n_paths`` second-order
JTFS paths, its own random generator (so that sampling is reproducible and resumable
without touching the global RNG), the "visit every path once first" queue, and the θ-IS
statistics: one curvature value per (synth parameter θ_i, path) and one distribution per
θ_i, mixed into the final distribution

    probs = (1 - min_prob_frac) * mean_i probs_i + min_prob_frac / n_paths.

Per synth parameter, while only some paths have a curvature value (a warm-up in progress or
sharded over processes), updated paths share the mass ``n_updated / n_paths`` in proportion
to their values and the others keep the remaining mass in their previous proportions, as the
peer ``scrapl-loss`` 0.1.0 does; with every path updated, ``probs_i`` is proportional to the
values.  Unlike the peer, ``min_prob_frac > 0`` is consistent with every check.

Everything is held in tensors, so :meth:`PathSampler.state_dict` loads with
``torch.load(..., weights_only=True)``.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch

__all__ = ["PathSampler", "PathSamplingError", "calc_log_probs", "check_probs"]


class PathSamplingError(ValueError):
    """A path distribution or path index that cannot be used."""


def check_probs(probs: torch.Tensor, n_paths: int, eps: float, min_prob: float = 0.0,
                vals: Optional[torch.Tensor] = None,
                updated_indices: Optional[List[int]] = None) -> None:
    """Raise ValueError unless ``probs`` (n_paths,) is a distribution over ``n_paths``
    with every entry >= ``min_prob`` (and, given ``vals`` (n_paths,), ``probs - min_prob``
    proportional to them on ``updated_indices``).  The peer's static check."""
    if probs.shape != (n_paths,):
        raise ValueError(f"probs.shape = {tuple(probs.shape)}, expected ({n_paths},)")
    if abs(float(probs.sum()) - 1.0) > max(eps, 1e-9):
        raise ValueError(f"probs sum to {float(probs.sum())}, expected 1")
    if float(probs.min()) < min_prob - max(eps, 1e-12):
        raise ValueError(f"probs.min() = {float(probs.min())} < min_prob = {min_prob}")
    if vals is None or updated_indices is None or len(updated_indices) < 2:
        return
    v = vals[updated_indices].double()
    r = (probs[updated_indices] - min_prob).double()
    if not torch.allclose(v / v.sum(), r / r.sum(), rtol=1e-3, atol=1e-12):
        raise ValueError("probabilities are not proportional to the values")


def calc_log_probs(log_vals: torch.Tensor) -> torch.Tensor:
    """Normalize log values into log probabilities over dim 0 (``log_softmax``)."""
    return log_vals - torch.logsumexp(log_vals, dim=0)


class PathSampler:
    """Sampling distribution over ``n_paths`` paths with θ-IS updates.

    Parameters
    ----------
    n_paths : number of paths (the second-order JTFS paths of a configuration)
    n_theta : number of synth parameters with their own curvature statistics
    min_prob_frac : each path keeps at least ``min_prob_frac / n_paths``; in [0, 1)
    eps : floor of curvature values and tolerance of the probability checks
    sample_all_paths_first : visit every path once, in random order, before sampling
        from the distribution
    seed : seed of the sampler's own generator; by default drawn from torch's global
        RNG, so ``torch.manual_seed`` before construction makes sampling reproducible
    """

    def __init__(self, n_paths: int, n_theta: int = 1, min_prob_frac: float = 0.0,
                 eps: float = 1e-12, sample_all_paths_first: bool = False,
                 seed: Optional[int] = None):
        if n_paths < 1:
            raise PathSamplingError(f"n_paths must be >= 1, got {n_paths}")
        if n_theta < 1:
            raise PathSamplingError(f"n_theta must be >= 1, got {n_theta}")
        if not 0.0 <= min_prob_frac < 1.0:
            raise PathSamplingError(f"min_prob_frac must be in [0, 1), got {min_prob_frac}")
        self.n_paths = n_paths
        self.n_theta = n_theta
        self.min_prob_frac = float(min_prob_frac)
        self.eps = float(eps)
        self.sample_all_paths_first = sample_all_paths_first
        self.unif_prob = 1.0 / n_paths
        self.min_prob = self.unif_prob * self.min_prob_frac
        self.generator = torch.Generator(device="cpu")
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        self.generator.manual_seed(seed)
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Uniform distribution, no curvature values, every path unvisited."""
        d = torch.float64
        self.theta_vals = torch.zeros(self.n_theta, self.n_paths, dtype=d)
        self.theta_updated = torch.zeros(self.n_theta, self.n_paths, dtype=torch.bool)
        self.theta_probs = torch.full((self.n_theta, self.n_paths), self.unif_prob, dtype=d)
        self.unsampled = torch.ones(self.n_paths, dtype=torch.bool)
        self.fixed = False
        self._mix()

    def _mix(self) -> None:
        self.probs = ((1.0 - self.min_prob_frac) * self.theta_probs.mean(dim=0)
                      + self.min_prob)
        self.check()

    def check(self) -> None:
        """Raise :class:`PathSamplingError` unless ``probs`` is a distribution with every
        entry >= ``min_prob`` and, per θ_i with two or more updated paths, the updated
        entries in proportion to their curvature values."""
        p = self.probs
        if p.shape != (self.n_paths,):
            raise PathSamplingError(f"probs must have shape ({self.n_paths},), got "
                                    f"{tuple(p.shape)}")
        if not torch.isfinite(p).all() or abs(p.sum().item() - 1.0) > 1e-9 + self.eps:
            raise PathSamplingError(f"probs must be finite and sum to 1, sum = {p.sum().item()}")
        if p.min().item() < self.min_prob - 1e-12:
            raise PathSamplingError(f"a path probability {p.min().item():.3g} is below "
                                    f"min_prob_frac / n_paths = {self.min_prob:.3g}")
        for i in range(self.n_theta):
            upd = self.theta_updated[i]
            if self.fixed or upd.sum() < 2:
                continue
            vals, probs = self.theta_vals[i, upd], self.theta_probs[i, upd]
            if not torch.allclose(vals / vals.sum(), probs / probs.sum(), rtol=1e-6,
                                  atol=0.0):
                raise PathSamplingError(f"probabilities of theta {i} are not proportional "
                                        "to its curvature values")

    # ------------------------------------------------------------------ sampling
    def sample(self, seed: Optional[int] = None, consume: bool = True) -> int:
        """Draw one path index.

        With ``seed`` the draw uses a generator seeded with it (the same seed gives the
        same path, like the peer) and leaves the sampler's own generator untouched.
        ``consume=False`` (evaluation) does not remove the path from the
        visit-every-path-first queue.
        """
        return self.sample_many(1, seed=seed, consume=consume)[0]

    def sample_many(self, k: int, seed: Optional[int] = None, consume: bool = True
                    ) -> List[int]:
        """Draw ``k`` distinct path indices (see :meth:`sample`)."""
        if not 1 <= k <= self.n_paths:
            raise PathSamplingError(f"cannot draw {k} distinct paths out of {self.n_paths}")
        gen = self.generator
        if seed is not None:
            gen = torch.Generator(device="cpu")
            gen.manual_seed(int(seed))
        out: List[int] = []
        if self.sample_all_paths_first and bool(self.unsampled.any()):
            left = torch.nonzero(self.unsampled).flatten()
            order = torch.randperm(len(left), generator=gen)[:k]
            out = [int(left[j]) for j in order]
            if consume:
                self.unsampled[out] = False
        if len(out) < k:
            probs = self.probs.clone()
            probs[out] = 0.0
            drawn = torch.multinomial(probs, k - len(out), replacement=False, generator=gen)
            out += [int(j) for j in drawn]
        return out

    def importance_weight(self, path_idx: int) -> float:
        """``1 / (n_paths * probs[path_idx])``: the weight that makes a path drawn from
        ``probs`` an unbiased estimate of the uniform mean over paths."""
        return 1.0 / (self.n_paths * float(self.probs[path_idx]))

    # ------------------------------------------------------------------ updates
    def set_probs(self, probs: torch.Tensor, source: str = "probs") -> None:
        """Use a fixed distribution (e.g. loaded from a file); θ-IS updates are then
        refused until :meth:`reset`."""
        probs = torch.as_tensor(probs).detach().to("cpu", torch.float64).flatten()
        if probs.numel() != self.n_paths:
            raise PathSamplingError(f"{source}: expected {self.n_paths} probabilities, got "
                                    f"{probs.numel()}")
        if (probs < 0).any() or not torch.isfinite(probs).all():
            raise PathSamplingError(f"{source}: probabilities must be finite and >= 0")
        previous = self.probs
        self.probs = probs.clone()
        try:
            self.check()
        except PathSamplingError as err:
            self.probs = previous
            raise PathSamplingError(f"{source}: {err}") from None
        self.fixed = True

    def update(self, path_idx: int, vals: torch.Tensor | Sequence[float] | float,
               theta_idx: Optional[int] = None) -> None:
        """Record the curvature value(s) of one path and recompute the distribution.

        ``vals``: one value per θ_i (``theta_idx`` None) or one value for θ_``theta_idx``.
        """
        if self.fixed:
            raise PathSamplingError("cannot update probabilities after fixed probabilities "
                                    "were loaded (call clear() first)")
        if not 0 <= path_idx < self.n_paths:
            raise PathSamplingError(f"path_idx must be in [0, {self.n_paths}), got {path_idx}")
        vals = torch.as_tensor(vals, dtype=torch.float64).detach().cpu().flatten()
        thetas = range(self.n_theta) if theta_idx is None else [theta_idx]
        if theta_idx is not None and not 0 <= theta_idx < self.n_theta:
            raise PathSamplingError(f"theta_idx must be in [0, {self.n_theta}), got {theta_idx}")
        if vals.numel() != len(thetas):
            raise PathSamplingError(f"expected {len(thetas)} value(s), got {vals.numel()}")
        if not torch.isfinite(vals).all() or (vals < 0).any():
            raise PathSamplingError(f"curvature values must be finite and >= 0, got {vals.tolist()}")
        for i, val in zip(thetas, vals):
            self._update_theta(i, path_idx, max(float(val), self.eps))
        self._mix()

    def _update_theta(self, i: int, path_idx: int, val: float) -> None:
        self.theta_vals[i, path_idx] = val
        self.theta_updated[i, path_idx] = True
        upd = self.theta_updated[i]
        n_upd = int(upd.sum())
        if n_upd < 2:
            return                      # too few values: keep the previous distribution
        frac = n_upd / self.n_paths
        probs = self.theta_probs[i].clone()
        vals = self.theta_vals[i]
        probs[upd] = frac * vals[upd] / vals[upd].sum()
        stale = ~upd
        if stale.any():
            probs[stale] = (1.0 - frac) * probs[stale] / probs[stale].sum()
        self.theta_probs[i] = probs

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> Dict[str, torch.Tensor]:
        """Everything needed to resume sampling exactly (tensors only)."""
        return {"probs": self.probs.clone(), "theta_vals": self.theta_vals.clone(),
                "theta_updated": self.theta_updated.clone(),
                "theta_probs": self.theta_probs.clone(), "unsampled": self.unsampled.clone(),
                "fixed": torch.tensor(self.fixed),
                "generator_state": self.generator.get_state()}

    def load_state_dict(self, state: Dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state_dict` output (shapes must match this configuration)."""
        expected = {"probs": (self.n_paths,), "theta_vals": (self.n_theta, self.n_paths),
                    "theta_updated": (self.n_theta, self.n_paths),
                    "theta_probs": (self.n_theta, self.n_paths), "unsampled": (self.n_paths,)}
        for key, shape in expected.items():
            if key not in state:
                raise PathSamplingError(f"sampler state is missing '{key}'")
            if tuple(state[key].shape) != shape:
                raise PathSamplingError(f"sampler state '{key}' has shape "
                                        f"{tuple(state[key].shape)}, expected {shape}")
        self.probs = state["probs"].detach().cpu().double().clone()
        self.theta_vals = state["theta_vals"].detach().cpu().double().clone()
        self.theta_updated = state["theta_updated"].detach().cpu().bool().clone()
        self.theta_probs = state["theta_probs"].detach().cpu().double().clone()
        self.unsampled = state["unsampled"].detach().cpu().bool().clone()
        self.fixed = bool(state.get("fixed", torch.tensor(False)))
        if "generator_state" in state:
            self.generator.set_state(state["generator_state"].cpu())
        self.check()
