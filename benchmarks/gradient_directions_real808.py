"""Which way the match objective's gradient points on real TR-808 recordings (issue 14).

    .venv/bin/python benchmarks/gradient_directions_real808.py [--recordings DIR] [--paths 24]
        [--scrapl-weight 0.5]

For every recording with knobs (file names give the positions, :mod:`matching.tr808_recordings`)
and every knob, starts are put at the recorded position -5, -2.5, +2.5 and +5 dial steps (those
inside 0-10), the other knobs at their recorded positions and the level at 10. At each start it
takes d/dknob, by autograd through the synth, of:

* ``base``: the objective without a SCRAPL term (log-spectral, envelope and attack terms:
  :class:`matching.objective.MatchObjective` with the tr808's attack weight);
* ``one path``: the SCRAPL term alone, on one random JTFS path (``--paths`` draws; the
  fraction of draws that point the right way);
* ``path mean``: the mean of those draws' gradients;
* ``base + W x one path``: what a refinement step with ``scrapl_weight`` W follows.

It prints, per knob and overall, the fraction of (start, draw) pairs where ``-d/dknob`` points
to the recorded position (1: always, 0.5: a coin).  The targets are prepared as
``match_preset`` prepares them (onset, length) and fitted to the synth's length.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import synths  # noqa: E402
from matching.audio import fit_length  # noqa: E402
from matching.match import match_preset  # noqa: E402
from matching.objective import MatchObjective, objective_weights  # noqa: E402
from matching.tr808_recordings import find_recordings  # noqa: E402

STEPS_AWAY = (-5.0, -2.5, 2.5, 5.0)
COLUMNS = ("base", "one path", "path mean", "base + W x one path")


def knob_gradients(s: torch.nn.Module, objective: MatchObjective, theta: torch.Tensor,
                   i: int) -> torch.Tensor:
    """d objective / d theta[:, i] at each row of ``theta`` (rows, n_params) -> (rows,)."""
    theta = theta.clone().requires_grad_(True)
    return torch.autograd.grad(objective(s(theta)).sum(), theta)[0][:, i]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recordings", default=str(ROOT.parent / "shared" / "tr808-real"))
    ap.add_argument("--paths", type=int, default=24, help="SCRAPL path draws per start")
    ap.add_argument("--scrapl-weight", type=float, default=0.5,
                    help="W of the 'base + W x one path' column")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    attack = objective_weights("tr808")[0]
    right: Dict[str, Dict[str, List[float]]] = defaultdict(lambda: defaultdict(list))
    for rec in find_recordings(Path(args.recordings)):
        if not rec.knobs:
            continue
        r = match_preset(str(rec.path), synth="tr808", voice=rec.voice, refine=False,
                         candidates=0, use_encoder=False, grid_size=0, progress=False,
                         jtfs_distance=False)
        s = synths.get("tr808", voice=rec.voice, duration=r.report["duration_s"], seed=0)
        target = fit_length(r.target.reshape(-1).float(), s.n_samples).reshape(1, -1)
        base = MatchObjective(target, r.sample_rate, attack_weight=attack)
        with_path = MatchObjective(target, r.sample_rate, attack_weight=attack,
                                   scrapl_weight=1.0, seed=0)
        for knob, true in rec.knobs.items():
            starts = [true + d for d in STEPS_AWAY if 0 <= true + d <= 10]
            values = {**rec.knobs, "level": 10.0}
            theta = s.normalize({k: torch.tensor([values[k] if k != knob else v for v in starts])
                                 for k in values}, batch_size=len(starts))
            i = s.param_names.index(knob)
            want = torch.sign(torch.tensor([true - v for v in starts]))
            g_base = knob_gradients(s, base, theta, i)
            paths = torch.stack([knob_gradients(s, with_path, theta, i) - g_base
                                 for _ in range(args.paths)])            # (paths, starts)
            ok = lambda g: (torch.sign(-g) == want).float()
            cell = right[f"{rec.voice}.{knob}"]
            cell["base"] += ok(g_base).tolist()
            cell["one path"] += ok(paths).mean(0).tolist()
            cell["path mean"] += ok(paths.mean(0)).tolist()
            cell["base + W x one path"] += ok(g_base + args.scrapl_weight * paths).mean(0).tolist()
        print(f"  {rec.name}", flush=True)
    print(f"\nFraction of starts where -d/dknob points to the recorded position "
          f"({args.paths} SCRAPL paths per start, W = {args.scrapl_weight:g})")
    print("| knob | starts | " + " | ".join(COLUMNS) + " |")
    print("|---|---|" + "---|" * len(COLUMNS))
    total: Dict[str, List[float]] = defaultdict(list)
    for key in sorted(right):
        for c in COLUMNS:
            total[c] += right[key][c]
    for key, cell in [*sorted(right.items()), ("all", total)]:
        print(f"| {key} | {len(cell['base'])} | "
              + " | ".join(f"{sum(cell[c]) / len(cell[c]):.2f}" for c in COLUMNS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
