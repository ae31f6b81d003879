"""Granular synth: the paper's texture task facts, chirp direction, density, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from synths.granular import TEXTURE_OCT_PER_TAN, Granular


def shift_scores(audio: torch.Tensor, sample_rate: int, lag_s: float, n_fft: int = 512,
                 bins_per_octave: int = 24, max_shift: int = 16) -> torch.Tensor:
    """Correlation of log-frequency spectrogram frames ``lag_s`` apart, per frequency shift in
    ``[-max_shift, max_shift]`` bins (a rising chirp peaks at a positive shift)."""
    hop = n_fft // 8
    spec = torch.stft(audio.double(), n_fft, hop_length=hop, window=torch.hann_window(n_fft, dtype=torch.float64),
                      return_complex=True).abs()  # [F, T]
    freqs = torch.arange(spec.shape[0], dtype=torch.float64) * sample_rate / n_fft
    f_lo, f_hi = 100.0, 0.45 * sample_rate
    log_f = f_lo * 2 ** (torch.arange(int(bins_per_octave * math.log2(f_hi / f_lo))) / bins_per_octave)
    pos = log_f / freqs[1]
    lo = pos.floor().long()
    frac = (pos - lo).unsqueeze(1)
    logspec = torch.log1p(100 * (spec[lo] * (1 - frac) + spec[lo + 1] * frac) / spec.max())  # [J, T]
    lag = max(1, int(round(lag_s * sample_rate / hop)))
    a, b = logspec[:, :-lag], logspec[:, lag:]
    scores = []
    for s in range(-max_shift, max_shift + 1):
        if s >= 0:
            scores.append((a[: a.shape[0] - s] * b[s:]).mean())
        else:
            scores.append((a[-s:] * b[: b.shape[0] + s]).mean())
    return torch.stack(scores)


def chirp_shift(audio: torch.Tensor, sample_rate: int, lag_s: float, **options) -> int:
    """Measured chirp: the log-frequency shift (bins) that best aligns frames ``lag_s`` apart."""
    scores = shift_scores(audio, sample_rate, lag_s, **options)
    return int(scores.argmax()) - scores.shape[0] // 2


def chirp_asymmetry(audio: torch.Tensor, sample_rate: int, lag_s: float, **options) -> float:
    """Measured chirp direction: how much better upward shifts align frames than downward ones
    (positive for rising chirps, negative for falling, ~0 for steady tones)."""
    scores = shift_scores(audio, sample_rate, lag_s, **options)
    half = scores.shape[0] // 2
    return float((scores[half + 1:] - scores[:half].flip(0)).sum() / scores.abs().max())


def test_texture_matches_the_paper_config():
    synth = Granular(voice="texture", seed=0)
    assert synth.sample_rate == 8192
    assert synth.n_samples == 32768
    assert synth.param_names == ("density", "slope")
    assert synth.n_grains == 64 and synth.grain_len == 4096
    onsets = synth._onsets(torch.zeros(1))
    assert onsets.min() >= 0 and onsets.max() + synth.grain_len <= synth.n_samples
    f0 = synth.texture_f0s(torch.zeros(1, dtype=torch.float64))
    assert f0.min() >= 256 and f0.max() <= 2048
    # max chirp rate +-8.47 oct/s, as in the paper
    max_rate = math.tan(math.radians(synth.spec("slope").max)) * TEXTURE_OCT_PER_TAN
    assert max_rate == pytest.approx(8.47, abs=0.01)
    audio = synth(synth.random_theta(5, generator=torch.Generator().manual_seed(0)))
    assert audio.shape == (5, 1, 32768)
    torch.testing.assert_close(audio.pow(2).sum(-1), torch.ones(5, 1), rtol=1e-4, atol=1e-4)


def test_seed_draws_are_private_and_seed_dependent():
    torch.manual_seed(0)
    a = Granular(voice="texture", seed=1).texture_f0s(torch.zeros(1))
    torch.manual_seed(99)
    b = Granular(voice="texture", seed=1).texture_f0s(torch.zeros(1))
    c = Granular(voice="texture", seed=2).texture_f0s(torch.zeros(1))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("slope", [-1.0, -0.6, 0.6, 1.0])
def test_texture_slope_sign_matches_measured_chirp(slope):
    synth = Granular(voice="texture", seed=3)
    theta = torch.tensor([[0.3, (slope + 1) / 2]], dtype=torch.float64)
    audio = synth(theta)[0, 0]
    rate = math.tan(math.radians(synth.spec("slope").from_normalized((slope + 1) / 2))) * TEXTURE_OCT_PER_TAN
    lag = 4.0 / (24 * abs(rate))  # expect a shift of about 4 bins of 1/24 octave
    shift = chirp_shift(audio, synth.sample_rate, lag)
    assert shift * slope > 0, (slope, shift)
    assert abs(abs(shift) - 4) <= 2


@pytest.mark.parametrize("slope", [-4.0, -1.5, 1.5, 4.0])
def test_cloud_slope_sign_matches_measured_chirp(slope):
    synth = Granular(voice="cloud", seed=0)
    theta = synth.normalize({"slope": slope, "grain_dur": 0.2, "density": 5.0, "spread": 0.2},
                            dtype=torch.float64)
    audio = synth(theta)[0, 0]
    asymmetry = chirp_asymmetry(audio, synth.sample_rate, lag_s=0.05, n_fft=1024)
    assert asymmetry * slope > 0, (slope, asymmetry)
    shift = chirp_shift(audio, synth.sample_rate, lag_s=0.05, n_fft=1024)
    assert abs(shift - slope * 0.05 * 24) <= 1.5  # the measured rate matches the parameter (oct/s)


def test_steady_texture_does_not_chirp():
    synth = Granular(voice="texture", seed=3)
    audio = synth(torch.tensor([[0.5, 0.5]], dtype=torch.float64))[0, 0]
    assert chirp_shift(audio, synth.sample_rate, 0.05) == 0
    assert abs(chirp_asymmetry(audio, synth.sample_rate, 0.05)) < 0.3


@pytest.mark.parametrize("voice", ["texture", "cloud"])
def test_density_monotonically_adds_grains(voice):
    synth = Granular(voice=voice, seed=0)
    spec = synth.spec("density")
    density = spec.from_normalized(torch.linspace(0, 1, 21, dtype=torch.float64))
    gains = synth.grain_gains({"density": density})
    total = gains.sum(-1)
    assert (total.diff() > 0).all()
    active = (gains > 0.5).sum(-1)
    assert (active.diff() >= 0).all() and active[-1] > active[0]
    if voice == "cloud":
        assert (gains.diff(dim=0) >= -1e-12).all()  # every slot's gate opens with density
    if voice == "texture":
        assert total[0] < 2 and total[-1] == pytest.approx(64)


def test_texture_density_spreads_energy_over_time():
    """More grains sound -> the energy covers more of the 4 s (measured on the audio)."""
    synth = Granular(voice="texture", seed=0)
    theta = torch.tensor([[0.0, 0.5], [0.5, 0.5], [1.0, 0.5]], dtype=torch.float64)
    frames = synth(theta)[:, 0].reshape(3, 64, -1).pow(2).sum(-1)
    coverage = (frames > 0.01 * frames.max(dim=1, keepdim=True).values).double().mean(dim=1)
    assert coverage[0] < coverage[1] < coverage[2]


def test_chirplet_config():
    synth = Granular(voice="chirplet", seed=0)
    assert synth.sample_rate == 8192 and synth.n_samples == 32768
    assert synth.param_names == ("am", "fm")
    assert abs(synth.chirplet_delay()) <= 2048
    audio = synth(synth.random_theta(3, generator=torch.Generator().manual_seed(0)))
    assert audio.shape == (3, 1, 32768) and torch.isfinite(audio).all()
    # a wider window (lower fm) spreads the energy over more time
    wide, narrow = synth(torch.tensor([[0.5, 0.0], [0.5, 1.0]]))[:, 0].pow(2)
    spread = [(e > 1e-3 * e.max()).sum() for e in (wide, narrow)]
    assert spread[0] > spread[1]


def _check_grads(synth, rows):
    for theta in rows:
        theta = theta.clone().double().requires_grad_(True)
        audio = synth(theta)
        target = torch.linspace(-1, 1, audio.shape[-1], dtype=audio.dtype)
        (audio * target).sum().add(audio.pow(2).sum()).backward()
        assert torch.isfinite(theta.grad).all()
        assert (theta.grad != 0).all(), theta.grad


@pytest.mark.parametrize("voice,options", [
    ("texture", {}),
    ("texture", {"sample_rate": 1024, "duration": 1.0}),
    ("cloud", {"sample_rate": 8000, "duration": 0.05}),
    ("chirplet", {"sample_rate": 2048, "duration": 0.25}),
])
def test_gradcheck(voice, options):
    synth = Granular(voice=voice, seed=1, **options)
    interior = synth.random_theta(1, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    rows = [interior, torch.zeros(1, synth.n_params, dtype=torch.float64),
            torch.ones(1, synth.n_params, dtype=torch.float64)]
    for theta in rows:
        theta = theta.clone().requires_grad_(True)
        assert torch.autograd.gradcheck(synth, (theta,), eps=1e-8, atol=1e-5, rtol=1e-3,
                                        fast_mode=synth.n_samples > 1024)  # full Jacobian on short renders
    _check_grads(synth, rows)
