"""Acoustic measurements of one-shot drum sounds: level, envelope, decay, pitch, spectrum.

Plain numpy on mono float64 audio ``[n]`` at ``sample_rate`` Hz; every function takes the
sound as recorded or rendered (any peak level) and measures from its onset (the first sample
within 30 dB of the peak, see :func:`onset_index`). Levels are in dB relative to full scale
(dBFS: an amplitude of 1.0 is 0 dB) unless a docstring says "relative to the peak".

These are the measurements ``benchmarks/bench_real808.py`` prints for real TR-808 recordings
next to the model, and ``scripts/calibrate_tr808.py`` fits the model's constants to:
:func:`voice_features` gives each TR-808 voice's set (:data:`FEATURE_UNITS` names units).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from scipy import signal as sps

__all__ = ["onset_index", "from_onset", "peak_db", "frame_levels_db", "decay_t60_s",
           "time_to_drop_s", "instantaneous_frequency_hz", "fundamental_and_glide",
           "peak_frequency_hz", "spectral_centroid_hz", "band_energy_db", "noise_to_tone_db",
           "voice_features", "FEATURE_UNITS", "TONAL_BANDS_HZ"]

ONSET_DB = -30.0    # the onset: first sample within this of the peak
FLOOR_MARGIN_DB = 10.0  # decay fits stop this far above the recording's noise floor

#: The band holding the fundamental of each tonal TR-808 voice (Hz), wide enough for the
#: whole tuning range of any stock unit, narrow enough to exclude the next resonance.
TONAL_BANDS_HZ: dict[str, tuple[float, float]] = {
    "BD": (25.0, 120.0), "LT": (50.0, 160.0), "MT": (80.0, 240.0), "HT": (120.0, 330.0),
    "LC": (120.0, 450.0), "MC": (180.0, 600.0), "HC": (250.0, 800.0),
}

#: Units of the features :func:`voice_features` returns.
FEATURE_UNITS: dict[str, str] = {
    "peak_db": "dBFS", "t60_s": "s", "drop20_s": "s", "drop40_s": "s", "f0_hz": "Hz",
    "glide": "ratio-1", "centroid_hz": "Hz", "attack_centroid_hz": "Hz", "noise_to_tone_db": "dB",
    "sd_low_hz": "Hz", "sd_high_hz": "Hz", "sd_balance_db": "dB", "noise_t60_s": "s",
}


def _mono(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"acoustics: audio must be a non-empty 1-D array [n], got shape {list(x.shape)}")
    if not np.isfinite(x).all():
        raise ValueError("acoustics: audio holds NaN or infinite samples")
    return x


def onset_index(audio: np.ndarray, threshold_db: float = ONSET_DB) -> int:
    """Index of the first sample whose magnitude is within ``threshold_db`` of the peak."""
    x = np.abs(_mono(audio))
    peak = x.max()
    if peak <= 0:
        return 0
    return int(np.argmax(x >= peak * 10 ** (threshold_db / 20)))


def from_onset(audio: np.ndarray, sample_rate: int, pre_roll_s: float = 0.0) -> np.ndarray:
    """``audio [n]`` from its onset (minus ``pre_roll_s`` seconds) to the end, ``[m]``."""
    x = _mono(audio)
    start = max(0, onset_index(x) - int(round(pre_roll_s * sample_rate)))
    return x[start:]


def peak_db(audio: np.ndarray) -> float:
    """Sample peak in dBFS (``20 log10 max |x|``; -inf dB floored at -200)."""
    return float(20 * np.log10(max(np.abs(_mono(audio)).max(), 1e-10)))


def frame_levels_db(audio: np.ndarray, sample_rate: int, frame_s: float = 0.01,
                    hop_s: float = 0.005) -> tuple[np.ndarray, np.ndarray]:
    """Framed RMS level from the onset: ``(times_s [F], level_dbfs [F])``.

    Frames of ``frame_s`` seconds every ``hop_s`` seconds; ``times_s`` are frame centres
    relative to the onset. Silence is floored at -200 dBFS.
    """
    x = from_onset(audio, sample_rate)
    frame, hop = max(1, int(round(frame_s * sample_rate))), max(1, int(round(hop_s * sample_rate)))
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    n_frames = 1 + (len(x) - frame) // hop
    index = np.arange(frame)[None, :] + hop * np.arange(n_frames)[:, None]
    rms = np.sqrt(np.mean(x[index] ** 2, axis=1))
    times = (hop * np.arange(n_frames) + frame / 2) / sample_rate
    return times, 20 * np.log10(np.maximum(rms, 1e-10))


def _noise_floor_db(levels: np.ndarray) -> float:
    """The recording's noise floor: the 5th percentile of its frame levels (dBFS)."""
    return float(np.percentile(levels, 5))


