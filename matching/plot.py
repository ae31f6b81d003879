"""Figures of a match: target and match spectrograms and level envelopes side by side."""
from __future__ import annotations

import torch

from synths.files import PathLike, atomic_output

from .objective import envelope_db

__all__ = ["plot_match", "match_figure", "spectrogram_db"]


def spectrogram_db(x: torch.Tensor, n_fft: int = 2048, hop: int = 256) -> torch.Tensor:
    """The magnitude spectrogram of ``x`` (``(n,)``) in dB (20 log10, floor 1e-6):
    ``(n_fft // 2 + 1, frames)``, Hann window, ``hop`` samples between frames."""
    window = torch.hann_window(n_fft)
    return 20 * torch.log10(torch.stft(x.reshape(-1).float(), n_fft, hop, window=window,
                                       return_complex=True).abs() + 1e-6)


def match_figure(target: torch.Tensor, match: torch.Tensor, sample_rate: int, title: str = "",
                 difference: bool = False, figsize: tuple = (14, 4)):
    """A matplotlib figure: spectrograms of target and match (log frequency axis, one
    colour scale set by the target's peak, 80 dB), optionally their difference (match minus
    target, dB, within +-40 dB) and the level envelopes (dBFS).  ``target``/``match``:
    ``(n,)`` at ``sample_rate`` Hz.  The caller closes it (``plt.close(fig)``)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 4 if difference else 3
    fig, axes = plt.subplots(1, panels, figsize=figsize, constrained_layout=True)
    n_fft, hop_s = 2048, 256
    specs = [spectrogram_db(x, n_fft, hop_s) for x in (target, match)]
    top = float(specs[0].max())             # one colour scale: the target's peak, 80 dB
    freqs = torch.fft.rfftfreq(n_fft, 1 / sample_rate)[1:]           # no DC on a log axis
    shown = [("target", specs[0], "magma", top - 80, top), ("match", specs[1], "magma", top - 80, top)]
    if difference:
        floor = top - 80             # below the colour scale's floor a difference means nothing
        diff = specs[1].clamp_min(floor) - specs[0].clamp_min(floor)
        shown.append(("difference (match - target)", diff, "coolwarm", -40, 40))
    for ax, (name, db, cmap, low, high) in zip(axes, shown):
        times = torch.arange(db.shape[1]) * hop_s / sample_rate
        mesh = ax.pcolormesh(times.numpy(), freqs.numpy(), db[1:].numpy(), shading="auto",
                             cmap=cmap, vmin=low, vmax=high)
        ax.set_yscale("log")
        ax.set_ylim(20, sample_rate / 2)
        ax.set(title=name, xlabel="time (s)", ylabel="frequency (Hz)")
        if name != "target":
            fig.colorbar(mesh, ax=ax, label="dB")
    hop = 256
    for name, x in (("target", target), ("match", match)):
        env = envelope_db(x.reshape(1, -1).float(), hop=hop)[0]
        axes[-1].plot(torch.arange(len(env)) * hop / sample_rate, env.numpy(), label=name)
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
