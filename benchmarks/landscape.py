"""Loss landscapes and gradient directions of MSS, JTFS and SCRAPL paths (issue #16).

    cd /work/wt-landscape && OMP_NUM_THREADS=1 nice -n 10 \\
        /work/main/.venv/bin/python benchmarks/landscape.py [--voices texture,chirplet]
        [--seeds 0,1] [--sweep-seeds 0] [--grid 5] [--sweep-points 17] [--starts 12] [--targets 12]
        [--checks 3] [--out docs/landscapes]

At the SCRAPL paper's granular configuration: the ``granular`` synth's ``texture`` voice
(density, slope) and ``chirplet`` voice (AM and FM rates; Vahidi et al., JAES 2023), 8192 Hz,
4 s (N = 32768), JTFS J = 12, Q = (8, 2), J_fr = 3, Q_fr = 2, no log1p (315 paths + 8
first-order channels), as ``SCALES['paper']['jtfs']`` of ``benchmarks/paper_granular.py``.

Losses: MSS linear, log and revisited (:class:`scrapl.mss.MSSLoss`); the full JTFS distance
(:class:`scrapl.jtfs_loss.JTFSLoss`: mean over the 323 channels); the mean over the 315
paths (the expectation of SCRAPL's single-path distance under uniform sampling); single
SCRAPL paths.  Every JTFS channel distance is ``||S_c(x) - S_c(x*)||_2`` over (freq, time).

Two noise settings, for every measurement: ``same`` (target and candidate rendered with the
same synth seed: the grains' onsets and f0s coincide, "micro") and ``other`` (the target's
seed is ``seed + 1000``: same parameters, other grains; "meso", the peer's training setting
``use_rand_seed_hat: true``).

1. Sweeps: targets on a ``grid x grid`` grid of normalized parameters; each parameter is
   swept over ``sweep-points`` values in [0, 1] with the other held at the target's value
   (targets lie on the sweep grid, so one line of renders serves ``grid`` targets).
   Figure ``sweeps_<voice>.png``: distance against θ - θ*, each curve normalized to its
   maximum, mean over targets and sweep seeds (band: quartiles).
2. Gradient directions: random starts and targets (uniform in [0.05, 0.95]^2) per seed, all
   start x target pairs; the fraction where ``sign(-dL/dθ_i) == sign(θ*_i - θ_i)`` (pairs
   with ``|θ*_i - θ_i| >= --min-gap``).  MSS: autograd through the synth.  JTFS channels
   (full, path mean, every path): central finite differences of the coefficients in θ
   (:func:`matching.landscape.fd_jacobian`, h = ``--fd-step``, 5e-4), checked against autograd through
   the synth (``JTFSLoss`` and ``SCRAPLLoss(path_idx=...)``) on ``--checks`` pairs per seed.
   ``table.md`` and ``paths_<voice>.png`` (accuracy per path).

Cache: one ``.npz`` per sweep line, target set, start and check under ``<out>/cache/``
(no pickle); rerunning the same command skips what is there.  ``--report-only`` rebuilds
the figures and the table from the cache.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

VOICES = {"texture": ("density", "slope"), "chirplet": ("am", "fm")}
MSS_NAMES = ("mss_linear", "mss_log", "mss_revisited")
MODES = ("same", "other")
OTHER_SEED = 1000
#: SCRAPL paths shown in the sweeps: (j2, spin, j_fr)
SHOWN_PATHS = ((3, 1, 0), (3, -1, 0), (6, 1, 0), (6, -1, 0), (9, 1, 0), (9, -1, 0), (6, 0, 3))


def jtfs_config() -> dict:
    """The paper's granular JTFS configuration (no ``grad_mult``: not a loss option here)."""
    from paper_granular import SCALES
    return {k: v for k, v in SCALES["paper"]["jtfs"].items() if k != "grad_mult"}


