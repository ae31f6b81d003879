"""DDSP808: the SCRAPL paper's 14-parameter percussive voice."""

from __future__ import annotations

import pytest
import torch

from synths.ddsp808 import DDSP808, limited_cutoff

EXPECTED = {
    "osc1_freq": (20, 2000, "log"), "osc1_mod": (-1, 2, "linear"),
    "osc2_freq": (20, 2000, "log"), "osc2_mod": (-1, 2, "linear"),
    "pitch_decay": (10, 2000, "log"), "osc1_decay": (10, 2000, "log"),
    "osc2_decay": (10, 2000, "log"), "noise_decay": (10, 2000, "log"),
    "noise_q": (0.5, 10, "log"),
    "osc1_gain": (-60, 6, "linear"), "osc2_gain": (-60, 6, "linear"), "noise_gain": (-60, 6, "linear"),
    "drive": (-24, 24, "linear"),
}


def test_fourteen_parameters_with_the_stated_ranges():
    synth = DDSP808()
    assert synth.n_params == 14
    assert synth.sample_rate == 44100 and synth.n_samples == 44100
    for name, (low, high, scale) in EXPECTED.items():
        spec = synth.spec(name)
        assert (spec.min, spec.max, spec.scale) == (low, high, scale), name
    cutoff = synth.spec("noise_cutoff")
    assert cutoff.min == 20 and cutoff.scale == "log"
    assert 0.4 * 44100 < cutoff.max < 0.5 * 44100


@pytest.mark.parametrize("sample_rate", [8000, 22050, 44100])
def test_effective_cutoff_stays_below_nyquist(sample_rate):
    cutoff = torch.tensor([20.0, 1000.0, 19845.0, 40000.0], dtype=torch.float64)
    effective = limited_cutoff(cutoff, sample_rate)
    assert (effective <= 0.49 * sample_rate).all()
    assert (effective.diff() >= 0).all()
    if sample_rate == 44100:  # the full range is usable at the default rate
        assert (effective.diff() > 0).all()
        torch.testing.assert_close(effective[:3], cutoff[:3], rtol=2e-3, atol=0)


def test_shapes_and_bounded_output():
    synth = DDSP808(duration=0.05, sample_rate=8000)
    theta = synth.random_theta(4, generator=torch.Generator().manual_seed(0))
    audio = synth(theta)
    assert audio.shape == (4, 1, 400)
    assert torch.isfinite(audio).all() and audio.abs().max() <= 1.0
    for value in (0.0, 1.0):
        edge = synth(torch.full((2, 14), value, dtype=torch.float64))
        assert torch.isfinite(edge).all() and edge.abs().max() > 0


def _only(synth, **physical):
    """Normalized theta with every gain at -60 dB except the given physical values."""
    params = {"osc1_gain": -60.0, "osc2_gain": -60.0, "noise_gain": -60.0, "drive": -24.0}
    params.update(physical)
    return synth.normalize(params, dtype=torch.float64)


def test_oscillator_pitch_and_envelope_direction():
    synth = DDSP808(duration=0.5)
    steady = synth(_only(synth, osc1_gain=0.0, osc1_freq=440.0, osc1_mod=0.0, osc1_decay=2000.0))[0, 0]
    spectrum = torch.fft.rfft(steady).abs()
    peak_hz = spectrum.argmax().item() * synth.sample_rate / steady.shape[0]
    assert abs(peak_hz - 440) < 4
    # a positive pitch-envelope depth starts high and falls towards f0: more zero crossings early
    swept = synth(_only(synth, osc1_gain=0.0, osc1_freq=200.0, osc1_mod=2.0, pitch_decay=300.0,
                        osc1_decay=2000.0))[0, 0]
    crossings = (swept[1:] * swept[:-1] < 0).double()
    early, late = crossings[:2205].sum(), crossings[-2205:].sum()
    assert early > 1.5 * late


def test_noise_cutoff_removes_low_frequencies_and_seed_matters():
    synth = DDSP808(duration=0.25)
    low = synth(_only(synth, noise_gain=0.0, noise_cutoff=100.0, noise_decay=2000.0))[0, 0]
    high = synth(_only(synth, noise_gain=0.0, noise_cutoff=8000.0, noise_decay=2000.0))[0, 0]
    band = slice(1, int(2000 * low.shape[0] / synth.sample_rate))
    assert torch.fft.rfft(high).abs()[band].pow(2).sum() < 0.05 * torch.fft.rfft(low).abs()[band].pow(2).sum()
    other = DDSP808(duration=0.25, seed=1)(_only(synth, noise_gain=0.0, noise_decay=2000.0))
    assert not torch.allclose(other[0, 0], synth(_only(synth, noise_gain=0.0, noise_decay=2000.0))[0, 0])


def test_drive_saturates_without_clipping():
    synth = DDSP808(duration=0.1)
    loud = synth.normalize({"drive": 12.0, "osc1_gain": 0.0, "osc2_gain": -60.0, "noise_gain": -60.0,
                            "osc1_decay": 2000.0}, dtype=torch.float64)
    audio = synth(loud)[0, 0]
    assert 0.99 < audio.abs().max() < 1.0
    # soft saturation: the waveform's slope stays continuous (no flat clipped runs)
    assert (audio[1:] == audio[:-1]).sum() == 0


def test_gradcheck_and_nonzero_gradients():
    synth = DDSP808(duration=0.05, sample_rate=8000)
    interior = synth.random_theta(1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    rows = [interior, torch.zeros(1, 14, dtype=torch.float64), torch.ones(1, 14, dtype=torch.float64)]
    for theta in rows:
        theta = theta.clone().requires_grad_(True)
        assert torch.autograd.gradcheck(synth, (theta,), eps=1e-7, atol=1e-5, rtol=1e-3)
        audio = synth(theta)
        target = torch.linspace(-1, 1, audio.shape[-1], dtype=audio.dtype)
        (audio * target).sum().add(audio.pow(2).sum()).backward()
        assert torch.isfinite(theta.grad).all()
        zero = [synth.param_names[i] for i in range(14) if theta.grad[0, i] == 0]
        assert not zero, f"zero gradient for {zero} at {theta.detach()[0, 0].item()}"
