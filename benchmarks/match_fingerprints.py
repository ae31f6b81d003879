"""Fingerprints of matches, to show that a change keeps every preset identical.

    python benchmarks/match_fingerprints.py OUT_DIR      # in the tree to check
    diff -r BEFORE_DIR AFTER_DIR                          # empty: the same presets

Matches ``examples/sounds/*.wav`` at seed 0 with tr808 (voice detected), tr808 voice BD and
ddsp808, and writes one JSON per match: synth, voice, parameters, distances, every voice's
score and the baselines, at full float precision (``time_s`` left out).  Run it from the
repository root of each revision (e.g. a ``git worktree`` of the old one) with the same
environment.
"""
from __future__ import annotations

import glob
import json
import os
import sys

try:
    from matching import match_preset
except ImportError:                 # revisions before matching exported it
    from matching.match import match_preset


def main() -> None:
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for wav in sorted(glob.glob("examples/sounds/*.wav")):
        for synth, voice in (("tr808", None), ("ddsp808", None), ("tr808", "BD")):
            r = match_preset(wav, synth=synth, voice=voice, seed=0, progress=False)
            name = f"{os.path.basename(wav)[:-4]}-{synth}-{voice}"
            record = {"synth": r.preset.synth, "voice": r.preset.voice,
                      "params": r.preset.params, "distances": r.report["distances"],
                      "voices": r.report["voices"], "baselines": r.report["baselines"]}
            with open(f"{out}/{name}.json", "w") as f:
                json.dump(record, f, indent=1, sort_keys=True)
            print(name, r.preset.voice, r.report["distances"]["log_mel"], flush=True)


if __name__ == "__main__":
    main()
