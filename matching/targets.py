"""Turn what users have (a file or an array at any rate, any channel count, any length) into
a matching target: mono, at the synth's sample rate, onset-aligned, trimmed or padded.

The input is checked on the way and what is seen is said (``Target.warnings``, one line
each, naming the source): a truncated WAV (frames declared vs present), a sound longer
than the matching window (how much is used), clipping, samples far outside [-1, 1], a
large DC offset, no onset (a level that never decays: noise or a sustained sound).  A
sound shorter than the objective's shortest analysis frame is refused.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Union

import numpy as np
import torch
import torchaudio

from .audio import AudioFileError, read_audio

__all__ = ["Target", "load_target", "prepare_target", "effective_duration", "wav_declared_frames",
           "MIN_SAMPLES", "MAX_DURATION_S"]

SILENCE_DB = -60.0      # peak below this (dBFS) is silence
ONSET_DB = -30.0        # onset: first sample within this of the peak
PRE_ROLL_S = 0.002      # kept before the onset
#: shortest sound (samples at the synth's rate): the objective's shortest analysis frame
MIN_SAMPLES = 256
#: longest matching window (s): :func:`effective_duration` stops there
MAX_DURATION_S = 4.0
CLIP_LEVEL = 0.999      # |sample| at or above this is at full scale
CLIP_RUN = 3            # consecutive full-scale samples that count as clipping
DC_RATIO = 0.1          # |mean| above this fraction of the peak is a DC offset
DECAY_DB = 6.0          # a drum's level falls more than this below its peak in its window


@dataclass
class Target:
    """A prepared target: ``audio`` (n,) float32 at ``sample_rate``; ``source`` names it."""

    audio: torch.Tensor
    sample_rate: int
    source: str
    onset_s: float
    peak: float
    warnings: List[str] = field(default_factory=list)


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


def _level_warnings(channels: torch.Tensor, mono: torch.Tensor, source: str) -> List[str]:
    """Clipping, samples far outside [-1, 1] and DC offset of the input as given."""
    found = []
    peak = float(channels.abs().max())
    if peak > 1.0:
        found.append(f"{source}: peak {peak:.3g} is outside [-1, 1] (a float file at the wrong "
                     f"scale?); it is matched at its shape, its level cannot be reproduced")
    else:
        full = (channels.abs() >= CLIP_LEVEL).to(torch.float32)
        runs = torch.nn.functional.conv1d(full.unsqueeze(1), torch.ones(1, 1, CLIP_RUN)) >= CLIP_RUN
        clipped = int(runs.sum())
        if clipped:
            found.append(f"{source}: clipped ({clipped} runs of {CLIP_RUN}+ samples at full scale); "
                         f"the match follows the clipped shape")
    mean = float(mono.mean())
    if abs(mean) > DC_RATIO * float(mono.abs().max()) and abs(mean) > 0.01:
        found.append(f"{source}: DC offset {mean:+.3g} (the mean of the samples); high-pass the "
                     f"sound for a better match")
    return found


def _shape_warnings(mono: torch.Tensor, rate: int, source: str) -> List[str]:
    """Longer than the matching window; no onset (a level that does not decay)."""
    found = []
    level = mono.abs()
    above = torch.nonzero(level >= level.max() * 10 ** (-50.0 / 20)).flatten()
    end_s = (int(above[-1]) + 1) / rate if len(above) else len(mono) / rate
    if end_s > MAX_DURATION_S:
        found.append(f"{source}: {end_s:.1f} s from its onset, longer than the longest matching "
                     f"window; only the first {MAX_DURATION_S:g} s are matched (--offset SECONDS "
                     f"chooses where to start)")
    window = mono[:int(MAX_DURATION_S * rate)]
    frame = max(1, rate // 100)                        # 10 ms frames
    n = len(window) // frame
    if n >= 8:
        rms = window[:n * frame].reshape(n, frame).pow(2).mean(dim=1).sqrt()
        spread_db = 20 * float(torch.log10(rms.max() / rms.median().clamp_min(1e-12)))
        if spread_db < DECAY_DB:
            spectrum = torch.fft.rfft(window).abs().pow(2)[1:] + 1e-20
            flatness = float(torch.exp(torch.log(spectrum).mean()) / spectrum.mean())
            what = f"noise-like (spectral flatness {flatness:.2f})" if flatness > 0.3 \
                else "a sustained sound"
            found.append(f"{source}: no onset: the level stays within {spread_db:.1f} dB of its "
                         f"peak for {len(window) / rate:.2f} s, {what}, not a drum hit; the match "
                         f"will be poor")
    return found


def prepare_target(audio: Union[torch.Tensor, np.ndarray], sample_rate: int, target_rate: int,
                   n_samples: Optional[int] = None, align_onset: bool = True,
                   source: str = "audio", offset_s: float = 0.0) -> Target:
    """Downmix, skip ``offset_s`` seconds, resample to ``target_rate``, cut before the onset,
    trim/pad to ``n_samples``; ``warnings`` says what looks wrong (module docstring).

    Silent input (peak below -60 dBFS) and input shorter than :data:`MIN_SAMPLES` at
    ``target_rate`` raise :class:`AudioFileError`.
    """
    if sample_rate <= 0:
        raise AudioFileError(f"{source}: sample rate must be > 0, got {sample_rate}")
    channels = _as_tensor(audio, source)
    if offset_s > 0:
        skip = int(round(offset_s * sample_rate))
        if skip >= channels.shape[-1]:
            raise AudioFileError(f"{source}: offset {offset_s:g} s is beyond the end of the sound "
                                 f"({channels.shape[-1] / sample_rate:.3g} s)")
        channels = channels[:, skip:]
    n_at_rate = channels.shape[-1] * target_rate / sample_rate
    if n_at_rate < MIN_SAMPLES:
        raise AudioFileError(f"{source}: {channels.shape[-1]} sample{'s' if channels.shape[-1] != 1 else ''}"
                             f" ({1000 * channels.shape[-1] / sample_rate:.2g} ms) is too short to "
                             f"match: at least {MIN_SAMPLES} samples at {target_rate} Hz "
                             f"({1000 * MIN_SAMPLES / target_rate:.1f} ms) are needed")
    mono = channels.mean(dim=0)
    peak = float(mono.abs().max())
    if peak <= 10 ** (SILENCE_DB / 20):
        raise AudioFileError(f"{source}: the audio is silent (peak {20 * np.log10(peak + 1e-12):.0f} "
                             f"dBFS, below {SILENCE_DB:.0f} dBFS)")
    warnings = _level_warnings(channels, mono, source)
    if sample_rate != target_rate:
        mono = torchaudio.functional.resample(mono, int(sample_rate), int(target_rate))
    onset = 0
    if align_onset:
        above = torch.nonzero(mono.abs() >= peak * 10 ** (ONSET_DB / 20)).flatten()
        onset = max(0, int(above[0]) - int(PRE_ROLL_S * target_rate)) if len(above) else 0
        mono = mono[onset:]
    warnings += _shape_warnings(mono, int(target_rate), source)
    if n_samples is not None:
        mono = mono[:n_samples] if len(mono) >= n_samples else torch.nn.functional.pad(
            mono, (0, n_samples - len(mono)))
    return Target(mono.contiguous(), int(target_rate), source, offset_s + onset / target_rate,
                  peak, warnings)


def wav_declared_frames(path: Union[str, Path]) -> Optional[int]:
    """The frame count a WAV file's header declares (its ``data`` chunk size over the block
    size), or None for other files and unreadable headers."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block = None
            for _ in range(64):                          # chunks before 'data'
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                tag, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if tag == b"fmt ":
                    fmt = f.read(size + (size & 1))
                    if len(fmt) < 14:
                        return None
                    block = struct.unpack("<H", fmt[12:14])[0]
                elif tag == b"data":
                    return size // block if block and size != 0xFFFFFFFF else None
                else:
                    f.seek(size + (size & 1), 1)
    except OSError:
        return None
    return None


def load_target(path: Union[str, Path], target_rate: int, n_samples: Optional[int] = None,
                align_onset: bool = True, offset_s: float = 0.0) -> Target:
    """:func:`prepare_target` on an audio file (any format libsndfile reads); a WAV file
    with fewer frames than its header declares is warned about."""
    audio, rate = read_audio(path)
    target = prepare_target(audio, rate, target_rate, n_samples, align_onset, source=str(path),
                            offset_s=offset_s)
    declared = wav_declared_frames(path)
    if declared is not None and declared > audio.shape[-1]:
        target.warnings.insert(0, f"{path}: truncated: the header declares {declared} frames, "
                                  f"{audio.shape[-1]} are present; the missing end is matched "
                                  f"as silence")
    return target


def effective_duration(audio: torch.Tensor, sample_rate: int, floor_db: float = -50.0,
                       max_s: float = MAX_DURATION_S, min_s: float = 0.05) -> float:
    """Seconds until the signal stays below ``floor_db`` relative to its peak (clamped)."""
    level = audio.abs()
    above = torch.nonzero(level >= level.max() * 10 ** (floor_db / 20)).flatten()
    end = int(above[-1]) + 1 if len(above) else len(audio)
    return float(min(max_s, max(min_s, end / sample_rate)))
