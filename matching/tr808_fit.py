"""Fit a TR-808 :class:`~synths.tr808_calibration.Calibration` to recordings of a real unit.

The model's structure stays; only its constants move. For every recording the acoustic
features of :mod:`matching.acoustics` are measured; then, voice by voice:

1. **Inversion.** Each knob-driven circuit value (a T60, a resonance, a cutoff, a mix share,
   a noise level) is found per recording: the value at which the *model* (rendered at the
   recording's other knob settings) shows the recording's feature, by bisection (the
   features are monotone in these values). Measuring the model the same way as the
   recording cancels the measurement's own bias.
2. **Knob laws.** Each :class:`~synths.tr808_calibration.KnobLaw` (``at_0``, ``at_10``,
   ``curve``; its ``exponent`` is fixed by the circuit: 1 for a pot in an RC time constant,
   -2 for a pot in a bridged-T resonance, 0 for a geometric sweep) is fitted to the
   per-position medians of step 1 by MAP least squares: the data (relative errors of 5 %)
   against a weak prior at the legacy constants (a factor e on values, 2 on the curve).
   With three positions the data decide; with two (cross-validation) the prior fills the
   one direction the data leave open: the taper, which for the cymbal TONE pot's ring laws
   comes from the circuit (:data:`CY_TONE_RING_CURVE`).
3. **Constants without a knob** (glides, ring times, noise colours, output gains): pooled
   medians of the per-recording inversions.
4. **Band envelopes.** Constants that act together, which no single feature isolates
   (:data:`ENVELOPE_CONSTANTS`: the cymbal's bands and envelopes, the hats' filter and VCA,
   the level-only voices' resonators and filters), are then fitted
   at once to the recordings' octave-band envelopes (:mod:`matching.tr808_envelope_fit`),
   starting from steps 1-3. The per-position values of step 1 stay in the calibration's
   source (``knob_law_points``); a law refined here may move away from them.

The bass drum's click (its gain and the tone knob's cutoff) is fitted to its spectrum in
the first 20 ms instead (:func:`fit_click`): it lasts ~1.5 ms, too short for the band
envelopes' frames.

CH and CP have no recordings in the calibration set: their constants stay legacy (as does
everything a voice without recordings uses). :func:`fit_calibration` is the entry point;
``scripts/calibrate_tr808.py`` is its command line.
"""
from __future__ import annotations

import dataclasses
import datetime
import itertools
import math
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
import torch
from scipy import optimize
from scipy import signal as sps

from synths.tr808 import TR808
from synths.tr808_calibration import Calibration, KnobLaw, load_calibration

from . import acoustics
from .tr808_envelope_fit import Constant, fit_constants
from .tr808_recordings import Recording

__all__ = ["fit_calibration", "fit_knob_law", "ENVELOPE_CONSTANTS", "POSITIONS", "bisect_value", "FitLog", "KNOB_LAWS",
           "knob_law_table"]

#: The knob positions of the calibration set.
POSITIONS: tuple[float, ...] = (0.0, 5.0, 10.0)
RATE = 44100
DATA_SIGMA = 0.05       # relative error of a per-position value (5 %)
PRIOR_SIGMA = 1.0       # prior on a law's end values: a factor e (log domain)
CURVE_SIGMA = 2.0       # prior on a law's taper curve


#: Each knob law of the model: ``"VOICE.knob" -> (constants section, tom voice or None, field)``.
KNOB_LAWS: dict[str, tuple[str, Optional[str], str]] = {
    "BD.tone": ("bass_drum", None, "tone_cutoff_hz"), "BD.decay": ("bass_drum", None, "decay_t60_s"),
    "SD.tone": ("snare", None, "tone_high_share"), "SD.snappy": ("snare", None, "snappy_noise_rms"),
    **{f"{v}.tuning": ("toms", v, "tuning_hz") for v in ("LT", "MT", "HT", "LC", "MC", "HC")},
    "CY.tone": ("metal", None, "cymbal_tone_high_mix"), "CY.decay": ("metal", None, "cymbal_low_t60_s"),
    "OH.decay": ("metal", None, "open_hat_t60_s"),
}


def knob_law_table(calibration: Calibration) -> dict[str, tuple[KnobLaw, dict[float, float]]]:
    """Every knob law of ``calibration`` with the per-position values it was fitted to
    (``{}`` where the calibration's source does not record them): ``{"BD.decay": (law, points)}``."""
    recorded = calibration.source.get("knob_law_points", {}) if isinstance(calibration.source, dict) else {}
    table = {}
    for key, (section, voice, name) in KNOB_LAWS.items():
        owner = calibration.toms[voice] if section == "toms" else getattr(calibration, section)
        points = {float(k): float(v) for k, v in recorded.get(key, {}).items()}
        table[key] = (getattr(owner, name), points)
    return table


class FitLog:
    """What the fit did, line by line (printed by the calibration script), and the
    per-position values each knob law was fitted to (``points["BD.decay"] = {0.0: 0.11, ...}``)."""

    def __init__(self, echo: Optional[Callable[[str], None]] = None) -> None:
        self.lines: list[str] = []
        self.points: dict[str, dict[float, float]] = {}
        self.echo = echo

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        if self.echo:
            self.echo(line)


# ------------------------------------------------------------------------------ rendering
_FORWARD_ONLY = ("open_hat_vca_threshold", "open_hat_vca_knee", "open_hat_hold_t60_s", "cymbal_vca_threshold",
                 "cymbal_vca_knee", "second_harmonic", "cymbal_high_tail_mix",
                 "cymbal_high_tail_t60_ratio")  # used by the forward pass, not in buffers
_synth_cache: dict[tuple, TR808] = {}


def _buffer_signature(value: Any) -> Any:
    """The constants that go into a voice's cached buffers (knob laws and gains do not)."""
    if isinstance(value, KnobLaw):
        return None
    if dataclasses.is_dataclass(value):
        return tuple((f.name, _buffer_signature(getattr(value, f.name))) for f in dataclasses.fields(value)
                     if f.name not in _FORWARD_ONLY)
    if isinstance(value, dict):
        return tuple((k, _buffer_signature(v)) for k, v in sorted(value.items()))
    return value


def render(voice: str, calibration: Calibration, knobs: dict[str, float], n_samples: int) -> np.ndarray:
    """The model at ``knobs`` (level 10), mono float64 ``[n_samples]``.

    Synths are reused while the constants in their cached buffers stay the same (a fit
    renders the same voice hundreds of times, changing only knob laws)."""
    sections = calibration.replace(name="", source={}, output_gain={})
    key = (voice, n_samples, _buffer_signature(sections))
    synth = _synth_cache.get(key)
    if synth is None:
        if len(_synth_cache) > 64:
            _synth_cache.clear()
        synth = _synth_cache[key] = TR808(voice=voice, duration=n_samples / RATE, seed=0, calibration=calibration)
    synth.calibration = calibration
    with torch.no_grad():
        return synth.render({"level": 10.0, **knobs}, batch_size=1, dtype=torch.float64)[0, 0].numpy()


def with_constants(calibration: Calibration, section: str, voice: Optional[str] = None, **changes: Any) -> Calibration:
    """A copy of ``calibration`` with fields of one constants section (or one tom) changed."""
    if section == "toms":
        toms = dict(calibration.toms)
        toms[voice] = dataclasses.replace(toms[voice], **changes)
        return calibration.replace(toms=toms)
    return calibration.replace(**{section: dataclasses.replace(getattr(calibration, section), **changes)})


