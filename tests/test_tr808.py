"""TR-808 specific facts: pitch, brightness and decay follow the panel knobs like the real
unit's, every voice renders, level 0 is silent, and gradients are exact and non-vanishing."""

from __future__ import annotations

import math

import pytest
import torch

from synths.tr808 import TR808, VOICE_KNOBS, VOICES

TOMS = TR808(voice="LT").calibration.toms  # the default calibration's tom/conga constants

torch.set_num_threads(2)

SWEEP = (0.0, 2.5, 5.0, 7.5, 10.0)


def render(voice: str, duration=None, sample_rate=None, **knobs) -> torch.Tensor:
    """Physical knob values -> mono float64 audio ``[n]``."""
    synth = TR808(voice=voice, duration=duration, sample_rate=sample_rate, seed=0)
    return synth.render(knobs, batch_size=1, dtype=torch.float64)[0, 0]


def fundamental_hz(audio: torch.Tensor, sample_rate: int, low=20.0, high=2000.0) -> float:
    """Frequency of the largest spectral peak in [low, high] (zero-padded FFT, parabolic refinement)."""
    n_fft = 16 * audio.shape[-1]
    spectrum = torch.fft.rfft(audio * torch.hann_window(audio.shape[-1], dtype=audio.dtype), n=n_fft).abs()
    freqs = torch.fft.rfftfreq(n_fft, 1 / sample_rate, dtype=audio.dtype)
    band = (freqs >= low) & (freqs <= high)
    index = int(torch.nonzero(band)[0]) + int(spectrum[band].argmax())
    a, b, c = (float(v) for v in spectrum[index - 1 : index + 2].log())
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return float(freqs[index]) + offset * sample_rate / n_fft


def centroid_hz(audio: torch.Tensor, sample_rate: int) -> float:
    spectrum = torch.fft.rfft(audio).abs()
    freqs = torch.fft.rfftfreq(audio.shape[-1], 1 / sample_rate, dtype=audio.dtype)
    return float((freqs * spectrum).sum() / spectrum.sum())


def decay_time_s(audio: torch.Tensor, sample_rate: int, drop_db: float = 40.0, frame_s: float = 0.025) -> float:
    """Time from the peak of the smoothed (framed RMS) envelope until it is ``drop_db`` below it."""
    frame, hop = int(frame_s * sample_rate), int(0.002 * sample_rate)
    envelope = audio.pow(2).unfold(0, frame, hop).mean(-1).sqrt()
    peak = int(envelope.argmax())
    below = envelope[peak:] < envelope[peak] * 10 ** (-drop_db / 20)
    assert below.any(), "the envelope never falls far enough; render longer"
    return int(below.nonzero()[0]) * hop / sample_rate


def strictly_increasing(values) -> bool:
    return all(b > a for a, b in zip(values, values[1:]))


# ------------------------------------------------------------------------ voice data
def test_voice_list_and_knobs_are_the_panel():
    assert TR808.voices == VOICES == ("BD", "SD", "LT", "MT", "HT", "LC", "MC", "HC",
                                      "CY", "OH", "CH", "RS", "CL", "CP", "MA", "CB")
    expected = {"BD": ("level", "tone", "decay"), "SD": ("level", "tone", "snappy"),
                "CY": ("level", "tone", "decay"), "OH": ("level", "decay")}
    expected.update({v: ("level", "tuning") for v in ("LT", "MT", "HT", "LC", "MC", "HC")})
    expected.update({v: ("level",) for v in ("CH", "RS", "CL", "CP", "MA", "CB")})
    for voice in VOICES:
        specs = TR808.voice_param_specs(voice)
        assert tuple(s.name for s in specs) == expected[voice] == tuple(k[0] for k in VOICE_KNOBS[voice])
        assert all((s.min, s.max, s.scale, s.unit) == (0.0, 10.0, "knob", "knob") for s in specs)
        assert 0.1 <= TR808.voice_duration(voice) <= 4.0
    assert TR808.name == "tr808" and TR808.default_voice == "BD" and TR808.default_sample_rate == 44100


# ------------------------------------------------------------------------ rendering
@pytest.mark.parametrize("voice", VOICES)
def test_every_voice_renders_level_zero_silent_and_sane_peak(voice):
    synth = TR808(voice=voice, seed=0)
    names = synth.param_names
    others = [n for n in names if n != "level"]
    settings = [{}] + [{n: v for n in others} for v in (0.0, 10.0)] if others else [{}]
    for knobs in settings:
        audio = synth.render({**knobs, "level": 10.0}, batch_size=2)
        assert audio.shape == (2, 1, round(synth.voice_duration(voice) * 44100))
        assert torch.isfinite(audio).all()
        peak = float(audio.abs().max())
        # the calibrated output gains put level 10 at the recorded unit's level (peaks near
        # -2.5 dBFS); the model's Gaussian snare noise has a higher crest factor than the
        # unit's, so SD at tone and snappy 10 peaks at ~1.6
        assert 0.1 <= peak <= 2.0, f"{voice} {knobs}: peak {peak}"
        silent = synth.render({**knobs, "level": 0.0}, batch_size=1)
        assert torch.count_nonzero(silent) == 0


