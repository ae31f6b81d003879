"""𝒫-Adam/𝒫-SAGA state memory and per-step cost, ours vs the peer, in one run.

The paper's 724,642-weight encoder (``matching.encoders.Spectral2DCNN(14)``) attached to a
SCRAPL loss with the tr808 configuration (483 paths).  For each variant (float32, bfloat16,
bfloat16 m with Adam's sqrt(v) in float8 e4m3, ...) it reports the bytes of per-path state
the loss allocates (sum of its tensors' sizes) and the time of the gradient transform of one
training step (all 88 parameter tensors, path revisits included), and runs the peer
``scrapl-loss`` 0.1.0 in its own venv (``../shared/peer/setup_peer.sh``) with parameters of
the same shapes.  Run::

    python benchmarks/bench_scrapl_state.py [--steps 6] [--peer-python /tmp/peer-venv/bin/python]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TR808 = dict(shape=44100, J=12, Q1=8, Q2=2, J_fr=5, Q_fr=2, T=2048, F=1)

PEER_SCRIPT = textwrap.dedent("""
    import json, sys, time, torch
    torch.set_num_threads(2)
    from scrapl import SCRAPLLoss
    shapes, steps, cfg = json.loads(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
    loss = SCRAPLLoss(**cfg, use_rho_log1p=True, grad_mult=1.0, use_p_adam=True, use_p_saga=True)
    params = [torch.zeros(s, requires_grad=True) for s in shapes]
    loss.attach_params(params)
    nbytes = sum(t.numel() * t.element_size() for d in (loss.p_adam_m, loss.p_adam_v,
                 loss.prev_path_grads) for t in d.values())
    loss.train()
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(s, generator=g) for s in shapes]
    times = []
    for step in range(steps):
        loss.curr_path_idx = step % 3          # revisits after the first steps
        loss.path_counts[loss.curr_path_idx] += 1
        t0 = time.perf_counter()
        for i, gr in enumerate(grads):
            loss.grad_hook(gr.clone(), param_idx=i)
        loss.scrapl_t += 1
        times.append(time.perf_counter() - t0)
    print(json.dumps({"state_bytes": nbytes, "step_s": sorted(times)[len(times) // 2]}))
""")


def ours(variant: dict, shapes, steps: int) -> dict:
    from scrapl.loss import SCRAPLLoss
    loss = SCRAPLLoss(**TR808, use_rho_log1p=True, grad_mult=1.0,
                      use_p_adam=variant["adam"], use_p_saga=variant["saga"],
                      state_dtype=variant["dtype"], p_adam_v_dtype=variant.get("v_dtype"))
    params = [torch.zeros(s, requires_grad=True) for s in shapes]
    loss.attach_params(params)
    g = torch.Generator().manual_seed(0)
    grads = [torch.randn(s, generator=g) for s in shapes]
    times = []
    for step in range(1, steps + 1):
        path = (step - 1) % 3
        t0 = time.perf_counter()
        for i, gr in enumerate(grads):
            loss.grad_state.transform(i, gr, path, step)
        times.append(time.perf_counter() - t0)
    return {"state_bytes": loss.state_bytes(), "step_s": sorted(times)[len(times) // 2]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--peer-python", default=os.environ.get("PEER_PYTHON",
                                                            "/tmp/peer-venv/bin/python"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    from matching.encoders import Spectral2DCNN
    model = Spectral2DCNN(n_params=14)
    shapes = [list(p.shape) for p in model.parameters()]
    n_weights = sum(p.numel() for p in model.parameters())
    print(f"encoder: Spectral2DCNN(14), {n_weights:,} weights in {len(shapes)} tensors; "
          f"tr808 config, 483 paths; torch {torch.__version__}, {torch.get_num_threads()} threads")

    peer = None
    if Path(args.peer_python).exists():
        out = subprocess.run([args.peer_python, "-c", PEER_SCRIPT, json.dumps(shapes),
                              str(args.steps), json.dumps(TR808)], capture_output=True,
                             text=True, cwd="/tmp")
        if out.returncode == 0:
            peer = json.loads(out.stdout.strip().splitlines()[-1])
        else:
            print("peer run failed:", out.stderr.strip().splitlines()[-1:])
    else:
        print(f"peer venv not found ({args.peer_python}); run ../shared/peer/setup_peer.sh")

    rows = [("peer P-Adam+P-SAGA fp32", peer)]
    for name, variant in [
            ("ours P-Adam+P-SAGA fp32", dict(adam=True, saga=True, dtype=torch.float32)),
            ("ours P-Adam+P-SAGA bf16", dict(adam=True, saga=True, dtype=torch.bfloat16)),
            ("ours P-Adam+P-SAGA bf16 m + fp8 v", dict(adam=True, saga=True,
                                                       dtype=torch.bfloat16,
                                                       v_dtype=torch.float8_e4m3fn)),
            ("ours P-Adam only bf16", dict(adam=True, saga=False, dtype=torch.bfloat16)),
            ("ours P-SAGA only bf16", dict(adam=False, saga=True, dtype=torch.bfloat16))]:
        rows.append((name, ours(variant, shapes, args.steps)))
    print(f"\n| variant | state (GB) | vs peer | transform per step (s) | vs peer |")
    print("|---|---|---|---|---|")
    for name, r in rows:
        if r is None:
            print(f"| {name} | n/a | | n/a | |")
            continue
        ratio = f"{r['state_bytes'] / peer['state_bytes']:.4f}" if peer else "n/a"
        speed = f"{peer['step_s'] / r['step_s']:.1f}x faster" if peer else "n/a"
        print(f"| {name} | {r['state_bytes'] / 1e9:.4f} | {ratio} | {r['step_s']:.4f} | {speed} |")


if __name__ == "__main__":
    main()
