"""Roland TR-808: one voice per instrument, with the real front-panel knobs (0-10).

Each voice follows the analog circuit as the published analyses describe it, in closed form:

* bridged-T resonators excited by the trigger pulse are damped sinusoids (their impulse
  response), with the small downward pitch glide of the bass drum and toms as the pulse
  briefly shifts the resonator's bias (Werner, Abel & Smith, "A physically-informed,
  circuit-bendable, digital model of the Roland TR-808 bass drum circuit", DAFx 2014);
* the metallic voices (hats, cymbal, cowbell) use the six square-wave oscillators of the
  808's Schmitt-trigger bank, band-passed (Werner, Abel & Smith, "More cowbell: a
  physically-informed, circuit-bendable, digital model of the TR-808 cowbell", AES 2014, and
  "The TR-808 cymbal: a physically-informed, circuit-bendable, digital model", ICMC 2014);
* noise voices (snare "snappy", clap, maracas) are filtered white noise with the 808's
  envelopes (Roland TR-808 Service Notes, 1981, circuit descriptions).

Everything that no knob changes (the oscillator bank, filtered noise, fixed envelopes, the
swept-phase time warp) is a constant buffer built once per synth instance; the forward pass
only combines them with per-item envelopes and gains, so it is a handful of element-wise
ops on ``[batch, n_samples]`` (no per-sample loops, no per-item loops, no loop over
oscillators). Envelopes that in the circuit sit before a fixed high-pass filter are applied
after it here (the filters ring for well under a millisecond at those cutoffs).

All figures below are approximate: circuit-analysis values where the papers give them,
otherwise measurements of / estimates from the service-manual schematics, as commented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from . import dsp
from .base import Synth
from .params import ParamSpec, knob

# ---------------------------------------------------------------------------- voice data

#: The 16 voices in panel order.
VOICES: tuple[str, ...] = ("BD", "SD", "LT", "MT", "HT", "LC", "MC", "HC",
                           "CY", "OH", "CH", "RS", "CL", "CP", "MA", "CB")

#: Full instrument names.
VOICE_NAMES: dict[str, str] = {
    "BD": "bass drum", "SD": "snare drum", "LT": "low tom", "MT": "mid tom", "HT": "high tom",
    "LC": "low conga", "MC": "mid conga", "HC": "high conga", "CY": "cymbal",
    "OH": "open hi-hat", "CH": "closed hi-hat", "RS": "rim shot", "CL": "claves",
    "CP": "hand clap", "MA": "maracas", "CB": "cowbell",
}

_LEVEL = ("level", "output level (audio taper; 0 is silent)", 8.0)
_TUNING = ("tuning", "pitch of the resonator (higher knob = higher pitch)", 5.0)

#: Front-panel knobs of each voice: ``(name, description, default)`` (TR-808 panel; the
#: toms/congas share one tuning knob per pair via the LT/LC etc. switches on the panel).
VOICE_KNOBS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "BD": (_LEVEL, ("tone", "brightness of the attack click (tone low-pass cutoff)", 5.0),
           ("decay", "ring time of the bridged-T resonator", 5.0)),
    "SD": (_LEVEL, ("tone", "balance of the low (~180 Hz) vs high (~330 Hz) resonator", 5.0),
           ("snappy", "level of the high-passed noise (snares)", 5.0)),
    "LT": (_LEVEL, _TUNING), "MT": (_LEVEL, _TUNING), "HT": (_LEVEL, _TUNING),
    "LC": (_LEVEL, _TUNING), "MC": (_LEVEL, _TUNING), "HC": (_LEVEL, _TUNING),
    "CY": (_LEVEL, ("tone", "balance of the low (3.44 kHz) vs high (7.1 kHz) band", 5.0),
           ("decay", "decay time of the low/mid-band envelopes", 5.0)),
    "OH": (_LEVEL, ("decay", "decay time of the envelope", 5.0)),
    "CH": (_LEVEL,), "RS": (_LEVEL,), "CL": (_LEVEL,), "CP": (_LEVEL,), "MA": (_LEVEL,), "CB": (_LEVEL,),
}

#: Default render length per voice in seconds (long enough for the longest decay setting to
#: fall well below -40 dB).
VOICE_DURATIONS: dict[str, float] = {
    "BD": 1.0, "SD": 0.5, "LT": 0.8, "MT": 0.6, "HT": 0.5, "LC": 0.4, "MC": 0.3, "HC": 0.3,
    "CY": 2.0, "OH": 1.0, "CH": 0.25, "RS": 0.15, "CL": 0.3, "CP": 0.6, "MA": 0.2, "CB": 0.6,
}


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
    # Werner et al. DAFx 2014: the bridged-T rings near 49-56 Hz (stock tuning trimmer), with a
    # small glide downward during and right after the ~1 ms trigger pulse.
    freq_hz: float = 49.0
    glide_depth: float = 0.12
    glide_time_s: float = 0.02
    # decay knob: feedback around the bridged-T sets its damping / ring time (Werner et al.
    # 2014). The T60 range is an estimate matched by ear to recordings of stock units.
    decay_t60_range_s: tuple[float, float] = (0.15, 1.2)
    # tone knob: first-order low-pass on the pulse/click path (Werner et al. 2014, "tone stage");
    # the cutoff range is an estimate.
    tone_cutoff_range_hz: tuple[float, float] = (250.0, 7000.0)
    click_width_s: float = 0.001  # trigger pulse width, ~1 ms (Werner et al. 2014)
    click_gain: float = 0.45  # mix gains: chosen for a 0.1-1.5 peak range (not from a source)
    body_gain: float = 0.9


@dataclass(frozen=True)
class Snare:
    # Service notes / circuit analyses: two bridged-T resonators, ~180 Hz and ~330 Hz; the
    # decay times, glide and noise figures below are estimates.
    low: Resonator = Resonator(180.0, 0.22, glide_depth=0.05, glide_time_s=0.01)
    high: Resonator = Resonator(330.0, 0.13, glide_depth=0.05, glide_time_s=0.01)
    body_gain: float = 0.75
    # tone knob: resonator balance, low gain 0.8 -> 0.2 across the knob (high the rest).
    tone_balance_range: tuple[float, float] = (0.8, 0.2)
    # snappy: white noise -> high-pass (~1.2 kHz est.) -> VCA with its own decay envelope.
    noise_highpass_hz: float = 1200.0
    noise_t60_s: float = 0.28
    noise_rms: float = 0.14


@dataclass(frozen=True)
class Tom:
    """Tom/conga: one gliding resonator (tuning sets its final frequency) plus, on toms,
    a little low-passed ("pink-ish") noise with a short envelope."""

    tuning_range_hz: tuple[float, float]
    t60_s: float
    glide_depth: float
    glide_time_s: float
    noise_rms: float = 0.0
    noise_lowpass_hz: float = 1500.0
    noise_t60_s: float = 0.12
    body_gain: float = 0.85


#: Tuning ranges: approximate figures commonly quoted for stock units (the congas are the
#: tom circuits retuned higher, without the noise path, per the service notes); decay
#: times and glide depths are estimates, not measured.
TOMS: dict[str, Tom] = {
    "LT": Tom((80.0, 100.0), 0.75, 0.12, 0.03, noise_rms=0.05),
    "MT": Tom((120.0, 160.0), 0.55, 0.12, 0.03, noise_rms=0.05),
    "HT": Tom((165.0, 220.0), 0.45, 0.12, 0.03, noise_rms=0.05),
    "LC": Tom((165.0, 220.0), 0.35, 0.06, 0.02),
    "MC": Tom((250.0, 310.0), 0.25, 0.06, 0.02),
    "HC": Tom((370.0, 455.0), 0.22, 0.06, 0.02),
}


@dataclass(frozen=True)
class Metal:
    # Six Schmitt-trigger square oscillators (Werner et al., cymbal paper ICMC 2014 / service notes).
    oscillators_hz: tuple[float, ...] = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)
    # Two band-pass filters on the summed bank (cymbal paper): ~3.44 kHz and ~7.1 kHz; the
    # Q values, envelope times and high-pass cutoffs below are estimates.
    low_band_hz: float = 3440.0
    low_band_q: float = 2.0
    high_band_hz: float = 7100.0
    high_band_q: float = 3.0
    # Hi-hats: both bands (low band weaker) -> VCA -> high-pass (~6 kHz est. from schematic).
    hat_low_band_mix: float = 0.35
    hat_highpass_hz: float = 6000.0
    hat_rms: float = 0.25
    closed_hat_t60_s: float = 0.09
    open_hat_t60_range_s: tuple[float, float] = (0.18, 1.2)
    # Cymbal: low band through two envelopes (long "low", shorter "mid"), high band short;
    # tone knob balances low/mid vs high; final high-passes (est.).
    cymbal_low_highpass_hz: float = 2500.0
    cymbal_high_highpass_hz: float = 5000.0
    cymbal_low_t60_range_s: tuple[float, float] = (0.6, 2.4)
    cymbal_mid_t60_ratio: float = 0.35
    cymbal_mid_mix: float = 0.5
    cymbal_high_t60_s: float = 0.3
    cymbal_tone_high_mix_range: tuple[float, float] = (0.15, 0.85)
    cymbal_rms: float = 0.3


@dataclass(frozen=True)
class Cowbell:
    # Werner et al., "More cowbell" (AES 2014): the 540 Hz and 800 Hz squares of the bank,
    # summed, through a band-pass near 2.64 kHz, with a two-stage (fast then slow) envelope.
    oscillators_hz: tuple[float, float] = (540.0, 800.0)
    bandpass_hz: float = 2640.0
    bandpass_q: float = 1.0
    fast_t60_s: float = 0.05
    slow_t60_s: float = 0.55
    fast_mix: float = 0.65
    peak: float = 0.8


@dataclass(frozen=True)
class RimShot:
    # Service notes: two bridged-T resonators (~500 Hz, ~1.7 kHz) with very short decay, summed
    # and driven into a transistor stage that saturates (modelled with tanh), then high-passed.
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
    # Service notes: white noise -> band-pass (~1 kHz) -> two VCAs: one driven by the
    # re-triggered sawtooth envelope (3-4 quick bursts ~10 ms apart), one by a slower
    # "reverb" envelope; summed.
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
    # Service notes: white noise -> high-pass (~5 kHz est.) -> short attack/decay envelope.
    highpass_hz: float = 5000.0
    attack_s: float = 0.003
    t60_s: float = 0.09
    peak: float = 0.7


BASS_DRUM = BassDrum()
SNARE = Snare()
METAL = Metal()
COWBELL = Cowbell()
RIM_SHOT = RimShot()
CLAVES = Claves()
CLAP = Clap()
MARACAS = Maracas()

# Noise streams (one per use, so voices never share noise).
_STREAM = {"SD": 1, "TOM": 2, "CP": 3, "CP_REVERB": 4, "MA": 5, "OSC_PHASE": 6}

_F64 = torch.empty(0, dtype=torch.float64)  # "like" for float64 CPU master buffers


class TR808(Synth):
    """Roland TR-808 rhythm composer: 16 circuit-modelled voices with their panel knobs (0-10)."""

    name = "tr808"
    voices = VOICES
    default_voice = "BD"
    default_sample_rate = 44100

    @classmethod
    def voice_param_specs(cls, voice: Optional[str]) -> tuple[ParamSpec, ...]:
        return tuple(knob(name, description, default) for name, description, default in VOICE_KNOBS[voice])

    @classmethod
    def voice_duration(cls, voice: Optional[str]) -> float:
        return VOICE_DURATIONS[voice]

    # ------------------------------------------------------------------ constant buffers
    def _const(self, key: object, like: torch.Tensor, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        """A buffer built once in float64 on the CPU, then cached in ``like``'s device/dtype."""
        master = self.cached_buffer(key, _F64, make)
        return self.cached_buffer(key, like, lambda: master)

    def _t64(self) -> torch.Tensor:
        return self.time_axis(_F64)

    def _cutoff(self, hz: float) -> float:
        return dsp.soft_cutoff_limit(hz, self.sample_rate)

    def _filter(self, signal: torch.Tensor, kind: str, hz: float, q: float = 1 / math.sqrt(2)) -> torch.Tensor:
        """Fixed RBJ biquad on a float64 CPU signal ``[n]`` -> ``[n]``."""
        cutoff = torch.tensor([self._cutoff(hz)], dtype=torch.float64)
        return dsp.biquad_filter(signal.unsqueeze(0), kind, cutoff, torch.tensor([q], dtype=torch.float64),
                                 self.sample_rate)[0]

    def _env(self, t60_s: float) -> torch.Tensor:
        return dsp.exp_decay(self._t64(), torch.tensor([t60_s], dtype=torch.float64))[0]

    def _resonator(self, r: Resonator) -> torch.Tensor:
        """Damped, gliding sine of a bridged-T resonator (float64, ``[n]``)."""
        f = self._cutoff(r.freq_hz)
        phase = dsp.swept_phase(self._t64(), torch.tensor([f], dtype=torch.float64),
                                torch.tensor([r.glide_depth], dtype=torch.float64),
                                torch.tensor([r.glide_time_s], dtype=torch.float64))[0]
        return r.gain * torch.sin(phase) * self._env(r.t60_s)

    @staticmethod
    def _rms(x: torch.Tensor) -> torch.Tensor:
        return x.pow(2).mean().sqrt().clamp_min(1e-12)

    @staticmethod
    def _peak_normalized(x: torch.Tensor, peak: float) -> torch.Tensor:
        return x * (peak / x.abs().max().clamp_min(1e-12))

    def _square_bank(self) -> torch.Tensor:
        """The six band-limited oscillator squares ``[6, n]``, phases drawn from the seed."""
        def make() -> torch.Tensor:
            phases = torch.remainder(self.noise(_F64, _STREAM["OSC_PHASE"], n_samples=len(METAL.oscillators_hz)),
                                     1.0) * (2 * math.pi)
            freqs = torch.tensor(METAL.oscillators_hz, dtype=torch.float64)
            return dsp.bandlimited_square_bank(freqs, phases, self._t64(), self.sample_rate)
        return self.cached_buffer("square_bank", _F64, make)

    def _metal_bands(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed oscillator bank through the 3.44 kHz and 7.1 kHz band-passes (float64)."""
        def make() -> torch.Tensor:
            metal = self._square_bank().sum(0)
            low = self._filter(metal, "bandpass", METAL.low_band_hz, METAL.low_band_q)
            high = self._filter(metal, "bandpass", METAL.high_band_hz, METAL.high_band_q)
            return torch.stack([low, high])
        bands = self.cached_buffer("metal_bands", _F64, make)
        return bands[0], bands[1]

    def _hat_band(self) -> torch.Tensor:
        low, high = self._metal_bands()
        hat = self._filter(METAL.hat_low_band_mix * low + high, "highpass", METAL.hat_highpass_hz)
        return hat * (METAL.hat_rms / self._rms(hat))

    # ------------------------------------------------------------------ voices
    def synthesize(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        level = params["level"]
        gain = dsp.knob_taper(level).unsqueeze(-1)
        voice = self.voice
        if voice in TOMS:
            body = self._tom(params, level)
        else:
            body = getattr(self, "_voice_" + voice)(params, level)
        return gain * body

    def _voice_BD(self, params: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        bd = BASS_DRUM
        t = self.time_axis(like)
        sine = self._const("bd_sine", like, lambda: bd.body_gain * torch.sin(dsp.swept_phase(
            self._t64(), torch.tensor([bd.freq_hz], dtype=torch.float64),
            torch.tensor([bd.glide_depth], dtype=torch.float64),
            torch.tensor([bd.glide_time_s], dtype=torch.float64))[0]))
        t60 = dsp.knob_lerp(params["decay"], *bd.decay_t60_range_s, log=True)
        body = sine * dsp.exp_decay(t, t60)
        # Attack click: the ~1 ms trigger pulse through the tone stage's first-order low-pass,
        # in closed form: (1 - e^{-wc min(t, w)}) e^{-wc max(t - w, 0)}. Only its first ~30 ms
        # are computed (beyond that it is below 1e-20).
        k = min(self.n_samples, int(math.ceil(0.03 * self.sample_rate)) + 1)
        width = bd.click_width_s
        rise = self._const(("bd_click_rise", k), like, lambda: torch.clamp(self._t64()[:k], max=width))
        fall = self._const(("bd_click_fall", k), like, lambda: torch.clamp(self._t64()[:k] - width, min=0.0))
        cutoff = dsp.knob_lerp(params["tone"], *bd.tone_cutoff_range_hz, log=True)
        wc = (2 * math.pi * cutoff).unsqueeze(-1)
        click = bd.click_gain * (-torch.expm1(-wc * rise)) * torch.exp(-wc * fall)
        return torch.cat([body[:, :k] + click, body[:, k:]], dim=1)

    def _voice_SD(self, params: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        sd = SNARE

        def make() -> torch.Tensor:
            low = sd.body_gain * self._resonator(sd.low)
            high = sd.body_gain * self._resonator(sd.high)
            noise = self._filter(self.noise(_F64, _STREAM["SD"]), "highpass", sd.noise_highpass_hz)
            noise = noise * (sd.noise_rms / self._rms(noise)) * self._env(sd.noise_t60_s)
            return torch.stack([low, high, noise])

        parts = self._const("sd_parts", like, make)
        low_gain = dsp.knob_lerp(params["tone"], *sd.tone_balance_range).unsqueeze(-1)
        snappy = dsp.knob_taper(params["snappy"]).unsqueeze(-1)
        return low_gain * parts[0] + (1 - low_gain) * parts[1] + snappy * parts[2]

    def _tom(self, params: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        tom = TOMS[self.voice]

        def make() -> torch.Tensor:
            t = self._t64()
            # swept phase / (2 pi f): the glide's time warp is the same for every tuning
            warp = t + tom.glide_depth * tom.glide_time_s * -torch.expm1(-t / tom.glide_time_s)
            env = tom.body_gain * self._env(tom.t60_s)
            if tom.noise_rms > 0:
                noise = self._filter(self.noise(_F64, _STREAM["TOM"]), "lowpass", tom.noise_lowpass_hz)
                noise = noise * (tom.noise_rms / self._rms(noise)) * self._env(tom.noise_t60_s)
            else:
                noise = torch.zeros_like(t)
            return torch.stack([warp, env, noise])

        parts = self._const("tom_parts", like, make)
        freq = dsp.knob_lerp(params["tuning"], *tom.tuning_range_hz, log=True).unsqueeze(-1)
        body = torch.sin((2 * math.pi) * freq * parts[0]) * parts[1]
        return body + parts[2] if tom.noise_rms > 0 else body

    def _voice_CY(self, params: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        m = METAL

        def make() -> torch.Tensor:
            low, high = self._metal_bands()
            low = self._filter(low, "highpass", m.cymbal_low_highpass_hz)
            high = self._filter(high, "highpass", m.cymbal_high_highpass_hz)
            low = low * (m.cymbal_rms / self._rms(low))
            high = high * (m.cymbal_rms / self._rms(high)) * self._env(m.cymbal_high_t60_s)
            return torch.stack([low, high])

        bands = self._const("cy_bands", like, make)
        t = self.time_axis(like)
        low_t60 = dsp.knob_lerp(params["decay"], *m.cymbal_low_t60_range_s, log=True)
        low_env = ((1 - m.cymbal_mid_mix) * dsp.exp_decay(t, low_t60)
                   + m.cymbal_mid_mix * dsp.exp_decay(t, m.cymbal_mid_t60_ratio * low_t60))
        high_mix = dsp.knob_lerp(params["tone"], *m.cymbal_tone_high_mix_range).unsqueeze(-1)
        return (1 - high_mix) * bands[0] * low_env + high_mix * bands[1]

    def _voice_OH(self, params: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        hat = self._const("hat_band", like, self._hat_band)
        t60 = dsp.knob_lerp(params["decay"], *METAL.open_hat_t60_range_s, log=True)
        return hat * dsp.exp_decay(self.time_axis(like), t60)

    # Level-only voices: the whole waveform is a constant buffer scaled by the level taper.
    def _unit(self, like: torch.Tensor, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        return self._const(("unit", self.voice), like, make).unsqueeze(0)

    def _voice_CH(self, params, like):
        return self._unit(like, lambda: self._hat_band() * self._env(METAL.closed_hat_t60_s))

    def _voice_RS(self, params, like):
        rs = RIM_SHOT

        def make() -> torch.Tensor:
            x = self._resonator(rs.low) + self._resonator(rs.high)
            x = torch.tanh(rs.drive * x / x.abs().max())
            return self._peak_normalized(self._filter(x, "highpass", rs.highpass_hz), rs.peak)

        return self._unit(like, make)

    def _voice_CL(self, params, like):
        return self._unit(like, lambda: self._peak_normalized(self._resonator(CLAVES.resonator), CLAVES.peak))

    def _voice_CP(self, params, like):
        cp = CLAP

        def make() -> torch.Tensor:
            t = self._t64()
            noise = self._filter(self.noise(_F64, _STREAM["CP"]), "bandpass", cp.bandpass_hz, cp.bandpass_q)
            starts = torch.tensor(cp.burst_times_s, dtype=torch.float64).unsqueeze(-1)
            ends = torch.cat([starts[1:], torch.full((1, 1), math.inf, dtype=torch.float64)])
            t60 = torch.tensor(cp.burst_t60_s, dtype=torch.float64).unsqueeze(-1)
            since = t.unsqueeze(0) - starts  # [bursts, n]
            active = ((since >= 0) & (t.unsqueeze(0) < ends)).to(t.dtype)
            # the sawtooth: each re-trigger jumps back to full and decays until the next one
            saw = (active * torch.exp(-dsp.LN_1000 * since.clamp_min(0) / t60)).sum(0)
            reverb_noise = self._filter(self.noise(_F64, _STREAM["CP_REVERB"]), "bandpass",
                                        cp.bandpass_hz, cp.bandpass_q)
            reverb_env = -torch.expm1(-t / cp.reverb_attack_s) * self._env(cp.reverb_t60_s)
            x = saw * noise / self._rms(noise) + cp.reverb_mix * reverb_env * reverb_noise / self._rms(reverb_noise)
            return self._peak_normalized(x, cp.peak)

        return self._unit(like, make)

    def _voice_MA(self, params, like):
        ma = MARACAS

        def make() -> torch.Tensor:
            t = self._t64()
            noise = self._filter(self.noise(_F64, _STREAM["MA"]), "highpass", ma.highpass_hz)
            env = -torch.expm1(-t / ma.attack_s) * self._env(ma.t60_s)
            return self._peak_normalized(noise * env, ma.peak)

        return self._unit(like, make)

    def _voice_CB(self, params, like):
        cb = COWBELL

        def make() -> torch.Tensor:
            bank = self._square_bank()
            index = [METAL.oscillators_hz.index(f) for f in cb.oscillators_hz]
            x = self._filter(bank[index].sum(0), "bandpass", cb.bandpass_hz, cb.bandpass_q)
            env = cb.fast_mix * self._env(cb.fast_t60_s) + (1 - cb.fast_mix) * self._env(cb.slow_t60_s)
            return self._peak_normalized(x * env, cb.peak)

        return self._unit(like, make)
