"""MIDI export and import: GM notes, TR-8S/TR-8 control changes, velocity, patterns, round trips."""

from __future__ import annotations

import json
import random

import mido
import pytest

from matching.export import (ExportError, preset_to_midi, available_cc_maps, load_cc_map, presets_from_midi,
                             presets_to_midi)
from synths import Preset
from synths.tr808 import VOICE_KNOBS, VOICES

# From the issue: General MIDI drum notes of the TR-808 voices.
GM_NOTES = {"BD": 36, "SD": 38, "LT": 43, "MT": 47, "HT": 50, "RS": 37, "CP": 39, "CH": 42, "OH": 46,
            "CY": 49, "CB": 56, "CL": 75, "MA": 70, "LC": 64, "MC": 63, "HC": 62}
# Roland TR-8S MIDI implementation: (tune, decay, level) control changes per instrument track.
TR8S_TRACKS = {"BD": (20, 23, 24), "SD": (25, 28, 29), "LT": (46, 47, 48), "MT": (49, 50, 51),
               "HT": (52, 53, 54), "RS": (55, 56, 57), "HC": (58, 59, 60), "CH": (61, 62, 63),
               "OH": (80, 81, 82), "CC": (83, 84, 85), "RC": (86, 87, 88)}
# What each TR-808 knob drives on the TR-8S: (track, 0 tune / 1 decay / 2 level); the TR-8 adds
# BD attack 21 and SD snappy 26.
TR8S_EXPECTED = {
    "BD": {"level": ("BD", 2), "decay": ("BD", 1)}, "SD": {"level": ("SD", 2), "tone": ("SD", 0)},
    "LT": {"level": ("LT", 2), "tuning": ("LT", 0)}, "MT": {"level": ("MT", 2), "tuning": ("MT", 0)},
    "HT": {"level": ("HT", 2), "tuning": ("HT", 0)}, "LC": {"level": ("LT", 2), "tuning": ("LT", 0)},
    "MC": {"level": ("MT", 2), "tuning": ("MT", 0)}, "HC": {"level": ("HT", 2), "tuning": ("HT", 0)},
    "CY": {"level": ("CC", 2), "tone": ("CC", 0), "decay": ("CC", 1)},
    "OH": {"level": ("OH", 2), "decay": ("OH", 1)}, "CH": {"level": ("CH", 2)}, "RS": {"level": ("RS", 2)},
    "CL": {"level": ("RS", 2)}, "CP": {"level": ("HC", 2)}, "MA": {"level": ("HC", 2)}, "CB": {"level": ("RC", 2)},
}
HALF_STEP = 10 / 127 / 2  # CC quantization bound for a 0-10 knob: half of one 1/127 step


def random_kit(seed: int = 0) -> list[Preset]:
    """One preset per TR-808 voice with random (unquantized) knob values."""
    rng = random.Random(seed)
    return [Preset(synth="tr808", voice=voice, seed=rng.randrange(100),
                   params={name: rng.uniform(0, 10) for name, _, _ in VOICE_KNOBS[voice]})
            for voice in VOICES]


def read_events(path):
    """[(absolute tick, message)] of a MIDI file."""
    now, events = 0, []
    for message in mido.merge_tracks(mido.MidiFile(path).tracks):
        now += message.time
        events.append((now, message))
    return events


def note_ons(path):
    return [(tick, m) for tick, m in read_events(path) if m.type == "note_on" and m.velocity > 0]


def controls_before_each_note(path):
    """{note: {cc: value}} of the control changes sent since the previous note."""
    pending, result = {}, {}
    for _, message in read_events(path):
        if message.type == "control_change":
            pending[message.control] = message.value
        elif message.type == "note_on" and message.velocity > 0:
            result.setdefault(message.note, pending)
            pending = {}
    return result


def strip_presets(source, target):
    """Copy a MIDI file without its synthmatch text meta events (as a sequencer recording would be)."""
    midi_file = mido.MidiFile(source)
    for track in midi_file.tracks:
        carry = 0
        kept = mido.MidiTrack()
        for message in track:
            if message.is_meta and message.type == "text" and message.text.startswith("synthmatch"):
                carry += message.time
                continue
            kept.append(message.copy(time=message.time + carry))
            carry = 0
        track[:] = kept
    midi_file.save(target)


