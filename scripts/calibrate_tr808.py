"""Fit the TR-808 model's constants to recordings of a real unit.

    .venv/bin/python scripts/calibrate_tr808.py RECORDINGS_DIR -o calibration.json
        [--name my-unit] [--serial 103852] [--credit "..."] [--prior legacy]
        [--voices BD,SD,...] [--without 5] [--cv]

``RECORDINGS_DIR`` holds one-shots named by their knob settings (``BD0050.WAV`` = bass
drum, tone 0, decay 5; see :mod:`matching.tr808_recordings`), level at maximum. The fit
(:func:`matching.tr808_fit.fit_calibration`) measures the acoustic features of each
recording and fits each voice's knob laws and constants; the result is a calibration JSON
file for ``synths.get("tr808", voice=..., calibration="calibration.json")``.

``--without P`` leaves out every recording with a knob at position P (a cross-validation
fold). ``--cv`` also fits the three folds (without 0, 5, 10) and prints, per knob law, the
value each fold predicts at its held-out position next to the measurement there, and the
dial error that makes (how far the knob would have to turn for the law to give the
measured value).
"""
from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# One BLAS thread, set before numpy loads: the least-squares fits follow float rounding, and
# with two threads the bass drum's click fit ends elsewhere (tone cutoff at 10: 4604 Hz
# instead of 4740), so the same recordings give the same file only single-threaded.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import torch  # noqa: E402

from matching.tr808_fit import POSITIONS, FitLog, fit_calibration, knob_law_table  # noqa: E402
from matching.tr808_recordings import select_recordings  # noqa: E402


def dial_error(law, position: float, value: float) -> float:
    """How far (dial steps) from ``position`` the law reaches ``value``: the law is followed
    beyond the 0-10 scale (-10 to 20) so that a value past its end still counts in full."""
    grid = [k / 20 for k in range(-200, 401)]
    values = [law.value(k) for k in grid]
    best = min(range(len(grid)), key=lambda i: abs(math.log(max(values[i], 1e-12)) - math.log(max(value, 1e-12)))
               if value > 0 and values[i] > 0 else abs(values[i] - value))
    return abs(grid[best] - position)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recordings", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--name", default=None, help="calibration name (default: the output file's stem)")
    parser.add_argument("--serial", default=None, help="the unit's serial number (stored in the source)")
    parser.add_argument("--credit", default=None, help="credit line of the recordings")
    parser.add_argument("--prior", default="legacy", help="starting/prior calibration (name or JSON file)")
    parser.add_argument("--voices", default="", help="comma-separated voices (default: all recorded)")
    parser.add_argument("--without", type=float, default=None, help="leave out recordings with a knob here")
    parser.add_argument("--cv", action="store_true", help="also fit and report the three position folds")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        recordings = select_recordings(args.recordings, args.voices)
    except ValueError as error:
        print(f"calibrate_tr808: {error}", file=sys.stderr)
        return 2
    if args.without is not None:
        recordings = [r for r in recordings if args.without not in r.positions()]
    command = shlex.join(["python", "scripts/calibrate_tr808.py", *(argv if argv is not None else sys.argv[1:])])
    source = {"recordings_dir": args.recordings.name, "command": command}
    if args.serial:
        source["unit_serial"] = args.serial
    if args.credit:
        source["credit"] = args.credit
    started = time.perf_counter()
    print(f"fitting on {len(recordings)} recordings from {args.recordings}")
    calibration = fit_calibration(recordings, name=args.name or args.output.stem, held_out=args.without,
                                  prior=args.prior, log=FitLog(print), source=source)
    calibration.save(args.output)
    print(f"wrote {args.output} ({time.perf_counter() - started:.0f} s)")
    if args.cv:
        full = knob_law_table(calibration)
        print("\ncross-validation by knob position (law fitted without the position -> value there):")
        print("| law | position | measured | full fit | CV fit | full-fit dial error | CV dial error |")
        print("|---|---|---|---|---|---|---|")
        for p in POSITIONS:
            train = [r for r in recordings if r.knobs and p not in r.positions()]
            train += [r for r in recordings if not r.knobs]
            fold = fit_calibration(train, held_out=p, prior=args.prior)
            for key, (law_full, measured) in full.items():
                if p not in measured:
                    continue
                law_cv = knob_law_table(fold)[key][0]
                print(f"| {key} | {p:g} | {measured[p]:.4g} | {law_full.value(p):.4g} | {law_cv.value(p):.4g} | "
                      f"{dial_error(law_full, p, measured[p]):.2f} | {dial_error(law_cv, p, measured[p]):.2f} |",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
