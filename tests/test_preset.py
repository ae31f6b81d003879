"""Presets: JSON round trip, validation messages, atomic writes, rendering."""

from __future__ import annotations

import json

import pytest
import torch

import synths
from synths import Preset, PresetError


def test_round_trip(tmp_path):
    preset = Preset(synth="tr808", voice="BD", params={"level": 8, "tone": 2.5, "decay": 7.0},
                    seed=3, metadata={"source": "kick.wav"})
    path = tmp_path / "bd.json"
    preset.save(path)
    loaded = Preset.load(path)
    assert loaded == preset
    assert json.loads(path.read_text())["version"] == synths.FORMAT_VERSION


def test_missing_params_take_defaults():
    preset = Preset(synth="tr808", voice="BD", params={"tone": 1.0})
    synth = preset.build_synth()
    assert preset.params["tone"] == 1.0
    assert preset.params["decay"] == synth.spec("decay").default


def test_renders_what_the_synth_renders():
    preset = Preset(synth="ddsp808", params={"osc1_freq": 80.0}, seed=2)
    synth = synths.get("ddsp808", seed=2)
    expected = synth.render({"osc1_freq": 80.0})[0, 0]
    torch.testing.assert_close(preset.render(), expected)


def test_from_theta_inverts_theta():
    synth = synths.get("tr808", voice="CY")
    theta = synth.random_theta(1, generator=torch.Generator().manual_seed(0))
    preset = Preset.from_theta(synth, theta)
    torch.testing.assert_close(preset.theta(synth), theta, atol=1e-6, rtol=0)


@pytest.mark.parametrize("data,message", [
    ({"synth": "moog"}, r"unknown synth 'moog'; available: .*tr808"),
    ({"synth": "tr808", "voice": "ZZ"}, r"no voice 'ZZ'; voices: BD"),
    ({"synth": "tr808", "voice": "BD", "params": {"cutoff": 1}}, r"tr808/BD has no parameter 'cutoff'; parameters: level, tone, decay"),
    ({"synth": "tr808", "voice": "BD", "params": {"decay": 11}}, r"'decay' = 11 is out of range: expected 0 to 10 \(knob\)"),
    ({"synth": "ddsp808", "params": {"osc1_freq": 5}}, r"'osc1_freq' = 5 is out of range: expected 20 to 2000 Hz \(log\)"),
    ({"synth": "tr808", "voice": "BD", "params": {"tone": "high"}}, "must be a finite number"),
    ({"synth": "tr808", "params": []}, "params"),
    ({"synth": "tr808", "seed": -1}, "seed"),
    ({"synth": "tr808", "version": 99}, "unsupported preset version 99"),
    ({"synth": "tr808", "colour": "red"}, "unknown field 'colour'"),
    ([1, 2], "must be a JSON object"),
])
def test_invalid_presets_name_the_problem(tmp_path, data, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PresetError, match=message) as error:
        Preset.load(path)
    assert str(path) in str(error.value)


def test_unreadable_files(tmp_path):
    with pytest.raises(PresetError, match="no such preset file"):
        Preset.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(PresetError, match="not valid JSON"):
        Preset.load(broken)


def test_failed_write_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / "p.json"
    Preset(synth="tr808", voice="BD").save(path)
    before = path.read_text()
    preset = Preset(synth="tr808", voice="BD", params={"tone": 9.0})
    monkeypatch.setattr(json, "dumps", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError):
        preset.save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_saved_files_get_the_usual_permissions(tmp_path):
    import os
    umask = os.umask(0o022)
    try:
        path = tmp_path / "p.json"
        Preset(synth="tr808", voice="BD").save(path)
        assert (path.stat().st_mode & 0o777) == 0o644       # not mkstemp's 0600
    finally:
        os.umask(umask)