def test_kit_plays_gm_notes_on_channel_10_with_velocity_from_level(tmp_path):
    kit = random_kit(1)
    kit[0].params["level"] = 0.0   # velocity 0 would be a note-off: the floor is 1
    kit[1].params["level"] = 10.0
    path = presets_to_midi(kit, tmp_path / "kit.mid")
    ons = note_ons(path)
    assert [m.note for _, m in ons] == [GM_NOTES[v] for v in VOICES]
    assert {m.channel for _, m in read_events(path) if not m.is_meta} == {9}  # channel 10
    assert [tick for tick, _ in ons] == [480 * i for i in range(len(VOICES))]  # one a beat
    expected = [max(1, round(p.params["level"] * 12.7)) for p in kit]
    assert [m.velocity for _, m in ons] == expected
    assert expected[0] == 1 and expected[1] == 127


@pytest.mark.parametrize("map_name", ["tr8s", "tr8"])
def test_control_changes_follow_the_roland_implementation(tmp_path, map_name):
    kit = random_kit(2)
    path = presets_to_midi(kit, tmp_path / "kit.mid", cc_map=map_name)
    sent = controls_before_each_note(path)
    for preset in kit:
        expected = {TR8S_TRACKS[track][role]: round(preset.params[param] * 12.7)
                    for param, (track, role) in TR8S_EXPECTED[preset.voice].items()}
        if map_name == "tr8" and preset.voice == "BD":
            expected[21] = round(preset.params["tone"] * 12.7)    # BD attack
        if map_name == "tr8" and preset.voice == "SD":
            expected[26] = round(preset.params["snappy"] * 12.7)  # SD snappy
        assert sent[GM_NOTES[preset.voice]] == expected, preset.voice


def test_shipped_maps_cover_every_knob_or_say_why():
    assert available_cc_maps() == ["tr8", "tr8s"]
    for name in available_cc_maps():
        cc_map = load_cc_map(name)
        assert cc_map.channel == 10 and cc_map.synths() == ["tr808"]
        for entry in cc_map.voices:
            carried = {control.param for control in entry.controls}
            knobs = {knob for knob, _, _ in VOICE_KNOBS[entry.voice]}
            assert carried | set(entry.unmapped) == knobs, (name, entry.voice)
            assert not carried & set(entry.unmapped)
            assert entry.velocity is not None and entry.velocity.param == "level"
            assert entry.note == GM_NOTES[entry.voice]
    assert set(load_cc_map("tr8s").for_preset(Preset(synth="tr808", voice="BD")).unmapped) == {"tone"}


@pytest.mark.parametrize("map_name", ["tr8s", "tr8"])
def test_round_trip_with_stored_presets_is_exact(tmp_path, map_name):
    kit = random_kit(3)
    kit[0].name, kit[0].metadata = "dark kick", {"loss": 0.125}
    path = presets_to_midi(kit, tmp_path / "kit.mid", cc_map=map_name)
    assert presets_from_midi(path) == kit


@pytest.mark.parametrize("map_name", ["tr8s", "tr8"])
def test_round_trip_through_control_changes_alone_is_within_one_cc_step(tmp_path, map_name):
    kit = random_kit(4)
    path = presets_to_midi(kit, tmp_path / "kit.mid", cc_map=map_name)
    strip_presets(path, tmp_path / "bare.mid")
    restored = presets_from_midi(tmp_path / "bare.mid", cc_map=map_name)
    assert [(p.synth, p.voice) for p in restored] == [(p.synth, p.voice) for p in kit]
    errors = []
    for original, back in zip(kit, restored):
        entry = load_cc_map(map_name).for_preset(original)
        for knob, value in original.params.items():
            if knob in entry.unmapped:     # no CC carries it: the default comes back
                assert back.params[knob] == 5.0
                continue
            errors.append(abs(back.params[knob] - value))
            assert errors[-1] <= HALF_STEP + 1e-12, (original.voice, knob)
    assert max(errors) > HALF_STEP / 2  # values really were quantized


