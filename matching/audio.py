"""Audio file output (and, with the matching issue, input), through ``soundfile``.

``soundfile`` (libsndfile, bundled in its wheels) reads and writes WAV, FLAC, AIFF, OGG and
MP3 without ffmpeg; torchaudio 2.9+ moved its file I/O to torchcodec, which needs ffmpeg.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import soundfile
import torch

from synths.files import PathLike, atomic_output

WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".aif": "AIFF", ".aiff": "AIFF", ".ogg": "OGG"}


class AudioFileError(ValueError):
    """An audio file that cannot be read or written; the message names the file."""


def write_audio(path: PathLike, audio: torch.Tensor, sample_rate: int, peak_normalize: bool = False,
                float_samples: bool = False) -> Path:
    """Write mono ``[n]`` or ``[channels, n]`` audio (float, nominally in [-1, 1]) atomically.

    The format follows the extension (``.wav`` 24-bit PCM, ``.flac``, ``.aiff``, ``.ogg``).
    Samples beyond [-1, 1] are an error unless ``peak_normalize`` scales the peak to 0.99,
    or ``float_samples`` writes 32-bit float samples (WAV and AIFF only), which hold them.
    """
    path = Path(path)
    file_format = WRITE_FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise AudioFileError(f"{path}: unsupported audio extension {path.suffix!r}; use one of {', '.join(WRITE_FORMATS)}")
    if float_samples and file_format not in ("WAV", "AIFF"):
        raise AudioFileError(f"{path}: float samples need a .wav or .aiff file")
    samples = audio.detach().to("cpu", torch.float64)
    if samples.dim() == 1:
        samples = samples.unsqueeze(0)
    if samples.dim() != 2:
        raise AudioFileError(f"{path}: audio must be [n] or [channels, n], got shape {list(audio.shape)}")
    if not torch.isfinite(samples).all():
        raise AudioFileError(f"{path}: audio contains NaN or infinite samples")
    peak = samples.abs().max().item() if samples.numel() else 0.0
    if peak_normalize and peak > 0:
        samples = samples * (0.99 / peak)
    elif peak > 1.0 and not float_samples:
        raise AudioFileError(f"{path}: audio peak {peak:.3f} exceeds 1.0; pass peak_normalize=True to scale it")
    subtype = "FLOAT" if float_samples else "PCM_24" if file_format in ("WAV", "AIFF", "FLAC") else None
    with atomic_output(path) as temporary:
        soundfile.write(str(temporary), np.ascontiguousarray(samples.T.numpy()), int(sample_rate),
                        format=file_format, subtype=subtype)
    return path


def missing_reason(path: PathLike) -> str:
    """Why ``path`` is not a readable file, in a few words: ``no such file``, ``is a
    folder``, ``broken symbolic link``, ``symbolic link loop``, ..."""
    path = Path(path)
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symbolic link loop (the link points back to itself)"
        if os.path.islink(path):
            return f"broken symbolic link (to {os.readlink(path)})"
        if error.errno == errno.ENOENT:
            return "no such file"
        return error.strerror or str(error)
    if path.is_dir():
        return "is a folder, not a file"
    return "not a regular file"


def read_audio(path: PathLike) -> tuple[torch.Tensor, int]:
    """Read an audio file as float32 ``[channels, n]`` and its sample rate.

    Whatever libsndfile reads (WAV, FLAC, AIFF, OGG, MP3).  A missing, empty, corrupt or
    non-audio file raises :class:`AudioFileError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: {missing_reason(path)}")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: the file is empty")
    try:
        data, sample_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else err.__class__.__name__
        raise AudioFileError(f"{path}: not a readable audio file ({reason})") from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{path}: the file holds no samples")
    audio = torch.from_numpy(np.ascontiguousarray(data.T))
    if not torch.isfinite(audio).all():
        raise AudioFileError(f"{path}: the file holds NaN or infinite samples")
    return audio, int(sample_rate)


def fit_length(x: torch.Tensor, n: int) -> torch.Tensor:
    """``x[..., :n]``, or x zero-padded on the right to n samples."""
    length = x.shape[-1]
    return x[..., :n] if length >= n else torch.nn.functional.pad(x, (0, n - length))


def resample_to_length(x: torch.Tensor, sample_rate: int, rate: int, n: int) -> torch.Tensor:
    """Resample x (..., samples) from ``sample_rate`` to ``rate`` (differentiable), then cut
    or zero-pad to exactly n samples."""
    if rate != sample_rate:
        import torchaudio
        x = torchaudio.functional.resample(x, sample_rate, rate)
    return fit_length(x, n)
