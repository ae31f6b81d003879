"""The calibration figure: real TR-808 recordings next to the model at the same knob settings.

One row per voice (its recording at mid-dial, or its only one): the recording's log
spectrogram, the calibrated model's, and both envelopes (10 ms RMS, dBFS) with the legacy
model's for comparison. ``benchmarks/bench_real808.py --figure`` writes it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import acoustics
from .tr808_recordings import Recording

__all__ = ["calibration_figure", "representative_recordings"]


def representative_recordings(recordings: Sequence[Recording]) -> list[Recording]:
    """Per voice, the recording whose knobs are closest to mid-dial (5), in panel order."""
    from synths.tr808 import VOICES
    best: dict[str, Recording] = {}
    for rec in recordings:
        distance = sum(abs(v - 5.0) for v in rec.knobs.values())
        if rec.voice not in best or distance < sum(abs(v - 5.0) for v in best[rec.voice].knobs.values()):
            best[rec.voice] = rec
    return [best[v] for v in VOICES if v in best]


def _model(rec: Recording, n: int, calibration: Any) -> np.ndarray:
    import torch

    from synths.tr808 import TR808
    synth = TR808(voice=rec.voice, duration=n / 44100, seed=0, calibration=calibration)
    with torch.no_grad():
        return synth.render({"level": 10.0, **rec.knobs}, batch_size=1, dtype=torch.float64)[0, 0].numpy()


def calibration_figure(recordings: Sequence[Recording], calibration: Any, path: Path,
                       max_seconds: float = 1.5) -> Path:
    """Draw the figure for ``recordings`` (one per voice is picked) with ``calibration``
    (``None``: the default) and the legacy model; writes a PNG to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import signal as sps

    chosen = representative_recordings(recordings)
    fig, axes = plt.subplots(len(chosen), 3, figsize=(13, 1.9 * len(chosen)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 1.2]})
    for row, rec in zip(axes, chosen):
        audio, rate = rec.audio()
        audio = acoustics.from_onset(audio, rate)
        n = min(len(audio), int(max_seconds * rate))
        audio = audio[:n]
        model = _model(rec, n, calibration)
        legacy = _model(rec, n, "legacy")
        label = rec.name + " (" + ", ".join(f"{k} {v:g}" for k, v in rec.knobs.items()) + ")" if rec.knobs else rec.name
        for ax, x, title in ((row[0], audio, f"{label}: recording"), (row[1], model, "calibrated model")):
            f, t, s = sps.spectrogram(x, fs=rate, nperseg=1024, noverlap=768)
            ax.pcolormesh(t, f, 10 * np.log10(s + 1e-12), vmin=-130, vmax=-30, shading="auto", cmap="magma")
            ax.set_yscale("symlog", linthresh=200)
            ax.set_ylim(20, rate / 2)
            ax.set_title(title, fontsize=8)
            ax.tick_params(labelsize=6)
        for x, name, style in ((audio, "recording", "k-"), (model, "calibrated", "r-"), (legacy, "legacy", "b:")):
            t, level = acoustics.frame_levels_db(x, rate)
            row[2].plot(t, level, style, lw=1, label=name)
        row[2].set_ylim(-90, 0)
        row[2].set_title("envelope (10 ms RMS, dBFS)", fontsize=8)
        row[2].tick_params(labelsize=6)
        row[2].legend(fontsize=6, loc="upper right")
    fig.suptitle("TR-808 serial 103852 (TR-808 samples by Michael Fischer, 1994) vs the model at the same knobs",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
