"""The constants of the TR-808 model, as data: one :class:`Calibration` per measured unit.

:class:`synths.tr808.TR808` keeps each voice's circuit structure (resonators, oscillator
bank, filtered noise, envelopes) and reads every number it needs from a calibration: the
resonator frequencies and ring times, glides, filter cutoffs, noise levels, mix gains and
the knob laws (:class:`KnobLaw`: how a panel knob's 0-10 position moves one circuit value).

Calibrations ship as JSON files in ``synths/tr808_calibrations/`` (``NAME.json``):

* ``legacy``: the constants the model had before issue 14, estimates from circuit analyses
  and the service notes (kept to measure the change side by side);
* ``fischer-103852``: fitted to Michael Fischer's 1994 recordings of serial 103852 by
  ``scripts/calibrate_tr808.py`` (the default, :data:`DEFAULT_NAME`).

:func:`load_calibration` takes a shipped name, a path to a JSON file, a dict of the same
form or a :class:`Calibration`. A JSON file may leave out any constant: it then keeps the
legacy value. The file format::

    {"format": "synthmatch-tr808-calibration", "version": 1, "name": "my-unit",
     "source": {...free-form...},
     "constants": {"bass_drum": {"freq_hz": 50.1, "decay_t60_s": {"at_0": 0.1, "at_10": 3.6,
                   "curve": 1.2, "exponent": 1.0}, ...}, "snare": {...}, "toms": {"LT": {...}},
                   "metal": {...}, "cowbell": {...}, "rim_shot": {...}, "claves": {...},
                   "clap": {...}, "maracas": {...}},
     "output_gain": {"BD": 1.1, ...}}
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Union

import torch

FORMAT_NAME = "synthmatch-tr808-calibration"
FORMAT_VERSION = 1
#: Where the shipped calibrations live (one ``NAME.json`` each).
CALIBRATION_DIR = Path(__file__).resolve().parent / "tr808_calibrations"
#: The calibration a TR-808 voice uses when none is given.
DEFAULT_NAME = "fischer-103852"
#: The pre-issue-14 constants (presets written before the ``calibration`` field render with it).
LEGACY_NAME = "legacy"


class CalibrationError(ValueError):
    """A calibration that cannot be found or read; the message names the file or key."""


# ------------------------------------------------------------------------------ knob laws
@dataclass(frozen=True)
class KnobLaw:
    """How a 0-10 panel knob sets one circuit value.

    The knob turns a potentiometer; ``curve`` is its taper: the wiper fraction is
    ``u = expm1(curve * k / 10) / expm1(curve)`` (``curve = 0``: a linear pot, ``u = k / 10``;
    ``curve > 0``: an audio-like taper, slow at first). The circuit value is ``at_0`` at
    k = 0 and ``at_10`` at k = 10 and moves linearly in ``u`` in the domain
    ``value ** exponent`` (``exponent = 0``: the logarithm). Examples: a time constant
    ``R C`` with the pot as ``R``: ``exponent = 1``; a bridged-T resonance
    ``f ~ 1 / sqrt(R)``: ``exponent = -2``; a geometric sweep: ``exponent = 0``.

    Smooth and strictly monotone in k whenever ``at_0 != at_10``, with a finite, non-zero
    derivative over the whole 0-10 range.
    """

    at_0: float
    at_10: float
    curve: float = 0.0
    exponent: float = 1.0

    def __post_init__(self) -> None:
        for name in ("at_0", "at_10", "curve", "exponent"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise CalibrationError(f"knob law: {name} must be a finite number, got {value!r}")
        if self.exponent != 1.0 and min(self.at_0, self.at_10) <= 0:
            raise CalibrationError(f"knob law: exponent {self.exponent:g} needs at_0 and at_10 > 0, "
                                   f"got {self.at_0:g} and {self.at_10:g}")

    def taper(self, knob: torch.Tensor) -> torch.Tensor:
        """The wiper fraction ``u`` in [0, 1] of knob positions ``[...]`` (0-10)."""
        if abs(self.curve) < 1e-9:
            return knob / 10.0
        return torch.expm1(self.curve * knob / 10.0) / math.expm1(self.curve)

    def _forward(self, x: float) -> float:
        return math.log(x) if self.exponent == 0 else x ** self.exponent

    def __call__(self, knob: torch.Tensor) -> torch.Tensor:
        """The circuit value at knob positions ``knob`` ``[...]`` (same shape and dtype)."""
        u = self.taper(knob)
        low, high = self._forward(self.at_0), self._forward(self.at_10)
        y = low + (high - low) * u
        if self.exponent == 0:
            return torch.exp(y)
        if self.exponent == 1:
            return y
        return torch.pow(y, 1.0 / self.exponent)

    def value(self, knob: float) -> float:
        """The circuit value at one knob position (a float)."""
        return float(self(torch.tensor(float(knob), dtype=torch.float64)))


# ------------------------------------------------------------------------------ voice constants
@dataclass(frozen=True)
class Resonator:
    """A bridged-T resonator rung by the trigger pulse: ``gain * sin(phase(t)) * 10^(-3 t / t60)``.

    ``glide_depth``: relative extra frequency at the attack, decaying with ``glide_time_s``
    (the frequency falls as ``f * (1 + depth * exp(-t / glide_time))``).
    """

    freq_hz: float
    t60_s: float
    glide_depth: float = 0.0
    glide_time_s: float = 0.01
    gain: float = 1.0


@dataclass(frozen=True)
class BassDrum:
    """Bass drum: a gliding bridged-T sine (decay knob: its T60) plus the trigger click
    through the tone stage's first-order low-pass (tone knob: its cutoff)."""

    # Werner et al. DAFx 2014: the bridged-T rings near 49-56 Hz (stock tuning trimmer), with a
    # glide downward during and right after the ~1 ms trigger pulse.
    freq_hz: float = 49.0
    glide_depth: float = 0.12
    glide_time_s: float = 0.02
    # decay knob: feedback around the bridged-T sets its damping / ring time (Werner et al. 2014).
    decay_t60_s: KnobLaw = KnobLaw(0.15, 1.2, exponent=0.0)
    # tone knob: first-order low-pass on the pulse/click path (Werner et al. 2014, "tone stage").
    tone_cutoff_hz: KnobLaw = KnobLaw(250.0, 7000.0, exponent=0.0)
    click_width_s: float = 0.001  # trigger pulse width, ~1 ms (Werner et al. 2014)
    click_gain: float = 0.45
    body_gain: float = 0.9