def constant_law(value: float) -> KnobLaw:
    """A law that holds ``value`` at every knob position (what inversion renders with)."""
    return KnobLaw(value, value)


def bisect_value(feature: Callable[[float], float], target: float, low: float, high: float,
                 log: bool = True, steps: int = 14) -> float:
    """The ``x`` in ``[low, high]`` where a monotone ``feature(x)`` equals ``target``
    (geometric bisection when ``log``); clamped to the ends when ``target`` is outside."""
    f_low, f_high = feature(low), feature(high)
    increasing = f_high >= f_low
    if (target <= f_low) == increasing and target != f_low:
        return low
    if (target >= f_high) == increasing and target != f_high:
        return high
    a, b = low, high
    for _ in range(steps):
        mid = math.sqrt(a * b) if log else 0.5 * (a + b)
        if (feature(mid) < target) == increasing:
            a = mid
        else:
            b = mid
    return math.sqrt(a * b) if log else 0.5 * (a + b)


# ------------------------------------------------------------------------------ knob laws
def fit_knob_law(points: dict[float, float], prior: KnobLaw, log_values: bool = True,
                 scale: Optional[float] = None, fixed_at_0: Optional[float] = None) -> KnobLaw:
    """MAP fit of a :class:`KnobLaw` (its ``exponent`` from ``prior``) to ``{position: value}``.

    Residuals are relative (``log_values``) or divided by ``scale`` (default: the prior's
    range); the prior pulls ``at_0``, ``at_10`` (by :data:`PRIOR_SIGMA` in the same
    units) and ``curve`` (by :data:`CURVE_SIGMA`) to ``prior``'s. ``fixed_at_0`` pins
    ``at_0`` (a level pot that is silent at 0).
    """
    if not points:
        return prior
    span = scale or max(abs(prior.at_10 - prior.at_0), 1e-9)
    positive = prior.exponent != 1.0 or log_values

    def unpack(x: np.ndarray) -> KnobLaw:
        ends = np.exp(x[:2]) if positive else x[:2] * span
        at_0 = fixed_at_0 if fixed_at_0 is not None else float(ends[0])
        return KnobLaw(at_0, float(ends[1]), float(x[2]), prior.exponent)

    def encode(value: float) -> float:
        return math.log(max(value, 1e-12)) if positive else value / span

    def residuals(x: np.ndarray) -> np.ndarray:
        law = unpack(x)
        data = []
        for k, y in points.items():
            v = law.value(k)
            data.append((math.log(max(v, 1e-12)) - math.log(max(y, 1e-12))) / DATA_SIGMA if log_values
                        else (v - y) / (DATA_SIGMA * span))
        start = np.array([encode(prior.at_0), encode(prior.at_10), prior.curve])
        prior_terms = (x - start) / np.array([PRIOR_SIGMA, PRIOR_SIGMA, CURVE_SIGMA])
        if fixed_at_0 is not None:
            prior_terms[0] = 0.0
        return np.concatenate([data, prior_terms])

    x0 = np.array([encode(prior.at_0 if fixed_at_0 is None else max(prior.at_0, 1e-6)),
                   encode(prior.at_10), prior.curve])
    solution = optimize.least_squares(residuals, x0, method="trf", bounds=(
        [-np.inf, -np.inf, -8.0], [np.inf, np.inf, 8.0]))
    return unpack(solution.x)


def _position_medians(values: Iterable[tuple[float, float]]) -> dict[float, float]:
    grouped: dict[float, list[float]] = {}
    for k, v in values:
        grouped.setdefault(k, []).append(v)
    return {k: float(np.median(v)) for k, v in sorted(grouped.items())}


# ------------------------------------------------------------------------------ measurements
def _highpassed(audio: np.ndarray, hz: float) -> np.ndarray:
    return sps.sosfiltfilt(sps.butter(4, hz, btype="highpass", fs=RATE, output="sos"), audio)


def _band(audio: np.ndarray, low: float, high: float) -> np.ndarray:
    return sps.sosfiltfilt(sps.butter(2, [low, high], btype="bandpass", fs=RATE, output="sos"), audio)


#: half-octave band edges (Hz) of :func:`click_spectrum_db`
CLICK_BAND_EDGES_HZ = 40.0 * 2.0 ** np.arange(0.0, 8.01, 0.5)
#: the bands of :func:`click_spectrum_db` that hold the BD click (453 Hz - 7.2 kHz; the
#: recordings' noise floor is within 10 dB of the click above that at tone 0)
CLICK_BANDS = slice(7, 15)
#: the first this many seconds after the onset are where the BD click is measured
CLICK_WINDOW_S = 0.02


def click_spectrum_db(audio: np.ndarray, reference_hz: tuple[float, float] = (40.0, 113.2)) -> np.ndarray:
    """An attack click's spectrum: half-octave band levels (dB) of the first 20 ms after the
    onset in 453 Hz - 7.2 kHz -> (8,), relative to the loudest band within ``reference_hz`` (Hz; the body's fundamental, by
    default the BD's 40-113 Hz). The window is flat from the onset (the click is its first ~2 ms,
    where a Hann window is ~0) and tapers over its second half (a rectangular cut leaks the
    body's 50 Hz into every band above 1 kHz, which buries the click at low tone)."""
    n = int(CLICK_WINDOW_S * RATE)
    x = acoustics.from_onset(audio, RATE)[:n]
    x = np.pad(x, (0, n - len(x)))
    window = np.ones(n)
    half = n // 2
    window[half:] = np.hanning(2 * (n - half))[n - half:]
    power = np.abs(np.fft.rfft(x * window, 8192)) ** 2
    freqs = np.fft.rfftfreq(8192, 1.0 / RATE)
    edges = CLICK_BAND_EDGES_HZ
    levels = np.array([10 * np.log10(power[(freqs >= lo) & (freqs < hi)].sum() + 1e-30)
                       for lo, hi in zip(edges[:-1], edges[1:])])
    lo, hi = edges[:-1], edges[1:]
    reference = levels[(lo >= reference_hz[0] * 0.999) & (hi <= reference_hz[1] * 1.001)]
    return levels[CLICK_BANDS] - reference.max()


def band_t60_s(audio: np.ndarray, low: float, high: float) -> float:
    """T60 (s) of one band of the sound (a resonator's own ring)."""
    return acoustics.decay_t60_s(_band(acoustics.from_onset(audio, RATE), low, high), RATE, -3.0, -30.0)


def early_rms(audio: np.ndarray, seconds: float = 0.05) -> float:
    """RMS of the first ``seconds`` after the onset (what output gains are matched on)."""
    x = acoustics.from_onset(audio, RATE)[: int(seconds * RATE)]
    return float(np.sqrt(np.mean(x ** 2)))


# ------------------------------------------------------------------------------ the fit
class _Voice:
    """The recordings of one voice, with their audio and the helpers of the fit."""

    def __init__(self, voice: str, recordings: Sequence[Recording]) -> None:
        self.voice = voice
        self.items = []
        for rec in recordings:
            audio, rate = rec.audio()
            if rate != RATE:
                raise ValueError(f"{rec.path}: sample rate {rate} Hz; the fit reads {RATE} Hz recordings")
            self.items.append((rec, acoustics.from_onset(audio, RATE)))

    def n(self, audio: np.ndarray) -> int:
        return len(audio)

    def per_recording(self, fn: Callable[[Recording, np.ndarray], float]) -> list[tuple[Recording, float]]:
        return [(rec, fn(rec, audio)) for rec, audio in self.items]


