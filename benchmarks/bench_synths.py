"""Real-time factor of every synth voice, and FFT-domain vs recursive filtering.

    python benchmarks/bench_synths.py [--threads 2] [--batches 1,64] [--repeats 5] [--device cpu|cuda]

Real-time factor = seconds of audio rendered / wall seconds (forward pass, no autograd),
median of ``--repeats`` timed calls after one warm-up. The filter comparison times the two
exact biquad forms of ``synths.dsp.biquad_filter`` (closed form in the frequency domain, and
``torchaudio.functional.lfilter``, a compiled recursion with its own backward) on the same
noise, forward + backward; ``"auto"`` picks the faster per device from these figures.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import synths
from synths import dsp


def median_time(fn, repeats: int, device: torch.device) -> float:
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_voices(batches: list[int], repeats: int, device: torch.device) -> None:
    print(f"| synth | voice | seconds/render | " + " | ".join(f"RTF batch {b}" for b in batches) + " |")
    print("|---|---|---|" + "---|" * len(batches))
    for name in synths.available():
        cls = synths.synth_class(name)
        for voice in cls.voices:
            synth = synths.get(name, voice=voice)
            factors = []
            for batch in batches:
                theta = synth.random_theta(batch, generator=torch.Generator().manual_seed(0), device=device)
                with torch.no_grad():
                    seconds = median_time(lambda: synth(theta), repeats, device)
                factors.append(batch * synth.duration / seconds)
            print(f"| {name} | {voice} | {synth.duration:g} | " + " | ".join(f"{f:,.0f}x" for f in factors) + " |")


def bench_filters(repeats: int, device: torch.device) -> None:
    """Both exact biquad forms of ``synths.dsp.biquad_filter`` on the same noise, forward+backward."""
    sample_rate, n = 44100, 44100
    print(f"\nhigh-pass biquad on {n} samples, forward+backward (ms):")
    for batch in (1, 64):
        noise = torch.randn(batch, n, device=device, dtype=torch.float32)
        cutoff = torch.full((batch,), 2000.0, device=device, requires_grad=True)
        q = torch.full((batch,), 2.0, device=device, requires_grad=True)
        seconds = {}
        for method in ("fft", "recursive"):
            def step() -> None:
                dsp.biquad_filter(noise, "highpass", cutoff, q, sample_rate, method=method).square().mean().backward()
            seconds[method] = median_time(step, repeats, device)
        print(f"  batch {batch:>2}: FFT closed form {seconds['fft'] * 1000:7.1f}, torchaudio lfilter "
              f"{seconds['recursive'] * 1000:7.1f}  (FFT / lfilter = {seconds['fft'] / seconds['recursive']:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"device: {label}; torch {torch.__version__}\n")
    bench_voices([int(b) for b in args.batches.split(",")], args.repeats, device)
    bench_filters(args.repeats, device)


if __name__ == "__main__":
    main()