@dataclass(frozen=True)
class Snare:
    """Snare: two bridged-T resonators (~180 Hz and ~330 Hz) mixed by the TONE pot's wiper,
    plus high-passed white noise ("snappy") with its own decay envelope."""

    low: Resonator = Resonator(180.0, 0.22, glide_depth=0.05, glide_time_s=0.01)
    high: Resonator = Resonator(330.0, 0.13, glide_depth=0.05, glide_time_s=0.01)
    body_gain: float = 0.75
    # tone knob: the wiper's share of the high resonator (the low one gets 1 - share).
    tone_high_share: KnobLaw = KnobLaw(0.2, 0.8)
    # the wiper's load: the body's gain is ``1 / (1 + tone_load * u * (1 - u))`` at wiper
    # fraction ``u`` (the pot's two halves in parallel, ``u (1 - u) R_pot``, drive the next
    # stage's input resistance ``R_pot / tone_load``); 0 = an unloaded wiper (no dip at mid)
    tone_load: float = 0.0
    # the body's gain at tone 10 against tone 0, geometric in between, before the load's dip
    # (1: the legacy model)
    tone_body_tilt: float = 1.0
    noise_highpass_hz: float = 1200.0
    # a second-order low-pass on the noise (0 = none; the real unit's noise falls above ~8 kHz)
    noise_lowpass_hz: float = 0.0
    noise_t60_s: float = 0.28
    # a slower second stage of the noise envelope, ``tail_mix`` of its peak amplitude (0 = none):
    # on the real unit the noise falls at noise_t60_s to ~-55 dB, then slower
    noise_tail_mix: float = 0.0
    noise_tail_t60_s: float = 0.5
    # snappy knob: RMS of the noise at its peak (an audio-taper level pot, 0 at k = 0).
    snappy_noise_rms: KnobLaw = KnobLaw(0.0, 0.14, curve=3.0)


