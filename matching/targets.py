"""Turn what users have (a file or an array at any rate, any channel count, any length) into
a matching target: mono, at the synth's sample rate, onset-aligned, trimmed or padded."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
import torchaudio

from .audio import AudioFileError, read_audio

__all__ = ["Target", "load_target", "prepare_target", "effective_duration"]

SILENCE_DB = -60.0      # peak below this (dBFS) is silence
ONSET_DB = -30.0        # onset: first sample within this of the peak
PRE_ROLL_S = 0.002      # kept before the onset


@dataclass
class Target:
    """A prepared target: ``audio`` (n,) float32 at ``sample_rate``; ``source`` names it."""

    audio: torch.Tensor
    sample_rate: int
    source: str
    onset_s: float
    peak: float


def _as_tensor(audio: Union[torch.Tensor, np.ndarray], source: str) -> torch.Tensor:
    audio = torch.as_tensor(np.asarray(audio) if not isinstance(audio, torch.Tensor) else audio)
    while audio.ndim > 2 and audio.shape[0] == 1:
        audio = audio[0]
    if audio.ndim == 1:
        audio = audio.unsqueeze(0)
    if audio.ndim != 2 or audio.shape[-1] == 0:
        raise AudioFileError(f"{source}: audio must be [n] or [channels, n] with n > 0, got "
                             f"shape {list(audio.shape)}")
    audio = audio.detach().to(torch.float32)
    if not torch.isfinite(audio).all():
        raise AudioFileError(f"{source}: audio holds NaN or infinite samples")
    if audio.shape[0] > audio.shape[1]:          # (n, channels) given: transpose
        audio = audio.T
    return audio


def prepare_target(audio: Union[torch.Tensor, np.ndarray], sample_rate: int, target_rate: int,
                   n_samples: Optional[int] = None, align_onset: bool = True,
                   source: str = "audio") -> Target:
    """Downmix, resample to ``target_rate``, cut before the onset, trim/pad to ``n_samples``.

    Silent input (peak below -60 dBFS) raises :class:`AudioFileError`.
    """
    if sample_rate <= 0:
        raise AudioFileError(f"{source}: sample rate must be > 0, got {sample_rate}")
    mono = _as_tensor(audio, source).mean(dim=0)
    peak = float(mono.abs().max())
    if peak <= 10 ** (SILENCE_DB / 20):
        raise AudioFileError(f"{source}: the audio is silent (peak {20 * np.log10(peak + 1e-12):.0f} "
                             f"dBFS, below {SILENCE_DB:.0f} dBFS)")
    if sample_rate != target_rate:
        mono = torchaudio.functional.resample(mono, int(sample_rate), int(target_rate))
    onset = 0
    if align_onset:
        above = torch.nonzero(mono.abs() >= peak * 10 ** (ONSET_DB / 20)).flatten()
        onset = max(0, int(above[0]) - int(PRE_ROLL_S * target_rate)) if len(above) else 0
        mono = mono[onset:]
    if n_samples is not None:
        mono = mono[:n_samples] if len(mono) >= n_samples else torch.nn.functional.pad(
            mono, (0, n_samples - len(mono)))
    return Target(mono.contiguous(), int(target_rate), source, onset / target_rate, peak)


def load_target(path: Union[str, Path], target_rate: int, n_samples: Optional[int] = None,
                align_onset: bool = True) -> Target:
    """:func:`prepare_target` on an audio file (any format libsndfile reads)."""
    audio, rate = read_audio(path)
    return prepare_target(audio, rate, target_rate, n_samples, align_onset, source=str(path))


def effective_duration(audio: torch.Tensor, sample_rate: int, floor_db: float = -50.0,
                       max_s: float = 4.0, min_s: float = 0.05) -> float:
    """Seconds until the signal stays below ``floor_db`` relative to its peak (clamped)."""
    level = audio.abs()
    above = torch.nonzero(level >= level.max() * 10 ** (floor_db / 20)).flatten()
    end = int(above[-1]) + 1 if len(above) else len(audio)
    return float(min(max_s, max(min_s, end / sample_rate)))