class Setup:
    """Synths (one per seed), losses and the path bookkeeping of one voice."""

    def __init__(self, voice: str, log1p: bool = False, unpad: bool = True):
        import torch
        from matching.landscape import path_table
        from scrapl.jtfs_loss import JTFSLoss
        from scrapl.loss import SCRAPLLoss
        from scrapl.mss import MSSLoss
        self.voice, self.torch = voice, torch
        cfg = jtfs_config()
        cfg.update(use_rho_log1p=log1p, unpad=unpad)
        self.jtfs = JTFSLoss(**cfg)
        self.scrapl = SCRAPLLoss(**cfg, grad_mult=1.0, use_p_adam=False, use_p_saga=False,
                                 seed=0).eval()
        self.mss = [MSSLoss(mode=m.split("_")[1], reduction="none") for m in MSS_NAMES]
        self.paths = path_table(self.jtfs.jtfs)
        self.n_first = self.jtfs.n_first_order
        self.shown = [self.find_path(*k) for k in SHOWN_PATHS]
        self._synths: Dict[int, object] = {}
        self._target_cache: Dict[tuple, object] = {}

    def find_path(self, j2: int, spin: int, j_fr: int) -> int:
        """Index of the first path with these (j2, spin, j_fr)."""
        for p in self.paths:
            if (p["j2"], p["spin"], p["j_fr"]) == (j2, spin, j_fr):
                return p["idx"]
        raise KeyError((j2, spin, j_fr))

    def path_label(self, idx: int) -> str:
        p = self.paths[idx]
        return f"p{idx} j2={p['j2']} spin{p['spin']:+d} jfr={p['j_fr']}"

    def synth(self, seed: int):
        import synths
        if seed not in self._synths:
            self._synths[seed] = synths.get("granular", voice=self.voice, seed=seed)
        return self._synths[seed]

    def render(self, seed: int):
        """normalized θ [n, 2] -> audio [n, 1, N] float32 (differentiable)."""
        s = self.synth(seed)
        return lambda th: s(th).reshape(th.shape[0], 1, -1).float()

    def coefficients(self, x):
        """audio [n, 1, N] -> JTFS channels [n, C, F, T] (first order, then the paths)."""
        return self.jtfs.coefficients(x)

    def coeffs_of(self, seed: int, theta: np.ndarray):
        """No-grad coefficients [n, C, F, T] of renders at ``theta`` [n, 2], one at a time;
        kept in memory per (seed, θ) for the targets of several sweep lines."""
        torch = self.torch
        out = []
        for th in np.atleast_2d(theta):
            key = (seed, tuple(np.round(th, 6)))
            if key not in self._target_cache:
                with torch.no_grad():
                    t = torch.tensor(th, dtype=torch.float32).unsqueeze(0)
                    self._target_cache[key] = self.coefficients(self.render(seed)(t))[0]
            out.append(self._target_cache[key])
        return torch.stack(out)

    def mss_distances(self, x, target) -> np.ndarray:
        """MSS distances [n, 3] of audio x [n, 1, N] to target [n, 1, N] (no grad)."""
        with self.torch.no_grad():
            return np.stack([m(x, target).numpy() for m in self.mss], -1)


def _save(path: Path, **arrays) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _load(path: Path, theta: Optional[np.ndarray] = None) -> Optional[dict]:
    """The arrays of a cache file, or None if it is missing or (``theta`` given) was
    computed for other parameters than ``theta``."""
    if not path.exists():
        return None
    with np.load(path, allow_pickle=False) as f:
        got = {k: f[k] for k in f.files}
    if theta is not None and not np.allclose(got["theta"], theta):
        return None
    return got


# ------------------------------------------------------------------------- sweeps
def sweep_values(n_points: int, grid: int) -> Tuple[np.ndarray, np.ndarray]:
    """Sweep grid [n_points] in [0, 1] and the indices [grid] of the targets on it
    (the sweep points nearest to ``linspace(0.125, 0.875, grid)``)."""
    values = np.linspace(0, 1, n_points)
    idx = np.array([int(np.argmin(np.abs(values - v))) for v in np.linspace(0.125, 0.875, grid)])
    return values, idx