@dataclass(frozen=True)
class Tom:
    """Tom/conga: one gliding resonator (tuning knob: its final frequency) plus, on toms,
    a little low-passed noise with a short envelope."""

    tuning_hz: KnobLaw
    t60_s: float
    glide_depth: float
    glide_time_s: float
    noise_rms: float = 0.0
    noise_lowpass_hz: float = 1500.0
    noise_t60_s: float = 0.12
    body_gain: float = 0.85
    # even-order distortion of the output transistor: body + second_harmonic * body^2 / body_gain
    # (0 = a pure sine; the real unit's toms carry a 2nd harmonic ~15-20 dB down)
    second_harmonic: float = 0.0
    # the attack click: the trigger pulse (click_width_s, height click_gain) that rings the
    # resonator, also heard directly through a first-order low-pass at click_cutoff_hz (as the
    # bass drum's click; no knob acts on it).  The real unit's toms hold 15-30 dB more above
    # 500 Hz in their first 5 ms than the resonator alone (0 = no click, the legacy model)
    click_gain: float = 0.0
    click_width_s: float = 0.001
    click_cutoff_hz: float = 2000.0


def _legacy_toms() -> dict[str, Tom]:
    # Tuning ranges: approximate figures commonly quoted for stock units (the congas are the
    # tom circuits retuned higher, without the noise path, per the service notes).
    return {
        "LT": Tom(KnobLaw(80.0, 100.0, exponent=0.0), 0.75, 0.12, 0.03, noise_rms=0.05),
        "MT": Tom(KnobLaw(120.0, 160.0, exponent=0.0), 0.55, 0.12, 0.03, noise_rms=0.05),
        "HT": Tom(KnobLaw(165.0, 220.0, exponent=0.0), 0.45, 0.12, 0.03, noise_rms=0.05),
        "LC": Tom(KnobLaw(165.0, 220.0, exponent=0.0), 0.35, 0.06, 0.02),
        "MC": Tom(KnobLaw(250.0, 310.0, exponent=0.0), 0.25, 0.06, 0.02),
        "HC": Tom(KnobLaw(370.0, 455.0, exponent=0.0), 0.22, 0.06, 0.02),
    }


