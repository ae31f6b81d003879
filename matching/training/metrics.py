"""The metrics of a run: ``metrics.csv`` (one row per logged training window and per
validation) and its plot ``metrics.png``.

Columns: ``step`` (steps done), ``split`` (``train`` or ``val``), ``loss`` (the run's loss;
for a training row the mean over the window), ``param_l1`` (mean |θ̂ - θ| of normalized
parameters, empty when unknown) and ``elapsed_s`` (seconds of training so far, resumed runs
included) and ``param_l1_each`` (validation rows: the mean |θ̂ - θ| of each parameter, in
the synth's order, space-separated; empty when unknown).
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ["CSV_FIELDS", "METRICS_NAME", "PLOT_NAME", "plot_metrics", "read_metrics",
           "train_row", "val_row", "write_metrics"]

METRICS_NAME = "metrics.csv"
PLOT_NAME = "metrics.png"
CSV_FIELDS = ("step", "split", "loss", "param_l1", "elapsed_s", "param_l1_each")
Row = Dict[str, Any]


def read_metrics(path: Path, upto: int) -> List[Dict[str, str]]:
    """The rows of ``path`` up to step ``upto`` (a resumed run drops those after its
    checkpoint); [] when there is no file."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if int(r["step"]) <= upto]


def write_metrics(path: Path, rows: List[Row]) -> None:
    """Write ``rows`` to ``path`` (atomically: the old file stays if writing fails)."""
    from synths.files import atomic_output
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            w.writeheader()
            w.writerows(rows)


def train_row(step: int, window: Sequence[Tuple[float, Optional[float]]],
              elapsed: float) -> Row:
    """The training row of a window of ``(loss, param_l1 or None)`` per step."""
    l1s = [w[1] for w in window if w[1] is not None]
    return {"step": step, "split": "train",
            "loss": f"{sum(w[0] for w in window) / len(window):.6g}",
            "param_l1": f"{sum(l1s) / len(l1s):.6g}" if l1s else "",
            "elapsed_s": f"{elapsed:.2f}", "param_l1_each": ""}


def val_row(step: int, loss: float, param_l1: Optional[float], elapsed: float,
            param_l1_each: Optional[Sequence[float]] = None) -> Row:
    """The row of a validation (``param_l1_each``: per-parameter mean |θ̂ - θ|)."""
    return {"step": step, "split": "val", "loss": f"{loss:.6g}",
            "param_l1": "" if param_l1 is None else f"{param_l1:.6g}",
            "elapsed_s": f"{elapsed:.2f}",
            "param_l1_each": "" if param_l1_each is None else
            " ".join(f"{v:.6g}" for v in param_l1_each)}


def plot_metrics(rows: List[Row], path: Path, title: str = "") -> Path:
    """Training and validation curves (loss, and parameter L1 when known) as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from synths.files import atomic_output

    def series(split: str, key: str):
        pts = [(int(r["step"]), float(r[key])) for r in rows
               if r["split"] == split and r[key] not in ("", None)]
        return [p[0] for p in pts], [p[1] for p in pts]

    has_param = any(r["param_l1"] not in ("", None) for r in rows)
    fig, axes = plt.subplots(1, 2 if has_param else 1, figsize=(11 if has_param else 6, 3.8),
                             squeeze=False)
    for split, style in (("train", "-"), ("val", "o-")):
        axes[0, 0].plot(*series(split, "loss"), style, label=split, markersize=3)
        if has_param:
            axes[0, 1].plot(*series(split, "param_l1"), style, label=split, markersize=3)
    axes[0, 0].set(xlabel="step", ylabel="loss", title=f"{title} loss".strip())
    axes[0, 0].legend()
    if has_param:
        axes[0, 1].set(xlabel="step", ylabel="mean |θ̂ - θ| (normalized)",
                       title="parameter error")
        axes[0, 1].legend()
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