def decay_t60_s(audio: np.ndarray, sample_rate: int, start_db: float = -3.0,
                stop_db: float = -40.0) -> float:
    """T60 in seconds from the slope of the level (dB) against time.

    A least-squares line through the frame levels (10 ms frames) from the first frame
    ``start_db`` below the peak frame to the last frame above ``stop_db`` below it (and
    :data:`FLOOR_MARGIN_DB` above the noise floor), extrapolated to -60 dB: ``-60 / slope``.
    A sound that never falls returns ``inf``.
    """
    times, levels = frame_levels_db(audio, sample_rate)
    top = int(np.argmax(levels))
    peak = levels[top]
    stop = max(peak + stop_db, _noise_floor_db(levels) + FLOOR_MARGIN_DB)
    after = levels[top:]
    start = top + int(np.argmax(after <= peak + start_db)) if (after <= peak + start_db).any() else top
    above = np.nonzero(levels[start:] >= stop)[0]
    end = start + (int(above[-1]) + 1 if len(above) else 1)
    if end - start < 3:
        end = min(len(levels), start + 3)
    slope = np.polyfit(times[start:end], levels[start:end], 1)[0]
    return float(-60.0 / slope) if slope < 0 else math.inf


def time_to_drop_s(audio: np.ndarray, sample_rate: int, drop_db: float) -> float:
    """Seconds from the onset until the level (10 ms frames) last exceeds ``drop_db`` below
    its peak (the sound's audible length at that depth); capped by the recording's length."""
    times, levels = frame_levels_db(audio, sample_rate)
    above = np.nonzero(levels >= levels.max() - drop_db)[0]
    return float(times[above[-1]]) if len(above) else 0.0


def _bandpass(audio: np.ndarray, sample_rate: int, low_hz: float, high_hz: float) -> np.ndarray:
    sos = sps.butter(4, [low_hz, high_hz], btype="bandpass", fs=sample_rate, output="sos")
    return sps.sosfiltfilt(sos, audio)


