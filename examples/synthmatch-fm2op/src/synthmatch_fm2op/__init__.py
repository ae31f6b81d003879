"""A two-operator FM percussion voice: an example of a third-party synthmatch synth.

Install it (``pip install examples/synthmatch-fm2op``) and ``synths.get("fm2op")`` works,
``synthmatch synths`` lists it, and presets with ``"synth": "fm2op"`` load and render.
"""

from __future__ import annotations

import math

import torch

from synths import ParamSpec, Synth
from synths.dsp import db_to_gain, exp_decay


class TwoOpFM(Synth):
    """Two-operator FM voice: a sine modulator (ratio, index) into a sine carrier, decaying."""

    name = "fm2op"
    default_sample_rate = 22050
    default_duration = 0.5

    @classmethod
    def voice_param_specs(cls, voice):
        return (
            ParamSpec("carrier", "Hz", 30.0, 3000.0, 220.0, "log", "carrier frequency"),
            ParamSpec("ratio", "x", 0.5, 8.0, 2.0, "linear", "modulator frequency / carrier frequency"),
            ParamSpec("index", "rad", 0.0, 10.0, 3.0, "linear", "modulation index at the attack"),
            ParamSpec("decay", "ms", 10.0, 2000.0, 300.0, "log", "time to -60 dB of the output"),
            ParamSpec("gain", "dB", -60.0, 0.0, -6.0, "linear", "output level"),
        )

    def synthesize(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        t = self.time_axis(params["carrier"])
        envelope = exp_decay(t, params["decay"] / 1000.0)
        carrier_phase = 2 * math.pi * params["carrier"].unsqueeze(-1) * t
        modulator = torch.sin(carrier_phase * params["ratio"].unsqueeze(-1))
        audio = torch.sin(carrier_phase + params["index"].unsqueeze(-1) * envelope * modulator)
        return db_to_gain(params["gain"]).unsqueeze(-1) * envelope * audio
