"""The band-envelope fit of TR-808 constants (matching.tr808_envelope_fit) and the cymbal's
decay-following high band it was made for."""
import numpy as np
import pytest

from matching.tr808_envelope_fit import BAND_EDGES_HZ, HOP, Constant, band_levels_db, fit_constants
from matching.tr808_fit import render, with_constants
from synths.tr808_calibration import KnobLaw, load_calibration

RATE = 44100


def test_band_levels_follow_a_decay_in_its_band():
    t = np.arange(RATE) / RATE
    t60 = 0.4
    tone = np.sin(2 * np.pi * 1000 * t) * 10 ** (-3 * t / t60)   # in the 600-1200 Hz band
    levels = band_levels_db(tone)
    band = next(i for i, (lo, hi) in enumerate(zip(BAND_EDGES_HZ, BAND_EDGES_HZ[1:])) if lo <= 1000 < hi)
    assert levels.shape == (len(BAND_EDGES_HZ) - 1, 1 + (RATE + HOP) // HOP)
    frames = slice(20, 120)                                           # 0.12-0.7 s
    slope = np.polyfit(np.arange(levels.shape[1])[frames] * HOP / RATE, levels[band, frames], 1)[0]
    assert slope == pytest.approx(-60 / t60, rel=0.02)
    assert levels[band, 50] > levels[0, 50] + 40                     # the band that holds it


def test_fit_recovers_the_constants_of_a_rendered_claves():
    truth = with_constants(load_calibration("legacy"), "claves",
                           resonator=load_calibration("legacy").claves.resonator.__class__(2100.0, 0.05))
    audio = render("CL", truth, {}, int(0.3 * RATE))
    start = load_calibration("legacy")                                # 2500 Hz, T60 0.12 s
    constants = [Constant("claves.resonator.freq_hz", 1000.0, 5000.0, sigma=0.5),
                 Constant("claves.resonator.t60_s", 0.005, 0.5)]
    fitted = fit_constants(start, [({}, audio)], constants, lambda c, k, n: render("CL", c, k, n))
    assert fitted.claves.resonator.freq_hz == pytest.approx(2100.0, rel=0.03)
    assert fitted.claves.resonator.t60_s == pytest.approx(0.05, rel=0.1)


def _top_band_tail_db(calibration, decay: float) -> float:
    """Level of the cymbal's > 9.6 kHz band 0.5-1 s after the hit relative to its first 0.1 s (dB)."""
    x = render("CY", calibration, {"tone": 10.0, "decay": decay}, 2 * RATE)
    spectrum = np.fft.rfft(x)
    spectrum[np.fft.rfftfreq(len(x), 1 / RATE) < 9600] = 0
    top = np.fft.irfft(spectrum, len(x))
    return 10 * np.log10(np.mean(top[RATE // 2: RATE] ** 2) / np.mean(top[: RATE // 10] ** 2))


def test_cymbal_high_band_rings_with_the_decay_knob_only_with_a_tail():
    fixed = with_constants(load_calibration("legacy"), "metal", cymbal_tone_high_mix=KnobLaw(1.0, 1.0))  # high band only
    assert _top_band_tail_db(fixed, 10.0) == pytest.approx(_top_band_tail_db(fixed, 0.0), abs=0.5)
    tail = with_constants(fixed, "metal", cymbal_high_tail_mix=0.5, cymbal_high_tail_t60_ratio=1.0)
    assert _top_band_tail_db(tail, 10.0) > _top_band_tail_db(tail, 0.0) + 10