def test_edited_control_change_wins_over_the_stored_preset(tmp_path):
    kick = Preset(synth="tr808", voice="BD", params={"level": 7.0, "tone": 3.3, "decay": 6.0})
    path = presets_to_midi([kick], tmp_path / "kick.mid")
    midi_file = mido.MidiFile(path)
    for message in midi_file.tracks[0]:
        if message.type == "control_change" and message.control == 23:  # BD decay
            message.value = 127
    midi_file.save(tmp_path / "edited.mid")
    (back,) = presets_from_midi(tmp_path / "edited.mid")
    assert back.params == {"level": 7.0, "tone": 3.3, "decay": 10.0}


def test_velocity_carries_level_when_no_control_change_does(tmp_path):
    custom = {"name": "bare", "device": "test box", "channel": 3, "synths": {"tr808": {
        "BD": {"note": 35, "velocity": {"param": "level", "min": 0, "max": 10},
               "controls": [{"cc": 70, "param": "decay", "min": 0, "max": 10}]}}}}
    map_path = tmp_path / "bare.json"
    map_path.write_text(json.dumps(custom))
    kick = Preset(synth="tr808", voice="BD", params={"level": 3.21, "decay": 9.87, "tone": 1.0})
    path = presets_to_midi([kick], tmp_path / "kick.mid", cc_map=str(map_path))
    (tick, on), = note_ons(path)
    assert (on.note, on.channel, on.velocity) == (35, 2, round(32.1 * 1.27))
    strip_presets(path, tmp_path / "bare.mid")
    (back,) = presets_from_midi(tmp_path / "bare.mid", cc_map=str(map_path), channel=3)
    assert abs(back.params["level"] - 3.21) <= HALF_STEP and abs(back.params["decay"] - 9.87) <= HALF_STEP
    assert back.params["tone"] == 5.0


def test_pattern_note_ticks_follow_the_step_strings(tmp_path):
    kit = [Preset(synth="tr808", voice="BD"), Preset(synth="tr808", voice="SD"), Preset(synth="tr808", voice="CH")]
    pattern = {"BD": "x...x...", "SD": "....x..x", "CH": "x-x- x-x- | x"}
    path = presets_to_midi(kit, tmp_path / "beat.mid", pattern=pattern, bpm=96)
    hits = {}
    for tick, message in note_ons(path):
        hits.setdefault(message.note, []).append(tick)
    step = 480 // 4
    assert hits == {36: [0, 4 * step], 38: [4 * step, 7 * step], 42: [0, 2 * step, 4 * step, 6 * step, 8 * step]}
    events = read_events(path)
    tempo = [m.tempo for _, m in events if m.type == "set_tempo"]
    assert tempo == [mido.bpm2tempo(96)]
    assert events[-1][1].type == "end_of_track" and events[-1][0] == 9 * step
    # every note is preceded by its control changes, also on repeats
    level_ccs = [tick for tick, m in events if m.type == "control_change" and m.control == 24]
    assert level_ccs == hits[36]
    assert presets_from_midi(path) == [kit[0], kit[2], kit[1]]  # in order of first note


def test_one_step_string_for_all_and_triplet_steps(tmp_path):
    kit = [Preset(synth="tr808", voice="BD"), Preset(synth="tr808", voice="CP")]
    path = presets_to_midi(kit, tmp_path / "t.mid", pattern="x..x", steps_per_beat=3)
    assert [(tick, m.note) for tick, m in note_ons(path)] == [(0, 36), (0, 39), (480, 36), (480, 39)]


@pytest.mark.parametrize("pattern,message", [
    ({"BD": "x.o."}, r"bad pattern for BD 'x\.o\.': step 3 is 'o'"),
    ({"BD": ""}, "has no steps"),
    ({"BD": "x...", "XX": "x..."}, "names voice 'XX' but no preset has it"),
    ({}, "no steps for voice 'BD'"),
    ({"BD": "...."}, "pattern for 'BD' has no hit"),
])
def test_bad_patterns_are_named(tmp_path, pattern, message):
    with pytest.raises(ExportError, match=message):
        presets_to_midi([Preset(synth="tr808", voice="BD")], tmp_path / "x.mid", pattern=pattern)
    assert not (tmp_path / "x.mid").exists()


def test_pattern_by_voice_needs_one_preset_a_voice(tmp_path):
    kicks = [Preset(synth="tr808", voice="BD"), Preset(synth="tr808", voice="BD", params={"tone": 1.0})]
    with pytest.raises(ExportError, match="two presets have voice 'BD'"):
        presets_to_midi(kicks, tmp_path / "x.mid", pattern={"BD": "x..."})
    # as a kit, two kicks are two distinct sounds and both come back
    presets_to_midi(kicks, tmp_path / "k.mid")
    assert presets_from_midi(tmp_path / "k.mid") == kicks


