"""Kernel benchmark: Triton vs the torch reference on the GPU, numba vs torch on the CPU.

    python benchmarks/bench_kernels.py [--configs tr808,granular] [--batches 1,8,32]
                                       [--warmup 25] [--rep 100]
    python benchmarks/bench_kernels.py --cpu [--threads 2] [--repeats 15]

GPU mode (default; exits 0 with a message when CUDA is missing): for each paper
configuration and batch, times every kernel op of :mod:`kernels` at the shapes a JTFS
path gives it, forward and forward + backward, Triton vs :mod:`kernels.reference` in the
same run (``triton.testing.do_bench``: median ms, L2 flushed between calls), and prints
the speed-up and the achieved bandwidth of each against the device's peak.

Shapes (from ``scrapl.filter_bank.jtfs_filterbank``; tr808: N=44100 -> N_padded 131072,
86 first-order filters in 12 groups of equal subsampling 2**k1; granular: N=32768 ->
N_padded 65536):

* ``filter_periodize``: the whole first order, one call per k1 group: x_hat (B, N_padded)
  complex64, the group's psi1 (K_g, N_padded) real, factor 2**k1; Triton dense and
  Triton band-limited (``kernels.filter_band``, bins > 1e-7 max), reference dense;
* ``band_fold``: the same first order from the one-sided spectrum (``rfft``, what
  ``scrapl.primitives.band_fold`` reads), each filter's blocks of M bins with
  |psi| > 1e-7 max gathered, padded to the group's largest block count;
* ``modulus``: the first-order output of the k1 = 0 group, (B, 10, N_padded) complex64,
  plain and with ``log1p_eps``;
* ``modulus_average``: the frequential stage of the costliest path (j2 = 1, Y (B, 10,
  N_padded / 2), G (N_padded_fr, 10) complex (k_fr = 0, the largest), A dense (L,
  N_padded / 2**log2_stride)) and of a mean path (j2 = 4);
* ``path_distance``: (B, freq, time) path coefficients, p = 2.

Bandwidth: "bytes" counts each input read once and each output written once (the
compulsory traffic: for the band-limited ``filter_periodize`` only the band's bins of x
and of the filters), so GB/s = bytes / time is what a perfect-cache kernel would need;
%peak compares it with the device's peak DRAM bandwidth (from ``memory_clock_rate`` and
``memory_bus_width``, else a table: H100 SXM 3.35 TB/s).  Backward bytes count the
gradient in, the saved inputs re-read and the input gradient out.

CPU mode (``--cpu``): numba vs the torch reference on 2 threads, interleaved repeats,
median: the modulus (the op :data:`kernels.NUMBA_OPS` runs with numba) and a numba
candidate for the path distance (kept here only as the measured alternative: torch wins
that one, so ``kernels`` has no numba path distance).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import kernels                                   # noqa: E402
from kernels import reference                    # noqa: E402

CONFIGS = {
    "tr808": dict(N=44100, J=12, Q=(8, 2), J_fr=5, Q_fr=2, T=2048, F=1),
    "granular": dict(N=32768, J=12, Q=(8, 2), J_fr=3, Q_fr=2, T=None, F=None),
}
PEAK_TABLE = {"H100": 3.35e12, "H200": 4.8e12, "A100": 2.0e12, "L40": 0.864e12,
              "A10": 0.6e12, "T4": 0.32e12}


# ------------------------------------------------------------------------------ GPU
def peak_bandwidth(props) -> float:
    clock_khz = getattr(props, "memory_clock_rate", 0) or 0
    bus_bits = getattr(props, "memory_bus_width", 0) or 0
    if clock_khz and bus_bits:
        return 2.0 * clock_khz * 1e3 * bus_bits / 8        # double data rate
    for key, value in PEAK_TABLE.items():
        if key in props.name:
            return value
    return float("nan")


def load_config(name: str) -> Dict:
    """Filter bank of a paper configuration, as numpy arrays and shapes."""
    from scrapl.filter_bank import jtfs_filterbank
    fb = jtfs_filterbank(**CONFIGS[name])
    ls = fb["log2_stride"]
    j1 = [p["j"] for p in fb["psi1"]]
    groups, a = [], 0
    while a < len(j1):
        k = min(j1[a], ls)
        b = a
        while b < len(j1) and min(j1[b], ls) == k:
            b += 1
        groups.append((k, a, b))
        a = b
    j2 = [p["j"] for p in fb["psi2"]]
    return dict(fb=fb, N=fb["N_padded"], groups=groups, j1=j1, j2=j2,
                n_out=fb["N_padded"] >> ls, n_fr=fb["N_padded_fr"],
                F_out=fb["N_padded_fr"] >> fb["log2_stride_fr"],
                psi1=np.stack([p["levels"][0] for p in fb["psi1"]]))


def band_operands(psi: np.ndarray, M: int, scale: float, device: torch.device,
                  threshold: float = 1e-7):
    """index (K, m M), window (K, m M, 2) of ``kernels.band_fold`` for filters psi (K, N)
    subsampled to M bins: the blocks of M bins holding |psi| > threshold * max, padded
    to the largest count m with the next-largest blocks (as scrapl's filter bank does)."""
    K, N = psi.shape
    mags = np.abs(psi).reshape(K, N // M, M).max(axis=2)
    m = max(int((row > threshold * row.max()).sum()) for row in mags)
    index, window = [], []
    for h, row in zip(psi, mags):
        blocks = np.sort(np.argsort(-row, kind="stable")[:m])
        f = (blocks[:, None] * M + np.arange(M)[None, :]).reshape(-1)
        neg = f > N // 2
        index.append(np.where(neg, N - f, f))
        w = h[f] * scale
        window.append(np.stack([w, np.where(neg, -w, w)], axis=-1))
    return (torch.as_tensor(np.stack(index), dtype=torch.long, device=device),
            torch.as_tensor(np.stack(window), dtype=torch.float32, device=device), M)


class Bench:
    def __init__(self, warmup: int, rep: int, peak: float):
        from triton.testing import do_bench
        self.do_bench = do_bench
        self.warmup, self.rep, self.peak = warmup, rep, peak
        print("| op | shape | pass | reference ms | triton ms | speed-up | "
              "triton GB/s | % peak |")
        print("|---|---|---|---|---|---|---|---|")

    def time(self, fn: Callable) -> float:
        return self.do_bench(fn, warmup=self.warmup, rep=self.rep, return_mode="median")

    def row(self, op: str, shape: str, which: str, ref_fn: Callable, tri_fn: Callable,
            nbytes: float) -> None:
        t_ref, t_tri = self.time(ref_fn), self.time(tri_fn)
        gbs = nbytes / (t_tri * 1e-3) / 1e9
        print(f"| {op} | {shape} | {which} | {t_ref:.3f} | {t_tri:.3f} | "
              f"{t_ref / t_tri:.2f}x | {gbs:,.0f} | {100 * gbs * 1e9 / self.peak:.0f}% |",
              flush=True)


def _fwd_bwd(fn: Callable, inputs: List[torch.Tensor]) -> Callable:
    """A closure running fn forward and backward (grad of sum of a fixed projection)."""
    def run():
        for t in inputs:
            t.grad = None
        out = fn()
        out = torch.view_as_real(out) if out.is_complex() else out
        out.backward(torch.ones_like(out))
    return run


def bench_config(bench: Bench, name: str, batch: int, device: torch.device,
                 cfg: Optional[Dict] = None) -> None:
    """All rows of one configuration and batch (``cfg``: a :func:`load_config` result)."""
    cfg = load_config(name) if cfg is None else cfg
    N, gen = cfg["N"], torch.Generator(device="cpu").manual_seed(0)
    psi1 = torch.as_tensor(cfg["psi1"], dtype=torch.float32)
    x = torch.randn(batch, N, generator=gen)
    x_hat = torch.fft.fft(x).to(torch.complex64).to(device)
    tag = f"{name} B={batch}"

    # filter_periodize over the whole first order (one call per k1 group)
    filters = [(2 ** k, psi1[a:b].to(device)) for k, a, b in cfg["groups"]]
    bands = [tuple(t.to(device) for t in kernels.filter_band(h)) for _, h in filters]
    band_bins = sum(int(bl.sum()) for _, bl in bands)
    K_total = psi1.shape[0]
    out_bytes = sum(8 * batch * h.shape[0] * (N // s) for s, h in filters)
    dense_bytes = 8 * batch * N + 4 * K_total * N + out_bytes
    band_bytes = 8 * batch * band_bins + 4 * band_bins + out_bytes

    def fp(backend, banded=False):
        return lambda: [kernels.filter_periodize(
            x_hat, h, s, band if banded else None, backend=backend)
            for (s, h), band in zip(filters, bands)]
    bench.row("filter_periodize dense", f"{tag} K={K_total} N={N}", "fwd",
              fp("reference"), fp("triton"), dense_bytes)
    bench.row("filter_periodize band", f"{tag} bins={band_bins}", "fwd",
              fp("reference"), fp("triton", True), band_bytes)
    xg = x_hat.clone().requires_grad_()

    def fp_bwd(backend, banded=False):
        def run():
            xg.grad = None
            outs = [kernels.filter_periodize(xg, h, s, band if banded else None,
                                             backend=backend)
                    for (s, h), band in zip(filters, bands)]
            torch.autograd.backward([torch.view_as_real(o) for o in outs],
                                    [torch.ones_like(torch.view_as_real(o)) for o in outs])
        return run
    bench.row("filter_periodize dense", f"{tag}", "fwd+bwd", fp_bwd("reference"),
              fp_bwd("triton"), 2 * dense_bytes + 8 * batch * N)
    bench.row("filter_periodize band", f"{tag}", "fwd+bwd", fp_bwd("reference"),
              fp_bwd("triton", True), 2 * band_bytes + 8 * batch * N)

    # band_fold: the same first order from the one-sided spectrum
    x_half = torch.fft.rfft(x).to(torch.complex64).to(device)
    folds = [band_operands(cfg["psi1"][a:b], N >> k, 2.0 ** -k, device)
             for k, a, b in cfg["groups"]]
    gathered = sum(idx.numel() for idx, _, _ in folds)
    nbytes = (8 * batch * gathered + 16 * gathered
              + sum(8 * batch * idx.shape[0] * M for idx, _, M in folds))

    def bf(backend):
        return lambda: [kernels.band_fold(x_half, idx, win, M, backend=backend)
                        for idx, win, M in folds]
    bench.row("band_fold", f"{tag} gathered bins={gathered}", "fwd", bf("reference"),
              bf("triton"), nbytes)
    xh = x_half.clone().requires_grad_()

    def bf_bwd(backend):
        def run():
            xh.grad = None
            outs = [kernels.band_fold(xh, idx, win, M, backend=backend)
                    for idx, win, M in folds]
            torch.autograd.backward([torch.view_as_real(o) for o in outs],
                                    [torch.ones_like(torch.view_as_real(o)) for o in outs])
        return run
    bench.row("band_fold", f"{tag}", "fwd+bwd", bf_bwd("reference"), bf_bwd("triton"),
              2 * nbytes + 8 * x_half.numel())

    # modulus on the k1 = 0 group's output
    K0 = cfg["groups"][0][2]
    z = torch.randn(batch, K0, N, dtype=torch.complex64, generator=gen).to(device)
    n = z.numel()
    for eps in (None, 1e-3):
        label = "modulus" if eps is None else "modulus log1p"
        bench.row(label, f"{tag} ({batch}, {K0}, {N})", "fwd",
                  lambda: kernels.modulus(z, eps, backend="reference"),
                  lambda: kernels.modulus(z, eps, backend="triton"), 12 * n)
        zg = z.clone().requires_grad_()
        bench.row(label, f"{tag}", "fwd+bwd",
                  _fwd_bwd(lambda: kernels.modulus(zg, eps, backend="reference"), [zg]),
                  _fwd_bwd(lambda: kernels.modulus(zg, eps, backend="triton"), [zg]),
                  12 * n + 20 * n)
    del z

    # frequential stage of the costliest (j2 = 1) and of a mean (j2 = 4) path
    for j2 in (1, 4):
        n1 = sum(1 for j in cfg["j1"] if j < j2)
        L = N >> j2
        R = cfg["n_fr"]
        Y = torch.randn(batch, n1, L, dtype=torch.complex64, generator=gen).to(device)
        G = torch.randn(R, n1, dtype=torch.complex64, generator=gen).to(device)
        A = (torch.rand(L, cfg["n_out"], generator=gen) / L).to(device)
        nbytes = 8 * Y.numel() + 8 * G.numel() + 4 * A.numel() + 4 * batch * R * cfg["n_out"]
        shape = f"{tag} Y=({batch}, {n1}, {L}) R={R} M={cfg['n_out']}"
        try:
            bench.row("modulus_average", shape, "fwd",
                      lambda: kernels.modulus_average(Y, G, A, backend="reference"),
                      lambda: kernels.modulus_average(Y, G, A, backend="triton"), nbytes)
            Yg = Y.clone().requires_grad_()
            bench.row("modulus_average", f"{tag} j2={j2}", "fwd+bwd",
                      _fwd_bwd(lambda: kernels.modulus_average(Yg, G, A,
                                                               backend="reference"), [Yg]),
                      _fwd_bwd(lambda: kernels.modulus_average(Yg, G, A, backend="triton"),
                               [Yg]),
                      2 * nbytes + 8 * Y.numel())
        except torch.OutOfMemoryError:
            print(f"| modulus_average | {shape} | - | out of memory (reference) | | | | |")
        del Y
        torch.cuda.empty_cache()

    # path distance on (B, freq, time) coefficients
    T = cfg["n_out"]
    a = torch.randn(batch, cfg["F_out"], T, generator=gen).to(device)
    b = torch.randn(batch, cfg["F_out"], T, generator=gen).to(device)
    bench.row("path_distance", f"{tag} ({batch}, {cfg['F_out']}, {T})", "fwd",
              lambda: kernels.path_distance(a, b, backend="reference"),
              lambda: kernels.path_distance(a, b, backend="triton"), 8 * a.numel())
    ag = a.clone().requires_grad_()
    bench.row("path_distance", f"{tag}", "fwd+bwd",
              _fwd_bwd(lambda: kernels.path_distance(ag, b, backend="reference"), [ag]),
              _fwd_bwd(lambda: kernels.path_distance(ag, b, backend="triton"), [ag]),
              8 * a.numel() + 12 * a.numel())


def gpu_main(args) -> int:
    if not torch.cuda.is_available():
        print("bench_kernels: no CUDA device here; the Triton benchmark needs a GPU "
              "(use --cpu for the numba/torch comparison). Nothing measured.")
        return 0
    device = torch.device("cuda")
    props = torch.cuda.get_device_properties(device)
    peak = peak_bandwidth(props)
    import triton
    print(f"device: {props.name}, peak DRAM bandwidth {peak / 1e12:.2f} TB/s; torch "
          f"{torch.__version__}, triton {triton.__version__}")
    bench = Bench(args.warmup, args.rep, peak)
    for name in args.configs.split(","):
        for batch in [int(b) for b in args.batches.split(",")]:
            bench_config(bench, name, batch, device)
    return 0


# ------------------------------------------------------------------------------ CPU
def _numba_path_distance():
    import numba

    @numba.njit(parallel=True, cache=True)
    def norms(x, t, p, out):                                  # pragma: no cover (jit)
        B, n = x.shape
        for b in numba.prange(B):
            acc = 0.0
            for i in range(n):
                d = abs(t[b, i] - x[b, i])
                acc += d * d if p == 2.0 else d ** p
            out[b] = acc ** (1.0 / p)

    def path_distance(x, t, p=2.0):
        B = x.shape[0]
        out = np.empty(B, dtype=np.float32)
        norms(x.reshape(B, -1).numpy(), t.reshape(B, -1).numpy(), p, out)
        return torch.from_numpy(out).mean()
    return path_distance


def _interleaved(fns: Dict[str, Callable], repeats: int) -> Dict[str, float]:
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def cpu_main(args) -> int:
    import numba
    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    print(f"CPU: torch {torch.__version__} ({torch.get_num_threads()} threads), numba "
          f"{numba.__version__} ({numba.get_num_threads()} threads); median of "
          f"{args.repeats} interleaved calls, ms")
    print("| op | shape | pass | torch reference | numba | numba speed-up |")
    print("|---|---|---|---|---|---|")
    gen = torch.Generator().manual_seed(0)
    for shape in [(8, 10, 65536), (8, 86, 1024), (4, 96, 4096), (1, 10, 4096)]:
        z = torch.randn(shape, dtype=torch.complex64, generator=gen)
        zg = z.clone().requires_grad_()
        for eps in (None, 1e-3):
            label = "modulus" if eps is None else "modulus log1p"
            t = _interleaved({
                "ref": lambda: kernels.modulus(z, eps, backend="reference"),
                "numba": lambda: kernels.modulus(z, eps, backend="numba")}, args.repeats)
            print(f"| {label} | {shape} | fwd | {t['ref'] * 1e3:.2f} | "
                  f"{t['numba'] * 1e3:.2f} | {t['ref'] / t['numba']:.2f}x |", flush=True)
            t = _interleaved({
                "ref": _fwd_bwd(lambda: kernels.modulus(zg, eps, backend="reference"), [zg]),
                "numba": _fwd_bwd(lambda: kernels.modulus(zg, eps, backend="numba"), [zg])},
                args.repeats)
            print(f"| {label} | {shape} | fwd+bwd | {t['ref'] * 1e3:.2f} | "
                  f"{t['numba'] * 1e3:.2f} | {t['ref'] / t['numba']:.2f}x |", flush=True)
    nb_dist = _numba_path_distance()
    for shape in [(1, 96, 64), (8, 96, 64), (32, 96, 64), (8, 21, 16)]:
        a = torch.randn(shape, generator=gen)
        b = torch.randn(shape, generator=gen)
        t = _interleaved({"ref": lambda: kernels.path_distance(a, b, backend="reference"),
                          "numba": lambda: nb_dist(a, b)}, args.repeats * 10)
        print(f"| path_distance p=2 | {shape} | fwd | {t['ref'] * 1e3:.3f} | "
              f"{t['numba'] * 1e3:.3f} | {t['ref'] / t['numba']:.2f}x |", flush=True)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", action="store_true", help="numba vs torch on the CPU")
    parser.add_argument("--configs", default="tr808,granular")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--warmup", type=int, default=25, help="do_bench warm-up, ms")
    parser.add_argument("--rep", type=int, default=100, help="do_bench repetition, ms")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    return cpu_main(args) if args.cpu else gpu_main(args)


if __name__ == "__main__":
    sys.exit(main())