# ------------------------------------------------------------------------ acoustic facts
@pytest.mark.parametrize("voice", list(TOMS))
def test_tom_and_conga_tuning_moves_the_fundamental_up(voice):
    low, high = TOMS[voice].tuning_hz.at_0, TOMS[voice].tuning_hz.at_10
    f0 = [fundamental_hz(render(voice, tuning=k), 44100) for k in SWEEP]
    assert strictly_increasing(f0), f"{voice}: {f0}"
    # the measured pitch sits in the voice's range (the glide pulls it up slightly)
    assert low * 0.97 <= f0[0] <= low * 1.1 and high * 0.97 <= f0[-1] <= high * 1.1, f0


def test_bass_drum_pitch_is_about_50_hz():
    assert 45.0 <= fundamental_hz(render("BD", decay=8.0), 44100) <= 60.0


def test_bass_drum_tone_raises_the_spectral_centroid():
    centroids = [centroid_hz(render("BD", tone=k), 44100) for k in SWEEP]
    assert strictly_increasing(centroids), centroids


@pytest.mark.parametrize("voice", ["BD", "CY", "OH"])
def test_decay_knob_lengthens_the_decay(voice):
    times = [decay_time_s(render(voice, decay=k), 44100) for k in SWEEP]
    assert strictly_increasing(times), f"{voice}: {times}"
    assert times[-1] > 2 * times[0]


def test_snare_tone_and_snappy():
    # tone moves energy from the ~180 Hz to the ~330 Hz resonator: the centroid rises
    centroids = [centroid_hz(render("SD", tone=k, snappy=0.0), 44100) for k in SWEEP]
    assert strictly_increasing(centroids), centroids
    # snappy adds high-passed noise: more energy above 2 kHz
    def high_energy(audio):
        spectrum = torch.fft.rfft(audio).abs().pow(2)
        freqs = torch.fft.rfftfreq(audio.shape[-1], 1 / 44100, dtype=audio.dtype)
        return float(spectrum[freqs > 2000].sum())
    energies = [high_energy(render("SD", snappy=k)) for k in SWEEP]
    assert strictly_increasing(energies), energies


def test_metallic_and_noise_voices_have_their_spectra():
    hat = centroid_hz(render("OH"), 44100)
    assert hat > 5000.0, hat
    bell = fundamental_hz(render("CB"), 44100, low=300.0, high=4000.0)
    assert 500.0 <= bell <= 3000.0, bell
    clave = fundamental_hz(render("CL"), 44100, low=300.0, high=6000.0)
    assert abs(clave - 2500.0) < 100.0, clave
    # cymbal tone knob moves weight to the high band
    cymbal = [centroid_hz(render("CY", tone=k), 44100) for k in SWEEP]
    assert strictly_increasing(cymbal), cymbal


def test_clap_has_several_quick_bursts():
    audio = render("CP")
    envelope = audio[: int(0.045 * 44100)].pow(2).unfold(0, 88, 88).mean(-1).sqrt()  # 2 ms frames
    rises = (envelope[1:] > 1.5 * envelope[:-1]).nonzero().flatten()
    onsets = [int(rises[0])] + [int(b) for a, b in zip(rises, rises[1:]) if b - a > 2] if len(rises) else []
    assert len(onsets) >= 2, envelope  # plus the onset at t = 0: three or more bursts


def test_rimshot_saturation_is_smooth():
    audio = render("RS")
    # no flat-topped (hard-clipped) runs: consecutive samples at the peak value do not repeat
    peak = audio.abs().max()
    assert int((audio.abs() > 0.999 * peak).sum()) <= 3


# ------------------------------------------------------------------------ gradients
def _gradient_rows(synth: TR808, generator: torch.Generator) -> torch.Tensor:
    n = synth.n_params
    rows = [torch.rand(2, n, generator=generator, dtype=torch.float64) * 0.8 + 0.1,
            torch.ones(1, n, dtype=torch.float64)]
    low = torch.zeros(1, n, dtype=torch.float64)
    low[0, 0] = 1.0  # every knob at 0 but level at 10 (at level 0 the voice is silent)
    rows.append(low)
    silent = torch.full((1, n), 0.5, dtype=torch.float64)
    silent[0, 0] = 0.0  # level exactly 0: still a gradient for level
    rows.append(silent)
    return torch.cat(rows)


@pytest.mark.parametrize("voice", VOICES)
def test_gradcheck_and_nonvanishing_gradients(voice):
    synth = TR808(voice=voice, duration=0.02, sample_rate=16000, seed=0)
    theta = _gradient_rows(synth, torch.Generator().manual_seed(VOICES.index(voice)))
    theta.requires_grad_(True)
    assert torch.autograd.gradcheck(synth, (theta,), eps=1e-6, atol=1e-5, rtol=1e-4, fast_mode=True)

    audio = synth(theta)[:, 0]
    weights = torch.randn(audio.shape, generator=torch.Generator().manual_seed(1), dtype=audio.dtype)
    (audio * weights).sum().backward()
    grad = theta.grad
    assert torch.isfinite(grad).all()
    level_zero_row = grad.shape[0] - 1
    for row in range(grad.shape[0]):
        for column, name in enumerate(synth.param_names):
            if row == level_zero_row and name != "level":
                continue  # a silent voice has no gradient w.r.t. its other knobs
            assert grad[row, column] != 0.0, f"{voice}: zero gradient for {name} at theta={theta[row].tolist()}"
