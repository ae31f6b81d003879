"""matching.landscape: gradient-direction accuracy on cases with a known answer."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from matching.landscape import (channel_gradients, direction_accuracy, fd_jacobian,
                                synth_gradients)
from scrapl.mss import MSSLoss

N = 1024


def orthogonal_synth(theta: torch.Tensor) -> torch.Tensor:
    """θ [n, 2] -> θ_0 sin(2π 3 t) + θ_1 sin(2π 5 t), [n, 1, N]: orthogonal directions, so
    the squared distance's gradient is 2 N/2 (θ - θ*) coordinate by coordinate."""
    t = torch.arange(N, dtype=theta.dtype) / N
    basis = torch.stack([torch.sin(2 * math.pi * 3 * t), torch.sin(2 * math.pi * 5 * t)])
    return (theta @ basis).unsqueeze(1)


def sine_synth(theta: torch.Tensor) -> torch.Tensor:
    """θ [n, 1] -> a Hann-windowed sine at 500 + 200 θ Hz (8 kHz), [n, 1, N]."""
    t = torch.arange(N, dtype=torch.float32) / 8000.0
    f = 500.0 + 200.0 * theta[:, :1]
    return (torch.sin(2 * math.pi * f * t) * torch.hann_window(N)).unsqueeze(1)


def squared(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).pow(2).sum(dim=(-2, -1))


def random_pairs(n: int, p: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, p, generator=g), torch.rand(n, p, generator=g)


def test_accuracy_counts_signs_and_gaps():
    theta = np.array([[0.2, 0.5], [0.8, 0.5], [0.5, 0.1]])
    target = np.array([[0.6, 0.52], [0.1, 0.9], [0.5, 0.9]])
    grad = np.array([[-1.0, 3.0], [2.0, -1.0], [0.0, 0.0]])      # toward, away; right; zero
    acc, n = direction_accuracy(grad, theta, target, min_gap=0.05)
    assert n.tolist() == [2, 2]                 # the 0.02 gap and the zero gap are left out
    assert acc.tolist() == [1.0, 0.5]           # the zero gradient at pair 3 counts as wrong
    acc_flipped, _ = direction_accuracy(-grad, theta, target, min_gap=0.05)
    assert acc_flipped.tolist() == [0.0, 0.0]      # a zero gradient is wrong either way


def test_quadratic_through_a_synth_points_to_the_target():
    theta, target = random_pairs(32, 2)
    x_target = orthogonal_synth(target)
    grad = synth_gradients(squared, orthogonal_synth, theta, x_target)
    assert torch.allclose(grad, N * (theta - target), rtol=1e-3, atol=1e-3)
    acc, n = direction_accuracy(grad.numpy(), theta.numpy(), target.numpy())
    assert n.tolist() == [32, 32] and acc.tolist() == [1.0, 1.0]
    # a flipped sign convention (ascending the loss, or θ - θ*) scores 0
    assert direction_accuracy(-grad.numpy(), theta.numpy(), target.numpy())[0].tolist() \
        == [0.0, 0.0]
    assert direction_accuracy(grad.numpy(), target.numpy(), theta.numpy())[0].tolist() \
        == [0.0, 0.0]


def test_mss_on_a_swept_sine_points_to_the_target_nearby():
    mss = MSSLoss(mode="linear", fft_sizes=(256, 512, 1024), reduction="none")
    target = torch.full((8, 1), 0.5)
    theta = target + torch.tensor([-0.04, -0.03, -0.02, -0.01, 0.01, 0.02, 0.03, 0.04])[:, None]
    grad = synth_gradients(mss, sine_synth, theta, sine_synth(target).detach())
    acc, n = direction_accuracy(grad.numpy(), theta.numpy(), target.numpy())
    assert n.tolist() == [8] and acc.tolist() == [1.0]


def test_finite_difference_channel_gradients_match_autograd():
    """fd_jacobian + channel_gradients on 'channels' = a magnitude STFT's frames: the
    same gradient as autograd of each channel distance."""
    window = torch.hann_window(128)

    def coefficients(x: torch.Tensor) -> torch.Tensor:          # [1, 1, N] -> [1, C, F, 1]
        X = torch.stft(x.reshape(1, -1), 128, 64, window=window, return_complex=True).abs()
        return X.permute(0, 2, 1).unsqueeze(-1)                  # channels = frames

    theta = torch.tensor([0.3])
    targets = torch.tensor([[0.35], [0.25]])
    S_t = torch.cat([coefficients(sine_synth(t[None])) for t in targets])
    S, dS = fd_jacobian(coefficients, sine_synth, theta, h=1e-3)
    d, g = channel_gradients(S, dS, S_t)
    for k in range(2):
        for c in (3, 8):
            def one(x, y, c=c):
                return torch.linalg.vector_norm(coefficients(x)[0, c] - coefficients(y)[0, c])
            exact = synth_gradients(one, sine_synth, theta[None], sine_synth(targets[k][None]))
            assert g[k, c, 0].item() == pytest.approx(exact.item(), rel=2e-2)
