"""Rendered kits: SFZ and Hydrogen drum kits, reading them back, atomic writes."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import soundfile

from matching.export import (ExportError, export_kit, import_presets, read_hydrogen_kit, read_kit, read_sfz,
                             write_sfz)
from matching.export.hydrogen import drumkit_xml
from matching.export.samples import plan_kit
from synths import Preset

NS = "{http://www.hydrogen-music.org/drumkit}"

# Hydrogen 1.2's drumkit format (data/xsd/drumkit.xsd of the Hydrogen repository, 1.2 releases):
# the ordered child elements of each element, which are required ("?" marks minOccurs="0"; the
# instrument's pan is either pan_L and pan_R, or pan), and their types.
DRUMKIT_INFO = ["name", "author", "info", "license", "image", "imageLicense", "componentList", "instrumentList"]
DRUMKIT_COMPONENT = ["id", "name", "volume"]
INSTRUMENT = ["id", "name", "volume", "isMuted", "isSoloed", "pan_L?", "pan_R?", "pan?", "pitchOffset",
              "randomPitchFactor", "gain", "applyVelocity",
              "filterActive", "filterCutoff", "filterResonance", "Attack", "Decay", "Sustain", "Release",
              "muteGroup", "midiOutChannel?", "midiOutNote?", "isStopNote?", "sampleSelectionAlgo", "isHihat",
              "lower_cc", "higher_cc", "FX1Level?", "FX2Level?", "FX3Level?", "FX4Level?"]
INSTRUMENT_COMPONENT = ["component_id", "gain"]  # then layer*
LAYER = ["filename", "min", "max", "gain", "pitch"]
BOOLS = {"isMuted", "isSoloed", "applyVelocity", "filterActive", "isStopNote"}
UNIT_FLOATS = {"pan_L", "pan_R", "randomPitchFactor", "filterCutoff", "filterResonance", "Sustain"}
INTEGERS = {"id", "muteGroup", "midiOutChannel", "midiOutNote", "isHihat", "lower_cc", "higher_cc", "component_id"}
NON_NEGATIVE = {"Attack", "Decay", "Release"}
DECIMALS = {"volume", "FX1Level", "FX2Level", "FX3Level", "FX4Level"}
FLOATS = {"gain", "min", "max", "pitch", "pitchOffset"}
SYMMETRIC_FLOATS = {"pan"}


def check_sequence(element, expected, extra=None):
    """Children of ``element`` in the order ``expected`` gives (names with "?" may be absent),
    followed only by any number of ``extra`` elements."""
    names = [child.tag.replace(NS, "") for child in element]
    assert all(child.tag.startswith(NS) for child in element), "every element is in the drumkit namespace"
    position = 0
    for name in expected:
        optional = name.endswith("?")
        name = name.rstrip("?")
        if position < len(names) and names[position] == name:
            position += 1
        else:
            assert optional, f"<{element.tag}>: expected <{name}> at position {position}, got {names[position:]}"
    assert all(name == extra for name in names[position:]), f"unexpected {names[position:]} in <{element.tag}>"


def check_value(element):
    name, text = element.tag.replace(NS, ""), (element.text or "").strip()
    if name in BOOLS:
        assert text in ("true", "false"), (name, text)
    elif name in UNIT_FLOATS:
        assert 0.0 <= float(text) <= 1.0, (name, text)
    elif name in INTEGERS:
        int(text)
    elif name in NON_NEGATIVE:
        assert int(text) >= 0, (name, text)
    elif name in DECIMALS:
        assert "e" not in text.lower(), (name, text)  # xsd:decimal has no exponent
        float(text)
    elif name in FLOATS:
        float(text)
    elif name in SYMMETRIC_FLOATS:
        assert -1.0 <= float(text) <= 1.0, (name, text)


def validate_drumkit(xml_bytes: bytes) -> ET.Element:
    """Check a drumkit.xml against the element structure and types of Hydrogen's drumkit.xsd."""
    root = ET.fromstring(xml_bytes)
    assert root.tag == NS + "drumkit_info"
    check_sequence(root, DRUMKIT_INFO)
    components = root.find(NS + "componentList")
    assert len(components) >= 1
    for component in components:
        assert component.tag == NS + "drumkitComponent"
        check_sequence(component, DRUMKIT_COMPONENT)
        for child in component:
            check_value(child)
    instruments = root.find(NS + "instrumentList")
    assert 1 <= len(instruments) <= 1000
    for instrument in instruments:
        assert instrument.tag == NS + "instrument"
        check_sequence(instrument, INSTRUMENT, extra="instrumentComponent")
        pans = [child.tag.replace(NS, "") for child in instrument if child.tag.replace(NS, "").startswith("pan")]
        assert pans in ([], ["pan_L", "pan_R"], ["pan"]), pans
        for child in instrument:
            check_value(child)
        for instrument_component in instrument.findall(NS + "instrumentComponent"):
            check_sequence(instrument_component, INSTRUMENT_COMPONENT, extra="layer")
            for layer in instrument_component.findall(NS + "layer"):
                check_sequence(layer, LAYER)
                for child in layer:
                    check_value(child)
    return root


