"""MIDI CC maps: which note and which control changes carry a preset's parameters on a device.

A map is a JSON data file (``matching/export/cc_maps/NAME.json``; another device's map is
one new file, loaded by name when it sits there or by path from anywhere)::

    {
      "name": "tr8s", "device": "Roland TR-8S", "description": "...", "source": "...",
      "channel": 10,
      "synths": {
        "tr808": {
          "BD": {
            "note": 36, "track": "BD (bass drum)",
            "velocity": {"param": "level", "min": 0, "max": 10},
            "controls": [
              {"cc": 23, "param": "decay", "min": 0, "max": 10, "function": "BD decay"},
              {"cc": 24, "param": "level", "min": 0, "max": 10, "function": "BD level"}
            ],
            "unmapped": {"tone": "why the device has no control change for it"}
          }
        }
      }
    }

``synths`` maps synth name -> voice name (``"null"`` for a single-voice synth) -> entry:
``note`` is the MIDI note that plays the voice (unique within the map), ``controls`` the
control changes sent before it, each carrying one parameter whose physical range
``[min, max]`` maps linearly onto 0-127, and ``velocity`` (optional) the parameter the
note's velocity carries the same way (at least 1, since velocity 0 is a note-off).
``channel`` is the default MIDI channel, 1-16. ``unmapped`` documents parameters that no
control change carries (they still survive a round trip through the preset meta event,
see :mod:`matching.export.midi`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Optional, Union

from synths import Preset, SynthError, synth_class

from .common import ExportError

MAPS_PACKAGE = "matching.export"
MAPS_FOLDER = "cc_maps"
DEFAULT_CC_MAP = "tr8s"


@dataclass(frozen=True)
class Control:
    """One parameter carried by a 7-bit MIDI value (a control change or the note velocity).

    ``value = round((physical - min) / (max - min) * 127)``, clamped to 0-127 (velocity:
    1-127); decoding inverts it, so a round trip is exact to half a step,
    ``(max - min) / 254`` (0.0394 knob units for a 0-10 knob).
    """

    param: str
    min: float
    max: float
    cc: Optional[int] = None  # None for the velocity
    function: str = ""

    @property
    def lowest(self) -> int:
        """Smallest value sent: 1 for a velocity (0 would be a note-off), else 0."""
        return 1 if self.cc is None else 0

    def encode(self, value: float) -> int:
        """Physical value -> MIDI value."""
        step = round((value - self.min) / (self.max - self.min) * 127)
        return int(min(max(step, self.lowest), 127))

    def decode(self, value: int) -> float:
        """MIDI value -> physical value."""
        return self.min + (self.max - self.min) * value / 127


@dataclass(frozen=True)
class VoiceMap:
    """How one synth voice is played: its note, control changes and velocity."""

    synth: str
    voice: Optional[str]
    note: int
    track: str = ""
    controls: tuple[Control, ...] = ()
    velocity: Optional[Control] = None
    unmapped: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.synth}/{self.voice}" if self.voice is not None else self.synth


@dataclass(frozen=True)
class CCMap:
    """A device's note and control-change map for one or more synths."""

    name: str
    device: str
    channel: int
    voices: tuple[VoiceMap, ...]
    description: str = ""
    source: str = ""

    def synths(self) -> list[str]:
        """Names of the synths the map covers."""
        return sorted({voice.synth for voice in self.voices})

    def for_preset(self, preset: Preset) -> VoiceMap:
        """The entry that plays ``preset``; :class:`ExportError` names what is missing."""
        for entry in self.voices:
            if entry.synth == preset.synth and entry.voice == preset.voice:
                return entry
        if preset.synth not in self.synths():
            covering = [name for name in available_cc_maps() if preset.synth in load_cc_map(name).synths()]
            if covering:
                raise ExportError(f"MIDI CC map {self.name!r} does not cover synth {preset.synth!r}; "
                                  f"maps that do: {', '.join(covering)}")
            raise ExportError(no_map_message(preset.synth))
        covered = ", ".join(str(v.voice) for v in self.voices if v.synth == preset.synth)
        raise ExportError(f"MIDI CC map {self.name!r} has no entry for {preset.synth} voice {preset.voice!r} "
                          f"(it maps voices {covered})")

    def for_note(self, note: int) -> Optional[VoiceMap]:
        """The entry playing MIDI note ``note``, or ``None``."""
        for entry in self.voices:
            if entry.note == note:
                return entry
        return None


def available_cc_maps() -> list[str]:
    """Names of the CC maps shipped with the package (``["tr8", "tr8s"]``)."""
    folder = resources.files(MAPS_PACKAGE) / MAPS_FOLDER
    return sorted(item.name[: -len(".json")] for item in folder.iterdir() if item.name.endswith(".json"))


def no_map_message(synth: str) -> str:
    """The error text for a synth that no shipped CC map covers."""
    listing = ", ".join(f"{name} ({', '.join(load_cc_map(name).synths())})" for name in available_cc_maps())
    return (f"no MIDI CC map for synth {synth!r} (maps: {listing}); "
            "write one as a JSON map file and pass its path")


_cache: dict[str, CCMap] = {}


