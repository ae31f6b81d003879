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

The constants (frequencies, ring times, glides, filter cutoffs, noise levels, mix gains and
the knob laws that map each 0-10 knob to its circuit value) are data: a
:class:`~synths.tr808_calibration.Calibration` (``calibration=`` a shipped name, a JSON
file or a dict). The default, ``fischer-103852``, is fitted to recordings of a real unit by
``scripts/calibrate_tr808.py``; ``legacy`` holds the circuit-analysis values and estimates
the model had before (see :mod:`synths.tr808_calibration`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Callable, Optional

import torch

from . import dsp
from .base import Synth
from .params import ParamSpec, knob
from .tr808_calibration import (Calibration, CalibrationLike, Resonator, default_calibration,  # noqa: F401
                                load_calibration)

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
#: fall well below -40 dB). Issue 14 lengthened BD (1 -> 3 s), CY (2 -> 4 s) and LC (0.4 ->
#: 0.6 s): the real unit's decays at the top of their knobs are that long.
VOICE_DURATIONS: dict[str, float] = {
    "BD": 3.0, "SD": 0.5, "LT": 0.8, "MT": 0.6, "HT": 0.5, "LC": 0.6, "MC": 0.3, "HC": 0.3,
    "CY": 4.0, "OH": 1.0, "CH": 0.25, "RS": 0.15, "CL": 0.3, "CP": 0.6, "MA": 0.2, "CB": 0.6,
}


# Noise streams (one per use, so voices never share noise).
_STREAM = {"SD": 1, "TOM": 2, "CP": 3, "CP_REVERB": 4, "MA": 5, "OSC_PHASE": 6}

#: the cymbal's knob-driven envelopes (T60 >= 0.2 s) are computed every this many samples
#: and interpolated linearly
ENVELOPE_STEP = 64
_F64 = torch.empty(0, dtype=torch.float64)  # "like" for float64 CPU master buffers
#: how many oscillator banks (float64 ``[6, n]``, 8.5 MB for 4 s) the process keeps
_SQUARE_BANK_CACHE = 4
_square_banks: "OrderedDict[tuple, torch.Tensor]" = OrderedDict()


class TR808(Synth):
    """Roland TR-808 rhythm composer: 16 circuit-modelled voices with their panel knobs (0-10).

    Args (besides :class:`~synths.base.Synth`'s ``voice``, ``sample_rate``, ``duration``,
    ``seed``):
        calibration: the model's constants (:mod:`synths.tr808_calibration`): a shipped
            calibration's name (``"fischer-103852"``, the default, or ``"legacy"``), a JSON
            file's path, a dict of that form or a :class:`Calibration`; ``None`` means the
            default. :attr:`calibration` holds the resolved one.
    """

    name = "tr808"
    voices = VOICES
    default_voice = "BD"
    default_sample_rate = 44100

    def __init__(self, voice: Optional[str] = None, sample_rate: Optional[int] = None,
                 duration: Optional[float] = None, seed: int = 0,
                 calibration: CalibrationLike = None) -> None:
        super().__init__(voice=voice, sample_rate=sample_rate, duration=duration, seed=seed)
        self.calibration: Calibration = load_calibration(calibration)

    @classmethod
    def check_calibration(cls, calibration: str) -> None:
        load_calibration(calibration)

    def calibration_name(self) -> Optional[str]:
        return self.calibration.name

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
        """The six band-limited oscillator squares ``[6, n]``, phases drawn from the seed.

        Shared by every instance with the same oscillators, seed and rate, as the first
        ``n`` samples of the longest bank built so far (the process keeps the last
        :data:`_SQUARE_BANK_CACHE` of them: a calibration fit builds hundreds of synths that
        differ only in their filters and lengths)."""
        oscillators = tuple(self.calibration.metal.oscillators_hz)
        key = (oscillators, self.seed, self.sample_rate)
        n = self.n_samples

        def make() -> torch.Tensor:
            if key in _square_banks and _square_banks[key].shape[-1] >= n:
                _square_banks.move_to_end(key)
                return _square_banks[key][:, :n].contiguous()
            phases = torch.remainder(self.noise(_F64, _STREAM["OSC_PHASE"], n_samples=len(oscillators)),
                                     1.0) * (2 * math.pi)
            freqs = torch.tensor(oscillators, dtype=torch.float64)
            bank = dsp.bandlimited_square_bank(freqs, phases, self._t64(), self.sample_rate)
            _square_banks[key] = bank
            _square_banks.move_to_end(key)
            while len(_square_banks) > _SQUARE_BANK_CACHE:
                _square_banks.popitem(last=False)
            return bank
        return self.cached_buffer("square_bank", _F64, make)

    def _metal_bands(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed oscillator bank through the 3.44 kHz and 7.1 kHz band-passes (float64)."""
        def make() -> torch.Tensor:
            metal = self._square_bank().sum(0)
            low = self._filter(metal, "bandpass", self.calibration.metal.low_band_hz, self.calibration.metal.low_band_q)
            high = self._filter(metal, "bandpass", self.calibration.metal.high_band_hz, self.calibration.metal.high_band_q)
            return torch.stack([low, high])
        bands = self.cached_buffer("metal_bands", _F64, make)
        return bands[0], bands[1]

    def _hat_band(self) -> torch.Tensor:
        low, high = self._metal_bands()
        hat = self._filter(self.calibration.metal.hat_low_band_mix * low + high, "highpass", self.calibration.metal.hat_highpass_hz)
        return hat * (self.calibration.metal.hat_rms / self._rms(hat))

    # ------------------------------------------------------------------ voices
    def synthesize(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        level = params["level"]
        gain = dsp.knob_taper(level).unsqueeze(-1)
        voice = self.voice
        if voice in self.calibration.toms:
            body = self._tom(params, level)
        else:
            body = getattr(self, "_voice_" + voice)(params, level)
        output_gain = self.calibration.gain(voice)
        return (gain * output_gain if output_gain != 1.0 else gain) * body

    def _voice_BD(self, params: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        bd = self.calibration.bass_drum
        t = self.time_axis(like)
        sine = self._const("bd_sine", like, lambda: bd.body_gain * torch.sin(dsp.swept_phase(
            self._t64(), torch.tensor([bd.freq_hz], dtype=torch.float64),
            torch.tensor([bd.glide_depth], dtype=torch.float64),
            torch.tensor([bd.glide_time_s], dtype=torch.float64))[0]))
        t60 = bd.decay_t60_s(params["decay"])
        body = sine * dsp.exp_decay(t, t60)
        # attack click: the trigger pulse through the tone stage's low-pass
        return self._with_click(body, bd.click_gain, bd.click_width_s, bd.tone_cutoff_hz(params["tone"]), like)

    def _with_click(self, body: torch.Tensor, gain: float, width_s: float, cutoff_hz: torch.Tensor,
                    like: torch.Tensor) -> torch.Tensor:
        """``body`` (batch, n) plus an attack click: the trigger pulse (``width_s`` seconds,
        height ``gain``) through a first-order low-pass at ``cutoff_hz`` (batch,), in closed
        form: ``(1 - e^{-wc min(t, w)}) e^{-wc max(t - w, 0)}``. Only its first ~30 ms are
        computed (beyond that it is below 1e-20)."""
        k = min(self.n_samples, int(math.ceil(0.03 * self.sample_rate)) + 1)
        rise = self._const(("click_rise", k, width_s), like, lambda: torch.clamp(self._t64()[:k], max=width_s))
        fall = self._const(("click_fall", k, width_s), like,
                           lambda: torch.clamp(self._t64()[:k] - width_s, min=0.0))
        wc = (2 * math.pi * cutoff_hz).unsqueeze(-1)
        click = gain * (-torch.expm1(-wc * rise)) * torch.exp(-wc * fall)
        return torch.cat([body[:, :k] + click, body[:, k:]], dim=1)

    def _voice_SD(self, params: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        sd = self.calibration.snare

        def make() -> torch.Tensor:
            low = sd.body_gain * self._resonator(sd.low)
            high = sd.body_gain * self._resonator(sd.high)
            noise = self._filter(self.noise(_F64, _STREAM["SD"]), "highpass", sd.noise_highpass_hz)
            if sd.noise_lowpass_hz > 0:
                noise = self._filter(noise, "lowpass", sd.noise_lowpass_hz)
            envelope = self._env(sd.noise_t60_s)
            if sd.noise_tail_mix > 0:  # the envelope's slow second stage
                envelope = envelope + sd.noise_tail_mix * self._env(sd.noise_tail_t60_s)
            noise = noise / self._rms(noise) * envelope
            return torch.stack([low, high, noise])

        parts = self._const("sd_parts", like, make)
        high_share = sd.tone_high_share(params["tone"]).unsqueeze(-1)
        snappy = sd.snappy_noise_rms(params["snappy"]).unsqueeze(-1)
        body = (1 - high_share) * parts[0] + high_share * parts[1]
        if sd.tone_body_tilt != 1.0:
            body = body * (sd.tone_body_tilt ** (params["tone"] / 10.0)).unsqueeze(-1)
        if sd.tone_load:
            u = sd.tone_high_share.taper(params["tone"]).unsqueeze(-1)
            body = body / (1 + sd.tone_load * u * (1 - u))
        return body + snappy * parts[2]

    def _tom(self, params: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        tom = self.calibration.toms[self.voice]

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
        freq = tom.tuning_hz(params["tuning"]).unsqueeze(-1)
        body = torch.sin((2 * math.pi) * freq * parts[0]) * parts[1]
        if tom.second_harmonic:
            body = body + (tom.second_harmonic / tom.body_gain) * body * body
        if tom.noise_rms > 0:
            body = body + parts[2]
        if tom.click_gain:  # the trigger pulse that rings the resonator, through to the output
            body = self._with_click(body, tom.click_gain, tom.click_width_s,
                                    torch.full_like(params["tuning"], tom.click_cutoff_hz), like)
        return body

    def _voice_CY(self, params: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        m = self.calibration.metal

        def make() -> torch.Tensor:
            low, high = self._metal_bands()
            low = self._filter(low, "highpass", m.cymbal_low_highpass_hz)
            high = self._filter(high, "highpass", m.cymbal_high_highpass_hz)
            low = low * (m.cymbal_rms / self._rms(low))
            high = high * (m.cymbal_rms / self._rms(high))
            fixed = m.cymbal_high_fixed_mix * high  # outside the tone fade
            if m.cymbal_top_mix > 0:  # the third band, above the high band-pass
                top = self._filter(self._square_bank().sum(0), "highpass", m.cymbal_top_highpass_hz)
                high = high + m.cymbal_top_mix * top * (m.cymbal_rms / self._rms(top))
            env = self._env(m.cymbal_high_t60_s)
            if m.cymbal_bright_gain is not None:  # the tone pot's burst: the bank high-passed twice
                bright = self._square_bank().sum(0)
                for _ in range(2):
                    bright = self._filter(bright, "highpass", m.cymbal_bright_highpass_hz)
                bright = bright * (m.cymbal_rms / self._rms(bright)) * self._env(m.cymbal_bright_t60_s)
            else:
                bright = torch.zeros_like(low)
            # [low band; the faded high branch and the fixed part with their short envelope,
            #  the burst; the same two unenveloped (for the tail that follows the decay knob)]
            return torch.stack([low, high * env, fixed * env, bright, high, fixed])

        bands = self._const("cy_bands", like, make)
        n = bands.shape[-1]
        points = (n - 1) // ENVELOPE_STEP + 2
        coarse_t = self._const(("cy_envelope_time", points), like, lambda: torch.linspace(
            0.0, -(n - 1) / self.sample_rate, points, dtype=torch.float64)).unsqueeze(0)

        def decay(rate: torch.Tensor) -> torch.Tensor:  # exp(-rate t), rate [batch] (1/s) -> [batch, points]
            return torch.exp(coarse_t * rate.unsqueeze(-1))

        # out = gate * {body * [(1 - mix) low low_env + mix high + fixed] + bright_gain * burst},
        # where low_env = (1 - mid_mix) e(T) + mid_mix e(mid_ratio T) with T = low_t60(decay),
        # the high branch and the fixed part are (1 - tail_mix) x (their short envelope) +
        # tail_mix e(tail_ratio T) x (unenveloped), and gate = the VCAs' cut-off of e(T). Written
        # as per-row gains times fixed buffers (matrix products) and fused multiply-adds: the
        # full-length passes are the render's cost, and CY is the slowest voice (>= 1000x real
        # time at batch 64 on 2 cores, issue 14). The knob-driven envelopes (T >= 0.2 s) are
        # computed every ENVELOPE_STEP samples and interpolated linearly (relative error < 1e-5).
        rate = dsp.LN_1000 / m.cymbal_low_t60_s(params["decay"])
        main = decay(rate)
        mix = m.cymbal_tone_high_mix(params["tone"])
        body = torch.ones_like(mix) if m.cymbal_body_gain is None else m.cymbal_body_gain(params["tone"])
        burst = torch.zeros_like(mix) if m.cymbal_bright_gain is None else m.cymbal_bright_gain(params["tone"])
        short = 1 - m.cymbal_high_tail_mix
        low_gain = body * (1 - mix)
        low_env = torch.addcmul(((low_gain * m.cymbal_mid_mix).unsqueeze(-1)) * decay(rate / m.cymbal_mid_t60_ratio),
                                (low_gain * (1 - m.cymbal_mid_mix)).unsqueeze(-1), main)
        gate = (dsp.vca_gate(main, m.cymbal_vca_threshold, m.cymbal_vca_knee)  # the VCAs' cut-off
                if m.cymbal_vca_threshold > 0 else None)
        rows = [low_env if gate is None else low_env * gate]
        if m.cymbal_high_tail_mix > 0:  # the part of the high band's envelope that the decay knob sets
            tail = decay(rate / m.cymbal_high_tail_t60_ratio)
            rows.append(tail if gate is None else tail * gate)
        if gate is not None:
            rows.append(gate)
        envelopes = torch.nn.functional.interpolate(torch.stack(rows, dim=1), size=n, mode="linear",
                                                    align_corners=True)       # [batch, rows, n]
        gains = torch.stack([body * mix * short, body * short, burst], dim=-1)  # [batch, 3]
        out = gains @ bands[1:4]
        if gate is not None:
            out = out * envelopes[:, -1]
        out = torch.addcmul(out, envelopes[:, 0], bands[0])
        if m.cymbal_high_tail_mix > 0:
            tail_gains = (m.cymbal_high_tail_mix * body).unsqueeze(-1) * torch.stack([mix, torch.ones_like(mix)], -1)
            out = torch.addcmul(out, envelopes[:, 1], tail_gains @ bands[4:6])
        return out

    def _voice_OH(self, params: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
        hat = self._const("hat_band", like, self._hat_band)
        m = self.calibration.metal
        t60 = m.open_hat_t60_s(params["decay"])
        t = self.time_axis(like)
        envelope = dsp.exp_decay(t, t60)
        threshold, knee = m.open_hat_vca_threshold, m.open_hat_vca_knee
        if m.open_hat_hold_t60_s > 0:  # the VCA as a switch on a fixed decay (Metal.open_hat_hold_t60_s)
            hold = self._const(("oh_hold", m.open_hat_hold_t60_s), like, lambda: self._env(m.open_hat_hold_t60_s))
            return hat * (hold * dsp.vca_gate(envelope, threshold, knee))
        if threshold > 0:  # the VCA transistor's cut-off (Metal.open_hat_vca_threshold)
            envelope = torch.nn.functional.softplus((envelope - threshold) / knee) * knee / (1 - threshold)
        return hat * envelope

    # Level-only voices: the whole waveform is a constant buffer scaled by the level taper.
    def _unit(self, like: torch.Tensor, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        return self._const(("unit", self.voice), like, make).unsqueeze(0)

    def _voice_CH(self, params, like):
        return self._unit(like, lambda: self._hat_band() * self._env(self.calibration.metal.closed_hat_t60_s))

    def _voice_RS(self, params, like):
        rs = self.calibration.rim_shot

        def make() -> torch.Tensor:
            x = self._resonator(rs.low) + self._resonator(rs.high)
            x = torch.tanh(rs.drive * x / x.abs().max())
            return self._peak_normalized(self._filter(x, "highpass", rs.highpass_hz), rs.peak)

        return self._unit(like, make)

    def _voice_CL(self, params, like):
        return self._unit(like, lambda: self._peak_normalized(self._resonator(self.calibration.claves.resonator),
                                                                  self.calibration.claves.peak))

    def _voice_CP(self, params, like):
        cp = self.calibration.clap

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
        ma = self.calibration.maracas

        def make() -> torch.Tensor:
            t = self._t64()
            noise = self._filter(self.noise(_F64, _STREAM["MA"]), "highpass", ma.highpass_hz)
            env = -torch.expm1(-t / ma.attack_s) * self._env(ma.t60_s)
            return self._peak_normalized(noise * env, ma.peak)

        return self._unit(like, make)

    def _voice_CB(self, params, like):
        cb = self.calibration.cowbell

        def make() -> torch.Tensor:
            bank = self._square_bank()
            index = [self.calibration.metal.oscillators_hz.index(f) for f in cb.oscillators_hz]
            x = self._filter(bank[index].sum(0), "bandpass", cb.bandpass_hz, cb.bandpass_q)
            env = cb.fast_mix * self._env(cb.fast_t60_s) + (1 - cb.fast_mix) * self._env(cb.slow_t60_s)
            return self._peak_normalized(x * env, cb.peak)

        return self._unit(like, make)
