"""Train the encoders shipped in ``matching/pretrained/`` (one per synth voice).

    .venv/bin/python scripts/train_pretrained.py [--only tr808-BD,ddsp808] [--steps 300]
        [--channels 16,16,16,16] [--latent 32] [--work build/pretrained] [--no-install]

Each model: :class:`matching.models.EncoderModel` (log constant-Q features + a 4-block
Spectral2DCNN with 16 channels, latent 32: ~12k weights, ~40 kB; ddsp808: 5 blocks of 64
channels, latent 128, ~1.1 MB, see ``ARCHS``), trained with the supervised
parameter loss (``synthmatch train --loss param``) on presets drawn uniformly from the voice's
normalized parameter space and rendered on the fly (batch 32, Adam 2e-3, seed 0), validated
on 128 held-out presets; the checkpoint with the best validation parameter error is copied
to ``matching/pretrained/<synth>[-<voice>].safetensors``.  Prints one row per model (steps,
presets seen, seconds, validation error) and writes them to ``<work>/summary.json``.
Interrupted runs resume where they stopped (the per-model checkpoints in ``--work``).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import synths  # noqa: E402
from matching.models import PRETRAINED_DIR  # noqa: E402
from matching.training import MODEL_NAME, TrainConfig, train  # noqa: E402

ARCH = dict(out_channels=(16, 16, 16, 16), latent_dim=32)
#: models that ship a larger network (ddsp808: 14 coupled parameters; trained with --steps 8000)
ARCHS = {"ddsp808": dict(out_channels=(64,) * 5, latent_dim=128)}


def targets():
    """(synth, voice) of every shipped model."""
    out = [("tr808", v) for v in synths.synth_class("tr808").voices]
    out.append(("ddsp808", None))
    out.append(("granular", "texture"))
    return out


def name(synth, voice):
    return synth if voice is None else f"{synth}-{voice}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated model names (default: all)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--channels", help="channels of each Spectral2DCNN block, comma-separated "
                    "(default: ARCHS or ARCH below)")
    ap.add_argument("--latent", type=int, help="latent size (default: ARCHS or ARCH)")
    ap.add_argument("--work", default=str(ROOT / "build" / "pretrained"))
    ap.add_argument("--no-install", action="store_true",
                    help="do not copy the models into matching/pretrained/")
    args = ap.parse_args(argv)
    wanted = None if not args.only else set(args.only.split(","))
    work = Path(args.work)
    rows = []
    for synth, voice in targets():
        n = name(synth, voice)
        if wanted is not None and n not in wanted:
            continue
        arch = dict(ARCHS.get(n, ARCH))
        if args.channels:
            arch["out_channels"] = tuple(int(c) for c in args.channels.split(","))
        if args.latent:
            arch["latent_dim"] = args.latent
        cfg = TrainConfig(synth=synth, voice=voice, loss="param", steps=args.steps,
                          batch_size=args.batch_size, lr=args.lr, seed=0, val_size=128,
                          val_every=100, checkpoint_every=100, progress=True, **arch)
        t0 = time.perf_counter()
        summary = train(cfg, work / n)
        model_file = work / n / MODEL_NAME
        row = {"model": n, "steps": args.steps, "presets_seen": args.steps * args.batch_size,
               "seconds": round(time.perf_counter() - t0, 1),
               "best_val_param_l1": round(summary["best"]["val_loss"], 4),
               "best_step": summary["best"]["step"], "bytes": model_file.stat().st_size}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if not args.no_install:
            PRETRAINED_DIR.mkdir(exist_ok=True)
            shutil.copyfile(model_file, PRETRAINED_DIR / f"{n}.safetensors")
    work.mkdir(parents=True, exist_ok=True)
    (work / "summary.json").write_text(json.dumps(rows, indent=1))
    print("| model | steps | presets | s | val param L1 | best step | bytes |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['steps']} | {r['presets_seen']} | {r['seconds']} | "
              f"{r['best_val_param_l1']} | {r['best_step']} | {r['bytes']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