@dataclass(frozen=True)
class Metal:
    """Hi-hats and cymbal: the six-square oscillator bank through two band-passes."""

    # Six Schmitt-trigger square oscillators (Werner et al., cymbal paper ICMC 2014 / service notes).
    oscillators_hz: tuple[float, ...] = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)
    low_band_hz: float = 3440.0
    low_band_q: float = 2.0
    high_band_hz: float = 7100.0
    high_band_q: float = 3.0
    # Hi-hats: both bands (low band weaker) -> VCA -> high-pass.
    hat_low_band_mix: float = 0.35
    hat_highpass_hz: float = 6000.0
    hat_rms: float = 0.25
    closed_hat_t60_s: float = 0.09
    open_hat_t60_s: KnobLaw = KnobLaw(0.18, 1.2, exponent=0.0)
    # The hat VCA is a transistor that stops conducting when its control voltage (the
    # exponential envelope e(t), 1 at the hit) falls below a threshold: the gain is
    # softplus((e - threshold) / knee) * knee / (1 - threshold), a smooth cut-off at
    # e = threshold; threshold 0 = no cut-off (a plain exponential).
    # With ``open_hat_hold_t60_s`` > 0 the VCA is a switch instead: the sound decays with that
    # fixed T60 and the envelope only gates it, ``sigmoid((e - threshold) / knee)`` (1 at the
    # hit): the decay knob then sets when the sound is cut off, not how fast it falls before
    # (the unit's OH at decay 5 and 10 fall alike, -8.5 dB by 280-320 ms, and cut off at
    # ~0.35 and ~0.6 s).
    open_hat_vca_threshold: float = 0.0
    open_hat_vca_knee: float = 0.01
    open_hat_hold_t60_s: float = 0.0
    # Cymbal: low band through two envelopes (long "low", shorter "mid"), high band short;
    # tone knob balances low/mid vs high.
    cymbal_low_highpass_hz: float = 2500.0
    cymbal_high_highpass_hz: float = 5000.0
    cymbal_low_t60_s: KnobLaw = KnobLaw(0.6, 2.4, exponent=0.0)
    cymbal_mid_t60_ratio: float = 0.35
    cymbal_mid_mix: float = 0.5
    cymbal_high_t60_s: float = 0.3
    # The part of the high band's envelope that follows the decay knob: its envelope is
    # (1 - tail_mix) * 10^(-3 t / high_t60) + tail_mix * 10^(-3 t / (tail_ratio * low_t60(decay))).
    # 0 = a fixed short envelope (legacy). On serial 103852 every band of the cymbal, the
    # highest included, rings longer as the decay knob turns up.
    cymbal_high_tail_mix: float = 0.0
    cymbal_high_tail_t60_ratio: float = 1.0
    # The cymbal's third band: the bank high-passed (second order) at top_highpass_hz, added
    # to the high (7.1 kHz) band at top_mix of its RMS, with its envelopes; the tone knob fades
    # both against the low band. 0 = none (legacy). The unit's cymbal has most of its
    # brightness above 8 kHz, where a band-pass at 7.1 kHz has little.
    cymbal_top_mix: float = 0.0
    cymbal_top_highpass_hz: float = 9000.0
    # The part of the high (7.1 kHz) band outside the tone knob's fade, always present at
    # this gain (0 = none, legacy): on the unit the 6-8 kHz peak stays through the tone range
    # while the tone knob trades 2-5 kHz for 8-16 kHz.
    cymbal_high_fixed_mix: float = 0.0
    cymbal_tone_high_mix: KnobLaw = KnobLaw(0.15, 0.85)
    # The tone pot's other two effects on serial 103852 (bench_real808, issue 14): turning it
    # from 0 to 5 adds a short burst above ~10 kHz (+4-6 dB in 10-20 kHz over the first 50 ms)
    # and leaves the ring alone; from 5 to 10 it lowers the whole ring, every band, by 5-11 dB.
    # body_gain multiplies everything above (the faded bands and the fixed part); the bright
    # burst is the bank high-passed twice (4th order) at bright_highpass_hz, at bright_gain of
    # cymbal_rms, under its own envelope (bright_t60_s). None (JSON null): neither (legacy).
    cymbal_body_gain: Optional[KnobLaw] = None
    cymbal_bright_gain: Optional[KnobLaw] = None
    cymbal_bright_highpass_hz: float = 10000.0
    cymbal_bright_t60_s: float = 0.3
    cymbal_rms: float = 0.3
    # The cymbal's VCAs cut off (:func:`synths.dsp.vca_gate`) when the decay knob's envelope
    # 10^(-3 t / low_t60(decay)) falls below this threshold (0 = never, legacy): on serial
    # 103852 the cymbal falls steadily to ~-40 dB at every decay setting, then ~25 dB within
    # 0.2 s.
    cymbal_vca_threshold: float = 0.0
    cymbal_vca_knee: float = 0.003


@dataclass(frozen=True)
class Cowbell:
    # Werner et al., "More cowbell" (AES 2014): the 540 Hz and 800 Hz squares of the bank,
    # summed, through a band-pass near 2.64 kHz, with a two-stage (fast then slow) envelope.
    oscillators_hz: tuple[float, ...] = (540.0, 800.0)
    bandpass_hz: float = 2640.0
    bandpass_q: float = 1.0
    fast_t60_s: float = 0.05
    slow_t60_s: float = 0.55
    fast_mix: float = 0.65
    peak: float = 0.8


