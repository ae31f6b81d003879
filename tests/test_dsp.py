"""The closed-form frequency-domain filters equal the recursive filters they stand for."""

from __future__ import annotations

import math

import pytest
import torch
import torchaudio.functional as AF

from synths import dsp


@pytest.mark.parametrize("kind", ["lowpass", "highpass", "bandpass"])
@pytest.mark.parametrize("method", ["fft", "recursive", "auto"])
def test_biquad_matches_recursive_lfilter(kind, method):
    signal = torch.randn(3, 4000, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cutoff = torch.tensor([150.0, 1000.0, 6000.0], dtype=torch.float64)
    q = torch.tensor([0.5, 2.0, 10.0], dtype=torch.float64)
    ours = dsp.biquad_filter(signal, kind, cutoff, q, 16000, method=method)
    b, a = dsp.rbj_biquad(kind, cutoff, q, 16000)
    reference = AF.lfilter(signal, a, b, clamp=False, batching=True)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-9)


def test_one_pole_filters_match_recursion():
    signal = torch.randn(2, 3000, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    cutoff = torch.tensor([200.0, 4000.0], dtype=torch.float64)
    pole = torch.exp(-2 * math.pi * cutoff / 22050)
    a = torch.stack([torch.ones_like(pole), -pole], dim=1)
    b = torch.stack([1 - pole, torch.zeros_like(pole)], dim=1)
    lowpass = AF.lfilter(signal, a, b, clamp=False, batching=True)
    torch.testing.assert_close(dsp.one_pole_lowpass(signal, cutoff, 22050), lowpass, rtol=0, atol=1e-9)
    torch.testing.assert_close(dsp.one_pole_highpass(signal, cutoff, 22050), signal - lowpass, rtol=0, atol=1e-9)


def test_swept_phase_derivative_is_instantaneous_frequency():
    t = torch.arange(2000, dtype=torch.float64) / 8000
    f_end, depth, tau = (torch.tensor([v], dtype=torch.float64) for v in (60.0, 1.5, 0.02))
    phase = dsp.swept_phase(t, f_end, depth, tau)[0]
    measured = torch.diff(phase) * 8000 / (2 * math.pi)
    midpoints = (t[1:] + t[:-1]) / 2
    expected = 60.0 * (1 + 1.5 * torch.exp(-midpoints / 0.02))
    torch.testing.assert_close(measured, expected, rtol=1e-4, atol=0)


def test_exp_decay_reaches_minus_60_db_at_decay_time():
    t = torch.tensor([0.0, 0.25], dtype=torch.float64)
    envelope = dsp.exp_decay(t, torch.tensor([0.25], dtype=torch.float64))
    assert envelope[0, 0].item() == 1.0
    assert envelope[0, 1].item() == pytest.approx(1e-3)


def test_knob_taper_ends_and_slope():
    knob = torch.tensor([0.0, 10.0], dtype=torch.float64, requires_grad=True)
    gain = dsp.knob_taper(knob)
    assert gain.tolist() == pytest.approx([0.0, 1.0])
    gain.sum().backward()
    assert (knob.grad > 0).all()


def test_fft_size_is_fast_and_large_enough():
    for n in (1, 100, 2205, 32768, 44100, 88200):
        size = dsp.fft_size(n)
        assert size >= 2 * n
        remainder = size
        for p in (2, 3, 5):
            while remainder % p == 0:
                remainder //= p
        assert remainder == 1


def test_biquad_forms_have_the_same_gradients():
    signal = torch.randn(1, 2000, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    grads = []
    for method in ("fft", "recursive"):
        cutoff = torch.tensor([300.0, 2500.0], dtype=torch.float64, requires_grad=True)
        q = torch.tensor([0.7, 4.0], dtype=torch.float64, requires_grad=True)
        dsp.biquad_filter(signal, "highpass", cutoff, q, 16000, method=method).pow(2).sum().backward()
        grads.append(torch.cat([cutoff.grad, q.grad]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-6, atol=0)
