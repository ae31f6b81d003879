"""Why ddsp808's parameter error stays high when its sound is matched (matching issue).

    .venv/bin/python benchmarks/ddsp808_identifiability.py [--presets 8] [--steps 300]
        [--starts 4] [--candidates 256] [--out r.json]

For held-out random ddsp808 presets (seed 4242 + 1, not the training draws), runs
``match_preset`` with a large budget and prints, per preset: the log-mel distance between the
target and the match, the mean absolute normalized parameter error, and how that error
splits between *inaudible* parameters (changing that parameter alone to any of 0, 0.25, ...,
1 moves the target's log-mel by less than ``--inaudible`` = 0.01, i.e. < 0.1 dB on average)
and the others.  The summary gives the median parameter error of the matches that are
close in sound (log-mel < ``--close`` = 0.1): if those are far from 0, the parameters are
not identifiable from the sound and no matcher can reach a small parameter error on them.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import synths  # noqa: E402
from matching.match import match_preset  # noqa: E402
from matching.objective import batch_distances  # noqa: E402

GRID = torch.linspace(0, 1, 5)


def inaudible(s, theta: torch.Tensor, audio: torch.Tensor, threshold: float) -> torch.Tensor:
    """(n_params,) bool: parameters whose change alone (over GRID) moves log-mel < threshold."""
    P, G = s.n_params, len(GRID)
    th = theta.reshape(1, -1).repeat(P * G, 1)
    for i in range(P):
        th[i * G:(i + 1) * G, i] = GRID
    with torch.no_grad():
        d = batch_distances(s(th), audio.reshape(1, -1), s.sample_rate,
                            torch.zeros(P * G, dtype=torch.long), jtfs=False)
    log_mel = torch.tensor([x["log_mel"] for x in d]).reshape(P, G)
    return log_mel.max(dim=1).values < threshold


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--starts", type=int, default=4)
    ap.add_argument("--candidates", type=int, default=256)
    ap.add_argument("--inaudible", type=float, default=0.01)
    ap.add_argument("--close", type=float, default=0.1)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    s = synths.get("ddsp808", seed=0)
    names = [p.name for p in s.param_specs]
    gen = torch.Generator().manual_seed(4242 + 1)
    rows = []
    print("| preset | log-mel of match | param error | inaudible params | error on the others |"
          " largest errors |\n|---|---|---|---|---|---|")
    for k in range(args.presets):
        theta = torch.rand(1, s.n_params, generator=gen)
        with torch.no_grad():
            audio = s(theta).reshape(-1)
        r = match_preset(audio, "ddsp808", sample_rate=s.sample_rate, steps=args.steps,
                         n_starts=args.starts, candidates=args.candidates, progress=False,
                         jtfs_distance=False)
        err = (r.preset.theta().reshape(-1) - theta.reshape(-1)).abs()
        mute = inaudible(s, theta, audio, args.inaudible)
        top = torch.argsort(err, descending=True)[:3].tolist()
        row = {"log_mel": r.report["distances"]["log_mel"], "error": float(err.mean()),
               "inaudible": [names[i] for i in range(s.n_params) if mute[i]],
               "error_audible": float(err[~mute].mean()),
               "errors": {n: round(float(e), 4) for n, e in zip(names, err)}}
        rows.append(row)
        print(f"| {k} | {row['log_mel']:.3f} | {row['error']:.3f} | {int(mute.sum())} | "
              f"{row['error_audible']:.3f} | "
              + ", ".join(f"{names[i]} {float(err[i]):.2f}" for i in top) + " |", flush=True)
    close = [r["error"] for r in rows if r["log_mel"] < args.close]
    summary = {"median_error": statistics.median(r["error"] for r in rows),
               "close_matches": len(close),
               "median_error_close": statistics.median(close) if close else None}
    print(f"median parameter error {summary['median_error']:.3f}; {len(close)} of {len(rows)} "
          f"matches have log-mel < {args.close}, their median parameter error "
          + (f"{summary['median_error_close']:.3f}" if close else "-"))
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows,
                                              "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
