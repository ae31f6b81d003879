"""Where a single JTFS path spends its time: forward + backward at one batch size.

    python benchmarks/profile_jtfs.py [--configs granular,tr808] [--batch 4]
        [--paths 0,64,160] [--threads 2] [--top 25] [--stages] [--no-profiler] [--cpu-time]

For each configuration and path index (into ``JTFS.scrapl_keys``) it runs the SCRAPL
distance (input and a fresh target both transformed, ``log1p(S / 1e-3)`` for tr808, then
``vector_norm(Sy - Sx, dim=(-2, -1)).mean()`` and ``backward``) once to warm up, then under
``torch.profiler`` and prints the operators with the largest self CPU time (forward and
backward ops together).  ``--stages`` also times the stages of the algorithm separately
(first order, second-order temporal, frequential scattering + averaging), forward only
and forward + backward, median of 3.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from scrapl.jtfs import JTFS

CONFIGS = {
    "granular": dict(N=32768, J=12, Q=(8, 2), J_fr=3, Q_fr=2, T=None, F=None),
    "tr808": dict(N=44100, J=12, Q=(8, 2), J_fr=5, Q_fr=2, T=2048, F=1),
}
LOG1P = {"granular": False, "tr808": True}


def distance(jtfs: JTFS, x: torch.Tensor, target: torch.Tensor, n2: int, n_fr: int,
             log1p: bool) -> torch.Tensor:
    """The SCRAPL distance of one path (both signals transformed)."""
    Sx = jtfs.single_path(x, n2, n_fr)
    Sy = jtfs.single_path(target, n2, n_fr)
    if log1p:
        Sx, Sy = torch.log1p(Sx / 1e-3), torch.log1p(Sy / 1e-3)
    return torch.linalg.vector_norm(Sy - Sx, ord=2, dim=(-2, -1)).mean()


CLOCK = time.perf_counter


def _median_time(fn, repeats: int = 3) -> float:
    fn()
    ts = []
    for _ in range(repeats):
        t = CLOCK()
        fn()
        ts.append(CLOCK() - t)
    return statistics.median(ts)


def stage_times(jtfs: JTFS, x: torch.Tensor, n2: int, n_fr: int) -> dict:
    """Forward-only and forward+backward seconds of each stage of one path on x (one
    signal; each stage's input is precomputed, so the stages add up to the path)."""
    n1_max = jtfs.n1_max(n2)
    with torch.no_grad():
        sc0 = jtfs.scalogram(x, n1_max)
        Y20 = jtfs._Y2(sc0, n2)

    def first(grad):
        xx = x.detach().requires_grad_(grad)
        sc = jtfs.scalogram(xx, n1_max)
        if grad:
            torch.autograd.backward(sc.tensors(), [torch.ones_like(t) for t in sc.tensors()])

    def second(grad):
        sc = sc0.detach().requires_grad_(grad)
        Y2 = jtfs._Y2(sc, n2)
        if grad:
            Y2.backward(torch.ones_like(Y2))

    def freq(grad):
        Y2 = Y20.detach().requires_grad_(grad)
        S = jtfs._freq_scatter(Y2, n_fr, jtfs.j2[n2], time_average=True)
        if grad:
            S.sum().backward()

    out = {}
    for name, fn in (("first_order", first), ("second_order_time", second),
                     ("frequential+avg", freq)):
        with torch.no_grad():
            f = _median_time(lambda: fn(False))
        fb = _median_time(lambda: fn(True))
        out[name] = (f, fb)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="granular,tr808")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--paths", default="0,64,160", help="path indices into scrapl_keys")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--stages", action="store_true")
    ap.add_argument("--no-profiler", action="store_true")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time with process CPU time (robust to a busy machine with --threads 1)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.cpu_time:
        global CLOCK
        CLOCK = time.process_time
    for cfg in a.configs.split(","):
        jtfs = JTFS(**CONFIGS[cfg])
        N = jtfs.N
        g = torch.Generator().manual_seed(0)
        x = torch.randn(a.batch, 1, N, generator=g).requires_grad_(True)
        for pi in (int(p) for p in a.paths.split(",")):
            if pi >= len(jtfs.scrapl_keys):
                continue
            n2, n_fr = jtfs.scrapl_keys[pi]
            target = torch.randn(a.batch, 1, N, generator=g)

            def step():
                x.grad = None
                distance(jtfs, x, target, n2, n_fr, LOG1P[cfg]).backward()

            t = _median_time(step, 3)
            print(f"\n=== {cfg} B={a.batch} path {pi} (n2={n2}, j2={jtfs.j2[n2]}, "
                  f"n1_max={jtfs.n1_max(n2)}, n_fr={n_fr}, j_fr={jtfs.j_fr[n_fr]}): "
                  f"f+b median {t:.3f} s")
            if a.stages:
                for name, (f, fb) in stage_times(jtfs, x, n2, n_fr).items():
                    print(f"  stage {name:20s} fwd {f:.3f} s   f+b {fb:.3f} s  (one signal)")
            if a.no_profiler:
                continue
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                step()
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.top,
                                            max_name_column_width=40))


if __name__ == "__main__":
    main()
