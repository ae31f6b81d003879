"""The SCRAPL paper's 14-parameter differentiable percussive voice ("DDSP 808").

Mitcheltree et al., "SCRAPL: Scattering Transform with Random Paths for Machine Learning"
(ICLR 2026), drum-matching experiment; reference implementation ``DDSP808Synth`` /
``Snare808`` in ``experiments/eval_808/synths.py`` of the paper's code. Signal flow::

    f_i(t)  = f0_i * (1 + mod_i * e_p(t))                      i = 1, 2 (shared pitch envelope e_p)
    osc_i   = sin(2 pi int_0^t f_i) * g_i * e_i(t)
    noise   = highpass_biquad(n(t) * e_n(t), cutoff, Q) * g_n
    out     = tanh(drive * (osc_1 + osc_2 + noise))

The 14 parameters are those of the reference, in its order:
``osc1_freq``, ``osc1_mod``, ``osc2_freq``, ``osc2_mod`` (the 14th parameter: each
oscillator has its own pitch-envelope depth, -1 to 2 times its f0, while the two share one
pitch envelope), ``pitch_decay``, ``osc1_decay``, ``osc2_decay``, ``noise_decay``,
``noise_cutoff``, ``noise_q``, ``osc1_gain``, ``osc2_gain``, ``noise_gain`` and ``drive`` (the
tanh input gain). There is no output gain.

Differences from the reference, all for smooth exact gradients and speed:

* envelopes are ``exp(-ln(1000) t / decay)`` (-60 dB after ``decay``, continuous time), the
  amplitude envelopes with the reference's 1-ms linear attack as a fixed multiplier; the
  pitch envelope has no attack, so the oscillator phase is integrated in closed form
  (:func:`synths.dsp.swept_phase`) instead of by a cumulative sum;
* frequencies and decays are log-scaled (the reference maps them linearly);
* the noise is seeded Gaussian (scaled to the variance of the reference's uniform [-1, 1]
  noise) and the high-pass biquad (the same bilinear-transform filter as the reference) is
  applied in closed form in the frequency domain;
* the cutoff range is 20 Hz to 0.45 * 44.1 kHz instead of up to Nyquist. The cutoff is
  passed through a smooth soft minimum (:func:`synths.dsp.soft_cutoff_limit`) with 0.49 * sample_rate, so it
  never reaches Nyquist at any sample rate; at 44.1 kHz this changes it by < 0.2 %, at lower
  rates cutoffs above the limit saturate there (with a gradient that decays smoothly, not a
  hard zero).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from . import dsp
from .base import Synth
from .params import ParamSpec

ATTACK_S = 0.001
NOISE_SCALE = math.sqrt(1.0 / 3.0)  # std of uniform [-1, 1] noise
CUTOFF_MAX = 0.45 * 44100.0
CUTOFF_LIMIT_FRACTION = 0.49  # of the sample rate
CUTOFF_SOFTNESS = 40.0


def limited_cutoff(cutoff_hz: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """The noise cutoff actually used: softly kept below ``0.49 * sample_rate`` (see module doc)."""
    return dsp.soft_cutoff_limit(cutoff_hz, sample_rate, CUTOFF_LIMIT_FRACTION, CUTOFF_SOFTNESS)


class DDSP808(Synth):
    """The SCRAPL paper's 14-parameter percussive voice: two sines, filtered noise, tanh.

    See the module docstring for the model, the parameter list and the differences from the
    paper's reference implementation.
    """

    name = "ddsp808"
    voices = (None,)
    default_voice = None
    default_sample_rate = 44100
    default_duration = 1.0

    @classmethod
    def voice_param_specs(cls, voice: Optional[str]) -> Sequence[ParamSpec]:
        return (
            ParamSpec("osc1_freq", "Hz", 20.0, 2000.0, 180.0, "log", "oscillator 1 base frequency"),
            ParamSpec("osc1_mod", "x f0", -1.0, 2.0, 1.0, "linear",
                      "pitch-envelope depth of oscillator 1 (times its base frequency)"),
            ParamSpec("osc2_freq", "Hz", 20.0, 2000.0, 330.0, "log", "oscillator 2 base frequency"),
            ParamSpec("osc2_mod", "x f0", -1.0, 2.0, 0.5, "linear",
                      "pitch-envelope depth of oscillator 2 (times its base frequency)"),
            ParamSpec("pitch_decay", "ms", 10.0, 2000.0, 50.0, "log",
                      "decay of the shared pitch envelope (to -60 dB)"),
            ParamSpec("osc1_decay", "ms", 10.0, 2000.0, 300.0, "log", "amplitude decay of oscillator 1"),
            ParamSpec("osc2_decay", "ms", 10.0, 2000.0, 150.0, "log", "amplitude decay of oscillator 2"),
            ParamSpec("noise_decay", "ms", 10.0, 2000.0, 120.0, "log", "amplitude decay of the noise"),
            ParamSpec("noise_cutoff", "Hz", 20.0, CUTOFF_MAX, 2000.0, "log",
                      "cutoff of the noise high-pass biquad"),
            ParamSpec("noise_q", "", 0.5, 10.0, 0.707, "log", "resonance (Q) of the noise high-pass"),
            ParamSpec("osc1_gain", "dB", -60.0, 6.0, -6.0, "linear", "level of oscillator 1"),
            ParamSpec("osc2_gain", "dB", -60.0, 6.0, -12.0, "linear", "level of oscillator 2"),
            ParamSpec("noise_gain", "dB", -60.0, 6.0, -18.0, "linear", "level of the noise"),
            ParamSpec("drive", "dB", -24.0, 24.0, 0.0, "linear", "input gain of the tanh saturator"),
        )

    def _attack(self, like: torch.Tensor) -> torch.Tensor:
        return self.cached_buffer(
            "attack", like,
            lambda: torch.clamp(torch.arange(self.n_samples, dtype=torch.float64)
                                / max(ATTACK_S * self.sample_rate, 1.0), max=1.0),
        )

    def synthesize(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        like = params["osc1_freq"]
        t = self.time_axis(like)
        attack = self._attack(like)
        seconds = {k: params[k] / 1000.0 for k in ("pitch_decay", "osc1_decay", "osc2_decay", "noise_decay")}
        tau_pitch = seconds["pitch_decay"] / dsp.LN_1000  # e_p(t) = exp(-t / tau)

        # Both oscillators at once: per-oscillator values stacked to [batch * 2].
        freqs = torch.stack([params["osc1_freq"], params["osc2_freq"]], dim=1)
        depths = torch.stack([params["osc1_mod"], params["osc2_mod"]], dim=1)
        decays = torch.stack([seconds["osc1_decay"], seconds["osc2_decay"]], dim=1)
        gains = dsp.db_to_gain(torch.stack([params["osc1_gain"], params["osc2_gain"]], dim=1))
        batch = freqs.shape[0]
        phase = dsp.swept_phase(t, freqs.reshape(-1), depths.reshape(-1), tau_pitch.repeat_interleave(2))
        envelope = dsp.exp_decay(t, decays.reshape(-1)) * attack
        oscillators = (torch.sin(phase) * envelope).reshape(batch, 2, -1)
        out = (oscillators * gains.unsqueeze(-1)).sum(dim=1)

        noise = self.noise(like) * NOISE_SCALE
        noise = noise * dsp.exp_decay(t, seconds["noise_decay"]) * attack
        cutoff = limited_cutoff(params["noise_cutoff"], self.sample_rate)
        noise = dsp.biquad_filter(noise, "highpass", cutoff, params["noise_q"], self.sample_rate)
        out = out + noise * dsp.db_to_gain(params["noise_gain"]).unsqueeze(-1)
        return torch.tanh(dsp.db_to_gain(params["drive"]).unsqueeze(-1) * out)
