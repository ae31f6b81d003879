"""`synthmatch export` and `synthmatch import`: outputs, round trips, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mido
import pytest

from matching.cli import main
from matching.export import presets_from_midi, read_hydrogen_kit, read_sfz
from synths import Preset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def preset_files(tmp_path):
    presets = [Preset(synth="tr808", voice="BD", params={"tone": 2.75, "decay": 7.5}, name="kick"),
               Preset(synth="tr808", voice="SD", params={"snappy": 6.25})]
    paths = []
    for preset in presets:
        paths.append(tmp_path / f"{preset.voice}.json")
        preset.save(paths[-1])
    return presets, [str(path) for path in paths]


def test_export_midi_pattern_and_import_it_back(tmp_path, preset_files, capsys):
    presets, paths = preset_files
    out = tmp_path / "beat.mid"
    assert main(["export", *paths, "--midi", str(out), "--pattern", "BD=x...x...,SD=....x...", "--bpm", "100"]) == 0
    assert f"wrote {out} (2 presets as a pattern, CC map tr8s, channel 10)" in capsys.readouterr().out
    midi_file = mido.MidiFile(out)
    ticks, now = [], 0
    for message in midi_file.tracks[0]:
        now += message.time
        if message.type == "note_on":
            ticks.append((now, message.note, message.channel))
        if message.type == "set_tempo":
            assert message.tempo == mido.bpm2tempo(100)
    assert ticks == [(0, 36, 9), (480, 36, 9), (480, 38, 9)]

    assert main(["import", str(out), "-o", str(tmp_path / "back")]) == 0
    written = sorted((tmp_path / "back").iterdir())
    assert [p.name for p in written] == ["01_kick.json", "02_SD.json"]
    assert [Preset.load(p) for p in written] == presets


def test_export_kits_and_import_them(tmp_path, preset_files, capsys):
    presets, paths = preset_files
    kit, sfz = tmp_path / "kit.h2drumkit", tmp_path / "sfz"
    assert main(["export", *paths, "--kit", str(kit), "--sfz", str(sfz), "--name", "Two",
                 "--midi", str(tmp_path / "kit.mid"), "--cc-map", "tr8", "--channel", "2"]) == 0
    out = capsys.readouterr().out
    assert "Hydrogen drum kit of 2 presets" in out and "SFZ instrument of 2 presets" in out
    assert "CC map tr8, channel 2" in out
    assert [e.preset for e in read_hydrogen_kit(kit)] == presets
    assert [e.preset for e in read_sfz(sfz / "Two.sfz")] == presets
    assert presets_from_midi(tmp_path / "kit.mid") == presets
    for source in (kit, sfz, sfz / "Two.sfz"):
        target = tmp_path / f"from_{source.name}"
        assert main(["import", str(source), "-o", str(target)]) == 0
        assert [Preset.load(p) for p in sorted(target.iterdir())] == presets


def test_usage_errors_exit_2(tmp_path, preset_files, capsys):
    _, paths = preset_files
    for argv, message in [
        (["export", *paths], "export needs at least one output: --midi OUT.mid, --kit OUT.h2drumkit or --sfz DIR"),
        (["export", *paths, "--midi", "x.mid", "--pattern", "BD=x.y."], "step 3 is 'y'"),
        (["export", *paths, "--midi", "x.mid", "--pattern", "BD=x...,=x..."], "write VOICE=STEPS pairs"),
        (["import", paths[0]], "the following arguments are required: -o/--output"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BD.json", "SD.json"]


def test_input_errors_exit_1_and_write_nothing(tmp_path, preset_files, capsys):
    _, paths = preset_files
    cloud = tmp_path / "cloud.json"
    Preset(synth="granular").save(cloud)
    existing = tmp_path / "old.mid"
    existing.write_bytes(b"old content")
    for argv, message in [
        (["export", paths[0], str(cloud), "--midi", str(existing)],
         "no MIDI CC map for synth 'granular' (maps: tr8 (tr808), tr8s (tr808))"),
        (["export", *paths, "--midi", str(existing), "--pattern", "BD=x...,HH=..x."],
         "the pattern names voice 'HH' but no preset has it (presets: BD, SD)"),
        (["export", *paths, "--midi", str(existing), "--cc-map", "tr909"], "unknown MIDI CC map 'tr909'"),
        (["export", *paths, "--midi", str(tmp_path / "no" / "x.mid")], "does not exist"),
        (["export", *paths, "--kit", str(tmp_path / "no" / "x.h2drumkit")], "does not exist"),
        (["export", str(tmp_path / "none.json"), "--midi", str(existing)], "no such preset file"),
        (["import", str(existing), "-o", str(tmp_path / "out")], "not a readable Standard MIDI File"),
    ]:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("synthmatch: error: ") and message in err and err.count("\n") == 1, err
    assert existing.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["BD.json", "SD.json", "cloud.json", "old.mid"]


def test_console_error_is_one_line():
    result = subprocess.run([sys.executable, "-m", "matching", "export", str(REPO / "examples/presets/tr808_bd.json"),
                             "--midi", "/nonexistent-folder/x.mid"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "folder /nonexistent-folder does not exist" in result.stderr
