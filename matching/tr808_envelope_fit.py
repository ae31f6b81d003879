"""Fit constants of a TR-808 voice by its band envelopes: the recording's level over time in
a few frequency bands, against the model's at the recording's knob settings.

The feature fits of :mod:`matching.tr808_fit` invert one feature per constant (a T60, a
cutoff, a balance). Some constants act together and no single feature isolates them: the
cymbal's band mix, its envelopes and its high band's width; the shape of the bass drum's
click; the resonators and filters of the level-only voices. For those this module fits a
set of :class:`Constant` s at once, by least squares on

    r = (L_model(b, t) - L_recording(b, t)) / 1 dB

over the octave bands ``b`` of :data:`BAND_EDGES_HZ` and 5.8 ms frames ``t``, where ``L`` is the
band level in dB, floored :data:`FLOOR_DB` below the recording's loudest band-frame (and
above the recording's noise floor), so a fit follows a sound 50 dB down but never chases
tape hiss. A free overall gain (dB) is fitted along and discarded (output gains are set
afterwards, by :func:`matching.tr808_fit.fit_calibration`), and a weak prior pulls each
constant towards its starting value (:attr:`Constant.sigma` in the constant's own scale:
log for positive constants), which is what keeps a fit on two knob positions
(cross-validation) from wandering in the direction those two leave open.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
from scipy import optimize

from synths.tr808_calibration import Calibration

__all__ = ["Constant", "band_levels_db", "fit_constants", "BAND_EDGES_HZ", "FLOOR_DB"]

RATE = 44100
#: Octave band edges (Hz) of the envelope fit (the top band runs to Nyquist).
BAND_EDGES_HZ: tuple[float, ...] = (0.0, 150.0, 300.0, 600.0, 1200.0, 2400.0, 4800.0, 9600.0, 14000.0, 22050.0)
#: How far below the recording's loudest band-frame the fit still follows it (dB).
FLOOR_DB = 60.0
FRAME, HOP = 1024, 256
#: The prior's weight against the data term (a mean squared dB of 1 per recording).
PRIOR_WEIGHT = 0.3


@dataclass(frozen=True)
class Constant:
    """One constant of a calibration, by its dotted path in the JSON form's ``constants``
    (``"metal.cymbal_high_tail_mix"``, ``"metal.cymbal_tone_high_mix.at_10"`` for a knob
    law's field, ``"toms.LT.t60_s"``), fitted within ``[low, high]``; ``log``: fitted in the
    logarithm (positive constants); ``sigma``: the prior's width in the fitted scale."""

    path: str
    low: float
    high: float
    log: bool = True
    sigma: float = 1.0

    def get(self, cal: Calibration) -> float:
        value = cal
        for part in self.path.split("."):
            value = value[part] if isinstance(value, dict) or hasattr(value, "keys") else getattr(value, part)
        return float(value)

    def set(self, cal: Calibration, value: float) -> Calibration:
        parts = self.path.split(".")

        def put(obj, names):
            if not names:
                return float(value)
            head, rest = names[0], names[1:]
            if hasattr(obj, "keys"):
                copy = dict(obj)
                copy[head] = put(obj[head], rest)
                return copy
            return dataclasses.replace(obj, **{head: put(getattr(obj, head), rest)})

        return cal.replace(**{parts[0]: put(getattr(cal, parts[0]), parts[1:])})

    def encode(self, value: float) -> float:
        return math.log(value) if self.log else value

    def decode(self, x: float) -> float:
        return math.exp(x) if self.log else x


_bands_cache: dict[int, np.ndarray] = {}


def _band_matrix() -> np.ndarray:
    if FRAME not in _bands_cache:
        freqs = np.fft.rfftfreq(FRAME, 1 / RATE)
        edges = BAND_EDGES_HZ
        _bands_cache[FRAME] = np.stack([(freqs >= lo) & (freqs < hi if hi < edges[-1] else freqs <= hi)
                                        for lo, hi in zip(edges[:-1], edges[1:])], axis=1).astype(np.float64)
    return _bands_cache[FRAME]


def band_levels_db(audio: np.ndarray) -> np.ndarray:
    """Band levels in dB ``[bands, frames]`` of mono 44.1 kHz ``audio`` ``[n]``: Hann frames of
    1024 samples every 256 (5.8 ms), power summed per band of :data:`BAND_EDGES_HZ`."""
    x = np.asarray(audio, dtype=np.float64)
    x = np.pad(x, (FRAME // 2, FRAME // 2 + HOP))
    n_frames = 1 + (len(x) - FRAME) // HOP
    frames = np.lib.stride_tricks.as_strided(x, (n_frames, FRAME), (x.strides[0] * HOP, x.strides[0]))
    power = np.abs(np.fft.rfft(frames * np.hanning(FRAME), axis=1)) ** 2
    return (10 * np.log10(power @ _band_matrix() + 1e-20)).T


def _floor_db(levels: np.ndarray) -> float:
    """The level below which a recording's band-frames are not followed: FLOOR_DB below its
    loudest, and 6 dB above its quietest frames' median (its noise floor)."""
    noise = float(np.median(np.sort(levels.max(axis=0))[: max(1, levels.shape[1] // 10)]))
    return max(float(levels.max()) - FLOOR_DB, noise + 6.0)


def fit_constants(cal: Calibration, items: Sequence[tuple[dict[str, float], np.ndarray]],
                  constants: Sequence[Constant],
                  render: Callable[[Calibration, dict[str, float], int], np.ndarray],
                  log: Optional[Callable[[str], None]] = None, label: str = "") -> Calibration:
    """``cal`` with ``constants`` fitted to the band envelopes of ``items`` (``(knobs, audio)``
    pairs: a recording from its onset and its knob settings) by least squares (see the module
    docstring); ``render(cal, knobs, n_samples)`` renders the voice."""
    targets = []
    for knobs, audio in items:
        levels = band_levels_db(audio)
        floor = _floor_db(levels)
        targets.append((knobs, len(audio), np.maximum(levels, floor), floor, 1.0 / math.sqrt(levels.size)))
    x0 = np.array([c.encode(min(max(c.get(cal), c.low), c.high)) for c in constants] + [0.0])
    sigmas = np.array([c.sigma for c in constants])
    lows = [c.encode(c.low) for c in constants] + [-40.0]
    highs = [c.encode(c.high) for c in constants] + [40.0]

    def calibration(x: np.ndarray) -> Calibration:
        current = cal
        for c, v in zip(constants, x[:-1]):
            current = c.set(current, c.decode(float(v)))
        return current

    def residuals(x: np.ndarray) -> np.ndarray:
        current = calibration(x)
        parts = []
        for knobs, n, target, floor, weight in targets:
            model = band_levels_db(render(current, knobs, n)) + x[-1]
            parts.append((np.maximum(model, floor) - target).ravel() * weight)
        parts.append((x[:-1] - x0[:-1]) / sigmas * PRIOR_WEIGHT)
        return np.concatenate(parts)

    def rms_db(r: np.ndarray) -> float:  # the data term's rms over recordings (dB)
        return float(np.sqrt(np.sum(r[:-len(constants)] ** 2) / len(targets)))

    before = rms_db(residuals(x0))
    solution = optimize.least_squares(residuals, x0, bounds=(lows, highs), method="trf", diff_step=1e-3,
                                      x_scale=np.concatenate([sigmas, [1.0]]), max_nfev=60 * (len(x0) + 1))
    after = rms_db(solution.fun)
    fitted = calibration(solution.x)
    if log:
        values = ", ".join(f"{c.path.split('.', 1)[1]} {c.get(fitted):.4g}" for c in constants)
        log(f"{label} band-envelope fit: rms {before:.2f} -> {after:.2f} dB ({solution.nfev} renders "
            f"per recording); {values}")
    return fitted