def _fit_gain(cal: Calibration, group: _Voice) -> float:
    ratios = [early_rms(audio) / max(early_rms(render(group.voice, cal.replace(output_gain={}), rec.knobs,
                                                            len(audio))), 1e-12)
              for rec, audio in group.items]
    return float(np.median(ratios))


def _fit_bd(cal: Calibration, group: _Voice, log: FitLog) -> Calibration:
    prior = cal.bass_drum
    # resonance and glide: the instantaneous frequency of 25-120 Hz, 2-60 ms after the onset
    times, freqs = [], []
    for rec, audio in group.items:
        t, f = acoustics.instantaneous_frequency_hz(audio, RATE, 25.0, 120.0)
        keep = (t >= 0.003) & (t <= min(0.06, 0.5 * acoustics.time_to_drop_s(audio, RATE, 40.0) + 0.003))
        times.append(t[keep])
        freqs.append(f[keep])
    t, f = np.concatenate(times), np.concatenate(freqs)
    settled = [acoustics.fundamental_and_glide(a, RATE, 25.0, 120.0)[0] for r, a in group.items if r.knobs["decay"] > 0]

    def glide_residual(x: np.ndarray) -> np.ndarray:
        return np.log(f) - np.log(x[0] * (1 + x[1] * np.exp(-t / x[2])))

    f_end = float(np.median(settled)) if settled else prior.freq_hz
    fit = optimize.least_squares(lambda x: glide_residual(np.array([f_end, x[0], x[1]])), [0.5, 0.01],
                                 bounds=([0, 0.001], [3, 0.1]))
    depth, tau = (float(v) for v in fit.x)
    cal = with_constants(cal, "bass_drum", glide_depth=depth, glide_time_s=tau)
    # the settled pitch as the model shows it (the glide's tail lifts the spectral peak a little)
    long = [(r, a) for r, a in group.items if r.knobs["decay"] == max(x.knobs["decay"] for x, _ in group.items)]

    def settled_f0(x: np.ndarray) -> float:
        return acoustics.fundamental_and_glide(x, RATE, 25.0, 120.0)[0]
    f_end = float(np.median([bisect_value(lambda hz: settled_f0(render("BD", with_constants(
        cal, "bass_drum", freq_hz=hz), r.knobs, len(a))), settled_f0(a), 30.0, 80.0) for r, a in long]))
    cal = with_constants(cal, "bass_drum", freq_hz=f_end)
    log(f"BD resonance {f_end:.2f} Hz, glide depth {depth:.3f}, glide time {1000 * tau:.1f} ms")

    # decay knob -> body T60 (pot in the RC of the bridged-T's feedback: exponent 1)
    def t60_of(rec: Recording, audio: np.ndarray) -> float:
        target = acoustics.decay_t60_s(audio, RATE)
        return bisect_value(lambda T: acoustics.decay_t60_s(render("BD", with_constants(
            cal, "bass_drum", decay_t60_s=constant_law(T)), rec.knobs, len(audio)), RATE), target, 0.03, 12.0)

    t60 = group.per_recording(t60_of)
    points = _position_medians((r.knobs["decay"], v) for r, v in t60)
    law = fit_knob_law(points, KnobLaw(prior.decay_t60_s.at_0, prior.decay_t60_s.at_10, 0.0, 1.0))
    log.points["BD.decay"] = points
    cal = with_constants(cal, "bass_drum", decay_t60_s=law)
    log(f"BD decay -> T60: measured {_pts(points)} s; law {_law(law)}")

    # the click: one gain for the unit and, per recording, the tone stage's cutoff, fitted to
    # the click's spectrum (above the cutoff the click's level is gain x cutoff, so both come
    # from the spectrum's shape at once); tone knob -> cutoff: the pot is the R of an RC
    # low-pass, f = 1 / (2 pi R C): exponent -1
    click, cutoffs, rms = fit_click(cal, group)
    cal = with_constants(cal, "bass_drum", click_gain=click)
    log(f"BD click gain {click:.3f} (click spectra fitted within {rms:.1f} dB rms)")
    points = _position_medians((r.knobs["tone"], cutoffs[r.name]) for r, _ in group.items)
    law = fit_knob_law(points, KnobLaw(prior.tone_cutoff_hz.at_0, prior.tone_cutoff_hz.at_10, 0.0, -1.0))
    log.points["BD.tone"] = points
    log(f"BD tone -> click cutoff: measured {_pts(points)} Hz; law {_law(law)}")
    return with_constants(cal, "bass_drum", tone_cutoff_hz=law)


def fit_click(cal: Calibration, group: _Voice) -> tuple[float, dict[str, float], float]:
    """The BD click gain shared by ``group``'s recordings and each recording's tone-stage
    cutoff (Hz) that make the model's :func:`click_spectrum_db` closest (least squares, dB)
    to the recording's: a grid of gains x cutoffs, then each refined by a bounded scalar
    search. Returns (gain, {recording name: cutoff}, rms error in dB)."""
    n = int(CLICK_WINDOW_S * RATE)
    targets = {rec.name: click_spectrum_db(audio) for rec, audio in group.items}
    knobs = {rec.name: rec.knobs for rec, _ in group.items}

    def error(name: str, log_gain: float, log_cutoff: float) -> float:
        model = render("BD", with_constants(cal, "bass_drum", click_gain=math.exp(log_gain),
                                            tone_cutoff_hz=constant_law(math.exp(log_cutoff))),
                       knobs[name], n)
        return float(np.mean((click_spectrum_db(model) - targets[name]) ** 2))

    gains, cuts = np.log(np.geomspace(0.05, 20.0, 25)), np.log(np.geomspace(50.0, 20000.0, 41))

    def best_cutoff(name: str, log_gain: float, start: Optional[float] = None) -> tuple[float, float]:
        if start is None:
            start = cuts[int(np.argmin([error(name, log_gain, c) for c in cuts]))]
        step = cuts[1] - cuts[0]
        found = optimize.minimize_scalar(lambda c: error(name, log_gain, c), method="bounded",
                                         bounds=(max(start - step, cuts[0]), min(start + step, cuts[-1])),
                                         options={"xatol": 1e-3})
        return float(found.x), float(found.fun)

    def total(log_gain: float, starts: Optional[dict[str, float]] = None) -> tuple[float, dict[str, float]]:
        best = {name: best_cutoff(name, log_gain, None if starts is None else starts[name])
                for name in targets}
        return sum(e for _, e in best.values()), {name: c for name, (c, _) in best.items()}

    coarse = [total(g) for g in gains]
    i = int(np.argmin([t for t, _ in coarse]))
    starts = coarse[i][1]
    found = optimize.minimize_scalar(lambda g: total(g, starts)[0], method="bounded",
                                     bounds=(gains[max(i - 1, 0)], gains[min(i + 1, len(gains) - 1)]),
                                     options={"xatol": 1e-3})
    err, cut = total(float(found.x), starts)
    return (math.exp(float(found.x)), {name: math.exp(c) for name, c in cut.items()},
            math.sqrt(err / len(targets)))


