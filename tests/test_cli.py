"""The synthmatch command line: listing, rendering, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import soundfile

import synths

from matching.cli import main
from synths import Preset

REPO = Path(__file__).resolve().parents[1]


def test_lists_synths_voices_and_parameters(capsys):
    assert main(["synths"]) == 0
    out = capsys.readouterr().out
    for text in ("tr808", "voice BD", "snappy", "ddsp808", "granular", "texture", "slope"):
        assert text in out
    assert main(["synths", "tr808", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in listing[0]["voices"]["BD"]["params"]] == ["level", "tone", "decay"]


def test_render_writes_wav_and_prints_params(tmp_path, capsys):
    preset_path = tmp_path / "sd.json"
    Preset(synth="tr808", voice="SD", params={"snappy": 8.0}).save(preset_path)
    out_path = tmp_path / "sd.wav"
    assert main(["render", str(preset_path), "-o", str(out_path)]) == 0
    printed = capsys.readouterr().out
    assert "snappy" in printed and "8" in printed
    audio, rate = soundfile.read(out_path)
    assert rate == 44100 and audio.ndim == 1 and abs(audio).max() > 0.01


def test_bundled_preset_renders(tmp_path):
    out_path = tmp_path / "bd.wav"
    assert main(["render", str(REPO / "examples/presets/tr808_bd.json"), "-o", str(out_path)]) == 0
    # the voice's render length (3 s since the calibration: the real BD at decay 10 rings 3.7 s)
    assert soundfile.info(out_path).frames == synths.get("tr808", voice="BD").n_samples == 3 * 44100


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "matching", *args], capture_output=True, text=True, cwd=REPO)


def test_bad_arguments_one_line_error(tmp_path):
    result = run_cli("render")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "error" in result.stderr

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"synth": "tr808", "voice": "BD", "params": {"tone": 42}}))
    out_path = tmp_path / "never.wav"
    result = run_cli("render", str(bad), "-o", str(out_path))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "'tone' = 42 is out of range: expected 0 to 10" in result.stderr
    assert not out_path.exists()

    result = run_cli("render", str(REPO / "examples/presets/tr808_bd.json"), "-o", str(tmp_path / "x.mp4"))
    assert result.returncode == 1 and "unsupported audio extension" in result.stderr
    assert list(tmp_path.iterdir()) == [bad]

    result = run_cli("synths", "nope")
    assert result.returncode == 1 and "unknown synth 'nope'" in result.stderr