def sweep_line(setup: Setup, seed: int, param: int, other_idx: int, values: np.ndarray,
               target_idx: np.ndarray, cache: Path) -> dict:
    """One line: parameter ``param`` swept over ``values`` with the other at
    ``values[other_idx]``; distances to the targets on the line, both noise modes.
    Returns ``d_chan [2, n_targets, n_points, C]``, ``d_mss [2, n_targets, n_points, 3]``,
    ``seconds``."""
    path = cache / f"sweep_{setup.voice}_s{seed}_p{param}_o{other_idx}_n{len(values)}.npz"
    got = _load(path)
    if got is not None:
        return got
    torch = setup.torch
    t0 = time.perf_counter()
    theta = np.zeros((len(values), 2))
    theta[:, param], theta[:, 1 - param] = values, values[other_idx]
    S = setup.coeffs_of(seed, theta)                               # [M, C, F, T]
    with torch.no_grad():
        x = setup.render(seed)(torch.tensor(theta, dtype=torch.float32))
    d_chan, d_mss = [], []
    for mode in MODES:
        tseed = seed if mode == "same" else seed + OTHER_SEED
        tth = theta[target_idx]
        St = setup.coeffs_of(tseed, tth)                           # [K, C, F, T]
        d_chan.append(torch.linalg.vector_norm(S.unsqueeze(0) - St.unsqueeze(1),
                                               dim=(-2, -1)).numpy())
        with torch.no_grad():
            xt = setup.render(tseed)(torch.tensor(tth, dtype=torch.float32))
        d_mss.append(np.stack([setup.mss_distances(x, xt[k:k + 1].expand_as(x))
                               for k in range(len(tth))]))
    out = dict(d_chan=np.stack(d_chan).astype(np.float32), d_mss=np.stack(d_mss),
               theta=theta, seconds=np.array(time.perf_counter() - t0))
    _save(path, **out)
    return out


# ------------------------------------------------------------------------- gradients
def pair_thetas(voice: str, seed: int, n_starts: int, n_targets: int
                ) -> Tuple[np.ndarray, np.ndarray]:
    """Random starts [n_starts, 2] and targets [n_targets, 2], uniform in [0.05, 0.95]."""
    rng = np.random.default_rng(7919 * seed + 17 * list(VOICES).index(voice) + 1)
    return rng.uniform(0.05, 0.95, (n_starts, 2)), rng.uniform(0.05, 0.95, (n_targets, 2))


def target_set(setup: Setup, seed: int, mode: str, targets: np.ndarray, cache: Path):
    """The targets' coefficients [K, C, F, T] (cached)."""
    torch = setup.torch
    path = cache / f"targets_{setup.voice}_s{seed}_{mode}_k{len(targets)}.npz"
    got = _load(path, targets)
    if got is not None:
        return torch.from_numpy(got["S"])
    tseed = seed if mode == "same" else seed + OTHER_SEED
    S = setup.coeffs_of(tseed, targets)
    _save(path, S=S.numpy(), theta=targets)
    return S


def start_gradients(setup: Setup, seed: int, i: int, start: np.ndarray, targets: np.ndarray,
                    S_targets: Dict[str, object], cache: Path, h: float) -> dict:
    """Gradients at one start toward every target, both modes: ``d [2, K, C]``,
    ``g [2, K, C, 2]`` (JTFS channels, finite differences), ``g_mss [2, K, 3, 2]``
    (autograd through the synth), ``seconds``."""
    from matching.landscape import channel_gradients, fd_jacobian, synth_gradients
    path = cache / f"start_{setup.voice}_s{seed}_i{i}_k{len(targets)}_h{h:g}.npz"
    got = _load(path, start)
    if got is not None:
        return got
    torch, t0 = setup.torch, time.perf_counter()
    th = torch.tensor(start, dtype=torch.float32)
    S, dS = fd_jacobian(setup.coefficients, setup.render(seed), th, h)
    ds, gs, gm = [], [], []
    K = len(targets)
    for mode in MODES:
        d, g = channel_gradients(S, dS, S_targets[mode])
        ds.append(d.numpy())
        gs.append(g.numpy())
        tseed = seed if mode == "same" else seed + OTHER_SEED
        with torch.no_grad():
            xt = setup.render(tseed)(torch.tensor(targets, dtype=torch.float32))
        starts = th.unsqueeze(0).expand(K, 2)
        gm.append(np.stack([synth_gradients(m, setup.render(seed), starts, xt).numpy()
                            for m in setup.mss], 1))
    out = dict(theta=start, d=np.stack(ds), g=np.stack(gs).astype(np.float32),
               g_mss=np.stack(gm), seconds=np.array(time.perf_counter() - t0))
    _save(path, **out)
    return out