def instantaneous_frequency_hz(audio: np.ndarray, sample_rate: int, low_hz: float,
                               high_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Instantaneous frequency of the band ``[low_hz, high_hz]`` from the onset.

    Zero-phase 4th-order Butterworth band-pass, analytic signal, phase derivative averaged
    over 2 ms: ``(times_s [m], frequency_hz [m])``.
    """
    x = from_onset(audio, sample_rate)
    band = _bandpass(np.pad(x, (2048, 0)), sample_rate, low_hz, high_hz)[2048:]
    phase = np.unwrap(np.angle(sps.hilbert(band)))
    smooth = max(1, int(0.002 * sample_rate))
    freq = np.convolve(np.diff(phase), np.ones(smooth) / smooth, mode="same") * sample_rate / (2 * math.pi)
    return np.arange(len(freq)) / sample_rate, freq


def fundamental_and_glide(audio: np.ndarray, sample_rate: int, low_hz: float,
                          high_hz: float) -> tuple[float, float]:
    """``(f0_hz, glide)``: the settled fundamental and the relative pitch glide.

    ``f0_hz`` is the spectral peak in ``[low_hz, high_hz]`` (:func:`peak_frequency_hz`)
    of the part from 30 ms after the onset on (where the glide has settled); ``glide`` is
    the instantaneous frequency at 4-8 ms after the onset divided by ``f0_hz``, minus 1
    (0 = no glide; a falling pitch gives > 0).
    """
    x = from_onset(audio, sample_rate)
    settled = x[int(0.03 * sample_rate):] if len(x) > int(0.08 * sample_rate) else x
    f0 = peak_frequency_hz(settled, sample_rate, low_hz, high_hz)
    times, freq = instantaneous_frequency_hz(x, sample_rate, low_hz, high_hz)
    early = freq[(times >= 0.004) & (times <= 0.008)]
    return f0, float(np.median(early) / f0 - 1.0) if len(early) else 0.0


def peak_frequency_hz(audio: np.ndarray, sample_rate: int, low_hz: float, high_hz: float,
                      max_s: float = 0.5) -> float:
    """Frequency (Hz) of the largest magnitude-spectrum peak in ``[low_hz, high_hz]``.

    The first ``max_s`` seconds (from the start of ``audio``, not the onset), Hann window,
    zero-padded to 1 s or 16x its length, parabolic interpolation of the log magnitude.
    """
    x = _mono(audio)[: int(max_s * sample_rate)]
    n_fft = max(16 * len(x), sample_rate)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=n_fft)) + 1e-20
    freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    band = np.nonzero((freqs >= low_hz) & (freqs <= high_hz))[0]
    i = int(band[np.argmax(spectrum[band])])
    if 0 < i < len(spectrum) - 1:
        a, b, c = np.log(spectrum[i - 1: i + 2])
        denominator = a - 2 * b + c
        offset = 0.5 * (a - c) / denominator if denominator != 0 else 0.0
        return float(freqs[i] + offset * sample_rate / n_fft)
    return float(freqs[i])


def _power_spectrum(audio: np.ndarray, sample_rate: int, start_s: float,
                    stop_s: Optional[float]) -> tuple[np.ndarray, np.ndarray]:
    x = from_onset(audio, sample_rate)
    x = x[int(start_s * sample_rate): None if stop_s is None else int(stop_s * sample_rate)]
    if len(x) == 0:
        raise ValueError(f"acoustics: no samples between {start_s} s and {stop_s} s after the onset")
    return np.fft.rfftfreq(len(x), 1 / sample_rate), np.abs(np.fft.rfft(x)) ** 2


def spectral_centroid_hz(audio: np.ndarray, sample_rate: int, start_s: float = 0.0,
                         stop_s: Optional[float] = None) -> float:
    """Power-weighted mean frequency (Hz) of the part ``[start_s, stop_s)`` after the onset."""
    freqs, power = _power_spectrum(audio, sample_rate, start_s, stop_s)
    return float((freqs * power).sum() / max(power.sum(), 1e-30))


def band_energy_db(audio: np.ndarray, sample_rate: int, low_hz: float, high_hz: float,
                   start_s: float = 0.0, stop_s: Optional[float] = None) -> float:
    """Energy of ``[low_hz, high_hz)`` in the part ``[start_s, stop_s)`` after the onset, in dB
    (``10 log10`` of the summed sample energy the band holds, Parseval-scaled)."""
    freqs, power = _power_spectrum(audio, sample_rate, start_s, stop_s)
    n = 2 * (len(freqs) - 1) or 1
    energy = power[(freqs >= low_hz) & (freqs < high_hz)].sum() * 2 / n
    return float(10 * np.log10(max(energy, 1e-30)))


def noise_to_tone_db(audio: np.ndarray, sample_rate: int, split_hz: float, stop_s: Optional[float] = None) -> float:
    """Noise-to-tone balance: energy above ``split_hz`` minus energy below it, in dB
    (for the drums the resonators sit below the split and the noise/click above it)."""
    high = band_energy_db(audio, sample_rate, split_hz, sample_rate / 2 + 1, stop_s=stop_s)
    return high - band_energy_db(audio, sample_rate, 20.0, split_hz, stop_s=stop_s)


def _noise_t60_s(audio: np.ndarray, sample_rate: int, low_hz: float) -> float:
    sos = sps.butter(4, low_hz, btype="highpass", fs=sample_rate, output="sos")
    return decay_t60_s(sps.sosfiltfilt(sos, _mono(audio)), sample_rate, start_db=-3.0, stop_db=-30.0)


def voice_features(audio: np.ndarray, sample_rate: int, voice: str) -> dict[str, float]:
    """The acoustic features of one TR-808 voice's sound, ``{name: value}`` (units: :data:`FEATURE_UNITS`).

    Every voice: ``peak_db``, ``t60_s`` (decay slope from -3 to -40 dB), ``drop20_s`` and
    ``drop40_s`` (audible length at -20 / -40 dB), ``centroid_hz``. Tonal voices (BD, toms,
    congas): ``f0_hz``, ``glide``, ``noise_to_tone_db`` (above vs below 1 kHz); BD adds
    ``attack_centroid_hz`` (centroid of its first 20 ms: the tone knob's click). SD:
    ``sd_low_hz``/``sd_high_hz`` (the two resonator peaks), ``sd_balance_db`` (high vs low
    resonator band energy), ``noise_to_tone_db`` (above 1.5 kHz vs below) and
    ``noise_t60_s`` (decay of the part above 2 kHz).
    """
    x = _mono(audio)
    features = {"peak_db": peak_db(x), "t60_s": decay_t60_s(x, sample_rate),
                "drop20_s": time_to_drop_s(x, sample_rate, 20.0),
                "drop40_s": time_to_drop_s(x, sample_rate, 40.0),
                "centroid_hz": spectral_centroid_hz(x, sample_rate)}
    if voice in TONAL_BANDS_HZ:
        f0, glide = fundamental_and_glide(x, sample_rate, *TONAL_BANDS_HZ[voice])
        features.update(f0_hz=f0, glide=glide, noise_to_tone_db=noise_to_tone_db(x, sample_rate, 1000.0))
        if voice == "BD":
            features["attack_centroid_hz"] = spectral_centroid_hz(x, sample_rate, 0.0, 0.02)
    elif voice == "SD":
        low = peak_frequency_hz(from_onset(x, sample_rate), sample_rate, 120.0, 250.0, max_s=0.15)
        high = peak_frequency_hz(from_onset(x, sample_rate), sample_rate, 260.0, 480.0, max_s=0.15)
        features.update(
            sd_low_hz=low, sd_high_hz=high,
            sd_balance_db=band_energy_db(x, sample_rate, 0.85 * high, 1.15 * high)
            - band_energy_db(x, sample_rate, 0.85 * low, 1.15 * low),
            noise_to_tone_db=noise_to_tone_db(x, sample_rate, 1500.0),
            noise_t60_s=_noise_t60_s(x, sample_rate, 2000.0))
    return features