def load_cc_map(name_or_path: Union[str, Path, CCMap]) -> CCMap:
    """A CC map by name (a shipped one, e.g. ``"tr8s"``) or by the path of a JSON file."""
    if isinstance(name_or_path, CCMap):
        return name_or_path
    key = str(name_or_path)
    if key in _cache:
        return _cache[key]
    if key.endswith(".json") or "/" in key or "\\" in key:
        path = Path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ExportError(f"cannot read MIDI CC map {path}: {error.strerror or error}") from None
        source = str(path)
    else:
        resource = resources.files(MAPS_PACKAGE) / MAPS_FOLDER / f"{key}.json"
        if not resource.is_file():
            raise ExportError(f"unknown MIDI CC map {key!r} (maps: {', '.join(available_cc_maps())}; "
                              "or give the path of a map file)")
        text = resource.read_text(encoding="utf-8")
        source = f"MIDI CC map {key!r}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ExportError(f"{source}: not valid JSON ({error})") from None
    cc_map = parse_cc_map(data, source)
    _cache[key] = cc_map
    return cc_map


def _number(value: Any, what: str, low: Optional[float] = None, high: Optional[float] = None,
            integer: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ExportError(f"{what} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ExportError(f"{what} = {value} is out of range {low} to {high}")
    return value


def _control(data: Any, where: str, cc: bool) -> Control:
    if not isinstance(data, dict) or not isinstance(data.get("param"), str):
        raise ExportError(f"{where} must be an object with a string 'param'")
    low, high = _number(data.get("min"), f"{where} min"), _number(data.get("max"), f"{where} max")
    if not low < high:
        raise ExportError(f"{where}: min ({low}) must be < max ({high})")
    number = _number(data.get("cc"), f"{where} cc", 0, 119, integer=True) if cc else None
    return Control(param=data["param"], min=float(low), max=float(high), cc=number,
                   function=str(data.get("function", "")))


def parse_cc_map(data: Any, source: str = "MIDI CC map") -> CCMap:
    """Validate a CC map's plain data; parameters are checked against the synth when it is installed."""
    if not isinstance(data, dict):
        raise ExportError(f"{source}: a CC map must be a JSON object")
    for key in ("name", "device"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ExportError(f"{source}: missing the string field {key!r}")
    channel = _number(data.get("channel", 10), f"{source}: channel", 1, 16, integer=True)
    synths_data = data.get("synths")
    if not isinstance(synths_data, dict) or not synths_data:
        raise ExportError(f"{source}: 'synths' must map synth names to their voices")
    voices: list[VoiceMap] = []
    notes: dict[int, str] = {}
    for synth, voice_table in synths_data.items():
        if not isinstance(voice_table, dict):
            raise ExportError(f"{source}: synths.{synth} must map voice names to entries")
        for voice_key, entry in voice_table.items():
            voice = None if voice_key == "null" else voice_key
            where = f"{source}: {synth}/{voice_key}"
            if not isinstance(entry, dict):
                raise ExportError(f"{where} must be an object")
            note = _number(entry.get("note"), f"{where} note", 0, 127, integer=True)
            if note in notes:
                raise ExportError(f"{where}: note {note} is already used by {notes[note]}")
            notes[note] = f"{synth}/{voice_key}"
            controls = entry.get("controls", [])
            if not isinstance(controls, list):
                raise ExportError(f"{where}: 'controls' must be a list")
            parsed = tuple(_control(item, f"{where} control {i + 1}", cc=True) for i, item in enumerate(controls))
            numbers = [control.cc for control in parsed]
            if len(set(numbers)) != len(numbers):
                raise ExportError(f"{where}: a control change number appears twice")
            velocity = _control(entry["velocity"], f"{where} velocity", cc=False) if entry.get("velocity") else None
            unmapped = entry.get("unmapped", {})
            if not isinstance(unmapped, dict):
                raise ExportError(f"{where}: 'unmapped' must map parameter names to explanations")
            voice_map = VoiceMap(synth=synth, voice=voice, note=note, track=str(entry.get("track", "")),
                                 controls=parsed, velocity=velocity, unmapped=dict(unmapped))
            _check_params(voice_map, where)
            voices.append(voice_map)
    return CCMap(name=data["name"], device=data["device"], channel=channel, voices=tuple(voices),
                 description=str(data.get("description", "")), source=str(data.get("source", "")))


def _check_params(voice_map: VoiceMap, where: str) -> None:
    try:
        cls = synth_class(voice_map.synth)
    except SynthError:
        return  # a plugin synth that is not installed: checked when a preset uses the map
    if voice_map.voice not in cls.voices:
        raise ExportError(f"{where}: synth {voice_map.synth!r} has no voice {voice_map.voice!r}")
    specs = {spec.name: spec for spec in cls.voice_param_specs(voice_map.voice)}
    carried = list(voice_map.controls) + ([voice_map.velocity] if voice_map.velocity else [])
    for control in carried + [Control(name, 0.0, 1.0) for name in voice_map.unmapped]:
        if control.param not in specs:
            raise ExportError(f"{where}: {voice_map.label} has no parameter {control.param!r}; "
                              f"parameters: {', '.join(specs)}")
    for control in carried:
        spec = specs[control.param]
        if control.min < spec.min or control.max > spec.max:
            raise ExportError(f"{where}: range {control.min:g} to {control.max:g} of {control.param!r} "
                              f"exceeds the parameter's {spec.range_text()}")
