"""Figures of a match: target and match spectrograms and level envelopes side by side."""
from __future__ import annotations

import torch

from synths.files import PathLike, atomic_output

from .objective import envelope_db

__all__ = ["plot_match"]


def plot_match(path: PathLike, target: torch.Tensor, match: torch.Tensor, sample_rate: int,
               title: str = "") -> None:
    """Write a PNG (atomically): log spectrograms of target and match, and their envelopes."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4), constrained_layout=True)
    window = torch.hann_window(1024)
    for ax, (name, x) in zip(axes[:2], (("target", target), ("match", match))):
        spec = torch.stft(x.reshape(-1).float(), 1024, 256, window=window,
                          return_complex=True).abs()
        db = 20 * torch.log10(spec + 1e-6)
        ax.imshow(db.numpy(), origin="lower", aspect="auto", vmin=float(db.max()) - 80,
                  extent=(0, x.numel() / sample_rate, 0, sample_rate / 2000), cmap="magma")
        ax.set(title=name, xlabel="time (s)", ylabel="frequency (kHz)")
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
