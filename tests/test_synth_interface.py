"""Contract tests every built-in synth voice must pass: shapes, dtypes, determinism,
batch equivalence, parameter boundaries and non-vanishing gradients."""

from __future__ import annotations

import pytest
import torch

import synths
from synths import SynthError

# Short renders keep these fast; the full-length behaviour is covered by per-synth tests.
SHORT = {"duration": 0.05}


def make(pair, **options):
    name, voice = pair
    return synths.get(name, voice=voice, **options)


def test_shapes_and_dtypes(synth_voice):
    synth = make(synth_voice)
    for dtype in (torch.float32, torch.float64):
        theta = synth.random_theta(3, generator=torch.Generator().manual_seed(1), dtype=dtype)
        audio = synth(theta)
        assert audio.shape == (3, 1, synth.n_samples)
        assert audio.dtype == dtype
        assert torch.isfinite(audio).all()
        assert audio.abs().max() > 0


def test_parameter_specs_are_consistent(synth_voice):
    synth = make(synth_voice)
    assert len(set(synth.param_names)) == synth.n_params > 0
    theta = synth.default_theta()
    physical = synth.denormalize(theta)
    for spec in synth.param_specs:
        assert physical[spec.name].item() == pytest.approx(spec.default, rel=1e-5, abs=1e-6)
        assert spec.description, f"{spec.name} has no description"
    assert torch.allclose(synth.normalize({k: v for k, v in physical.items()}), theta, atol=1e-6)


def test_deterministic_for_a_seed(synth_voice):
    theta = make(synth_voice).random_theta(2, generator=torch.Generator().manual_seed(3))
    first = make(synth_voice, seed=7)(theta)
    again = make(synth_voice, seed=7)(theta)
    assert torch.equal(first, again)
    torch.manual_seed(123)  # the global RNG must play no part
    assert torch.equal(first, make(synth_voice, seed=7)(theta))


def test_batch_equals_items(synth_voice):
    synth = make(synth_voice)
    theta = synth.random_theta(4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    batch = synth(theta)
    for i in range(theta.shape[0]):
        single = synth(theta[i : i + 1])
        torch.testing.assert_close(batch[i : i + 1], single, rtol=1e-9, atol=1e-12)


def test_parameter_boundaries_render_finite(synth_voice):
    synth = make(synth_voice)
    for value in (0.0, 1.0):
        theta = torch.full((1, synth.n_params), value)
        assert torch.isfinite(synth(theta)).all()


def test_gradients_finite_and_nonzero_everywhere(synth_voice):
    """Every parameter gets a finite, non-zero gradient at both ends of its range and inside."""
    name, voice = synth_voice
    synth = make(synth_voice, **({} if name == "granular" and voice == "texture" else SHORT))
    rows = [torch.zeros(synth.n_params), torch.ones(synth.n_params),
            synth.random_theta(1, generator=torch.Generator().manual_seed(0))[0]]
    for row in rows:
        for i in range(synth.n_params):
            theta = synth.default_theta(dtype=torch.float64)
            theta[0, i] = float(row[i])  # one parameter at its boundary/interior, others at default
            theta.requires_grad_(True)
            audio = synth(theta)
            # a loss sensitive to every sample, so no parameter can hide behind a reduction
            target = torch.linspace(-1, 1, audio.shape[-1], dtype=audio.dtype)
            (audio[0, 0] * target).sum().add(audio.pow(2).sum()).backward()
            grad = theta.grad[0, i].item()
            assert torch.isfinite(theta.grad).all(), f"{synth.label()} {synth.param_names[i]} non-finite grad"
            assert grad != 0.0, f"{synth.label()}: zero gradient for {synth.param_names[i]} at {float(row[i])}"


def test_theta_shape_errors_name_the_problem(synth_voice):
    synth = make(synth_voice)
    with pytest.raises(SynthError, match=r"theta must have shape \[batch, %d\]" % synth.n_params):
        synth(torch.zeros(2, synth.n_params + 1))
    with pytest.raises(SynthError, match="floating point"):
        synth(torch.zeros(2, synth.n_params, dtype=torch.long))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_follows_cuda_device(synth_voice):
    synth = make(synth_voice)
    theta = synth.random_theta(2, generator=torch.Generator().manual_seed(0))
    on_gpu = synth(theta.cuda())
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), synth(theta), rtol=1e-3, atol=1e-4)
