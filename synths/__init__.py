"""Differentiable synths behind one plugin interface.

>>> import synths
>>> synths.available()
['ddsp808', 'granular', 'tr808']
>>> bd = synths.get("tr808", voice="BD")
>>> audio = bd(bd.default_theta())          # [1, 1, 44100]

Built-in synths: ``tr808`` (one voice per TR-808 instrument, panel knobs 0-10),
``ddsp808`` (the SCRAPL paper's 14-parameter percussive voice) and ``granular`` (a granular
cloud, plus the paper's ``texture`` and ``chirplet`` configurations). Third-party synths
register through the ``synthmatch.synths`` entry-point group (see :mod:`synths.registry`).
"""

from .base import Synth, SynthError
from .ddsp808 import DDSP808
from .granular import Granular
from .params import ParamSpec, knob
from .preset import FORMAT_VERSION, Preset, PresetError
from .registry import ENTRY_POINT_GROUP, available, get, register, reload_entry_points, synth_class
from .tr808 import TR808

for _builtin in (TR808, DDSP808, Granular):
    register(_builtin)

__all__ = [
    "DDSP808", "ENTRY_POINT_GROUP", "FORMAT_VERSION", "Granular", "ParamSpec", "Preset", "PresetError",
    "Synth", "SynthError", "TR808", "available", "get", "knob", "register", "reload_entry_points", "synth_class",
]
