"""What the HTML match report adds to a match (issue 18: "under 0.5 s and under 2 MB for a
1 s sound"), against two baselines measured in the same run.

    .venv/bin/python benchmarks/bench_report.py [--repeats 5] [--threads 1] [--fast]

The sound: the tr808 cymbal (CY, decay 10), 1.0 s, matched with ``match_preset``'s defaults
(``--fast``: 1 step, 2 candidates, no encoder, no JTFS distance), once.  Then:

* ``report, first``: the first ``match_report_html`` of the process (template compile and
  imports included: what a ``synthmatch match --report`` run pays);
* ``report``: the median of ``--repeats`` more builds;
* ``matplotlib figure``: the median of ``--repeats`` builds of the figure the report used to
  embed (``matching.plot.match_figure`` with the difference, saved as a PNG at 80 dpi),
  after one warm-up;

each also as a fraction of the match's time, and the page's size.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import synths  # noqa: E402
from matching.html_report import match_report_html  # noqa: E402
from matching.match import match_preset  # noqa: E402

FAST = dict(steps=1, candidates=2, n_starts=1, use_encoder=False, jtfs_distance=False)


def seconds(run: Callable[[], object], repeats: int) -> List[float]:
    """Wall seconds of each of ``repeats`` calls of ``run``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


def old_figure(result) -> bytes:
    """The PNG the report embedded before: the matplotlib match figure, difference included."""
    import matplotlib.pyplot as plt

    from matching.plot import match_figure
    fig = match_figure(result.target, result.audio, result.sample_rate, difference=True,
                       figsize=(15, 3.6))
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        return buffer.getvalue()
    finally:
        plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fast", action="store_true", help="a quick match (1 step)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cy = synths.get("tr808", voice="CY", duration=1.0)
    sound = cy.render({"level": 8.0, "decay": 10.0}).reshape(-1)
    started = time.perf_counter()
    result = match_preset(sound, "tr808", voice="CY", sample_rate=cy.sample_rate,
                          progress=False, **(FAST if args.fast else {}))
    match_s = time.perf_counter() - started
    started = time.perf_counter()
    page = match_report_html(result)
    first_s = time.perf_counter() - started
    report_s = statistics.median(seconds(lambda: match_report_html(result), args.repeats))
    old_figure(result)                                                   # warm-up
    figure_s = statistics.median(seconds(lambda: old_figure(result), args.repeats))
    print(f"sound: tr808 CY, {result.target.shape[-1] / result.sample_rate:.2f} s at "
          f"{result.sample_rate} Hz; torch {torch.__version__}, {args.threads} thread(s)")
    print(f"{'':22s} {'seconds':>8s} {'/ match':>8s}")
    for label, value in (("match", match_s), ("report, first", first_s),
                         (f"report (median of {args.repeats})", report_s),
                         (f"matplotlib figure ({args.repeats})", figure_s)):
        print(f"{label:22s} {value:8.3f} {value / match_s:8.3f}")
    print(f"report / matplotlib figure: {report_s / figure_s:.3f}")
    print(f"page: {len(page.encode('utf-8')) / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