def check_pair(setup: Setup, seed: int, i: int, start: np.ndarray, target: np.ndarray,
               cache: Path) -> dict:
    """Autograd through the synth for one pair (same seed): ``g_full [2]`` (JTFSLoss) and
    ``g_paths [len(shown), 2]`` (SCRAPLLoss on the shown paths), ``seconds``."""
    from matching.landscape import synth_gradients
    path = cache / f"check_{setup.voice}_s{seed}_i{i}.npz"
    got = _load(path, start)
    if got is not None:
        return got
    torch, t0 = setup.torch, time.perf_counter()
    render = setup.render(seed)
    th = torch.tensor(start, dtype=torch.float32).unsqueeze(0)
    with torch.no_grad():
        xt = render(torch.tensor(target, dtype=torch.float32).unsqueeze(0))
    g_full = synth_gradients(setup.jtfs, render, th, xt)[0].numpy()
    t_full = time.perf_counter() - t0
    g_paths = np.stack([synth_gradients(lambda x, y, p=p: setup.scrapl(x, y, path_idx=p),
                                        render, th, xt)[0].numpy() for p in setup.shown])
    out = dict(theta=start, target=target, g_full=g_full, g_paths=g_paths,
               seconds_full=np.array(t_full), seconds=np.array(time.perf_counter() - t0))
    _save(path, **out)
    return out