def _fit_sd(cal: Calibration, group: _Voice, log: FitLog) -> Calibration:
    prior = cal.snare
    low_hz = float(np.median([acoustics.voice_features(a, RATE, "SD")["sd_low_hz"] for _, a in group.items]))
    high_hz = float(np.median([acoustics.voice_features(a, RATE, "SD")["sd_high_hz"] for _, a in group.items]))
    quiet = [(r, a) for r, a in group.items if r.knobs["snappy"] == min(x.knobs["snappy"] for x, _ in group.items)]
    bands = {"low": (0.8 * low_hz, 1.2 * low_hz), "high": (0.85 * high_hz, 1.15 * high_hz)}
    resonators = {"low": dataclasses.replace(prior.low, freq_hz=low_hz),
                  "high": dataclasses.replace(prior.high, freq_hz=high_hz)}
    cal = with_constants(cal, "snare", **resonators)
    for name in ("low", "high"):  # each resonator's ring, on the quietest snappy setting
        def ring(rec: Recording, audio: np.ndarray, name=name) -> float:
            target = band_t60_s(audio, *bands[name])
            return bisect_value(lambda T: band_t60_s(render("SD", with_constants(
                cal, "snare", **{name: dataclasses.replace(getattr(cal.snare, name), t60_s=T)}), rec.knobs,
                len(audio)), *bands[name]), target, 0.02, 2.0)
        value = float(np.median([ring(r, a) for r, a in quiet]))
        cal = with_constants(cal, "snare", **{name: dataclasses.replace(getattr(cal.snare, name), t60_s=value)})
    log(f"SD resonators {low_hz:.1f} Hz (T60 {cal.snare.low.t60_s:.3f} s), {high_hz:.1f} Hz "
        f"(T60 {cal.snare.high.t60_s:.3f} s)")

    def balance(audio: np.ndarray) -> float:
        return (acoustics.band_energy_db(audio, RATE, *bands["high"])
                - acoustics.band_energy_db(audio, RATE, *bands["low"], start_s=SD_LOW_BAND_FROM_S))

    # tone knob -> the wiper's share of the high resonator (a linear pot between the two)
    def share_of(rec: Recording, audio: np.ndarray) -> float:
        return bisect_value(lambda w: balance(render("SD", with_constants(
            cal, "snare", tone_high_share=constant_law(w)), rec.knobs, len(audio))), balance(audio),
            0.005, 0.995, log=False)

    shares = group.per_recording(share_of)
    points = _position_medians((r.knobs["tone"], v) for r, v in shares)
    law = fit_knob_law(points, prior.tone_high_share, log_values=False, scale=1.0)
    log.points["SD.tone"] = points
    cal = with_constants(cal, "snare", tone_high_share=law)
    log(f"SD tone -> high-resonator share: measured {_pts(points)}; law {_law(law)}")

    cal = _fit_sd_body_level(cal, group, bands, log)

    # snappy: the noise's ring time, then the snappy pot -> noise RMS (silent at 0)
    loud = [(r, a) for r, a in group.items if r.knobs["snappy"] == max(x.knobs["snappy"] for x, _ in group.items)]
    if loud and loud[0][0].knobs["snappy"] > 0:
        def tilt(x: np.ndarray) -> float:  # the noise's top octave vs its middle
            return acoustics.band_energy_db(x, RATE, 12000.0, 22000.0) - acoustics.band_energy_db(x, RATE, 3000.0, 8000.0)
        colour = float(np.median([bisect_value(lambda hz: tilt(render("SD", with_constants(
            cal, "snare", noise_lowpass_hz=hz), r.knobs, len(a))), tilt(a), 1500.0, 20000.0) for r, a in loud]))
        cal = with_constants(cal, "snare", noise_lowpass_hz=colour)
        log(f"SD noise low-pass {colour:.0f} Hz (top octave vs 3-8 kHz of the loudest snappy)")

        def noise_ring(rec: Recording, audio: np.ndarray) -> float:
            target = acoustics.decay_t60_s(_highpassed(audio, 2000.0), RATE, -3.0, -30.0)
            return bisect_value(lambda T: acoustics.decay_t60_s(_highpassed(render("SD", with_constants(
                cal, "snare", noise_t60_s=T), rec.knobs, len(audio)), 2000.0), RATE, -3.0, -30.0), target, 0.03, 2.0)
        cal = with_constants(cal, "snare", noise_t60_s=float(np.median([noise_ring(r, a) for r, a in loud])))

        # the envelope's slow tail: its T60 from the slope below -55 dB, its level from the
        # time the sound takes to fall 65 dB
        def tail_slope(x: np.ndarray) -> float:
            return acoustics.decay_t60_s(_highpassed(x, 2000.0), RATE, -55.0, -75.0)
        tail_t60 = float(np.median([tail_slope(a) for _, a in loud]))
        tail_t60 = tail_t60 if math.isfinite(tail_t60) and tail_t60 > cal.snare.noise_t60_s else 2 * cal.snare.noise_t60_s
        cal = with_constants(cal, "snare", noise_tail_t60_s=tail_t60)

        def length(x: np.ndarray) -> float:
            return acoustics.time_to_drop_s(_highpassed(x, 2000.0), RATE, 65.0)
        mix = float(np.median([bisect_value(lambda m: length(render("SD", with_constants(
            cal, "snare", noise_tail_mix=m), r.knobs, len(a))), length(a), 1e-5, 0.1) for r, a in loud]))
        cal = with_constants(cal, "snare", noise_tail_mix=mix)
        log(f"SD noise tail: {20 * math.log10(mix):.1f} dB, T60 {tail_t60:.3f} s")

    def noise_of(rec: Recording, audio: np.ndarray) -> float:
        def ntt(x: np.ndarray) -> float:
            return acoustics.noise_to_tone_db(x, RATE, 1500.0)
        return bisect_value(lambda g: ntt(render("SD", with_constants(cal, "snare", snappy_noise_rms=constant_law(g)),
                                                 rec.knobs, len(audio))), ntt(audio), 1e-4, 2.0)

    levels = group.per_recording(noise_of)
    points = _position_medians((r.knobs["snappy"], v) for r, v in levels)
    law = fit_knob_law({k: v for k, v in points.items() if k > 0}, prior.snappy_noise_rms, fixed_at_0=0.0)
    log.points["SD.snappy"] = points
    log(f"SD noise T60 {cal.snare.noise_t60_s:.3f} s; snappy -> noise RMS: measured {_pts(points)} "
        f"(0 is the pot's silent end, not fitted); law {_law(law)}")
    return with_constants(cal, "snare", snappy_noise_rms=law)


#: the prior of the snare TONE wiper's load (``Snare.tone_load``)
#: the snare's tone balance reads its low resonator from this time on (s): after the high
#: resonator (T60 ~0.06 s), whose spectral skirt fills the low band in the first tens of ms,
#: has died away.  Over the whole sound the tone-10 balance put the low resonator 5 dB too
#: quiet in the tail, and the matcher read the tone-10 recordings at 8.8-9.1 (now 9.5-10;
#: the same from 0.03 s to 0.1 s, bench_real808, RESULTS.md session 29).
SD_LOW_BAND_FROM_S = 0.05