@dataclass(frozen=True)
class RimShot:
    # Service notes: two bridged-T resonators (~500 Hz, ~1.7 kHz), very short decay, summed and
    # driven into a saturating transistor stage (tanh), then high-passed.
    low: Resonator = Resonator(500.0, 0.045)
    high: Resonator = Resonator(1700.0, 0.03, gain=0.8)
    drive: float = 3.0
    highpass_hz: float = 300.0
    peak: float = 0.8


@dataclass(frozen=True)
class Claves:
    # Service notes: one bridged-T resonator at ~2.5 kHz, short ring.
    resonator: Resonator = Resonator(2500.0, 0.12)
    peak: float = 0.8


@dataclass(frozen=True)
class Clap:
    # Service notes: white noise -> band-pass (~1 kHz) -> the re-triggered sawtooth envelope
    # (bursts ~10 ms apart) plus a slower "reverb" envelope, summed.
    bandpass_hz: float = 1000.0
    bandpass_q: float = 1.5
    burst_times_s: tuple[float, ...] = (0.0, 0.0105, 0.021, 0.0315)
    burst_t60_s: tuple[float, ...] = (0.03, 0.03, 0.03, 0.09)
    reverb_attack_s: float = 0.004
    reverb_t60_s: float = 0.35
    reverb_mix: float = 0.3
    peak: float = 0.8


@dataclass(frozen=True)
class Maracas:
    # Service notes: white noise -> high-pass (~5 kHz) -> short attack/decay envelope.
    highpass_hz: float = 5000.0
    attack_s: float = 0.003
    t60_s: float = 0.09
    peak: float = 0.7


#: The voices each constants section serves.
SECTION_VOICES: dict[str, tuple[str, ...]] = {
    "bass_drum": ("BD",), "snare": ("SD",), "toms": ("LT", "MT", "HT", "LC", "MC", "HC"),
    "metal": ("CY", "OH", "CH"), "cowbell": ("CB",), "rim_shot": ("RS",), "claves": ("CL",),
    "clap": ("CP",), "maracas": ("MA",),
}
_VOICE_ORDER = ("BD", "SD", "LT", "MT", "HT", "LC", "MC", "HC", "CY", "OH", "CH", "RS", "CL", "CP", "MA", "CB")