def test_synth_without_a_map_is_a_clear_error(tmp_path):
    with pytest.raises(ExportError) as error:
        presets_to_midi([Preset(synth="tr808", voice="BD"), Preset(synth="granular")], tmp_path / "x.mid")
    assert str(error.value).startswith("no MIDI CC map for synth 'granular' (maps: tr8 (tr808), tr8s (tr808))")
    with pytest.raises(ExportError, match="unknown MIDI CC map 'tr909' .maps: tr8, tr8s"):
        presets_to_midi([Preset(synth="tr808")], tmp_path / "x.mid", cc_map="tr909")
    with pytest.raises(ExportError, match="channel must be 1 to 16"):
        presets_to_midi([Preset(synth="tr808")], tmp_path / "x.mid", channel=0)
    with pytest.raises(ExportError, match="no presets"):
        presets_to_midi([], tmp_path / "x.mid")
    assert list(tmp_path.iterdir()) == []


def test_bad_map_files_are_named(tmp_path):
    base = {"name": "m", "device": "d", "synths": {"tr808": {
        "BD": {"note": 36, "controls": [{"cc": 20, "param": "decay", "min": 0, "max": 10}]},
        "SD": {"note": 38, "controls": [{"cc": 21, "param": "snappy", "min": 0, "max": 10}]}}}}
    cases = [
        (("SD", "note"), 36, "note 36 is already used by tr808/BD"),
        (("SD", "controls"), [{"cc": 21, "param": "decay", "min": 0, "max": 10}], "tr808/SD has no parameter 'decay'"),
        (("SD", "controls"), [{"cc": 121, "param": "snappy", "min": 0, "max": 10}], "cc = 121 is out of range"),
        (("SD", "controls"), [{"cc": 21, "param": "snappy", "min": 0, "max": 20}], "exceeds the parameter's 0 to 10"),
    ]
    for index, ((voice, key), value, message) in enumerate(cases):
        data = json.loads(json.dumps(base))
        data["synths"]["tr808"][voice][key] = value
        path = tmp_path / f"map{index}.json"
        path.write_text(json.dumps(data))
        with pytest.raises(ExportError, match=message):
            load_cc_map(str(path))


def test_preset_to_midi_method(tmp_path):
    snare = Preset(synth="tr808", voice="SD", params={"snappy": 9.1, "tone": 2.0}, name="snap")
    preset_to_midi(snare, tmp_path / "sd.mid", cc_map="tr8")
    assert presets_from_midi(tmp_path / "sd.mid") == [snare]
    assert controls_before_each_note(tmp_path / "sd.mid")[38][26] == round(91 * 1.27)


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "kit.mid"
    presets_to_midi([Preset(synth="tr808", voice="BD")], path)
    before = path.read_bytes()

    def broken_save(self, filename=None, file=None):
        with open(filename, "wb") as handle:
            handle.write(b"MThd\x00")  # half a header, then the disk fills up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mido.MidiFile, "save", broken_save)
    with pytest.raises(ExportError, match="cannot write .*kit.mid: No space left on device"):
        presets_to_midi([Preset(synth="tr808", voice="SD")], path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["kit.mid"]


def test_unwritable_and_unreadable_files(tmp_path):
    with pytest.raises(ExportError, match="does not exist"):
        presets_to_midi([Preset(synth="tr808")], tmp_path / "missing" / "x.mid")
    junk = tmp_path / "junk.mid"
    junk.write_bytes(b"not midi at all")
    with pytest.raises(ExportError, match="not a readable Standard MIDI File"):
        presets_from_midi(junk)
    with pytest.raises(ExportError, match="no such MIDI file"):
        presets_from_midi(tmp_path / "none.mid")
    presets_to_midi([Preset(synth="tr808")], tmp_path / "ch5.mid", channel=5)
    with pytest.raises(ExportError, match="no notes of MIDI CC map 'tr8s' on channel 10; it has notes on channel 5"):
        presets_from_midi(tmp_path / "ch5.mid", channel=10)
    assert len(presets_from_midi(tmp_path / "ch5.mid")) == 1  # the file names its channel