# ------------------------------------------------------------------------- run
def run_voice(voice: str, args, cache: Path) -> dict:
    """Compute (or load) every sweep line, start and check of one voice."""
    setup = Setup(voice, log1p=args.log1p, unpad=not args.no_unpad)
    seeds = [int(s) for s in args.seeds.split(",")]
    values, tidx = sweep_values(args.sweep_points, args.grid)
    lines, starts, checks = {}, {}, {}
    t0 = time.perf_counter()
    for seed in [int(s) for s in args.sweep_seeds.split(",") if s]:
        for param in (0, 1):
            for o in tidx:
                lines[(seed, param, int(o))] = sweep_line(setup, seed, param, int(o), values,
                                                          tidx, cache)
        print(f"[{voice}] seed {seed}: sweeps done ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    for seed in seeds:
        st, tg = pair_thetas(voice, seed, args.starts, args.targets)
        S_t = {m: target_set(setup, seed, m, tg, cache) for m in MODES}
        for i, s in enumerate(st):
            starts[(seed, i)] = start_gradients(setup, seed, i, s, tg, S_t, cache,
                                             args.fd_step)
        for i in range(min(args.checks, len(st))):
            checks[(seed, i)] = check_pair(setup, seed, i, st[i], tg[i], cache)
        print(f"[{voice}] seed {seed}: gradients done ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    return dict(setup=setup, seeds=seeds, values=values, tidx=tidx, lines=lines,
                starts=starts, checks=checks, targets={s: pair_thetas(voice, s, args.starts,
                                                                       args.targets)[1]
                                                       for s in seeds})


# ------------------------------------------------------------------------- summaries
def gradient_sets(res: dict, mode: str) -> Tuple[Dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Per loss name, gradients ``[n_pairs, 2]`` for ``mode``, with starts and targets
    ``[n_pairs, 2]``; also ``"path"``: per-path gradients ``[n_pairs, n_paths, 2]``."""
    m = MODES.index(mode)
    setup = res["setup"]
    nf = setup.n_first
    out: Dict[str, List[np.ndarray]] = {k: [] for k in MSS_NAMES + ("jtfs", "path_mean", "path")}
    th, tg = [], []
    for (seed, i), r in sorted(res["starts"].items()):
        g = r["g"][m]                                              # [K, C, 2]
        for k, name in enumerate(MSS_NAMES):
            out[name].append(r["g_mss"][m][:, k])
        out["jtfs"].append(g.mean(1))
        out["path_mean"].append(g[:, nf:].mean(1))
        out["path"].append(g[:, nf:])
        th.append(np.broadcast_to(r["theta"], (g.shape[0], 2)))
        tg.append(res["targets"][seed])
    return ({k: np.concatenate(v) for k, v in out.items()}, np.concatenate(th),
            np.concatenate(tg))


def accuracy_rows(res: dict, min_gap: float) -> Tuple[List[dict], Dict[str, np.ndarray]]:
    """Table rows (loss, mode, accuracy per parameter, n) and per-path accuracy
    ``[n_paths, 2]`` per mode."""
    from matching.landscape import direction_accuracy
    setup = res["setup"]
    rows, per_path = [], {}
    for mode in MODES:
        g, th, tg = gradient_sets(res, mode)
        acc_p = np.stack([direction_accuracy(g["path"][:, p], th, tg, min_gap)[0]
                          for p in range(g["path"].shape[1])])
        per_path[mode] = acc_p
        for name in MSS_NAMES + ("jtfs", "path_mean"):
            acc, n = direction_accuracy(g[name], th, tg, min_gap)
            rows.append(dict(loss=name, mode=mode, acc=acc, n=n))
        _, n = direction_accuracy(g["path"][:, 0], th, tg, min_gap)
        rows.append(dict(loss="scrapl_random_path", mode=mode, acc=acc_p.mean(0), n=n))
        for p in setup.shown:
            rows.append(dict(loss=setup.path_label(p), mode=mode, acc=acc_p[p], n=n))
    return rows, per_path


def check_agreement(res: dict) -> List[str]:
    """Lines comparing the finite-difference gradients with autograd on the check pairs."""
    setup = res["setup"]
    nf = setup.n_first
    lines = []
    for (seed, i), c in sorted(res["checks"].items()):
        r = res["starts"][(seed, i)]
        g = r["g"][0][i]                                           # target i, same mode
        fd_full = g.mean(0)
        fd_paths = g[[nf + p for p in setup.shown]]
        rel = np.abs(fd_full - c["g_full"]) / np.maximum(np.abs(c["g_full"]), 1e-30)
        sign_paths = float(np.mean(np.sign(fd_paths) == np.sign(c["g_paths"])))
        rel_paths = float(np.median(np.abs(fd_paths - c["g_paths"]) /
                                    np.maximum(np.abs(c["g_paths"]), 1e-30)))
        lines.append(f"seed {seed} pair {i}: full JTFS autograd {np.array2string(c['g_full'], precision=3)}"
                     f" vs FD {np.array2string(fd_full, precision=3)} (rel. err {rel.max():.1e});"
                     f" {len(setup.shown)} paths: signs agree {sign_paths:.0%}, median rel. err "
                     f"{rel_paths:.1e}; autograd full JTFS {float(c['seconds_full']):.1f} s")
    return lines


def plot_sweeps(res: dict, out: Path) -> Path:
    """sweeps_<voice>.png: rows (parameter x mode), columns MSS / JTFS / SCRAPL paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    setup, values = res["setup"], res["values"]
    names = VOICES[setup.voice]
    nf = setup.n_first
    step = values[1] - values[0]
    fig, axes = plt.subplots(4, 3, figsize=(13, 12), sharex=True)
    for pi in (0, 1):
        for mi, mode in enumerate(MODES):
            curves: Dict[str, Dict[int, List[float]]] = {}
            for (seed, param, o), ln in res["lines"].items():
                if param != pi:
                    continue
                dc, dm = ln["d_chan"][mi], ln["d_mss"][mi]        # [K, M, C], [K, M, 3]
                fam = {n: dm[..., k] for k, n in enumerate(MSS_NAMES)}
                fam["jtfs (full)"] = dc.mean(-1)
                fam["mean over paths"] = dc[..., nf:].mean(-1)
                for p in setup.shown:
                    fam[setup.path_label(p)] = dc[..., nf + p]
                for name, d in fam.items():
                    for k, ti in enumerate(res["tidx"]):
                        row = d[k] / max(d[k].max(), 1e-30)
                        for m, v in enumerate(row):
                            curves.setdefault(name, {}).setdefault(int(m - ti), []).append(v)
            ax_row = axes[2 * pi + mi]
            for name, off in curves.items():
                col = 0 if name.startswith("mss") else (1 if not name.startswith("p") else 2)
                o = np.array(sorted(off))
                arr = [np.array(off[k]) for k in o]
                mean = np.array([a.mean() for a in arr])
                lo = np.array([np.percentile(a, 25) for a in arr])
                hi = np.array([np.percentile(a, 75) for a in arr])
                ax = ax_row[col]
                (line,) = ax.plot(o * step, mean, label=name, lw=1.2)
                ax.fill_between(o * step, lo, hi, color=line.get_color(), alpha=0.12)
            for col, fam_name in enumerate(("MSS", "JTFS", "SCRAPL paths")):
                ax = ax_row[col]
                ax.axvline(0, color="k", lw=0.5)
                ax.set_title(f"{fam_name}: sweep {names[pi]} ({mode} seed)", fontsize=9)
                ax.legend(fontsize=6)
                if col == 0:
                    ax.set_ylabel("distance / max")
    for ax in axes[-1]:
        ax.set_xlabel("θ - θ* (normalized)")
    fig.suptitle(f"granular {setup.voice}: distance to the target along each parameter "
                 f"(mean over targets and seeds; band: quartiles)", fontsize=10)
    fig.tight_layout()
    path = out / f"sweeps_{setup.voice}.png"
    fig.savefig(path, dpi=56)
    plt.close(fig)
    return path


def plot_paths(res: dict, per_path: Dict[str, np.ndarray], out: Path) -> Path:
    """paths_<voice>.png: direction accuracy of every path, rows n2 (j2), columns n_fr."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    setup = res["setup"]
    names = VOICES[setup.voice]
    n2s = sorted({p["n2"] for p in setup.paths})
    nfr = max(p["n_fr"] for p in setup.paths) + 1
    fr_labels = []
    for k in range(nfr):
        p = next(q for q in setup.paths if q["n_fr"] == k)
        fr_labels.append(f"{p['spin']:+d}/{p['j_fr']}")
    fig, axes = plt.subplots(2, 2, figsize=(11, 9))
    for mi, mode in enumerate(MODES):
        for pi in (0, 1):
            M = np.full((len(n2s), nfr), np.nan)
            for p in setup.paths:
                M[n2s.index(p["n2"]), p["n_fr"]] = per_path[mode][p["idx"], pi]
            ax = axes[mi, pi]
            im = ax.imshow(M, vmin=0, vmax=1, cmap="RdBu", aspect="auto", origin="lower")
            ax.set_yticks(range(len(n2s)))
            ax.set_yticklabels([f"{n2}:j2={setup.paths[[q['n2'] for q in setup.paths].index(n2)]['j2']}"
                                for n2 in n2s], fontsize=6)
            ax.set_xticks(range(nfr))
            ax.set_xticklabels(fr_labels, fontsize=6, rotation=90)
            ax.set_xlabel("n_fr (spin / j_fr)", fontsize=7)
            ax.set_title(f"{names[pi]}, {mode} seed: P(-grad points to target)", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.6)
    fig.suptitle(f"granular {setup.voice}: gradient-direction accuracy per SCRAPL path "
                 "(0.5 = chance)", fontsize=10)
    path = out / f"paths_{setup.voice}.png"
    fig.savefig(path, dpi=65)
    plt.close(fig)
    return path


def write_table(results: Dict[str, dict], args, out: Path, command: str) -> Path:
    """table.md: accuracy per loss x parameter x mode x voice, with n and the command."""
    lines = ["# Gradient-direction accuracy", "",
             "Fraction of (start, target) pairs where the negative gradient of the loss with "
             "respect to the synth parameter points toward the target, "
             f"`sign(-dL/dθ_i) == sign(θ*_i - θ_i)`, counting pairs with |θ*_i - θ_i| >= "
             f"{args.min_gap}; 0.5 is chance.  `same`: target and start rendered with the same "
             f"synth seed; `other`: the target's seed is seed + {OTHER_SEED} (other grains).  "
             "MSS: autograd through the synth; JTFS and paths: finite differences of the "
             "coefficients (checked against autograd below).  `scrapl_random_path`: the "
             "mean over the 315 paths of each path's accuracy (what one uniformly drawn "
             "SCRAPL step sees); `path_mean`: the gradient of the mean over paths.", "",
             f"Command: `{command}`", ""]
    for voice, res in results.items():
        rows, per_path = res["rows"], res["per_path"]
        names = VOICES[voice]
        n = {r["mode"]: r["n"] for r in rows}
        lines += [f"## {voice}", "",
                  f"n pairs ({names[0]}, {names[1]}): same {tuple(int(v) for v in n['same'])}, "
                  f"other {tuple(int(v) for v in n['other'])} "
                  f"({args.starts} starts x {args.targets} targets x {len(res['seeds'])} seeds)",
                  "", f"| loss | {names[0]} same | {names[1]} same | {names[0]} other | "
                  f"{names[1]} other |", "|---|---|---|---|---|"]
        by = {}
        for r in rows:
            by.setdefault(r["loss"], {})[r["mode"]] = r["acc"]
        for loss, d in by.items():
            lines.append(f"| {loss} | {d['same'][0]:.2f} | {d['same'][1]:.2f} | "
                         f"{d['other'][0]:.2f} | {d['other'][1]:.2f} |")
        for mode in MODES:
            acc = per_path[mode][:, 1]
            best = np.argsort(-acc)[:5]
            setup = res["setup"]
            lines.append("")
            lines.append(f"Best paths for {names[1]} ({mode} seed): " + ", ".join(
                f"{setup.path_label(int(p))}: {acc[p]:.2f}" for p in best) +
                f"; paths with {names[1]} accuracy >= 0.75: {int((acc >= 0.75).sum())} of "
                f"{len(acc)}, <= 0.25: {int((acc <= 0.25).sum())}")
        lines += ["", "Finite differences against autograd (same-seed pairs):", ""]
        lines += [f"- {l}" for l in res["checks_text"]]
        lines += ["", f"Compute: {res['timing']}", ""]
    path = out / "table.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def timing_text(res: dict) -> str:
    def total(runs) -> str:
        sec = [float(r["seconds"]) for r in runs.values()]
        return f"{len(sec)} {sum(sec):.0f} s ({sum(sec) / max(1, len(sec)):.1f} s each)"
    return (f"sweep lines {total(res['lines'])}; starts {total(res['starts'])}, each 4 JTFS "
            f"transforms and MSS autograd; autograd checks {total(res['checks'])} "
            "(seconds as first computed)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--voices", default="texture,chirplet")
    ap.add_argument("--seeds", default="0,1",
                    help="synth noise seeds of the gradient pairs, comma-separated")
    ap.add_argument("--sweep-seeds", default="0",
                    help="synth noise seeds of the sweeps ('': no sweeps)")
    ap.add_argument("--grid", type=int, default=5, help="targets per parameter in the sweeps")
    ap.add_argument("--sweep-points", type=int, default=17)
    ap.add_argument("--starts", type=int, default=12, help="random starts per seed")
    ap.add_argument("--targets", type=int, default=12, help="random targets per seed")
    ap.add_argument("--checks", type=int, default=2, help="autograd checks per seed")
    ap.add_argument("--min-gap", type=float, default=0.05)
    ap.add_argument("--fd-step", type=float, default=5e-4,
                    help="finite-difference step in normalized θ (JTFS gradients)")
    ap.add_argument("--log1p", action="store_true", help="log1p-compressed JTFS coefficients")
    ap.add_argument("--no-unpad", action="store_true",
                    help="compare padded JTFS outputs (the peer's single-path output)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "landscapes"))
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    out = Path(args.out)
    cache = out / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    command = "OMP_NUM_THREADS=1 nice -n 10 /work/main/.venv/bin/python benchmarks/landscape.py " \
        + " ".join(sys.argv[1:] if argv is None else argv)
    results = {}
    for voice in args.voices.split(","):
        res = run_voice(voice, args, cache)
        res["rows"], res["per_path"] = accuracy_rows(res, args.min_gap)
        res["checks_text"] = check_agreement(res)
        res["timing"] = timing_text(res)
        if res["lines"]:
            plot_sweeps(res, out)
        plot_paths(res, res["per_path"], out)
        results[voice] = res
    path = write_table(results, args, out, command.strip())
    print(path.read_text())
    (out / "summary.json").write_text(json.dumps({
        v: [dict(loss=r["loss"], mode=r["mode"], acc=[round(float(a), 4) for a in r["acc"]],
                 n=[int(c) for c in r["n"]]) for r in res["rows"]]
        for v, res in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
