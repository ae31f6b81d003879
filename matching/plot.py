"""Figures of a match: target and match spectrograms and level envelopes side by side."""
from __future__ import annotations

from typing import Any, Dict

import torch

from synths.files import PathLike, atomic_output

from .objective import envelope_db

__all__ = ["plot_match", "match_figure", "spectrogram_db", "match_spectrograms", "N_FFT", "HOP",
           "RANGE_DB", "DIFFERENCE_DB"]

#: the spectrograms' STFT: frame (samples, Hann window) and hop (samples)
N_FFT, HOP = 2048, 256
#: the colour scales (dB): the spectrograms' from ``RANGE_DB`` below the target's peak to
#: the peak; the difference's within +-``DIFFERENCE_DB``
RANGE_DB, DIFFERENCE_DB = 80.0, 40.0


def spectrogram_db(x: torch.Tensor, n_fft: int = 2048, hop: int = 256) -> torch.Tensor:
    """The magnitude spectrogram of ``x`` (``(n,)``) in dB (20 log10, floor 1e-6):
    ``(n_fft // 2 + 1, frames)``, Hann window, ``hop`` samples between frames."""
    window = torch.hann_window(n_fft)
    return 20 * torch.log10(torch.stft(x.reshape(-1).float(), n_fft, hop, window=window,
                                       return_complex=True).abs() + 1e-6)


def match_spectrograms(target: torch.Tensor, match: torch.Tensor) -> Dict[str, Any]:
    """The numbers of a match figure (here and in :mod:`matching.report_panels`):
    ``{"target": dB, "match": dB, "difference": dB, "vmin": float, "vmax": float}``, the
    :func:`spectrogram_db` (``N_FFT``, ``HOP``) of each, ``(N_FFT // 2 + 1, frames)``, and
    match minus target, both floored at ``vmin``; ``vmax`` the target's peak above DC (what
    the figures show), ``vmin`` ``RANGE_DB`` below it: one colour scale for both."""
    specs = [spectrogram_db(x, N_FFT, HOP) for x in (target, match)]
    top = float(specs[0][1:].max())
    floor = top - RANGE_DB           # below the colour scale's floor a difference means nothing
    return {"target": specs[0], "match": specs[1],
            "difference": specs[1].clamp_min(floor) - specs[0].clamp_min(floor),
            "vmin": floor, "vmax": top}


def match_figure(target: torch.Tensor, match: torch.Tensor, sample_rate: int, title: str = "",
                 difference: bool = False, figsize: tuple = (14, 4)):
    """A matplotlib figure: spectrograms of target and match (log frequency axis, one
    colour scale set by the target's peak, 80 dB), optionally their difference (match minus
    target, dB, within +-40 dB) and the level envelopes (dBFS); the numbers are
    :func:`match_spectrograms`'.  ``target``/``match``:
    ``(n,)`` at ``sample_rate`` Hz.  The caller closes it (``plt.close(fig)``)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 4 if difference else 3
    fig, axes = plt.subplots(1, panels, figsize=figsize, constrained_layout=True)
    spec = match_spectrograms(target, match)
    low, top = spec["vmin"], spec["vmax"]
    freqs = torch.fft.rfftfreq(N_FFT, 1 / sample_rate)[1:]           # no DC on a log axis
    shown = [("target", spec["target"], "magma", low, top),
             ("match", spec["match"], "magma", low, top)]
    if difference:
        shown.append(("difference (match - target)", spec["difference"], "coolwarm",
                      -DIFFERENCE_DB, DIFFERENCE_DB))
    for ax, (name, db, cmap, low, high) in zip(axes, shown):
        times = torch.arange(db.shape[1]) * HOP / sample_rate
        mesh = ax.pcolormesh(times.numpy(), freqs.numpy(), db[1:].numpy(), shading="auto",
                             cmap=cmap, vmin=low, vmax=high)
        ax.set_yscale("log")
        ax.set_ylim(20, sample_rate / 2)
        ax.set(title=name, xlabel="time (s)", ylabel="frequency (Hz)")
        if name != "target":
            fig.colorbar(mesh, ax=ax, label="dB")
    for name, x in (("target", target), ("match", match)):
        env = envelope_db(x.reshape(1, -1).float(), hop=HOP)[0]
        axes[-1].plot(torch.arange(len(env)) * HOP / sample_rate, env.numpy(), label=name)
    axes[-1].set(title="level envelope", xlabel="time (s)", ylabel="dBFS")
    axes[-1].legend()
    if title:
        fig.suptitle(title)
    return fig


def plot_match(path: PathLike, target: torch.Tensor, match: torch.Tensor, sample_rate: int,
               title: str = "") -> None:
    """Write a PNG (atomically) of :func:`match_figure` (without the difference)."""
    import matplotlib.pyplot as plt
    fig = match_figure(target, match, sample_rate, title)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
