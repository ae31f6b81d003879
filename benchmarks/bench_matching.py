"""Matching quality and speed (matching issue).

    .venv/bin/python benchmarks/bench_matching.py [--sections params,voices,external,cli]
        [--per-voice 5] [--voices BD,SD,...] [--steps 150] [--starts 2] [--random 1000]
        [--synths tr808,ddsp808] [--out r.json]

Sections:

* ``params``: for every tr808 voice of ``--voices`` (``--voices ""``: none) and ddsp808,
  ``--per-voice`` held-out random presets (seeded per voice from 4242, never used in
  training: training draws with seed 0) rendered at the voice's default length: the shipped
  encoder's estimate alone, ``match_preset(audio, synth, voice)`` with ``refine=False``
  (the best-sounding of encoder estimate and random search) and with refinement; per voice
  the median over presets of the mean absolute normalized parameter error, and the median
  over all presets.
* ``voices``: renders of random presets of every tr808 voice, matched with ``voice=None``
  (detection: encoder estimates + random search per voice, the finalists refined for
  ``--detect-steps``); accuracy = detected voice == rendered voice.
* ``external``: the bundled sounds in ``examples/sounds/`` (made outside this repo's synths,
  see ``examples/sounds/make_examples.py``), each matched with every synth of ``--synths``
  (tr808 with its voice detected, ddsp808): distances of the match against the default
  preset and the best of ``--random`` random presets of the matched voice (chosen by the
  match objective).
* ``cli``: wall time of ``synthmatch match examples/sounds/tom.wav`` (1.0 s) in a fresh
  process (interpreter start, imports and model loading included), median of
  ``--cli-repeats``, with voice detection and with the voice given; and, as the same run's
  baseline, of a fresh ``python -c "import torch"`` (this VM's speed varies by +-20 %).

Prints tables; ``--out`` writes all numbers as JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import synths  # noqa: E402
from matching.match import match_preset  # noqa: E402
from matching.models import load_pretrained  # noqa: E402
from matching.objective import MatchObjective, match_distances, objective_weights  # noqa: E402

SEED = 4242


def _param_error(result, theta_true: torch.Tensor) -> float:
    theta = result.preset.theta()
    return float((theta.reshape(-1) - theta_true.reshape(-1)).abs().mean())


def section_params(args) -> dict:
    rows = []
    cases = [("tr808", v) for v in args.voices] + [("ddsp808", None)]
    for synth, voice in cases:
        s = synths.get(synth, voice=voice, seed=0)
        # per case, so any subset of --voices draws the same presets
        gen = torch.Generator().manual_seed(SEED + zlib.crc32(f"{synth}-{voice}".encode()))
        model = load_pretrained(synth, voice)
        only, enc, ref, times = [], [], [], []
        for _ in range(args.per_voice):
            theta = torch.rand(1, s.n_params, generator=gen)
            with torch.no_grad():
                audio = s(theta).reshape(-1)
                estimate = model(audio.reshape(1, -1)).clamp(0, 1)
            only.append(float((estimate - theta).abs().mean()))
            r0 = match_preset(audio, synth, voice=voice, refine=False, sample_rate=s.sample_rate,
                              progress=False)
            t0 = time.perf_counter()
            r1 = match_preset(audio, synth, voice=voice, refine=True, **args.opts,
                              sample_rate=s.sample_rate, progress=False)
            times.append(time.perf_counter() - t0)
            enc.append(_param_error(r0, theta))
            ref.append(_param_error(r1, theta))
        row = {"synth": synth, "voice": voice, "n": args.per_voice,
               "median_error_encoder": statistics.median(only),
               "median_error_search": statistics.median(enc),
               "median_error_refined": statistics.median(ref),
               "errors_encoder": only, "errors_search": enc, "errors_refined": ref,
               "median_time_s": statistics.median(times)}
        rows.append(row)
        print(f"| {synth} | {voice or '-'} | {row['median_error_encoder']:.4f} | "
              f"{row['median_error_search']:.4f} | "
              f"{row['median_error_refined']:.4f} | {row['median_time_s']:.1f} |", flush=True)
    summary = {f"median_error_{k}": statistics.median(e for r in rows for e in r[f"errors_{k}"])
               for k in ("encoder", "search", "refined")}
    print(f"| all | | {summary['median_error_encoder']:.4f} | "
          f"{summary['median_error_search']:.4f} | {summary['median_error_refined']:.4f} | |")
    return {"rows": rows, "summary": summary}


def section_voices(args) -> dict:
    gen = torch.Generator().manual_seed(SEED + 1)
    results, correct = [], 0
    for voice in args.voices:
        s = synths.get("tr808", voice=voice, seed=0)
        for _ in range(args.per_voice):
            theta = torch.rand(1, s.n_params, generator=gen)
            with torch.no_grad():
                audio = s(theta).reshape(-1)
            r = match_preset(audio, "tr808", voice=None, sample_rate=s.sample_rate, steps=1,
                             progress=False, **args.detect_opts)
            ok = r.preset.voice == voice
            correct += ok
            results.append({"voice": voice, "detected": r.preset.voice, "ok": ok})
        wrong = [x["detected"] for x in results if x["voice"] == voice and not x["ok"]]
        print(f"  {voice}: {args.per_voice - len(wrong)}/{args.per_voice}"
              + (f" (taken for {', '.join(wrong)})" if wrong else ""), flush=True)
    acc = correct / len(results)
    print(f"voice detection accuracy: {acc:.3f} ({correct}/{len(results)})")
    return {"accuracy": acc, "n": len(results), "results": results}


def section_external(args) -> dict:
    out = {}
    for path in sorted((ROOT / "examples" / "sounds").glob("*.wav")):
        for synth in args.synths:
            r = match_preset(str(path), synth, progress=False, **args.opts)
            s = synths.get(synth, voice=r.preset.voice, duration=r.report["duration_s"], seed=0)
            objective = MatchObjective(r.target, r.sample_rate,   # the match's objective
                                       attack_weight=objective_weights(synth, args.opts.get("attack_weight"))[0])
            gen = torch.Generator().manual_seed(SEED + 2)
            theta = torch.rand(args.random, s.n_params, generator=gen)
            with torch.no_grad():
                scores = torch.cat([objective(s(t)) for t in theta.split(100)])
                best = s(theta[int(torch.argmin(scores))].unsqueeze(0)).reshape(-1)
                default = s(s.default_theta(1)).reshape(-1)
            best_d = match_distances(best, r.target, r.sample_rate)
            d = {"match": r.report["distances"],
                 "default_preset": match_distances(default, r.target, r.sample_rate),
                 f"best_of_{args.random}_random": best_d}
            keys = list(d["match"])
            beats = {label: sum(d["match"][k] < dist[k] for k in keys)
                     for label, dist in d.items() if label != "match"}
            # geometric mean over the distances of match / best random (< 1: match closer)
            ratio = math.exp(statistics.fmean(math.log(d["match"][k] / best_d[k]) for k in keys))
            out[f"{path.name} {synth}"] = {"synth": synth, "voice": r.preset.voice,
                                           "distances": d, "match_better_on": beats,
                                           "geomean_ratio_to_random": ratio,
                                           "time_s": r.report["time_s"]}
            print(f"{path.name} -> {synth} {r.preset.voice or ''} ({r.report['time_s']:.1f} s); "
                  "match better on " + ", ".join(f"{n}/{len(keys)} vs {label}"
                                                  for label, n in beats.items())
                  + f"; geometric mean of match / best random {ratio:.3f}")
            print("| | " + " | ".join(keys) + " |")
            print("|---|" + "---|" * len(keys))
            for label, dist in d.items():
                print(f"| {label} | " + " | ".join(f"{dist[k]:.4g}" for k in keys) + " |",
                      flush=True)
    return out


def section_cli(args) -> dict:
    """Wall time of ``synthmatch match`` on the 1 s example (tom.wav) in fresh processes:
    with voice detection, then with the detected voice given (``--voice``)."""
    import re
    exe = Path(sys.executable).parent / "synthmatch"
    sound = ROOT / "examples" / "sounds" / "tom.wav"
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    out = {}
    # the baseline of the same run: a fresh interpreter that imports torch, nothing else
    base = []
    for _ in range(args.cli_repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch"], check=True, env=env)
        base.append(time.perf_counter() - t0)
    out["import torch"] = {"times_s": base, "median_s": statistics.median(base)}
    print(f"python -c 'import torch' (the baseline): median {statistics.median(base):.2f} s "
          f"{['%.2f' % t for t in base]}", flush=True)
    voice = None
    for label in ("voice detection", "voice given"):
        cmd = [str(exe), "match", str(sound), "--quiet"] + (["--voice", voice] if voice else [])
        times = []
        for _ in range(args.cli_repeats):
            t0 = time.perf_counter()
            run = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
            times.append(time.perf_counter() - t0)
        found = re.search(r"voice (\w+) in", run.stdout)
        voice = voice or (found.group(1) if found else "LT")
        dist = re.search(r"distances\s+log_mel ([0-9.]+)", run.stdout)
        out[label] = {"command": " ".join(cmd[1:]), "times_s": times,
                      "median_s": statistics.median(times),
                      "log_mel": float(dist.group(1)) if dist else None}
        print(f"synthmatch match tom.wav (1.0 s, {label}{', ' + voice if label == 'voice given' else ''}): "
              f"median {statistics.median(times):.2f} s wall over {len(times)} runs "
              f"{['%.2f' % t for t in times]} = "
              f"{statistics.median(times) / statistics.median(base):.2f}x "
              f"the torch import; log_mel {out[label]['log_mel']}", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sections", default="params,voices,external,cli")
    ap.add_argument("--per-voice", type=int, default=5)
    ap.add_argument("--voices", default=",".join(synths.synth_class("tr808").voices))
    ap.add_argument("--steps", type=int, default=None,
                    help="refinement steps (default: match_preset's)")
    ap.add_argument("--synths", default="tr808,ddsp808",
                    help="external: the synths each example sound is matched with")
    ap.add_argument("--starts", type=int, default=None,
                    help="refinement starts (default: match_preset's)")
    ap.add_argument("--scrapl-weight", type=float, default=None,
                    help="the refinement's SCRAPL term weight (default: match_preset's)")
    ap.add_argument("--cli-repeats", type=int, default=3)
    ap.add_argument("--random", type=int, default=1000)
    ap.add_argument("--detect-steps", type=int, default=None,
                    help="voices: refinement steps of the finalists before the choice "
                         "(default: match_preset's)")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    args.voices = [v for v in args.voices.split(",") if v]
    args.synths = args.synths.split(",")
    args.opts = {k: v for k, v in (("steps", args.steps), ("n_starts", args.starts),
                                   ("scrapl_weight", args.scrapl_weight)) if v is not None}
    args.detect_opts = ({} if args.detect_steps is None
                        else {"detect_steps": args.detect_steps})
    torch.set_num_threads(2)
    result = {"torch": torch.__version__, "threads": 2}
    for name in args.sections.split(","):
        print(f"## {name}", flush=True)
        if name == "params":
            print("| synth | voice | median error, encoder only | encoder + search | refined | "
                  "median match time (s) |\n|---|---|---|---|---|---|")
        result[name] = globals()[f"section_{name}"](args)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
