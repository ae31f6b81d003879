"""Batch matching throughput: sounds per second, one file at a time vs batched, and 1 vs N
worker processes (``torchrun``), on the CPU (and on a GPU when one is available).

    .venv/bin/python benchmarks/bench_batch_match.py [--sounds 12] [--voices RS,CL,CB,MA]
        [--detect] [--steps N] [--candidates N] [--batch-sizes 1,4,16] [--procs 1,2]
        [--threads 2] [--device cpu,cuda] [--repeats 1] [--no-jtfs-distance]
        [--rows per-file,batch,torchrun,cuda] [--out results.json]

The sounds are renders of random presets (seed 4242) of ``--voices`` of the tr808, written
as WAV files.  Matching uses ``--steps`` refinement steps and ``--candidates`` random presets
(default: match_preset's);
with ``--detect`` every voice of the synth is searched (voice detection), else the voice is
given (``--voices`` must then name one voice).

Rows:

* ``per-file``: ``match_preset`` on each file in turn, in this process (what a loop over the
  files does; no process start-up);
* ``batch b``: ``match_batch(files, batch_size=b)`` in this process;
* ``torchrun N x b``: ``torchrun --nproc_per_node=N -m matching match DIR --out ...
  --batch-size b`` (wall time of the whole command: process start-up and imports included;
  ``--threads`` are split between the N processes);
* ``batch b (cuda)``: ``match_batch(..., device="cuda")`` when CUDA is available.

``--no-jtfs-distance`` leaves the full-JTFS distance out of the reports (it is most of the
report's cost).

Each row reports wall seconds and sounds per second; every run writes into a fresh folder
(nothing is skipped).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import synths  # noqa: E402
from matching.audio import write_audio  # noqa: E402
from matching.batch import match_batch  # noqa: E402
from matching import MatchOptions, match_preset  # noqa: E402

SEED = 4242


def make_sounds(folder: Path, n: int, voices) -> list:
    gen = torch.Generator().manual_seed(SEED)
    files = []
    for i in range(n):
        voice = voices[i % len(voices)]
        s = synths.get("tr808", voice=voice)
        theta = torch.rand(1, s.n_params, generator=gen)
        with torch.no_grad():
            audio = s(theta).reshape(-1)
        path = folder / f"{i:03d}_{voice}.wav"
        write_audio(path, audio, s.sample_rate, float_samples=True)
        files.append(path)
    return files


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sounds", type=int, default=12)
    ap.add_argument("--voices", default="RS,CL,CB,MA")
    ap.add_argument("--detect", action="store_true", help="voice detection over every voice")
    ap.add_argument("--steps", type=int, default=MatchOptions.steps)
    ap.add_argument("--candidates", type=int, default=MatchOptions.candidates)
    ap.add_argument("--batch-sizes", default="1,4,16")
    ap.add_argument("--procs", default="1,2")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--device", default="cpu,cuda")
    ap.add_argument("--rows", default="per-file,batch,torchrun,cuda",
                    help="which kinds of rows to run (default all)")
    ap.add_argument("--no-jtfs-distance", action="store_true",
                    help="leave the full-JTFS distance out of the reports")
    ap.add_argument("--repeats", type=int, default=1,
                    help="run each row this many times; report the fastest (the least "
                         "disturbed by other load) and every time")
    ap.add_argument("--out", help="write the results as JSON")
    args = ap.parse_args()
    voices = args.voices.split(",")
    if not args.detect and len(voices) != 1:
        ap.error("without --detect, --voices must name one voice (the voice to match)")
    voice = None if args.detect else voices[0]
    kinds = set(args.rows.split(","))
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    procs = [int(p) for p in args.procs.split(",")]
    devices = args.device.split(",")
    torch.set_num_threads(args.threads)
    opts = dict(steps=args.steps, candidates=args.candidates, progress=False,
                jtfs_distance=not args.no_jtfs_distance)
    work = Path(tempfile.mkdtemp(prefix="bench_batch_match_"))
    rows = []

    def record(name, run, **extra):
        times = []
        for r in range(args.repeats):
            t0 = time.perf_counter()
            run(r)
            times.append(time.perf_counter() - t0)
        seconds = min(times)
        row = {"mode": name, "sounds": args.sounds, "seconds": round(seconds, 2),
               "all_seconds": [round(t, 2) for t in times],
               "sounds_per_s": round(args.sounds / seconds, 3), **extra}
        rows.append(row)
        print(f"{name:<28} {seconds:8.1f} s  {row['sounds_per_s']:7.3f} sounds/s   "
              f"(runs: {', '.join(f'{t:.1f}' for t in times)} s)", flush=True)

    try:
        folder = work / "sounds"
        folder.mkdir()
        files = make_sounds(folder, args.sounds, voices)
        print(f"{args.sounds} sounds ({args.voices}), voice {'detected' if voice is None else voice},"
              f" {args.steps} steps, {args.candidates} candidates, {args.threads} threads",
              flush=True)
        match_preset(files[0], "tr808", voice=voice, **opts)          # warm-up (imports, caches)
        if "per-file" in kinds:
            def per_file(r):
                for f in files:
                    match_preset(f, "tr808", voice=voice, **opts)
            record("per-file (match_preset)", per_file)

        def batch(b, device="cpu"):
            def run(r):
                res = match_batch([folder], work / f"{device}{b}_{r}", "tr808", voice=voice,
                                  batch_size=b, device=device,
                                  **opts)
                if device == "cuda":
                    torch.cuda.synchronize()
                assert res.count("ok") == args.sounds, [i.error for i in res.failed]
            return run

        for b in batch_sizes if "batch" in kinds else []:
            record(f"batch {b}", batch(b), batch_size=b, processes=1)

        def launch(n, b):
            def run(r):
                out = work / f"torchrun{n}_{b}_{r}"
                env = {**os.environ, "OMP_NUM_THREADS": str(max(1, args.threads // n)),
                       "PYTHONPATH": str(ROOT)}
                if sys.platform.startswith("linux"):
                    env.setdefault("GLOO_SOCKET_IFNAME", "lo")
                cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
                       "--nproc_per_node", str(n), "--master_addr", "127.0.0.1",
                       "--master_port", str(_free_port()), "-m", "matching", "match",
                       str(folder), "--out", str(out), "--batch-size", str(b), "--steps",
                       str(args.steps), "--candidates", str(args.candidates), "--quiet"]
                if voice is not None:
                    cmd += ["--voice", voice]
                if args.no_jtfs_distance:
                    cmd += ["--no-jtfs-distance"]
                p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
                if p.returncode != 0:
                    print(p.stderr[-2000:], file=sys.stderr)
                    raise SystemExit(f"torchrun {n} x {b} failed")
            return run

        for n in procs if "torchrun" in kinds else []:
            for b in batch_sizes:
                record(f"torchrun {n} x batch {b}", launch(n, b), batch_size=b, processes=n,
                       threads_per_process=max(1, args.threads // n))
        if "cuda" in kinds and "cuda" in devices and torch.cuda.is_available():
            match_batch([files[0]], work / "cuda_warm", "tr808", voice=voice, device="cuda",
                        **opts)
            for b in batch_sizes:
                record(f"batch {b} (cuda)", batch(b, "cuda"), batch_size=b,
                       device=torch.cuda.get_device_name())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
