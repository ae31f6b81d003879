"""Command-line match time of this tree against another git revision, in one run.

    python benchmarks/bench_cli_revisions.py --baseline REV [--runs 5] [SOUND]

Checks REV out into a temporary git worktree and times ``python -m matching match SOUND
--quiet`` (default ``examples/sounds/tom.wav``) alternately in the baseline tree and in this
one (the interpreter of this environment; the tree the command runs in shadows the installed
package), ``--runs`` times each after one warm-up each, and prints both medians and their
ratio.  Alternating keeps the machine's state (other load, caches) alike for both.  Also
checks that both trees print the same preset.  Run it alone on the machine: timings of a
shared CPU mean nothing.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(tree: Path, sound: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "matching", "match", str(sound), "--quiet"],
                          cwd=tree, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    # the preset's lines (voice and knobs), not the timing line
    lines = [line for line in done.stdout.splitlines()[1:] if not line.strip().startswith(
        ("distances", "default_preset", "best_of"))]
    return elapsed, "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sound", nargs="?", default=str(REPO / "examples/sounds/tom.wav"))
    ap.add_argument("--baseline", required=True, help="git revision to compare with")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    sound = Path(args.sound).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(base),
                        args.baseline], check=True, capture_output=True)
        try:
            times = {"baseline": [], "this tree": []}
            outputs = {}
            for name, tree in (("baseline", base), ("this tree", REPO)):   # warm-up
                outputs[name] = _run(tree, sound)[1]
            for _ in range(args.runs):
                for name, tree in (("baseline", base), ("this tree", REPO)):
                    times[name].append(_run(tree, sound)[0])
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)],
                           capture_output=True)
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(f"synthmatch match {sound.name} --quiet, {args.runs} runs each, alternating")
    for name, values in times.items():
        print(f"  {name:<10} median {medians[name]:.2f} s  (" + ", ".join(f"{v:.2f}" for v in values) + ")")
    print(f"  ratio this tree / baseline: {medians['this tree'] / medians['baseline']:.3f}")
    print(f"  same preset printed: {outputs['baseline'] == outputs['this tree']}")


if __name__ == "__main__":
    main()
