"""The encoders shipped in matching/pretrained/: present, small, loadable offline, accurate."""
from __future__ import annotations

import pytest
import torch

import synths
from matching.match import match_preset
from matching.models import PRETRAINED_DIR, load_pretrained, pretrained_models

TR808 = list(synths.synth_class("tr808").voices)
EXPECTED = [f"tr808-{v}" for v in TR808] + ["ddsp808", "granular-texture"]
MAX_BYTES = 5 * 2 ** 20


def test_every_model_ships_and_is_small():
    assert sorted(EXPECTED) == pretrained_models()
    for name in EXPECTED:
        size = (PRETRAINED_DIR / f"{name}.safetensors").stat().st_size
        assert size <= MAX_BYTES, (name, size)


@pytest.mark.parametrize("synth,voice", [("tr808", v) for v in TR808]
                         + [("ddsp808", None), ("granular", "texture")])
def test_encoder_estimates_held_out_presets(synth, voice):
    """Encoder alone on 16 held-out random presets (seed never used in training): mean
    absolute normalized parameter error (a uniform random guess scores 0.33).  Validation
    errors at training time: tr808 voices 0.003-0.025, granular texture 0.014, ddsp808 0.164
    (its 14 parameters are not identifiable from the sound alone: see
    benchmarks/ddsp808_identifiability.py)."""
    model = load_pretrained(synth, voice)
    assert model is not None and model.synth == synth and model.voice == voice
    # (the tr808 encoders are trained on the default calibration, fischer-103852)
    s = synths.get(synth, voice=voice, seed=0, duration=model.features.n_samples / model.features.sample_rate)
    theta = torch.rand(16, s.n_params, generator=torch.Generator().manual_seed(777))
    with torch.no_grad():
        pred = model(s(theta))
    err = float((pred - theta).abs().mean())
    assert err < LIMITS.get(f"{synth}-{voice}" if voice else synth, 0.06), err


# default 0.06 (2-3x the validation errors above); ddsp808 0.21 (1.25x its 0.168 here;
# the previous, smaller ddsp808 model scored 0.18-0.19 and a uniform guess 0.33)
LIMITS = {"ddsp808": 0.21}


def test_match_preset_uses_the_shipped_encoder():
    bd = synths.get("tr808", voice="BD")
    audio = bd.render({"level": 6.0, "tone": 4.0, "decay": 3.0})
    result = match_preset(audio, "tr808", voice="BD", sample_rate=44100, refine=False,
                          candidates=4, progress=False)
    assert "BD" in result.report["encoder_scores"]
    assert result.report["encoder_scores"]["BD"] < result.report["default_scores"]["BD"]
    for name, value in {"level": 6.0, "tone": 4.0, "decay": 3.0}.items():
        assert result.preset.params[name] == pytest.approx(value, abs=1.0), name