def loaded_wiper_load(pot_ohm: float, series_ohm: float, load_ohm: float) -> float:
    """``Snare.tone_load`` of a linear pot mixing two sources into a load: source A at the
    pot's ``u = 0`` end directly, source B at the ``u = 1`` end through ``series_ohm``, the
    wiper into ``load_ohm`` to a virtual ground.  By nodal analysis source A's gain is
    ``G_A / (G_A + G_B + G_L)`` with ``G_A = 1 / (u R)``, ``G_B = 1 / (series + (1 - u) R)``,
    ``G_L = 1 / load``; it sags at mid-rotation below the line between its ends.  The load
    ``L`` puts the model's dip ``1 / (1 + L u (1 - u))`` at ``u = 1/2`` where that sag is."""
    def gain_a(u: float) -> float:
        if u == 0:
            return 1.0
        g_a, g_b, g_l = 1 / (u * pot_ohm), 1 / (series_ohm + (1 - u) * pot_ohm), 1 / load_ohm
        return g_a / (g_a + g_b + g_l)
    line = (gain_a(0.0) + gain_a(1.0)) / 2
    return 4.0 * (line / gain_a(0.5) - 1.0)


#: The prior of the snare TONE wiper's load, from the circuit, not from the recordings: VR8
#: (100K(B)) between the low resonator's output (through C63 only) and the high one's
#: (through R200, 47 kOhm), its wiper into the summing amplifier's virtual ground through
#: R204 (100 kOhm) (minisystem/880 TR-808 clone, TR-808-Clone.net).  The low resonator,
#: which holds most of the body's energy at every tone, sags to 0.80 of its line at
#: mid-rotation: load 1.01.  The recordings' full fit puts it at ~1.3.
SD_TONE_LOAD_PRIOR = loaded_wiper_load(100e3, 47e3, 100e3)
SD_TONE_LOAD_SIGMA = 1.0


def _fit_sd_body_level(cal: Calibration, group: _Voice, bands: dict[str, tuple[float, float]],
                       log: FitLog) -> Calibration:
    """The body's level along the tone knob: a geometric tilt (``tone_body_tilt``)
    and the wiper's load (``tone_load``: a dip at mid-rotation), fitted to the resonators'
    band energy of each recording against the model's (MAP: the tilt's prior 1, the load's
    :data:`SD_TONE_LOAD_PRIOR`).  Without it the model's body at tone 5 was 2-3 dB louder,
    relative to its ends, than the unit's, and the tone-5 recordings read 6.0-6.3."""
    def body_db(x: np.ndarray) -> float:
        return 10 * math.log10(sum(10 ** (acoustics.band_energy_db(x, RATE, *b) / 10) for b in bands.values()))

    flat = with_constants(cal, "snare", tone_body_tilt=1.0, tone_load=0.0)
    ratios = group.per_recording(lambda rec, audio: (body_db(audio) - body_db(render("SD", flat, rec.knobs, len(audio))))
                                 * math.log(10) / 20)
    points = _position_medians((r.knobs["tone"], v) for r, v in ratios)
    taper = cal.snare.tone_high_share.taper

    def model(x: np.ndarray, k: float) -> float:  # x: log scale, log tilt at 10, load
        u = float(taper(torch.tensor(k, dtype=torch.float64)))
        return x[0] + x[1] * k / 10 - math.log1p(x[2] * u * (1 - u))

    def residuals(x: np.ndarray) -> np.ndarray:
        data = [(model(x, k) - y) / DATA_SIGMA for k, y in points.items()]
        return np.array(data + [x[1] / PRIOR_SIGMA, (x[2] - SD_TONE_LOAD_PRIOR) / SD_TONE_LOAD_SIGMA])

    start = np.array([float(np.mean(list(points.values()))), 0.0, max(SD_TONE_LOAD_PRIOR, 0.1)])  # inside the bounds
    x = optimize.least_squares(residuals, start, bounds=(
        [-np.inf, -np.inf, 0.0], [np.inf, np.inf, 50.0])).x
    log(f"SD body level along tone: measured {_pts({k: 20 * v / math.log(10) for k, v in points.items()})} dB; "
        f"tilt {20 * x[1] / math.log(10):+.2f} dB at 10, wiper load {x[2]:.3f}")
    return with_constants(cal, "snare", tone_body_tilt=math.exp(x[1]), tone_load=float(x[2]))


#: the toms and congas whose click :func:`fit_pulse_click` fits (the others keep the prior's). The
#: congas' click, fitted the same way (to 2.2-3.1 dB rms), made their log-mel distance at
#: tuning 0 and 5 worse (HC00 2.00 -> 2.10: its low frequencies, which the unit's click
#: lacks, reach below the fundamental) and their readings no better (cross-validated 0.59
#: against 0.58 dial steps, full fit 0.51 against 0.45; benchmarks/RESULTS.md, session 28)
#: The snare's, fitted at snappy 0 (to 4.0 dB rms), read its tone at 1.89 dial steps
#: against 0.72 (cross-validated 1.67 against 0.84).
TOM_CLICK_VOICES = ("LT", "MT", "HT")


def fit_pulse_click(cal: Calibration, voice: str, items: Sequence[tuple[dict[str, float], np.ndarray]],
                    reference_hz: tuple[float, float]) -> tuple[float, float, float]:
    """The fixed attack click of a tom (``click_gain`` and ``click_cutoff_hz`` of
    :class:`~synths.tr808_calibration.Tom`, shared by the recordings ``items``
    ``[(knobs, audio)]``: no knob acts on them) that makes the model's
    :func:`click_spectrum_db`, relative to the fundamental's bands ``reference_hz``, closest
    to the recordings' (least squares, dB): a grid of gains x cutoffs, then refined
    (Nelder-Mead in their logarithms, within 0.001-20 and 100 Hz - 20 kHz). Returns (gain,
    cutoff Hz, rms error in dB)."""
    n = int(CLICK_WINDOW_S * RATE)
    targets = [(knobs, click_spectrum_db(audio, reference_hz)) for knobs, audio in items]
    low, high = np.log([1e-3, 100.0]), np.log([20.0, 20000.0])

    def error(p: np.ndarray) -> float:
        gain, cutoff = np.exp(np.clip(p, low, high))
        c = with_constants(cal, "toms", voice, click_gain=float(gain), click_cutoff_hz=float(cutoff))
        return float(np.mean([np.mean((click_spectrum_db(render(voice, c, knobs, n), reference_hz) - target) ** 2)
                              for knobs, target in targets]))

    grid = [np.array(p) for p in itertools.product(np.log(np.geomspace(0.01, 10.0, 16)),
                                                   np.log(np.geomspace(200.0, 20000.0, 16)))]
    start = min(grid, key=error)
    found = optimize.minimize(error, start, method="Nelder-Mead",
                              options={"xatol": 1e-3, "fatol": 1e-4, "maxiter": 200})
    gain, cutoff = np.exp(np.clip(found.x, low, high))
    return float(gain), float(cutoff), math.sqrt(error(found.x))


