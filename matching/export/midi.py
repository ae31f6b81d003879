"""Standard MIDI Files that play presets on a drum machine, and reading them back.

A written file (type 0, 480 ticks per beat) holds, in order:

* a text meta event ``synthmatch-midi {"cc_map": ..., "channel": ...}`` naming the CC map;
* tempo and 4/4 time signature;
* per preset, at its first note: a text meta event ``synthmatch-preset {...}`` holding the
  full preset JSON; then before every note the control changes of the CC map for the
  voice's knobs (each 0-10 knob linearly onto 0-127), then the note on the voice's General
  MIDI drum note with the velocity carrying the level knob, and a note-off half a step later.

Without a pattern the presets play one after another, one a beat (a kit); with a pattern
each plays on the hits of its step string.

Reading (:func:`presets_from_midi`) prefers the preset meta event, which restores every
parameter exactly, including those no control change carries (e.g. the TR-808 bass drum
tone on the TR-8S map). Where a control change or the velocity disagrees with the stored
value after quantization (the file was edited in a sequencer), the MIDI value wins for that
parameter. Files without meta events (a sequencer's recording of the device) fall back to
the control changes and velocity alone, within one 1/127 step of each parameter's range;
parameters no MIDI value carries then take their defaults.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional, Union

import mido

from synths import Preset, PresetError
from synths.files import PathLike, atomic_output

from .cc_maps import DEFAULT_CC_MAP, CCMap, VoiceMap, load_cc_map
from .common import ExportError
from .pattern import Pattern, parse_steps

TICKS_PER_BEAT = 480
PRESET_META = "synthmatch-preset "
FILE_META = "synthmatch-midi "

CCMapLike = Union[str, Path, CCMap]


def preset_label(preset: Preset) -> str:
    """The name a pattern uses for a preset: its voice, or the synth for single-voice synths."""
    return preset.voice if preset.voice is not None else preset.synth


def _check_channel(channel: int) -> int:
    if isinstance(channel, bool) or not isinstance(channel, int) or not 1 <= channel <= 16:
        raise ExportError(f"MIDI channel must be 1 to 16, got {channel!r}")
    return channel


def _schedule(presets: Sequence[Preset], pattern: Optional[Pattern], steps_per_beat: int
              ) -> tuple[list[list[int]], int, int]:
    """Note-on ticks per preset, the note length and the file length, in ticks."""
    if pattern is None:
        gate = TICKS_PER_BEAT // 2
        return [[i * TICKS_PER_BEAT] for i in range(len(presets))], gate, len(presets) * TICKS_PER_BEAT
    if isinstance(steps_per_beat, bool) or not isinstance(steps_per_beat, int) or not 1 <= steps_per_beat <= 96:
        raise ExportError(f"steps per beat must be an integer from 1 to 96, got {steps_per_beat!r}")
    labels = [preset_label(p) for p in presets]
    if isinstance(pattern, str):
        step_lists = [parse_steps(pattern)] * len(presets)
    else:
        unknown = sorted(set(pattern) - set(labels))
        if unknown:
            raise ExportError(f"the pattern names voice {unknown[0]!r} but no preset has it "
                              f"(presets: {', '.join(labels)})")
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise ExportError(f"two presets have voice {twice[0]!r}; a pattern by voice needs one preset a voice "
                              "(or give one step string for all)")
        missing = [label for label in labels if label not in pattern]
        if missing:
            raise ExportError(f"the pattern has no steps for voice {missing[0]!r}; add {missing[0]}=... "
                              "or give one step string for all")
        step_lists = [parse_steps(pattern[label], f"pattern for {label}") for label in labels]
    for label, steps in zip(labels, step_lists):
        if not any(steps):
            raise ExportError(f"the pattern for {label!r} has no hit ('x'), so the preset would not be in the file")

    def tick(step: int) -> int:
        return round(step * TICKS_PER_BEAT / steps_per_beat)

    gate = max(1, (tick(1) - tick(0)) // 2)
    ticks = [[tick(i) for i, hit in enumerate(steps) if hit] for steps in step_lists]
    return ticks, gate, tick(max(len(steps) for steps in step_lists))


def preset_to_midi(preset: Preset, path: PathLike, cc_map: CCMapLike = DEFAULT_CC_MAP,
                   channel: Optional[int] = None) -> Path:
    """Write a Standard MIDI File that plays one preset on a drum machine; returns its path.

    One note on the voice's General MIDI drum note, preceded by the control changes of the CC
    map (``"tr8s"``, ``"tr8"`` or a map file's path) for the voice's knobs; the full preset
    travels in a text meta event, so :func:`presets_from_midi` restores it exactly.
    :func:`presets_to_midi` of ``[preset]`` (``channel`` 1-16, default the map's, 10).
    """
    return presets_to_midi([preset], path, cc_map=cc_map, channel=channel)


def presets_to_midi(presets: Iterable[Preset], path: PathLike, cc_map: CCMapLike = DEFAULT_CC_MAP,
                    channel: Optional[int] = None, pattern: Optional[Pattern] = None, bpm: float = 120.0,
                    steps_per_beat: int = 4, name: Optional[str] = None) -> Path:
    """Write a Standard MIDI File playing ``presets`` (atomically) and return its path.

    Args:
        presets: the sounds; each needs an entry in the CC map.
        path: output ``.mid`` file (its folder must exist).
        cc_map: shipped map name (``"tr8s"``, ``"tr8"``), a map file's path, or a :class:`CCMap`.
        channel: MIDI channel 1-16 (default: the map's, 10 for the drum channel).
        pattern: ``None`` (a kit: one note a beat, in order), one step string for every
            preset (``"x...x..."``), or ``{voice: step string}`` (see :mod:`.pattern`).
        bpm: tempo in beats per minute.
        steps_per_beat: pattern steps per beat (4: sixteenth notes).
        name: track name (default ``"synthmatch"``).

    Raises:
        ExportError: no presets, a preset the map does not cover (naming the synth and the
            maps there are), a bad pattern, channel or tempo.
    """
    presets = list(presets)
    if not presets:
        raise ExportError("nothing to export: no presets given")
    device_map = load_cc_map(cc_map)
    entries = [device_map.for_preset(preset) for preset in presets]
    channel = _check_channel(device_map.channel if channel is None else channel)
    if isinstance(bpm, bool) or not isinstance(bpm, (int, float)) or not math.isfinite(bpm) or not 1 <= bpm <= 1000:
        raise ExportError(f"tempo must be 1 to 1000 bpm, got {bpm!r}")
    note_ticks, gate, length = _schedule(presets, pattern, steps_per_beat)

    events: list[tuple[int, int, mido.Message]] = []  # (tick, order, message)

    def add(tick: int, message: Union[mido.Message, mido.MetaMessage]) -> None:
        events.append((tick, len(events), message))

    track_name = (name or "synthmatch").encode("latin-1", "replace").decode("latin-1")  # MIDI text is 8-bit
    add(0, mido.MetaMessage("track_name", name=track_name))
    add(0, mido.MetaMessage("text", text=FILE_META + json.dumps({"cc_map": device_map.name, "channel": channel})))
    add(0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    add(0, mido.MetaMessage("time_signature", numerator=4, denominator=4))
    hits = sorted((tick, index) for index, ticks in enumerate(note_ticks) for tick in ticks)
    announced: set[int] = set()
    for tick, index in hits:
        preset, entry = presets[index], entries[index]
        if index not in announced:
            announced.add(index)
            text = json.dumps(preset.to_dict(), separators=(",", ":"), ensure_ascii=True, allow_nan=False)
            add(tick, mido.MetaMessage("text", text=PRESET_META + text))
        for control in entry.controls:
            add(tick, mido.Message("control_change", channel=channel - 1, control=control.cc,
                                   value=control.encode(preset.params[control.param])))
        velocity = entry.velocity.encode(preset.params[entry.velocity.param]) if entry.velocity else 100
        add(tick, mido.Message("note_on", channel=channel - 1, note=entry.note, velocity=velocity))
        # note-offs sort before anything else at their tick (order -1)
        events.append((tick + gate, -1, mido.Message("note_off", channel=channel - 1, note=entry.note, velocity=0)))

    track = mido.MidiTrack()
    now = 0
    for tick, _, message in sorted(events, key=lambda event: (event[0], event[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(length, now) - now))
    midi_file = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    midi_file.tracks.append(track)
    path = Path(path)
    try:
        with atomic_output(path) as temporary:
            midi_file.save(str(temporary))
    except FileNotFoundError as error:
        raise ExportError(str(error)) from None
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def _read_midi(path: Path) -> mido.MidiFile:
    try:
        return mido.MidiFile(str(path))
    except FileNotFoundError:
        raise ExportError(f"{path}: no such MIDI file") from None
    except (OSError, EOFError, ValueError, KeyError) as error:
        reason = str(error).splitlines()[0] if str(error) else "the file ends too early"
        raise ExportError(f"{path}: not a readable Standard MIDI File ({reason})") from None


def _preset_at_note(entry: VoiceMap, stored: Optional[Preset], controls_seen: dict[int, int],
                    velocity: int, source: str) -> Preset:
    params = dict(stored.params) if stored is not None else {}
    carried = set()
    for control in entry.controls:
        if control.cc in controls_seen:
            carried.add(control.param)
            value = controls_seen[control.cc]
            if stored is None or control.encode(stored.params[control.param]) != value:
                params[control.param] = control.decode(value)
    velocity_control = entry.velocity
    if velocity_control is not None and velocity_control.param not in carried:
        if stored is None or velocity_control.encode(stored.params[velocity_control.param]) != velocity:
            params[velocity_control.param] = velocity_control.decode(velocity)
    try:
        if stored is not None:
            return Preset(synth=stored.synth, voice=stored.voice, params=params, seed=stored.seed,
                          metadata=dict(stored.metadata), name=stored.name)
        return Preset(synth=entry.synth, voice=entry.voice, params=params, metadata={"source": source})
    except PresetError as error:
        raise ExportError(f"{source}: {error}") from None


def presets_from_midi(path: PathLike, cc_map: Optional[CCMapLike] = None,
                      channel: Optional[int] = None) -> list[Preset]:
    """The presets a MIDI file plays: one per distinct sound, in order of first note.

    Args:
        path: a Standard MIDI File (type 0 or 1).
        cc_map: the map to read notes and control changes with (default: the one the file
            names in its ``synthmatch-midi`` meta event, else :data:`DEFAULT_CC_MAP`).
        channel: 1-16 (default: the file's, else the map's).

    The full preset stored in a ``synthmatch-preset`` meta event is used where present
    (exact), corrected by any control change or velocity that disagrees with it; otherwise
    the control changes and velocity alone give the parameters (within 1/127 of each range;
    the rest take their defaults). Notes the map does not know are ignored.
    """
    path = Path(path)
    midi_file = _read_midi(path)
    messages = list(mido.merge_tracks(midi_file.tracks))
    file_info: dict = {}
    for message in messages:
        if message.is_meta and message.type == "text" and message.text.startswith(FILE_META):
            try:
                file_info = json.loads(message.text[len(FILE_META):])
            except json.JSONDecodeError:
                file_info = {}
            break
    device_map = load_cc_map(cc_map if cc_map is not None else file_info.get("cc_map", DEFAULT_CC_MAP))
    channel = _check_channel(channel if channel is not None else file_info.get("channel", device_map.channel))

    stored: dict[tuple[str, Optional[str]], Preset] = {}
    controls_seen: dict[int, int] = {}
    presets: list[Preset] = []
    notes_elsewhere: set[int] = set()
    for message in messages:
        if message.is_meta:
            if message.type == "text" and message.text.startswith(PRESET_META):
                try:
                    preset = Preset.from_json(message.text[len(PRESET_META):], source=f"{path} (preset meta event)")
                except PresetError as error:
                    raise ExportError(str(error)) from None
                stored[(preset.synth, preset.voice)] = preset
            continue
        if getattr(message, "channel", None) != channel - 1:
            if message.type == "note_on" and message.velocity > 0:
                notes_elsewhere.add(message.channel + 1)
            continue
        if message.type == "control_change":
            controls_seen[message.control] = message.value
        elif message.type == "note_on" and message.velocity > 0:
            entry = device_map.for_note(message.note)
            if entry is None:
                continue
            preset = _preset_at_note(entry, stored.get((entry.synth, entry.voice)), controls_seen,
                                     message.velocity, path.name)
            if preset not in presets:
                presets.append(preset)
    if not presets:
        other = f"; it has notes on channel {', '.join(map(str, sorted(notes_elsewhere)))}" if notes_elsewhere else ""
        raise ExportError(f"{path}: no notes of MIDI CC map {device_map.name!r} on channel {channel}{other}")
    return presets
