"""Encoders: from a time-frequency representation to normalized synth parameters.

:class:`Spectral2DCNN` is the SCRAPL paper's encoder: blocks of (LayerNorm over the
(bins, frames) plane without affine weights, 3x3 convolution, max-pool, PReLU), a mean over
the plane, a linear layer to a latent vector with PReLU and dropout, then one small MLP head
with a sigmoid per synth parameter.  With the paper's settings (5 blocks of 128 channels,
latent 128) and 14 parameters it holds 724,642 weights: the "724k-weight encoder" whose
𝒫-Adam/𝒫-SAGA state the benchmarks measure.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["Spectral2DCNN"]


class _Block(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel_size: Tuple[int, int],
                 pool_size: Tuple[int, int], use_ln: bool):
        super().__init__()
        self.use_ln = use_ln
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, padding="same")
        self.pool = nn.MaxPool2d(pool_size, ceil_mode=True)
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_ln:
            x = F.layer_norm(x, x.shape[-2:])
        return self.act(self.pool(self.conv(x)))


class Spectral2DCNN(nn.Module):
    """The paper's 2-D CNN encoder.

    Parameters
    ----------
    n_params : number of synth parameters (one sigmoid head each)
    in_ch : input channels of the time-frequency image
    out_channels : channels of each block (default five blocks of 128)
    kernel_size, pool_size : per block
    latent_dim : width of the shared latent vector (heads have ``latent_dim // 2`` units)
    use_ln : LayerNorm (no affine weights) before each convolution
    dropout : dropout probability after the latent and inside the heads

    ``forward(features)``: ``features`` (batch, bins, frames) or (batch, in_ch, bins,
    frames) -> (batch, n_params) in [0, 1].  Pooling uses ceil mode, so any input of at
    least 1 x 1 works.
    """

    def __init__(self, n_params: int, in_ch: int = 1,
                 out_channels: Sequence[int] = (128, 128, 128, 128, 128),
                 kernel_size: Tuple[int, int] = (3, 3), pool_size: Tuple[int, int] = (2, 2),
                 latent_dim: int = 128, use_ln: bool = True, dropout: float = 0.25):
        super().__init__()
        if n_params < 1:
            raise ValueError(f"n_params must be >= 1, got {n_params}")
        if not out_channels:
            raise ValueError("out_channels must name at least one block")
        self.n_params = n_params
        self.in_ch = in_ch
        self._config = dict(n_params=int(n_params), in_ch=int(in_ch),
                            out_channels=[int(c) for c in out_channels],
                            kernel_size=list(kernel_size), pool_size=list(pool_size),
                            latent_dim=int(latent_dim), use_ln=bool(use_ln),
                            dropout=float(dropout))
        blocks, ch = [], in_ch
        for out_ch in out_channels:
            blocks.append(_Block(ch, out_ch, kernel_size, pool_size, use_ln))
            ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Sequential(nn.Linear(ch, latent_dim), nn.PReLU(), nn.Dropout(dropout))
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(latent_dim, latent_dim // 2), nn.PReLU(), nn.Dropout(dropout),
                          nn.Linear(latent_dim // 2, 1), nn.Sigmoid())
            for _ in range(n_params))

    def config(self) -> dict:
        """Constructor arguments (JSON-serializable): ``Spectral2DCNN(**enc.config())``
        builds the same architecture."""
        return dict(self._config)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim == 3:
            features = features.unsqueeze(1)
        if features.ndim != 4 or features.shape[1] != self.in_ch:
            raise ValueError(f"features must be (batch, bins, frames) or (batch, {self.in_ch}, "
                             f"bins, frames), got {tuple(features.shape)}")
        latent = self.fc(self.blocks(features).mean(dim=(2, 3)))
        return torch.cat([head(latent) for head in self.heads], dim=1)