def _fit_tom(cal: Calibration, group: _Voice, log: FitLog) -> Calibration:
    voice, prior = group.voice, cal.toms[group.voice]
    band = acoustics.TONAL_BANDS_HZ[voice]

    def f0(audio: np.ndarray) -> float:
        return acoustics.fundamental_and_glide(audio, RATE, *band)[0]

    def t60(audio: np.ndarray) -> float:
        return acoustics.decay_t60_s(audio, RATE)

    ring = float(np.median([bisect_value(lambda T: t60(render(voice, with_constants(
        cal, "toms", voice, t60_s=T), r.knobs, len(a))), t60(a), 0.03, 3.0) for r, a in group.items]))
    cal = with_constants(cal, "toms", voice, t60_s=ring)

    def glide(audio: np.ndarray) -> float:
        return acoustics.fundamental_and_glide(audio, RATE, *band)[1]

    depth = float(np.median([bisect_value(lambda d: glide(render(voice, with_constants(
        cal, "toms", voice, glide_depth=d), r.knobs, len(a))), glide(a), 1e-3, 1.0) for r, a in group.items]))
    cal = with_constants(cal, "toms", voice, glide_depth=depth)

    # tuning -> resonance: the pot is one resistor of the bridged-T, f ~ 1/sqrt(R): exponent -2
    def freq_of(rec: Recording, audio: np.ndarray) -> float:
        return bisect_value(lambda hz: f0(render(voice, with_constants(cal, "toms", voice, tuning_hz=constant_law(hz)),
                                                 rec.knobs, len(audio))), f0(audio), band[0], band[1])

    points = _position_medians((r.knobs["tuning"], v) for r, v in group.per_recording(freq_of))
    law = fit_knob_law(points, KnobLaw(prior.tuning_hz.at_0, prior.tuning_hz.at_10, 0.0, -2.0))
    log.points[f"{voice}.tuning"] = points
    cal = with_constants(cal, "toms", voice, tuning_hz=law)

    click = ""
    if voice in TOM_CLICK_VOICES:
        gain, cutoff, click_error = fit_pulse_click(cal, voice, [(r.knobs, a) for r, a in group.items], band)
        cal = with_constants(cal, "toms", voice, click_gain=gain, click_cutoff_hz=cutoff)
        click = f", click {gain:.3g} at {cutoff:.0f} Hz (rms {click_error:.1f} dB)"

    def harmonic(rec: Recording, x: np.ndarray) -> float:  # 2nd harmonic vs fundamental band (dB)
        f = law.value(rec.knobs["tuning"])
        return (acoustics.band_energy_db(x, RATE, 1.7 * f, 2.3 * f, stop_s=0.15)
                - acoustics.band_energy_db(x, RATE, 0.8 * f, 1.2 * f, stop_s=0.15))

    h2 = float(np.median([bisect_value(lambda h: harmonic(r, render(voice, with_constants(
        cal, "toms", voice, second_harmonic=h), r.knobs, len(a))), harmonic(r, a), 1e-3, 2.0) for r, a in group.items]))
    cal = with_constants(cal, "toms", voice, second_harmonic=h2)
    if prior.noise_rms > 0:
        def ntt(x: np.ndarray) -> float:
            return acoustics.noise_to_tone_db(x, RATE, 1000.0)
        noise = float(np.median([bisect_value(lambda g: ntt(render(voice, with_constants(
            cal, "toms", voice, noise_rms=g), r.knobs, len(a))), ntt(a), 1e-4, 1.0) for r, a in group.items]))
        cal = with_constants(cal, "toms", voice, noise_rms=noise)
    log(f"{voice} T60 {ring:.3f} s, glide depth {depth:.3f}, 2nd harmonic {h2:.3f}, "
        f"noise RMS {cal.toms[voice].noise_rms:.4f}{click}; "
        f"tuning -> f0: measured {_pts(points)} Hz; law {_law(law)}")
    return cal


def _fit_cy_tone(cal: Calibration, group: _Voice, log: FitLog) -> Calibration:
    """CY tone -> high-band mix, from the first 0.3 s: the energy above vs below 5 kHz (the
    start of the band-envelope fit, whose tone-pot stage refits it with the ring's level and
    the bright burst: :data:`CY_TONE_CONSTANTS`)."""
    def balance(x: np.ndarray) -> float:
        return acoustics.noise_to_tone_db(acoustics.from_onset(x, RATE)[: int(0.3 * RATE)], RATE, 5000.0)

    def mix_of(rec: Recording, audio: np.ndarray) -> float:
        return bisect_value(lambda w: balance(render("CY", with_constants(cal, "metal", cymbal_tone_high_mix=constant_law(w)),
                                                      rec.knobs, len(audio))), balance(audio), 0.005, 0.995, log=False)

    points = _position_medians((r.knobs["tone"], v) for r, v in group.per_recording(mix_of))
    law = fit_knob_law(points, cal.metal.cymbal_tone_high_mix, log_values=False, scale=1.0)
    log.points["CY.tone"] = points
    log(f"CY tone -> high-band mix (energy above vs below 5 kHz, first 0.3 s): measured {_pts(points)}; law {_law(law)}")
    return with_constants(cal, "metal", cymbal_tone_high_mix=law)


def _fit_cy(cal: Calibration, group: _Voice, log: FitLog) -> Calibration:
    prior = cal.metal
    if prior.cymbal_vca_threshold <= 0:  # the VCAs' cut-off near -40 dB (Metal.cymbal_vca_threshold)
        cal = with_constants(cal, "metal", cymbal_vca_threshold=0.01, cymbal_vca_knee=0.003)
    cal = _fit_cy_tone(cal, group, log)

    def t60_of(rec: Recording, audio: np.ndarray) -> float:  # the low band's ring (2.5-5 kHz)
        target = band_t60_s(audio, 2500.0, 5000.0)
        return bisect_value(lambda T: band_t60_s(render("CY", with_constants(
            cal, "metal", cymbal_low_t60_s=constant_law(T)), rec.knobs, len(audio)), 2500.0, 5000.0),
            target, 0.1, 30.0)

    # on the darkest tone setting only, where the low band that the decay knob shapes is strongest
    darkest = min(r.knobs["tone"] for r, _ in group.items)
    dark = [(r, v) for r, v in ((r, t60_of(r, a)) for r, a in group.items if r.knobs["tone"] == darkest)]
    points = _position_medians((r.knobs["decay"], v) for r, v in dark)
    law = fit_knob_law(points, KnobLaw(prior.cymbal_low_t60_s.at_0, prior.cymbal_low_t60_s.at_10, 0.0, 1.0))
    log.points["CY.decay"] = points
    log(f"CY decay -> low-band T60 (tone {darkest:g} recordings): measured {_pts(points)} s; law {_law(law)}")
    return with_constants(cal, "metal", cymbal_low_t60_s=law)


def _fit_oh(cal: Calibration, group: _Voice, log: FitLog) -> Calibration:
    prior = cal.metal
    if prior.open_hat_vca_threshold <= 0:
        cal = with_constants(cal, "metal", open_hat_vca_threshold=0.3)
    if prior.open_hat_hold_t60_s <= 0:  # the VCA as a switch on a fixed decay (Metal.open_hat_hold_t60_s)
        cal = with_constants(cal, "metal", open_hat_hold_t60_s=2.0, open_hat_vca_knee=0.01)

    # decay knob -> envelope T60 (pot in the envelope's RC: exponent 1), from the audible
    # length (-40 dB), which the VCA cut-off sets
    def t60_of(rec: Recording, audio: np.ndarray) -> float:
        return bisect_value(lambda T: acoustics.time_to_drop_s(render("OH", with_constants(
            cal, "metal", open_hat_t60_s=constant_law(T)), rec.knobs, len(audio)), RATE, 40.0),
            acoustics.time_to_drop_s(audio, RATE, 40.0), 0.02, 20.0)

    # the VCA threshold: how flat the envelope is before the cut-off (slope of its first 20 dB)
    def threshold(current: Calibration) -> float:
        def slope(q: float, rec: Recording, audio: np.ndarray) -> float:
            return acoustics.decay_t60_s(render("OH", with_constants(current, "metal", open_hat_vca_threshold=q),
                                                rec.knobs, len(audio)), RATE, -3.0, -20.0)
        return float(np.median([bisect_value(lambda q: slope(q, r, a), acoustics.decay_t60_s(a, RATE, -3.0, -20.0),
                                             0.02, 0.95, log=False) for r, a in group.items]))

    for _ in range(2):  # T60 and threshold interact: alternate twice
        points = _position_medians((r.knobs["decay"], v) for r, v in group.per_recording(t60_of))
        law = fit_knob_law(points, KnobLaw(prior.open_hat_t60_s.at_0, prior.open_hat_t60_s.at_10, 0.0, 1.0))
        log.points["OH.decay"] = points
        cal = with_constants(cal, "metal", open_hat_t60_s=law)
        cal = with_constants(cal, "metal", open_hat_vca_threshold=threshold(cal))
    log(f"OH decay -> envelope T60 (from the -40 dB length): measured {_pts(points)} s; law {_law(law)}; "
        f"VCA threshold {cal.metal.open_hat_vca_threshold:.3f}")
    return cal