@pytest.fixture(scope="module")
def kit():
    """Cheap-to-render sounds from two synths, with a named preset and a repeated voice."""
    return [
        Preset(synth="tr808", voice="BD", params={"tone": 2.5, "decay": 3.0}, name="dark kick"),
        Preset(synth="tr808", voice="CP", params={"level": 6.5}),
        Preset(synth="tr808", voice="RS", params={"level": 9.0}),
        Preset(synth="tr808", voice="RS", params={"level": 4.0}),
        Preset(synth="granular", voice="texture", seed=3),
    ]


def test_sfz_round_trip(tmp_path, kit):
    sfz_path = export_kit(kit, tmp_path / "My Kit", format="sfz")
    assert sfz_path == tmp_path / "My Kit" / "My_Kit.sfz"
    text = sfz_path.read_text()
    assert "loop_mode=one_shot" in text and "default_path=samples/" in text
    assert text.count("<region>") == len(kit)
    assert "<region> sample=01_dark_kick.wav lokey=36 hikey=36 pitch_keycenter=36" in text
    entries = read_sfz(sfz_path)
    # GM notes for TR-808 voices; the repeated rim shot and the granular sound get free notes from 36 up
    assert [e.note for e in entries] == [36, 39, 37, 38, 40]
    assert [e.sample for e in entries] == ["samples/01_dark_kick.wav", "samples/02_CP.wav", "samples/03_RS.wav",
                                           "samples/04_RS_2.wav", "samples/05_texture.wav"]
    assert [e.preset for e in entries] == kit
    assert import_presets(tmp_path / "My Kit") == kit
    for entry in entries:
        audio, rate = soundfile.read(tmp_path / "My Kit" / entry.sample, dtype="float32")
        synth = entry.preset.build_synth()
        assert rate == synth.sample_rate
        assert soundfile.info(tmp_path / "My Kit" / entry.sample).subtype == "FLOAT"
        np.testing.assert_array_equal(audio, entry.preset.render(synth).numpy())


