"""Tensor files of the θ-IS warm-up and of fixed path probabilities (``.pt``).

Read without unpickling arbitrary objects (``torch.load(weights_only=True)``) and written
through :func:`kernels.files.atomic_output`, so an interrupted run never leaves a half-written
file that a resumed warm-up would read.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import torch

from kernels.files import atomic_output

__all__ = ["load_tensor", "save_tensor"]


def load_tensor(path: Union[str, Path]) -> torch.Tensor:
    """The tensor of a ``.pt`` file, on the CPU; ValueError naming the file if it is not
    a readable file holding one tensor."""
    try:
        value = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - reported with the file name
        raise ValueError(f"{path}: not a readable tensor file ({err.__class__.__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''})") from None
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{path}: expected a tensor, found {type(value).__name__}")
    return value


def save_tensor(tensor: torch.Tensor, path: Union[str, Path]) -> None:
    """``torch.save`` of ``tensor`` (detached, on the CPU) through a temporary file beside
    ``path``, renamed over it on success.  The folder must exist."""
    with atomic_output(path) as tmp:
        torch.save(tensor.detach().cpu(), tmp)