def _fit_cl(cal: Calibration, group: _Voice, log: FitLog) -> Calibration:
    """Claves: the resonator's frequency is the recording's spectral peak (1-6 kHz)."""
    freq = float(np.median([acoustics.peak_frequency_hz(a, RATE, 1000.0, 6000.0) for _, a in group.items]))
    log(f"CL resonator {freq:.1f} Hz (spectral peak)")
    return with_constants(cal, "claves", resonator=dataclasses.replace(cal.claves.resonator, freq_hz=freq))


def _fit_rs(cal: Calibration, group: _Voice, log: FitLog) -> Calibration:
    """Rim shot: its two resonators' frequencies are the spectral peaks below and above 1 kHz."""
    low = float(np.median([acoustics.peak_frequency_hz(a, RATE, 200.0, 1000.0) for _, a in group.items]))
    high = float(np.median([acoustics.peak_frequency_hz(a, RATE, 1000.0, 5000.0) for _, a in group.items]))
    log(f"RS resonators {low:.1f} Hz and {high:.1f} Hz (spectral peaks)")
    rs = cal.rim_shot
    return with_constants(cal, "rim_shot", low=dataclasses.replace(rs.low, freq_hz=low),
                          high=dataclasses.replace(rs.high, freq_hz=high))


def _lin(path: str, low: float, high: float, sigma: float) -> Constant:
    return Constant(path, low, high, log=False, sigma=sigma)


def _law_constants(path: str, low: float, high: float, log: bool = True, sigma: float = 1.0,
                   taper: bool = True) -> list[Constant]:
    """A knob law's ends (within ``[low, high]``) and, with ``taper``, its taper curve, as
    fitted constants (without it the curve stays the feature fit's)."""
    ends = [Constant(f"{path}.at_0", low, high, log, sigma), Constant(f"{path}.at_10", low, high, log, sigma)]
    return ends + ([_lin(f"{path}.curve", -6.0, 6.0, 2.0)] if taper else [])


#: The constants each voice fits by its band envelopes (:mod:`matching.tr808_envelope_fit`)
#: after its feature fit (which gives their starting values): those that act together and
#: that no single feature isolates. Ranges are physical bounds, not tuning.
ENVELOPE_CONSTANTS: dict[str, list[Constant]] = {
    # (the bass drum's click is fitted to its spectrum, :func:`fit_click`: the octave-band
    # envelopes' 6 ms frames blur the ~1.5 ms click with the body, and refitting the tone
    # law by them moved tone 5's cutoff from the measured ~880 Hz to 450 Hz, which read
    # every tone-5 recording as 0-1.3, bench_real808; the click's width stays the prior's,
    # the ~1 ms trigger pulse)
    "CY": [*_law_constants("metal.cymbal_tone_high_mix", 0.01, 0.999, log=False, sigma=0.3),
           *_law_constants("metal.cymbal_low_t60_s", 0.2, 30.0),
           _lin("metal.cymbal_mid_mix", 0.01, 0.99, 0.3), Constant("metal.cymbal_mid_t60_ratio", 0.05, 1.0),
           Constant("metal.cymbal_high_t60_s", 0.02, 3.0), _lin("metal.cymbal_high_tail_mix", 0.0, 1.0, 0.5),
           Constant("metal.cymbal_high_tail_t60_ratio", 0.1, 3.0), Constant("metal.high_band_q", 0.3, 8.0),
           Constant("metal.high_band_hz", 5000.0, 12000.0, sigma=0.3),
           Constant("metal.cymbal_high_highpass_hz", 1000.0, 14000.0),
           _lin("metal.cymbal_top_mix", 0.0, 4.0, 1.0), Constant("metal.cymbal_top_highpass_hz", 5000.0, 16000.0),
           _lin("metal.cymbal_high_fixed_mix", 0.0, 2.0, 0.5),
           Constant("metal.cymbal_low_highpass_hz", 500.0, 5000.0),
           Constant("metal.cymbal_vca_threshold", 0.001, 0.3), Constant("metal.cymbal_vca_knee", 0.0003, 0.1)],
    # (the snare keeps its feature fits: refitting its rings and noise by band envelopes made
    # its tone readings on the recordings worse, 1.8 -> 2.4 dial steps, bench_real808)
    # toms: the parts between the fundamental and 1 kHz (2nd harmonic, the noise path's level,
    # colour and ring); congas have no noise path (service notes)
    **{v: [_lin(f"toms.{v}.second_harmonic", 0.0, 0.6, 0.2), Constant(f"toms.{v}.noise_rms", 0.003, 0.5),
           Constant(f"toms.{v}.noise_lowpass_hz", 200.0, 8000.0), Constant(f"toms.{v}.noise_t60_s", 0.01, 1.0)]
       for v in ("LT", "MT", "HT")},
    **{v: [_lin(f"toms.{v}.second_harmonic", 0.0, 0.6, 0.2)] for v in ("LC", "MC", "HC")},
    "OH": [Constant("metal.hat_highpass_hz", 2000.0, 12000.0), _lin("metal.hat_low_band_mix", 0.0, 2.0, 0.5),
           *_law_constants("metal.open_hat_t60_s", 0.02, 20.0, taper=False),
           _lin("metal.open_hat_vca_threshold", 0.0, 0.9, 0.3), Constant("metal.open_hat_vca_knee", 0.002, 0.3),
           Constant("metal.open_hat_hold_t60_s", 0.2, 20.0)],
    # (resonator frequencies: spectral peaks, which octave bands cannot resolve; see _fit_rs, _fit_cl)
    "RS": [Constant("rim_shot.low.t60_s", 0.003, 0.3), Constant("rim_shot.high.t60_s", 0.003, 0.3),
           Constant("rim_shot.high.gain", 0.05, 5.0), Constant("rim_shot.drive", 0.3, 10.0),
           Constant("rim_shot.highpass_hz", 30.0, 3000.0)],
    "CL": [Constant("claves.resonator.t60_s", 0.005, 0.5)],
    "MA": [Constant("maracas.highpass_hz", 1000.0, 14000.0), Constant("maracas.attack_s", 3e-4, 0.03),
           Constant("maracas.t60_s", 0.005, 0.5)],
    "CB": [Constant("cowbell.bandpass_hz", 800.0, 6000.0, sigma=0.5), Constant("cowbell.bandpass_q", 0.2, 8.0),
           Constant("cowbell.fast_t60_s", 0.005, 0.5), Constant("cowbell.slow_t60_s", 0.05, 3.0),
           _lin("cowbell.fast_mix", 0.0, 1.0, 0.3)],
}