def test_hydrogen_round_trip_and_format(tmp_path, kit):
    path = export_kit(kit, tmp_path / "Matched 808.h2drumkit", format="hydrogen")
    with tarfile.open(path, "r:gz") as archive:
        names = archive.getnames()
        assert {name.split("/")[0] for name in names} == {"Matched_808"}  # one folder named after the kit
        xml = archive.extractfile("Matched_808/drumkit.xml").read()
        root = validate_drumkit(xml)
        assert root.find(NS + "name").text == "Matched 808"
        instruments = root.find(NS + "instrumentList")
        files = [i.find(f"{NS}instrumentComponent/{NS}layer/{NS}filename").text for i in instruments]
        assert [f"Matched_808/{name}" for name in files] == [n for n in names if n.endswith(".wav")]
        assert [i.find(NS + "name").text for i in instruments] == ["dark kick", "CP", "RS", "RS 2", "texture"]
        assert [int(i.find(NS + "midiOutNote").text) for i in instruments] == [36, 39, 37, 38, 40]
        first = archive.extractfile(f"Matched_808/{files[0]}")
        audio, rate = soundfile.read(first, dtype="float32")
    np.testing.assert_array_equal(audio, kit[0].render().numpy())
    entries = read_hydrogen_kit(path)
    assert [e.preset for e in entries] == kit and [e.note for e in entries] == [36, 39, 37, 38, 40]
    assert import_presets(path) == kit


@pytest.mark.skipif(shutil.which("h2cli") is None,
                    reason="Hydrogen's h2cli is not installed (apt-get install hydrogen)")
def test_hydrogen_itself_accepts_the_kit(tmp_path):
    """Hydrogen's own checker (`h2cli --check`) validates the archive against its drumkit.xsd."""
    good = export_kit([Preset(synth="tr808", voice="RS"), Preset(synth="tr808", voice="CL")], tmp_path / "ok.h2drumkit",
                      format="hydrogen")
    with tarfile.open(good) as source, tarfile.open(tmp_path / "bad.h2drumkit", "w:gz") as broken:
        for member in source.getmembers():  # the same kit with one required element removed must fail
            data = source.extractfile(member).read() if member.isfile() else None
            if member.name.endswith("drumkit.xml"):
                data = data.replace(b"<isSoloed>false</isSoloed>", b"", 1)
                member.size = len(data)
            broken.addfile(member, io.BytesIO(data) if data is not None else None)
    # own HOME and TMPDIR; JACK_NO_START_SERVER: no audio server is started (the check needs none)
    environment = {**os.environ, "HOME": str(tmp_path), "TMPDIR": str(tmp_path), "JACK_NO_START_SERVER": "1"}

    def check(path):
        result = subprocess.run(["h2cli", "-d", "null", "-c", str(path)], capture_output=True, text=True,
                                env=environment, timeout=60)
        return result.stdout + result.stderr

    assert "is valid" in check(good)
    assert "INVALID" in check(tmp_path / "bad.h2drumkit")


def test_hydrogen_hihats_share_a_mute_group():
    kit = [Preset(synth="tr808", voice=v) for v in ("CH", "RS", "OH")]
    root = validate_drumkit(drumkit_xml(plan_kit(kit), "hats"))
    groups = [int(i.find(NS + "muteGroup").text) for i in root.find(NS + "instrumentList")]
    assert groups[0] == groups[2] >= 0 and groups[1] == -1


def test_hydrogen_kit_folder(tmp_path):
    kit = [Preset(synth="tr808", voice=v) for v in ("CL", "RS")]
    folder = export_kit(kit, tmp_path / "hats", format="hydrogen")  # not .h2drumkit: the unpacked kit
    assert sorted(p.name for p in folder.iterdir()) == ["01_CL.json", "01_CL.wav", "02_RS.json", "02_RS.wav",
                                                        "drumkit.xml"]
    validate_drumkit((folder / "drumkit.xml").read_bytes())
    assert [e.preset for e in read_kit(folder)] == kit
    assert [e.preset for e in read_kit(folder / "drumkit.xml")] == kit


def test_normalize_scales_each_peak(tmp_path):
    sfz_path = export_kit([Preset(synth="tr808", voice="RS", params={"level": 3.0})], tmp_path / "k",
                          format="sfz", normalize=True)
    audio, _ = soundfile.read(sfz_path.parent / "samples" / "01_RS.wav")
    assert abs(np.abs(audio).max() - 0.99) < 1e-6


