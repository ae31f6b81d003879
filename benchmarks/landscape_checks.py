"""Checks behind docs/landscapes/README.md (issue #16): one measurement each.

    cd /work/wt-landscape && OMP_NUM_THREADS=1 nice -n 10 \\
        /work/main/.venv/bin/python benchmarks/landscape_checks.py [--out docs/landscapes]

1. slope parametrization against the peer's ``ChirpTextureSynth.calc_slope``
   (``tan(0.95 * (2 u - 1) * pi / 2) * sr / (Q * hop) / 4`` oct/s, u the normalized slope)
   and one grain against the peer's cumulative-sum phase (``2 pi cumsum(f0 2^(g t) / sr)``,
   zero at the grain's start) by their magnitude spectrograms;
2. unit energy of the texture renders;
3. the JTFS's frequential ordering: the energy of the spin +1 paths over the spin -1 paths
   for rising and falling textures (the ratio must flip with the chirp direction);
writes ``checks.md`` under ``--out``.  (log1p, padding and autograd are measured by
``benchmarks/landscape.py --log1p`` / ``--no-unpad`` and its autograd checks.)
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def slope_parametrization() -> List[str]:
    """Our oct/s against the peer's formula on a grid of normalized slopes."""
    import torch
    import synths
    s = synths.get("granular", voice="texture")
    u = torch.linspace(0, 1, 101)
    theta = torch.stack([torch.full_like(u, 0.5), u], -1)
    angle = s.denormalize(theta)["slope"]
    ours = torch.tan(angle * math.pi / 180) * 8192 / (12 * 256) / 4
    peer = torch.tan(0.95 * (2 * u - 1) * math.pi / 2) * 8192 / (12 * 256) / 4
    err = float(((ours - peer).abs() / peer.abs().clamp_min(1e-6)).max())
    return [f"slope rate, ours vs the peer's formula over 101 normalized slopes: max relative "
            f"difference {err:.1e} (range {float(ours.min()):.2f} .. {float(ours.max()):.2f} oct/s)"]


def grain_phase() -> List[str]:
    """One grain (f0 = 1000 Hz, 0.5 s Hann) at +-6 oct/s: closed-form phase zero at the
    centre (ours) against the peer's cumulative sum zero at the start, by |STFT|."""
    import torch
    from synths.granular import chirp_cycles
    from scrapl.mss import stft_magnitude
    sr, L, f0 = 8192, 4096, 1000.0
    t = torch.arange(L, dtype=torch.float64) / sr - L / (2 * sr)
    win = torch.sin(math.pi * torch.arange(L, dtype=torch.float64) / L) ** 2
    out = []
    for rate in (6.0, -6.0):
        ours = torch.sin(2 * math.pi * f0 * chirp_cycles(t, torch.tensor(rate))) * win
        peer = torch.sin(2 * math.pi * torch.cumsum(f0 * 2 ** (rate * t) / sr, 0)) * win
        w = torch.hann_window(512, dtype=torch.float64)
        A, B = (stft_magnitude(x.unsqueeze(0), 512, 128, w)[0] for x in (ours, peer))
        rel = float((A - B).norm() / B.norm())
        out.append(f"grain at {rate:+.0f} oct/s: |STFT| relative difference ours vs peer "
                   f"phase {rel:.3f}")
    return out


def unit_energy() -> List[str]:
    import torch
    import synths
    s = synths.get("granular", voice="texture", seed=3)
    x = s(torch.rand(8, 2, generator=torch.Generator().manual_seed(0)))
    n = x.reshape(8, -1).norm(dim=-1)
    return [f"texture L2 norms of 8 random renders: {float(n.min()):.6f} .. {float(n.max()):.6f}"]


def spin_ordering() -> List[str]:
    """Energy of spin +1 over spin -1 paths (sum of squared coefficients), rising/falling."""
    import torch
    from landscape import Setup
    setup = Setup("texture")
    nf = setup.n_first
    up = [p["idx"] + nf for p in setup.paths if p["spin"] == 1]
    down = [p["idx"] + nf for p in setup.paths if p["spin"] == -1]
    out = []
    for u in (0.1, 0.3, 0.5, 0.7, 0.9):
        with torch.no_grad():
            S = setup.coefficients(setup.render(0)(torch.tensor([[0.7, u]])))[0]
        e = S.pow(2).sum(dim=(-2, -1))
        out.append(f"normalized slope {u} ({'falling' if u < 0.5 else 'rising' if u > 0.5 else 'flat'}): "
                   f"energy spin+1 / spin-1 = {float(e[up].sum() / e[down].sum()):.3f}")
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "landscapes"))
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    lines = ["# Checks (benchmarks/landscape_checks.py)", ""]
    for name, fn in (("Slope parametrization", slope_parametrization),
                     ("Grain phase", grain_phase), ("Unit energy", unit_energy),
                     ("JTFS frequential ordering", spin_ordering)):
        lines += [f"## {name}", ""] + [f"- {l}" for l in fn()] + [""]
    path = Path(args.out) / "checks.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