#: The cymbal's tone-pot constants, fitted after the band-envelope fit (which starts them):
#: the fade, the ring's level (its body gain; the value at 0 stays 1, the fit's free gain is
#: the same thing), the bright burst, and the decay law again, which the ring's level moves.
CY_TONE_CONSTANTS: list[Constant] = [
    *_law_constants("metal.cymbal_tone_high_mix", 0.01, 0.999, log=False, sigma=0.3),
    Constant("metal.cymbal_body_gain.at_10", 0.03, 2.0), _lin("metal.cymbal_body_gain.curve", -6.0, 6.0, 2.0),
    *_law_constants("metal.cymbal_bright_gain", 0.0, 4.0, log=False, sigma=1.0),
    Constant("metal.cymbal_bright_highpass_hz", 4000.0, 16000.0, sigma=0.5),
    Constant("metal.cymbal_bright_t60_s", 0.01, 2.0), *_law_constants("metal.cymbal_low_t60_s", 0.2, 30.0)]


def shunt_taper_curve(series_ohm: float, pot_ohm: float) -> float:
    """The :class:`KnobLaw` ``curve`` of a signal path that a linear pot's grounded wiper
    shunts: the path enters a node through ``series_ohm`` and leaves it through another
    ``series_ohm`` into the mixer's virtual ground, and the pot's track from the node to
    the wiper, ``(1 - u) pot_ohm``, shunts the node to ground.  The path's gain
    ``1 / (2 + series / R)`` falls to 0 as ``R -> 0``, mostly near that end; the curve puts the
    law's mid-rotation value where the divider's is (a fraction ``f`` of the whole change,
    ``1 / (exp(curve / 2) + 1) = f``)."""
    def gain(r: float) -> float:
        return 1.0 / (2.0 + series_ohm / r)
    f = 1.0 - gain(pot_ohm / 2) / gain(pot_ohm)
    return 2.0 * math.log(1.0 / f - 1.0)


#: The prior taper of the cymbal TONE pot's ring laws (the high-band fade and the ring's
#: level), from the circuit, not from the recordings: a linear 20 kOhm pot whose grounded
#: wiper shunts the ring's path, fed and summed through 22 kOhm each (VR-1 with R112/R119
#: on the minisystem/880 TR-808 clone, TR-808-Clone.net).  Curve 2.07: 26 % of the change
#: by mid-rotation, the rest near the end that the recordings at any two positions show is
#: the ring's quieter one (tone 10).  With the earlier priors (the fade linear, the ring's
#: level at curve 2) the fold without position 5 read the tone-5 recordings at 1.4-2.4 (now
#: 3.0-4.1), and cross-validated CY.tone was 1.69 against 1.05 with the same matcher
#: (bench_real808 --cv, RESULTS.md session 27).
CY_TONE_RING_CURVE = shunt_taper_curve(22e3, 20e3)


def _fit_envelopes(cal: Calibration, group: _Voice, log: FitLog) -> Calibration:
    constants = ENVELOPE_CONSTANTS[group.voice]
    if group.voice == "CY":
        # start the parts the feature fit does not know inside their ranges: the high band's
        # decay-following tail, the top band, and (since the top band changes what the
        # tone knob fades in) the tone law from a neutral linear fade
        m = cal.metal
        cal = with_constants(cal, "metal", cymbal_high_tail_mix=m.cymbal_high_tail_mix or 0.3,
                             cymbal_top_mix=m.cymbal_top_mix or 1.0,
                             cymbal_high_fixed_mix=m.cymbal_high_fixed_mix or 0.5,
                             cymbal_tone_high_mix=KnobLaw(0.3, 0.7, CY_TONE_RING_CURVE) if not m.cymbal_top_mix else m.cymbal_tone_high_mix)
    items = [(rec.knobs, audio) for rec, audio in group.items]
    cal = fit_constants(cal, items, constants, lambda c, knobs, n: render(group.voice, c, knobs, n),
                        log=log, label=group.voice)
    if group.voice == "CY":  # the tone pot's ring level and bright burst, on the refined bands
        cal = with_constants(cal, "metal", cymbal_body_gain=KnobLaw(1.0, 0.5, CY_TONE_RING_CURVE, exponent=0.0),
                             cymbal_bright_gain=KnobLaw(0.2, 0.6))
        cal = fit_constants(cal, items, CY_TONE_CONSTANTS, lambda c, knobs, n: render("CY", c, knobs, n),
                            log=log, label="CY tone")
    return cal


_FITS: dict[str, Callable[[Calibration, _Voice, FitLog], Calibration]] = {
    "BD": _fit_bd, "SD": _fit_sd, "LT": _fit_tom, "MT": _fit_tom, "HT": _fit_tom, "LC": _fit_tom,
    "MC": _fit_tom, "HC": _fit_tom, "CY": _fit_cy, "OH": _fit_oh, "CL": _fit_cl, "RS": _fit_rs,
}


def _pts(points: dict[float, float]) -> str:
    return ", ".join(f"{k:g}: {v:.4g}" for k, v in points.items())


def _law(law: KnobLaw) -> str:
    return f"at_0 {law.at_0:.4g}, at_10 {law.at_10:.4g}, curve {law.curve:.3f}, exponent {law.exponent:g}"


def fit_calibration(recordings: Sequence[Recording], name: Optional[str] = None, held_out: Optional[float] = None,
                    prior: Any = "legacy", log: Optional[FitLog] = None,
                    source: Optional[dict[str, Any]] = None, envelopes: bool = True) -> Calibration:
    """Fit the model's constants to ``recordings`` (see the module docstring).

    ``prior``: the calibration whose constants start the fit and act as the knob laws'
    prior (a name, path, dict or :class:`Calibration`). ``held_out``: only recorded in the
    result's name and source (the caller leaves those recordings out). ``source``: extra
    provenance stored with the result. Voices without recordings keep the prior's
    constants; every voice with recordings gets an output gain (early RMS, level 10).
    ``envelopes``: also fit :data:`ENVELOPE_CONSTANTS` by band envelopes (the default).
    """
    log = log or FitLog()
    cal = load_calibration(prior)
    by_voice: dict[str, list[Recording]] = {}
    for rec in recordings:
        by_voice.setdefault(rec.voice, []).append(rec)
    gains = {}
    for voice in sorted(by_voice, key=lambda v: TR808.voices.index(v)):
        group = _Voice(voice, by_voice[voice])
        if voice in _FITS:
            cal = _FITS[voice](cal, group, log)
        if voice in ENVELOPE_CONSTANTS and envelopes:
            cal = _fit_envelopes(cal, group, log)
        gains[voice] = _fit_gain(cal, group)
    label = name or ("fitted" if held_out is None else f"fitted-without-{held_out:g}")
    provenance = {"recordings": sorted(r.name for r in recordings), "held_out_position": held_out,
                  "fitted_on": datetime.date.today().isoformat(), "prior": cal.name if prior is None else str(
                      getattr(prior, "name", prior)),
                  "voices_kept_from_prior": [v for v in TR808.voices if v not in by_voice],
                  "note": "voices without recordings keep the prior's constants (and output gain 1)",
                  "knob_law_points": {key: {f"{k:g}": v for k, v in pts.items()} for key, pts in log.points.items()},
                  **(source or {})}
    cal = cal.replace(name=label, source=provenance, output_gain=gains)
    log("output gains: " + ", ".join(f"{v} {g:.3f}" for v, g in gains.items()))
    return cal
