"""ParamSpec conversions and the synth registry, including third-party entry points."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import synths
from synths import ParamSpec, Synth, SynthError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("scale,low,high", [("linear", -60.0, 6.0), ("log", 20.0, 2000.0), ("knob", 0.0, 10.0)])
def test_spec_round_trip(scale, low, high):
    spec = ParamSpec("p", "u", low, high, high, scale, "test")
    values = torch.linspace(0, 1, 11, dtype=torch.float64)
    physical = spec.from_normalized(values)
    assert physical[0].item() == pytest.approx(low) and physical[-1].item() == pytest.approx(high)
    assert torch.all(physical[1:] > physical[:-1])
    torch.testing.assert_close(spec.to_normalized(physical), values)
    assert spec.from_normalized(0.5) == pytest.approx(float(physical[5]))


def test_log_midpoint_is_geometric():
    spec = ParamSpec("f", "Hz", 20.0, 2000.0, 200.0, "log", "frequency")
    assert spec.from_normalized(0.5) == pytest.approx(200.0)


@pytest.mark.parametrize("kwargs,message", [
    (dict(min=1.0, max=1.0, default=1.0), "min"),
    (dict(min=0.0, max=1.0, default=0.5, scale="log"), "log scale"),
    (dict(min=0.0, max=1.0, default=2.0), "default"),
    (dict(min=0.0, max=1.0, default=0.5, scale="cubic"), "scale"),
])
def test_bad_specs_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ParamSpec(name="p", unit="u", **kwargs)


def test_builtins_registered():
    assert {"tr808", "ddsp808", "granular"} <= set(synths.available())
    assert isinstance(synths.get("tr808", voice="SD"), synths.TR808)


def test_unknown_synth_and_voice_errors():
    with pytest.raises(SynthError, match=r"unknown synth 'nope'; available: .*tr808"):
        synths.get("nope")
    with pytest.raises(SynthError, match=r"no voice 'XX'; voices: BD"):
        synths.get("tr808", voice="XX")
    with pytest.raises(SynthError, match="sample_rate"):
        synths.get("ddsp808", sample_rate=0)


def test_register_decorator_and_name_clash():
    @synths.register("test-sine")
    class Sine(Synth):
        """A test sine."""

        @classmethod
        def voice_param_specs(cls, voice):
            return (ParamSpec("freq", "Hz", 50.0, 500.0, 100.0, "log", "frequency"),)

        def synthesize(self, params):
            t = self.time_axis(params["freq"])
            return torch.sin(2 * torch.pi * params["freq"].unsqueeze(-1) * t)

    assert "test-sine" in synths.available()
    assert synths.get("test-sine", duration=0.01).n_samples == 441

    class Other(Sine):
        pass

    with pytest.raises(SynthError, match="taken"):
        synths.register("test-sine")(Other)


def test_third_party_synth_loads_through_entry_point(tmp_path):
    """The example package in examples/ is found through the entry-point group alone.

    A fresh interpreter sees the example's source and an installed-distribution record
    (``.dist-info`` with ``entry_points.txt``, what ``pip install`` writes) on its path,
    and nothing in this repository imports the example.
    """
    example = REPO / "examples" / "synthmatch-fm2op"
    dist_info = tmp_path / "synthmatch_fm2op-0.1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: synthmatch-fm2op\nVersion: 0.1.0\n")
    entry_points = example.joinpath("pyproject.toml").read_text().split('[project.entry-points."synthmatch.synths"]')[1]
    (dist_info / "entry_points.txt").write_text("[synthmatch.synths]\n" + entry_points.strip().replace('"', "") + "\n")
    script = textwrap.dedent(
        """
        import sys, synths
        assert "fm2op" in synths.available(), synths.available()
        synth = synths.get("fm2op")
        audio = synth(synth.default_theta())
        assert audio.shape == (1, 1, synth.n_samples) and float(audio.abs().max()) > 0.1
        preset = synths.Preset(synth="fm2op", params={"carrier": 440.0})
        print("ok", preset.render().shape[0])
        """
    )
    env_path = f"{tmp_path}:{example / 'src'}:{REPO}"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "11025"]
