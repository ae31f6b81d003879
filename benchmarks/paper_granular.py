"""Reproduce the SCRAPL paper's granular texture experiment (paper issue).

    .venv/bin/python benchmarks/paper_granular.py --scale tiny  [--out DIR] [--methods ...]
    .venv/bin/python benchmarks/paper_granular.py --scale cpu-paper [--methods ...] [--report-only]
    .venv/bin/python benchmarks/paper_granular.py --scale paper [--seeds 0,1,2] [--device cuda]

Task: the ``granular`` synth's ``texture`` voice (two parameters, density and slope; 8192 Hz,
4 s).  Dataset: a grid of G x G normalized parameter values x S noise seeds (paper: 32 x 32 x
5 = 5120 sounds), split 60/20/20 **by grid cell** (all seeds of a cell in one split), so
validation and test hold parameter values never seen in training.  Each batch draws one
noise seed and cells of the training split; the synth in the loop renders the prediction with
that batch's seed (the paper passes one seed per item; ``synths.granular`` shares draws per
synth instance, hence one seed per batch).

Methods (``matching.training.train`` with a fixed-dataset ``DataSource``): supervised
parameter loss; MSS linear and log; full JTFS; SCRAPL plain (Adam); + 𝒫-Adam (SGD);
+ 𝒫-SAGA; + θ-IS warm-up.  The JTFS is the paper's granular configuration (N = 32768, J = 12,
Q = (8, 2), J_fr = 3, Q_fr = 2, no log1p).  For every method and training seed it reports
the test mean absolute parameter error in per mille (overall, density, slope) of the
checkpoint with the best validation loss, the step of that checkpoint ("steps to
converge"), the time per step, the peak memory (CPU: peak RSS growth of the fresh process
that trained it; CUDA: peak allocated) and the bytes of optimizer state (Adam moments, or
𝒫-Adam/𝒫-SAGA tables); writes ``results.json``, ``results.md`` (table with error and
compute relative to the supervised model) and ``figure.png`` (test error against compute,
both relative to supervised, like the paper's Figure 1) to ``--out`` (default
``docs/paper_granular/<scale>``).

``--scale tiny`` (CI smoke test, a few minutes on 2 cores): 4 x 4 cells x 2 seeds, 0.5 s
signals, a small JTFS and encoder, a few steps per method; it checks that every method runs
and the report is written, nothing about accuracy.  ``--scale small`` trains for real on
the CPU (8 x 8 cells x 2 seeds, 1 s signals, N = 8192, J = 9, a 4-block encoder, 150 steps
of 8): the ordering of the methods at a scale two cores can run.  ``--scale paper`` is
meant for a GPU.
Every run is recorded with its configuration in ``results.json``.

Noise (``--noise``, default per scale): ``micro`` renders the prediction with the target's
synth seed (the same grains; tiny and small), ``meso`` with another seed from a pool no
target uses (``HAT_SEED0``...), as the paper trains (the peer's ``use_rand_seed_hat: true``;
see ``docs/landscapes/README.md``: with the same grains MSS has an easy slope landscape,
with other grains only the JTFS points to the slope).  ``cpu-paper`` and ``paper`` use meso.

``--scale cpu-paper``: the paper's signal and transform (4 s, N = 32768, J = 12, 315 paths),
8 x 8 cells x 2 seeds, batch 4, a 5 x 16-channel encoder, 2000 steps, validation every
100.  Measured on 2 shared CPU cores (OMP_NUM_THREADS=1, nice; 20-80-step slices, seconds
per step including validation every 10): supervised 0.016-0.018 s/step, mss_log
0.19-0.23, scrapl_padam_psaga 0.35-0.39, jtfs (full) 24.4; the θ-IS warm-up 5.3-6.5 s per
path (5 power iterations, one batch of 4; paths 0, 157, 314), ~31 min for all 315
(``--time-warmup 0,157,314`` writes ``warmup_timing.json``).  Estimated for 2000 steps:
supervised ~35 s, each MSS ~7 min, each SCRAPL variant ~13 min (+ ~31 min warm-up for
θ-IS): ~1.5 h for every method but ``jtfs``, whose 2000 steps would take ~13 h (run it
alone with fewer ``--steps``).  Training resumes exactly where a run stopped (checkpoint
every ``val_every`` steps) when the same command is run again; ``--report-only`` rebuilds
the report from what the run folders hold (the steps each method reached), with
``validation.png`` (validation slope error against steps, per method).

``--scale paper`` on one GPU: not measured (no GPU was available).  An order-of-magnitude
guess only: 20000 steps of batch 32 with a 5 x 128-channel encoder; a SCRAPL step is one
path of 32 signals (milliseconds of FFTs on a GPU) plus the encoder, so a SCRAPL or MSS
method should take tens of minutes to a few hours; the full JTFS computes all 323
channels per step (~100x a path) and dominates; the θ-IS warm-up is 315 paths x 20
iterations.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import List, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METHODS = {
    "supervised": dict(loss="param"),
    "mss_linear": dict(loss="mss", mss_mode="linear"),
    "mss_log": dict(loss="mss", mss_mode="log"),
    "jtfs": dict(loss="jtfs"),
    "scrapl": dict(loss="scrapl", p_adam=False, p_saga=False),
    "scrapl_padam": dict(loss="scrapl", p_adam=True, p_saga=False),
    "scrapl_padam_psaga": dict(loss="scrapl", p_adam=True, p_saga=True),
    "scrapl_padam_psaga_thetais": dict(loss="scrapl", p_adam=True, p_saga=True, theta_is=True),
}

# The paper's numbers (test θ L1, per mille) to compare with.
PAPER = {"supervised": 20.5, "jtfs": 42.4, "scrapl_padam_psaga_thetais": 65.7,
         "scrapl_padam_psaga": 73.8, "mss": "195-370 (slope ~240)"}

SCALES = {
    "tiny": dict(grid=4, noise_seeds=2, duration=0.5, batch_size=4, steps=6, val_every=3,
                 out_channels=(8, 8, 8), latent_dim=16, dropout=0.0, lr=1e-3,
                 jtfs=dict(shape=4096, J=6, Q1=4, Q2=1, J_fr=2, Q_fr=1, T=None, F=None,
                           use_rho_log1p=False, grad_mult=1e8),
                 warmup_iters=2, val_paths=4),
    # a CPU-sized run that trains (2 cores, ~30-45 min for every method): 1 s signals
    "small": dict(grid=8, noise_seeds=2, duration=1.0, batch_size=8, steps=150, val_every=25,
                  out_channels=(16, 16, 16, 16), latent_dim=32, dropout=0.0, lr=1e-3,
                  jtfs=dict(shape=8192, J=9, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=None, F=None,
                            use_rho_log1p=False, grad_mult=1e8),
                  warmup_iters=5, val_paths=8),
    # the paper's signal and transform (4 s, N = 32768, J = 12, 315 paths) on 2 CPU cores:
    # a smaller grid, encoder and batch; the paper's noise setting (meso)
    "cpu-paper": dict(grid=8, noise_seeds=2, duration=4.0, batch_size=4, steps=2000,
                      val_every=100, out_channels=(16,) * 5, latent_dim=32, dropout=0.0,
                      lr=1e-3,
                      jtfs=dict(shape=32768, J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=None,
                                F=None, use_rho_log1p=False, grad_mult=1e8),
                      warmup_iters=5, val_paths=8, noise="meso"),
    "paper": dict(grid=32, noise_seeds=5, duration=4.0, batch_size=32, steps=20000,
                  val_every=500, out_channels=(128,) * 5, latent_dim=128, dropout=0.25,
                  lr=1e-4,
                  jtfs=dict(shape=32768, J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=None, F=None,
                            use_rho_log1p=False, grad_mult=1e8),
                  warmup_iters=20, val_paths=16, noise="meso"),
}
#: noise settings: the prediction is rendered with the target's synth seed ("micro") or
#: with another seed, from a pool disjoint from the targets' ("meso", the paper's
#: ``use_rand_seed_hat: true``)
NOISE = ("micro", "meso")
HAT_SEED0 = 10_000_000      # the peer draws seed_hat in [9999999, 2 * 9999999)
HAT_POOL = 16
PARAMS = ("density", "slope")


class GridData:
    """The fixed dataset: renders, split by cell, batches of one noise seed each (a
    :class:`matching.training.DataSource`)."""

    def __init__(self, scale: dict, split_seed: int = 0, device: str = "cpu"):
        import torch
        import synths
        G, S = scale["grid"], scale["noise_seeds"]
        self.batch_size, self.seed = scale["batch_size"], split_seed
        self.noise = scale.get("noise", "micro")
        if self.noise not in NOISE:
            raise ValueError(f"noise must be one of {NOISE}, got {self.noise!r}")
        self.synths = [synths.get("granular", voice="texture", duration=scale["duration"],
                                  seed=k).to(device) for k in range(S)]
        # meso: predictions render with other grains (a pool of seeds no target uses)
        self.hat_synths = [synths.get("granular", voice="texture", duration=scale["duration"],
                                      seed=HAT_SEED0 + k).to(device)
                           for k in range(HAT_POOL if self.noise == "meso" else 0)]
        v = torch.linspace(0, 1, G)
        self.theta = torch.stack(torch.meshgrid(v, v, indexing="ij"), -1).reshape(-1, 2).to(device)
        perm = torch.randperm(G * G, generator=torch.Generator().manual_seed(1234 + split_seed))
        n_train, n_val = int(0.6 * G * G), int(0.2 * G * G)
        self.cells = {"train": perm[:n_train], "val": perm[n_train:n_train + n_val],
                      "test": perm[n_train + n_val:]}
        with torch.no_grad():
            self.audio = torch.stack([torch.cat([s(t).reshape(len(t), -1)
                                                 for t in self.theta.split(256)])
                                      for s in self.synths])               # (S, G*G, n)

    def batch(self, step: int):
        import torch
        from matching.training import step_generator
        gen = step_generator(self.seed, step)
        k = int(torch.randint(0, len(self.synths), (1,), generator=gen))
        cells = self.cells["train"]
        idx = cells[torch.randint(0, len(cells), (self.batch_size,), generator=gen)]
        if self.noise == "meso":      # drawn after the batch: micro runs keep their draws
            hat = int(torch.randint(0, len(self.hat_synths), (1,), generator=gen))
            return self.audio[k, idx], self.theta[idx], self.hat_synths[hat]
        return self.audio[k, idx], self.theta[idx], self.synths[k]

    def split(self, name: str, batch_size: int):
        """Batches ``(audio, θ, synth rendering the prediction)`` of a split; meso: a fixed
        pool seed per batch."""
        cells = self.cells[name]
        for k, synth in enumerate(self.synths):
            for j, i in enumerate(range(0, len(cells), batch_size)):
                idx = cells[i:i + batch_size]
                hat = synth if self.noise == "micro" else \
                    self.hat_synths[(7 * k + j) % len(self.hat_synths)]
                yield self.audio[k, idx], self.theta[idx], hat

    def validation(self, batch_size: int):
        return self.split("val", batch_size)


def _optimizer_state_bytes(out_dir: Path) -> int:
    """Bytes of optimizer state in the final checkpoint (Adam moments and 𝒫 tables)."""
    import torch
    from matching.training import load_checkpoint
    state = load_checkpoint(out_dir / "checkpoint.pt")
    total = 0
    for st in state["optimizer"]["state"].values():
        total += sum(v.numel() * v.element_size() for v in st.values()
                     if isinstance(v, torch.Tensor) and v.dim() > 0)
    extra = state.get("loss", {}).get("_extra_state", {})
    for k, v in extra.get("grad_state", {}).items():
        if k != "rounding":
            total += v.numel() * v.element_size()
    return total


def run_one(method: str, scale_name: str, seed: int, out_dir: Path, device: str,
            overrides: Optional[dict] = None, train_it: bool = True) -> dict:
    """Train one method (in this process; resuming from ``out_dir``'s checkpoint when there
    is one) and evaluate its best-validation model on the test split; ``overrides``
    replace entries of the scale (``steps``, ``val_every``, ``noise``).  ``train_it=False``
    only evaluates what ``out_dir`` holds (the steps its checkpoint reached)."""
    import torch
    from matching.models import load_model
    from matching.training import TrainConfig, load_checkpoint, train
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    scale = {**SCALES[scale_name], **(overrides or {})}
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data = GridData(scale, split_seed=0, device=device)
    opts = dict(METHODS[method])
    cfg = TrainConfig(synth="granular", voice="texture", steps=scale["steps"],
                      batch_size=scale["batch_size"], lr=scale["lr"], seed=seed,
                      val_every=scale["val_every"], checkpoint_every=scale["val_every"],
                      log_every=max(1, min(50, scale["val_every"])),
                      out_channels=scale["out_channels"], latent_dim=scale["latent_dim"],
                      dropout=scale["dropout"], duration=scale["duration"],
                      jtfs=scale["jtfs"], warmup_iters=scale["warmup_iters"],
                      val_paths=scale["val_paths"], progress=False, **opts)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    # the noise setting is not part of TrainConfig: a run resumes only in its own setting
    noise_file = out_dir / "noise.txt"
    if noise_file.is_file() and noise_file.read_text().strip() != data.noise:
        raise ValueError(f"{out_dir} was trained with noise {noise_file.read_text().strip()!r}, "
                         f"not {data.noise!r}: choose another --work folder")
    if train_it:
        out_dir.mkdir(parents=True, exist_ok=True)
        noise_file.write_text(data.noise + "\n")
        train(cfg, out_dir, data=data)
    wall = time.perf_counter() - t0
    state = load_checkpoint(out_dir / "checkpoint.pt")
    reached, best, elapsed = int(state["step"]), dict(state["best"]), float(state["elapsed"])
    model = load_model(out_dir / "model.safetensors").to(device)
    errs = []
    with torch.no_grad():
        for audio, theta, _ in data.split("test", 64):
            errs.append((model(audio) - theta).abs())
    err = torch.cat(errs).mean(dim=0).cpu()
    peak = (torch.cuda.max_memory_allocated() if device == "cuda" else
            (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) * 1024)
    old = out_dir / "row.json"        # a resumed run: the largest peak of its sessions
    old_peak = json.loads(old.read_text()).get("peak_memory_bytes") if old.is_file() else None
    if not train_it:
        peak = old_peak
    elif old_peak is not None:
        peak = max(peak, old_peak)
    row = {"method": method, "seed": seed, "scale": scale_name, "config": asdict(cfg),
           "noise": data.noise,
           "test_l1_permille": round(1000 * float(err.mean()), 2),
           "test_l1_permille_density": round(1000 * float(err[0]), 2),
           "test_l1_permille_slope": round(1000 * float(err[1]), 2),
           "steps_to_best": best["step"], "steps": reached, "steps_planned": cfg.steps,
           "time_per_step_s": round(elapsed / max(1, reached), 4),
           "wall_s": round(wall, 1), "peak_memory_bytes": None if peak is None else int(peak),
           "optimizer_state_bytes": _optimizer_state_bytes(out_dir)}
    row["run_dir"] = str(out_dir)
    (out_dir / "row.json").write_text(json.dumps(row, indent=1))
    return row


def write_report(rows: list, out: Path, scale: str) -> None:
    import statistics
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    by = {}
    for r in rows:
        by.setdefault(r["method"], []).append(r)
    ref = by.get("supervised")
    ref_err = statistics.mean(r["test_l1_permille"] for r in ref) if ref else None
    ref_time = statistics.mean(r["time_per_step_s"] * r["steps_to_best"] for r in ref) \
        if ref else None
    lines = [f"# Granular texture reproduction ({scale} scale)", "",
             "Test mean |θ̂ - θ| in per mille (normalized parameters), mean over training "
             "seeds; compute = time per step x steps to the best validation checkpoint; "
             "relative columns divide by the supervised model's.", "",
             "| method | seeds | θ L1 ‰ | density ‰ | slope ‰ | paper ‰ | steps | steps to best | "
             "s/step | peak mem MB | opt. state MB | error / sup. | compute / sup. |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    points = []
    for m, rs in by.items():
        mean = lambda k: statistics.mean(r[k] for r in rs)
        err, comp = mean("test_l1_permille"), statistics.mean(
            r["time_per_step_s"] * max(1, r["steps_to_best"]) for r in rs)
        rel_e = err / ref_err if ref_err else float("nan")
        rel_c = comp / ref_time if ref_time else float("nan")
        points.append((m, rel_c, rel_e))
        paper = PAPER.get(m, PAPER["mss"] if m.startswith("mss") else "")
        peaks = [r["peak_memory_bytes"] for r in rs if r.get("peak_memory_bytes") is not None]
        peak = f"{statistics.mean(peaks) / 2**20:.0f}" if peaks else "-"
        lines.append(f"| {m} | {len(rs)} | {err:.1f} | {mean('test_l1_permille_density'):.1f} | "
                     f"{mean('test_l1_permille_slope'):.1f} | {paper} | "
                     f"{mean('steps'):.0f} | "
                     f"{mean('steps_to_best'):.0f} | {mean('time_per_step_s'):.3f} | "
                     f"{peak} | "
                     f"{mean('optimizer_state_bytes') / 2**20:.2f} | {rel_e:.2f} | {rel_c:.2f} |")
    noise = sorted({r.get("noise", "micro") for r in rows})
    lines += ["", f"Noise setting: {', '.join(noise)} (micro: the prediction renders with the "
              "target's grains; meso: with other grains, as the paper trains)."]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    import math
    points = [(m, c, e) for m, c, e in points if math.isfinite(c) and math.isfinite(e)
              and c > 0 and e > 0]        # relative values need the supervised run
    for m, c, e in points:
        ax.scatter(c, e)
        ax.annotate(m, (c, e), fontsize=7)
    ax.set(xscale="log" if points else "linear", yscale="log" if points else "linear",
           xlabel="compute relative to supervised",
           ylabel="test θ L1 relative to supervised", title=f"granular texture ({scale})")
    fig.tight_layout()
    fig.savefig(out / "figure.png", dpi=110)
    plt.close(fig)


def time_warmup(scale_name: str, paths: List[int], out: Path) -> dict:
    """Seconds of the θ-IS warm-up (``warmup_iters`` power iterations, one batch) for each
    path in ``paths`` at a scale, with the scrapl_padam_psaga_thetais encoder and loss
    (what :func:`matching.training.warmup.theta_is_warmup` runs for every path)."""
    import tempfile
    import torch
    import synths
    from matching.models import EncoderModel
    from matching.training import AudioLoss, TrainConfig
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    scale = SCALES[scale_name]
    data = GridData(scale)
    cfg = TrainConfig(synth="granular", voice="texture", batch_size=scale["batch_size"],
                      out_channels=scale["out_channels"], latent_dim=scale["latent_dim"],
                      duration=scale["duration"], jtfs=scale["jtfs"],
                      warmup_iters=scale["warmup_iters"], loss="scrapl", theta_is=True)
    synth = synths.get("granular", voice="texture", duration=scale["duration"])
    torch.manual_seed(0)
    model = EncoderModel.for_synth(synth, out_channels=tuple(cfg.out_channels),
                                   latent_dim=cfg.latent_dim)
    loss = AudioLoss(cfg, synth.n_samples, synth.sample_rate, synth.n_params)
    audio, _, hat = data.batch(-2)
    batches = [{"x": loss.low(audio), "audio": audio}]
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i in paths:
            t0 = time.perf_counter()
            loss.scrapl.warmup_lc_hvp(lambda x, audio: model(audio),
                                      lambda theta, synth_module: loss.low(synth_module(theta)),
                                      batches, list(model.encoder.parameters()),
                                      synth_fn_kwargs=[{"synth_module": hat}],
                                      start_path_idx=i, end_path_idx=i + 1, save_dir=tmp,
                                      n_iter=cfg.warmup_iters, progress=False)
            seconds[i] = round(time.perf_counter() - t0, 2)
            print(f"path {i} {loss.scrapl.scrapl_keys[i]}: {seconds[i]} s", flush=True)
    n = loss.scrapl.n_paths
    mean = sum(seconds.values()) / len(seconds)
    result = {"scale": scale_name, "batch_size": scale["batch_size"],
              "warmup_iters": scale["warmup_iters"], "seconds_per_path": seconds,
              "mean_s": round(mean, 2), "n_paths": n,
              "estimate_all_paths_min": round(mean * n / 60, 1)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "warmup_timing.json").write_text(json.dumps(result, indent=1))
    return result


def plot_validation(rows: list, out: Path, scale: str) -> Path:
    """validation.png: the validation mean |θ̂ - θ| of the slope (per mille) against steps,
    one curve per method and seed (from each run's ``metrics.csv``)."""
    import csv
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in rows:
        path = Path(r.get("run_dir", "")) / "metrics.csv"
        if not path.is_file():
            continue
        with open(path, newline="") as f:
            pts = [(int(v["step"]), 1000 * float(v["param_l1_each"].split()[1]))
                   for v in csv.DictReader(f)
                   if v["split"] == "val" and (v.get("param_l1_each") or "").strip()]
        if pts:
            ax.plot(*zip(*pts), "o-", ms=3, label=f"{r['method']} (seed {r['seed']})")
    ax.set(xlabel="step", ylabel="validation slope |θ̂ - θ| (‰)",
           title=f"granular texture ({scale}): validation slope error")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "validation.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=sorted(SCALES), default="tiny")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", default="0", help="training seeds, comma-separated")
    ap.add_argument("--out", help="report folder (default docs/paper_granular/<scale>)")
    ap.add_argument("--work", help="training folders (default <out>/runs)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, help="training steps (default: the scale's)")
    ap.add_argument("--val-every", type=int, help="validate every N steps (default: the scale's)")
    ap.add_argument("--noise", choices=NOISE,
                    help="render predictions with the target's grains (micro) or others "
                         "(meso, the paper's); default: the scale's")
    ap.add_argument("--report-only", action="store_true",
                    help="no training: evaluate what the run folders hold (the steps each "
                         "method reached) and rebuild the report")
    ap.add_argument("--time-warmup", metavar="PATHS",
                    help="only time the θ-IS warm-up of these paths (comma-separated "
                         "indices) and write warmup_timing.json to --out")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.time_warmup:
        out = Path(args.out or ROOT / "docs" / "paper_granular" / args.scale)
        print(json.dumps(time_warmup(args.scale, [int(i) for i in args.time_warmup.split(",")],
                                     out), indent=1))
        return 0
    if args.worker:                      # one method in a fresh process: clean peak memory
        w = json.loads(args.worker)
        row = run_one(w["method"], w["scale"], w["seed"], Path(w["dir"]), w["device"],
                      w.get("overrides"), train_it=w.get("train", True))
        print("@@ROW@@ " + json.dumps(row), flush=True)
        return 0
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        ap.error(f"unknown methods {unknown}; choose from {list(METHODS)}")
    out = Path(args.out or ROOT / "docs" / "paper_granular" / args.scale)
    work = Path(args.work or out / "runs")
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for m in methods:
            overrides = {k: v for k, v in (("steps", args.steps),
                                           ("val_every", args.val_every),
                                           ("noise", args.noise)) if v is not None}
            run_dir = work / f"{m}-seed{seed}"
            if args.report_only and not (run_dir / "checkpoint.pt").is_file():
                print(f"{m} seed {seed}: no checkpoint in {run_dir}, left out", flush=True)
                continue
            job = {"method": m, "scale": args.scale, "seed": seed, "dir": str(run_dir),
                   "device": args.device, "overrides": overrides,
                   "train": not args.report_only}
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)],
                                  capture_output=True, text=True,
                                  env={**os.environ, "OMP_NUM_THREADS":
                                       os.environ.get("OMP_NUM_THREADS", "2")})
            found = [l for l in proc.stdout.splitlines() if l.startswith("@@ROW@@ ")]
            if proc.returncode != 0 or not found:
                sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
                print(f"{m} seed {seed}: FAILED (exit {proc.returncode})", flush=True)
                return 1
            row = json.loads(found[-1][8:])
            rows.append(row)
            print(f"{m:<28} seed {seed}: θ L1 {row['test_l1_permille']:7.1f} ‰ "
                  f"(density {row['test_l1_permille_density']:.1f}, slope "
                  f"{row['test_l1_permille_slope']:.1f}), {row['time_per_step_s']:.3f} s/step, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    write_report(rows, out, args.scale)
    plot_validation(rows, out, args.scale)
    print(f"wrote {out / 'results.md'}, results.json, figure.png, validation.png")
    print((out / "results.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