@dataclass(frozen=True)
class Calibration:
    """All constants of the TR-808 model, with where they came from.

    ``output_gain``: per voice, a gain after the level knob (the unit's output level at
    level 10 relative to the model's; 1.0 for voices not listed). ``source``: free-form
    provenance (unit serial, recordings, credit, date, fitting command).
    """

    name: str
    source: Mapping[str, Any] = field(default_factory=dict)
    bass_drum: BassDrum = BassDrum()
    snare: Snare = Snare()
    toms: Mapping[str, Tom] = field(default_factory=_legacy_toms)
    metal: Metal = Metal()
    cowbell: Cowbell = Cowbell()
    rim_shot: RimShot = RimShot()
    claves: Claves = Claves()
    clap: Clap = Clap()
    maracas: Maracas = Maracas()
    output_gain: Mapping[str, float] = field(default_factory=dict)

    def gain(self, voice: str) -> float:
        """The output gain of one voice (1.0 unless the calibration sets it)."""
        return float(self.output_gain.get(voice, 1.0))

    def replace(self, **changes: Any) -> "Calibration":
        """A copy with some top-level fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (complete: every constant written)."""
        constants = {name: _plain(getattr(self, name)) for name in SECTION_VOICES}
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "name": self.name,
                "source": dict(self.source), "constants": constants,
                "output_gain": {v: float(self.output_gain[v]) for v in _VOICE_ORDER if v in self.output_gain}}

    def save(self, path: Union[str, Path]) -> Path:
        """Write the JSON form to ``path``."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: Any, source: str = "calibration") -> "Calibration":
        """Build from the JSON form; missing constants keep their legacy value; an unknown
        key or a wrong type raises :class:`CalibrationError` naming ``source`` and the key."""
        if not isinstance(data, Mapping):
            raise CalibrationError(f"{source}: a calibration must be a JSON object, got {type(data).__name__}")
        if data.get("format", FORMAT_NAME) != FORMAT_NAME:
            raise CalibrationError(f"{source}: not a TR-808 calibration (format {data.get('format')!r})")
        if data.get("version", FORMAT_VERSION) != FORMAT_VERSION:
            raise CalibrationError(f"{source}: unsupported calibration version {data.get('version')!r}; "
                                   f"this program reads {FORMAT_VERSION}")
        unknown = sorted(set(data) - {"format", "version", "name", "source", "constants", "output_gain"})
        if unknown:
            raise CalibrationError(f"{source}: unknown key {unknown[0]!r}; keys: format, version, name, "
                                   "source, constants, output_gain")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise CalibrationError(f"{source}: 'name' must be a non-empty string, got {name!r}")
        if not isinstance(data.get("source", {}), Mapping):
            raise CalibrationError(f"{source}: 'source' must be an object")
        constants = data.get("constants", {})
        if not isinstance(constants, Mapping):
            raise CalibrationError(f"{source}: 'constants' must be an object")
        extra = sorted(set(constants) - set(SECTION_VOICES))
        if extra:
            raise CalibrationError(f"{source}: unknown key 'constants.{extra[0]}'; sections: "
                                   + ", ".join(SECTION_VOICES))
        base = cls(name=name)
        sections: dict[str, Any] = {}
        for section, value in constants.items():
            where = f"{source}: constants.{section}"
            if section == "toms":
                if not isinstance(value, Mapping):
                    raise CalibrationError(f"{where} must be an object of voices")
                bad = sorted(set(value) - set(SECTION_VOICES["toms"]))
                if bad:
                    raise CalibrationError(f"{where}: unknown voice {bad[0]!r}; voices: "
                                           + ", ".join(SECTION_VOICES["toms"]))
                toms = dict(base.toms)
                for voice, tom in value.items():
                    toms[voice] = _build(Tom, tom, f"{where}.{voice}", toms[voice])
                sections["toms"] = toms
            else:
                sections[section] = _build(type(getattr(base, section)), value, where, getattr(base, section))
        gains = data.get("output_gain", {})
        if not isinstance(gains, Mapping) or any(v not in _VOICE_ORDER for v in gains):
            raise CalibrationError(f"{source}: 'output_gain' must map voice names ({', '.join(_VOICE_ORDER)}) "
                                   f"to numbers, got {gains!r}")
        for voice, gain in gains.items():
            if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not gain > 0:
                raise CalibrationError(f"{source}: output_gain.{voice} must be a number > 0, got {gain!r}")
        return dataclasses.replace(base, source=dict(data.get("source", {})), output_gain=dict(gains), **sections)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _build(cls: type, data: Any, where: str, default: Any) -> Any:
    """A ``cls`` instance from a partial dict: missing fields keep ``default``'s values."""
    if not isinstance(data, Mapping):
        raise CalibrationError(f"{where} must be an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise CalibrationError(f"{where}: unknown key {unknown[0]!r}; keys: {', '.join(names)}")
    values = {}
    for name, value in data.items():
        kind, key = hints[name], f"{where}.{name}"
        if typing.get_origin(kind) is typing.Union:  # Optional[a dataclass]: null or an object
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
            if value is None:
                values[name] = None
                continue
            base = getattr(default, name)
            if base is None:  # nothing to inherit: the fields without a default must be given
                if not isinstance(value, Mapping):
                    raise CalibrationError(f"{key} must be an object or null, got {type(value).__name__}")
                required = [f.name for f in dataclasses.fields(kind) if f.default is dataclasses.MISSING]
                missing = [f for f in required if f not in value]
                if missing:
                    raise CalibrationError(f"{key}: missing key {missing[0]!r}")
                try:
                    base = kind(**{f: value[f] for f in required})
                except CalibrationError as error:
                    raise CalibrationError(f"{key}: {error}") from None
            values[name] = _build(kind, value, key, base)
            continue
        if dataclasses.is_dataclass(kind):
            values[name] = _build(kind, value, key, getattr(default, name))
            continue
        if typing.get_origin(kind) is tuple:
            if not isinstance(value, (list, tuple)) or not all(_is_number(v) for v in value):
                raise CalibrationError(f"{key} must be a list of numbers, got {value!r}")
            values[name] = tuple(float(v) for v in value)
            continue
        if not _is_number(value):
            raise CalibrationError(f"{key} must be a finite number, got {value!r}")
        values[name] = float(value)
    try:
        return dataclasses.replace(default, **values)
    except CalibrationError as error:
        raise CalibrationError(f"{where}: {error}") from None


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


# ------------------------------------------------------------------------------ selection
CalibrationLike = Union[str, Path, Mapping[str, Any], Calibration, None]


def shipped_calibrations() -> list[str]:
    """Names of the calibrations that ship with the package (``legacy`` always among them)."""
    names = {p.stem for p in CALIBRATION_DIR.glob("*.json")} if CALIBRATION_DIR.is_dir() else set()
    return sorted(names | {LEGACY_NAME})


_cache: dict[str, Calibration] = {}


def load_calibration(calibration: CalibrationLike = None) -> Calibration:
    """A :class:`Calibration` from a shipped name, a JSON file's path, a dict or itself.

    ``None`` means the current default (:data:`DEFAULT_NAME`, or the one set by
    :func:`default_calibration`). A calibration given as a dict or object is known by its
    name for the rest of the process (so a preset made with it reloads in the process; a
    preset file that names it elsewhere needs the JSON file's path). A string that names no
    shipped or known calibration and no existing file raises :class:`CalibrationError`
    listing the shipped names.
    """
    if calibration is None:
        calibration = _default[-1]
    if isinstance(calibration, Mapping):
        calibration = Calibration.from_dict(calibration, source="calibration dict")
    if isinstance(calibration, Calibration):
        # known by its name for the rest of the process (a preset that records the name
        # renders with it), unless the name is a shipped calibration's
        if calibration.name not in shipped_calibrations():
            _cache[calibration.name] = calibration
        return calibration
    if not isinstance(calibration, (str, Path)):
        raise CalibrationError(f"calibration must be a name, a JSON file path, a dict or a Calibration, "
                               f"got {type(calibration).__name__}")
    text = str(calibration)
    if text in _cache:
        return _cache[text]
    if text == LEGACY_NAME:
        result = Calibration(name=LEGACY_NAME, source={"description": "the constants before issue 14: "
                             "circuit-analysis values and estimates (see synths/tr808_calibration.py)"})
    else:
        path = CALIBRATION_DIR / f"{text}.json" if "/" not in text and not text.endswith(".json") else Path(text)
        if not path.is_file():
            raise CalibrationError(f"{text}: no such TR-808 calibration (shipped: {', '.join(shipped_calibrations())}; "
                                   "or give a JSON file's path)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CalibrationError(f"{path}: cannot read calibration ({error})") from None
        result = Calibration.from_dict(data, source=str(path))
        if path.parent != CALIBRATION_DIR:
            return result  # a user's file is read again each time (it may change)
    _cache[text] = result
    return result


_default: list[CalibrationLike] = [DEFAULT_NAME]


@contextlib.contextmanager
def default_calibration(calibration: CalibrationLike) -> Iterator[Calibration]:
    """Within the ``with`` block, TR-808 voices built without a ``calibration`` use this one
    (how a benchmark matches with a calibration through code that builds its own synths)."""
    resolved = load_calibration(calibration)
    _default.append(resolved)
    try:
        yield resolved
    finally:
        _default.pop()