def test_reads_sfz_written_by_other_tools(tmp_path):
    (tmp_path / "drums").mkdir()
    (tmp_path / "other.sfz").write_text(
        "// a kit from elsewhere\n<control> default_path=drums/\n<global> loop_mode=one_shot amp_veltrack=0\n"
        "<group> lokey=40 hikey=40\n<region> sample=kick one.wav key=c2 // spaces in the name\n"
        "<region> sample=snare.wav\n<group>\n<region> sample=hat.wav lokey=f#3 hikey=f#3\n")
    entries = read_sfz(tmp_path / "other.sfz")
    assert [(e.note, e.sample, e.preset) for e in entries] == [
        (36, "drums/kick one.wav", None), (40, "drums/snare.wav", None), (54, "drums/hat.wav", None)]
    with pytest.raises(ExportError, match="no preset stored for sample 'drums/kick one.wav'"):
        import_presets(tmp_path / "other.sfz")


def test_failed_export_leaves_the_old_kit(tmp_path, kit, monkeypatch):
    sfz_folder = tmp_path / "kit"
    archive = tmp_path / "kit.h2drumkit"
    write_sfz(kit[:2], sfz_folder)
    export_kit(kit[:2], archive, format="hydrogen")
    sfz_before = {p.relative_to(sfz_folder): p.read_bytes() for p in sfz_folder.rglob("*") if p.is_file()}
    archive_before = archive.read_bytes()
    original_render = Preset.render
    calls = []

    def failing_render(self, *args, **kwargs):
        calls.append(self.voice)
        if len(calls) == 2:
            raise RuntimeError("renderer crashed")
        return original_render(self, *args, **kwargs)

    monkeypatch.setattr(Preset, "render", failing_render)
    for target, format in ((sfz_folder, "sfz"), (archive, "hydrogen")):
        calls.clear()
        with pytest.raises(RuntimeError, match="renderer crashed"):
            export_kit(kit[2:], target, format=format)
    assert {p.relative_to(sfz_folder): p.read_bytes() for p in sfz_folder.rglob("*") if p.is_file()} == sfz_before
    assert archive.read_bytes() == archive_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kit", "kit.h2drumkit"]  # no temporary leftovers
    monkeypatch.setattr(Preset, "render", original_render)
    write_sfz(kit[2:3], sfz_folder)  # a previous kit is replaced whole
    assert [e.preset for e in read_sfz(sfz_folder)] == kit[2:3]
    assert sorted(p.name for p in (sfz_folder / "samples").iterdir()) == ["01_RS.json", "01_RS.wav"]


def test_kit_errors_are_named(tmp_path):
    kick = [Preset(synth="tr808", voice="BD")]
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not empty and holds no kit written by synthmatch"):
        export_kit(kick, tmp_path / "busy", format="sfz")
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["thesis.txt"]
    with pytest.raises(ExportError, match="does not exist"):
        export_kit(kick, tmp_path / "missing" / "kit.h2drumkit", format="hydrogen")
    with pytest.raises(ExportError, match="does not exist"):
        export_kit(kick, tmp_path / "missing" / "kit", format="sfz")
    with pytest.raises(ExportError, match="unknown kit format 'wav'; formats: sfz, hydrogen"):
        export_kit(kick, tmp_path / "x", format="wav")
    with pytest.raises(ExportError, match="no presets"):
        export_kit([], tmp_path / "x", format="sfz")
    with pytest.raises(ExportError, match="same MIDI note"):
        export_kit(kick * 2, tmp_path / "x", format="sfz", notes=[40, 40])
    (tmp_path / "bad.h2drumkit").write_bytes(b"not a tar")
    with pytest.raises(ExportError, match="not a readable .h2drumkit"):
        read_kit(tmp_path / "bad.h2drumkit")
    with pytest.raises(ExportError, match="no such kit"):
        read_kit(tmp_path / "nothing")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.h2drumkit", "busy"]

