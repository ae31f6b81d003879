"""Figures of a match: target and match spectrograms and level envelopes side by side."""
from __future__ import annotations

import torch

from synths.files import PathLike, atomic_output

from .objective import envelope_db

__all__ = ["plot_match"]


def plot_match(path: PathLike, target: torch.Tensor, match: torch.Tensor, sample_rate: int,
               title: str = "") -> None:
    """Write a PNG (atomically): spectrograms of target and match (log frequency axis, one
    colour scale set by the target), and their level envelopes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    n_fft, hop_s = 2048, 256
    window = torch.hann_window(n_fft)
    specs = [20 * torch.log10(torch.stft(x.reshape(-1).float(), n_fft, hop_s, window=window,
                                         return_complex=True).abs() + 1e-6)
             for x in (target, match)]
    top = float(specs[0].max())             # one colour scale: the target's peak, 80 dB
    freqs = torch.fft.rfftfreq(n_fft, 1 / sample_rate)[1:]           # no DC on a log axis
    for ax, name, db in zip(axes[:2], ("target", "match"), specs):
        times = torch.arange(db.shape[1]) * hop_s / sample_rate
        mesh = ax.pcolormesh(times.numpy(), freqs.numpy(), db[1:].numpy(), shading="auto",
                             cmap="magma", vmin=top - 80, vmax=top)
        ax.set_yscale("log")
        ax.set_ylim(20, sample_rate / 2)
        ax.set(title=name, xlabel="time (s)", ylabel="frequency (Hz)")
    fig.colorbar(mesh, ax=axes[1], label="dB")
    hop = 256
    for name, x in (("target", target), ("match", match)):
        env = envelope_db(x.reshape(1, -1).float(), hop=hop)[0]
        axes[2].plot(torch.arange(len(env)) * hop / sample_rate, env.numpy(), label=name)
    axes[2].set(title="level envelope", xlabel="time (s)", ylabel="dBFS")
    axes[2].legend()
    if title:
        fig.suptitle(title)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
