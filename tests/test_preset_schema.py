"""Preset format: the published JSON Schema, format versions and migration of old files."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import torch

import synths
from synths import Preset, PresetError
from synths.preset import FORMAT_VERSION, migrate
from synths.schema import preset_json_schema

REPO = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO / "docs" / "preset.schema.json"
V1_FIXTURE = REPO / "tests" / "data" / "preset_v1.json"
BUILTIN_VOICES = [(name, voice) for name in ("tr808", "ddsp808", "granular")
                  for voice in synths.synth_class(name).voices]


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_published_schema_is_current():
    """docs/preset.schema.json must equal what `python -m synths.schema` generates now."""
    assert json.loads(SCHEMA_PATH.read_text()) == preset_json_schema(), \
        "regenerate with: python -m synths.schema > docs/preset.schema.json"


def test_example_presets_validate(validator):
    for path in [REPO / "examples/presets/tr808_bd.json", V1_FIXTURE]:
        assert list(validator.iter_errors(json.loads(path.read_text()))) == [], path


def test_written_presets_validate_for_every_voice(validator):
    generator = torch.Generator().manual_seed(0)
    for name, voice in BUILTIN_VOICES:
        synth = synths.get(name, voice=voice)
        preset = Preset.from_theta(synth, synth.random_theta(1, generator=generator), metadata={"k": [1, 2]})
        preset.name = f"{name} {voice}"
        data = json.loads(preset.to_json())
        assert list(validator.iter_errors(data)) == [], (name, voice)


@pytest.mark.parametrize("change", [
    {"params": {"level": 8.0, "decay": 10.5}},    # out of range
    {"params": {"cutoff": 1.0}},                   # unknown parameter of BD
    {"voice": "ZZ"},                               # unknown voice
    {"voice": "SD", "params": {"decay": 1.0}},     # BD has decay, SD does not
    {"version": 1, "name": "x"},                   # 'name' arrived in version 2
    {"version": FORMAT_VERSION + 1},
    {"seed": -1},
    {"colour": "red"},
    {"params": {"level": True}},
    {"name": 5},
])
def test_schema_and_loader_reject_the_same_presets(validator, change):
    data = {"format": "synthmatch-preset", "version": FORMAT_VERSION, "synth": "tr808", "voice": "BD",
            "seed": 0, "params": {"level": 8.0}, "metadata": {}}
    data.update(change)
    assert list(validator.iter_errors(data)), f"schema accepted {change}"
    with pytest.raises(PresetError):
        Preset.from_dict(data)


def test_single_voice_synth_takes_null_voice_only(validator):
    assert not list(validator.iter_errors({"synth": "ddsp808", "params": {"osc1_freq": 80.0}}))
    assert list(validator.iter_errors({"synth": "ddsp808", "voice": "BD"}))
    assert list(validator.iter_errors({"synth": "ddsp808", "params": {"osc1_freq": 5.0}}))


def test_version_1_file_loads_after_the_format_change(tmp_path):
    assert FORMAT_VERSION >= 2
    raw = json.loads(V1_FIXTURE.read_text())
    assert raw["version"] == 1 and "name" not in raw
    preset = Preset.load(V1_FIXTURE)
    assert (preset.synth, preset.voice, preset.seed) == ("tr808", "SD", 4)
    assert preset.params == {"level": 7.25, "tone": 3.5, "snappy": 8.125}
    assert preset.name is None and preset.version == FORMAT_VERSION
    assert preset.metadata["source"] == "snare.wav"
    # saving writes the current version, which loads back equal
    preset.save(tmp_path / "sd.json")
    saved = json.loads((tmp_path / "sd.json").read_text())
    assert saved["version"] == FORMAT_VERSION and saved["name"] is None
    assert Preset.load(tmp_path / "sd.json") == preset


def test_migrate_steps_and_errors():
    v1 = json.loads(V1_FIXTURE.read_text())
    before = copy.deepcopy(v1)
    migrated = migrate(v1)
    assert v1 == before, "migrate must not modify its input"
    assert migrated["version"] == FORMAT_VERSION and migrated["name"] is None
    assert migrated["calibration"] == "legacy"  # a tr808 preset from before the calibration
    assert {k: v for k, v in migrated.items() if k not in ("version", "name", "calibration")} == \
        {k: v for k, v in v1.items() if k != "version"}
    with pytest.raises(PresetError, match="unknown field 'name' for preset version 1"):
        migrate({**v1, "name": "x"}, source="old.json")
    with pytest.raises(PresetError, match="unsupported preset version 0"):
        migrate({**v1, "version": 0})
    with pytest.raises(PresetError, match="unsupported preset version True"):
        migrate({**v1, "version": True})


def test_name_round_trips_and_is_validated(tmp_path):
    preset = Preset(synth="tr808", voice="CH", params={"level": 6.0}, name="tight hat")
    preset.save(tmp_path / "ch.json")
    assert Preset.load(tmp_path / "ch.json").name == "tight hat"
    with pytest.raises(PresetError, match="name must be a string"):
        Preset(synth="tr808", voice="CH", name=3)


def test_calibration_field_version_3(tmp_path):
    """Presets older than version 3 were made on the uncalibrated TR-808 model: they keep it;
    a match records the calibration it was made with, and a reload renders the same."""
    v2 = {"format": "synthmatch-preset", "version": 2, "synth": "tr808", "voice": "BD", "name": None,
          "seed": 0, "params": {"level": 8.0, "decay": 7.0}, "metadata": {}}
    old = Preset.from_dict(v2)
    assert old.calibration == "legacy" and old.build_synth().calibration.name == "legacy"
    assert Preset.from_dict({**v2, "synth": "ddsp808", "voice": None, "params": {}}).calibration is None
    with pytest.raises(PresetError, match="unknown field 'calibration' for preset version 2"):
        Preset.from_dict({**v2, "calibration": "legacy"})
    synth = synths.get("tr808", voice="BD", calibration="legacy")
    made = Preset.from_theta(synth, synth.default_theta())
    assert made.calibration == "legacy"
    made.save(tmp_path / "p.json")
    again = Preset.load(tmp_path / "p.json")
    assert again == made and torch.equal(again.render(), made.render())
    current = Preset(synth="tr808", voice="BD")
    assert current.calibration is None and current.build_synth().calibration.name == "fischer-103852"
    with pytest.raises(PresetError, match="no-such: no such TR-808 calibration"):
        Preset(synth="tr808", voice="BD", calibration="no-such")
    with pytest.raises(PresetError, match="synth 'ddsp808' has no calibrations"):
        Preset(synth="ddsp808", calibration="legacy")
