"""``scrapl.mss.MSSLoss``: the SCRAPL paper's multi-scale spectral baselines.

Hand-checked values on a cosine whose frames are exact (no edge effects), reference values
recorded from auraloss 0.4.0 (``MultiResolutionSTFTLoss`` as in the paper's
``mss_meso.yml`` / ``mss_meso_log.yml``) and from the formula of the paper's ``LogMSSLoss``
(``mss_revisited.yml``), exact scale identities, gradients and argument errors.
"""
from __future__ import annotations

import math

import pytest
import torch

from scrapl.mss import MSS_MODES, MSSLoss, flattop_window, make_window


def _cosine(amplitude: float, n: int = 17) -> torch.Tensor:
    """A cos(pi m / 2), m = 0 .. n-1 (n odd): even about both ends, so the reflect padding
    of centred frames continues it exactly; (1, 1, n) float64."""
    m = torch.arange(n, dtype=torch.float64)
    return (amplitude * torch.cos(math.pi * m / 2)).reshape(1, 1, n)


ONE_SCALE = dict(fft_sizes=[8], hop_sizes=[4], win_lengths=[8])


def test_hand_checked_cosine_values():
    """Hann window of 8 on a cosine at bin 2: every frame has |X| = A [0, 1, 2, 1, 0]."""
    x, y = _cosine(1.0), _cosine(3.0)
    # linear: mean over the 5 bins of |1-3|, |2-6|, |1-3| (zero bins: both clamped to 1e-4)
    lin = MSSLoss(**ONE_SCALE, mode="linear")(x, y)
    assert lin.item() == pytest.approx(8 / 5, rel=1e-12)
    # log + lin: plus mean of |log 1 - log 3| over the 3 non-zero bins
    log = MSSLoss(**ONE_SCALE, mode="log")(x, y)
    assert log.item() == pytest.approx(8 / 5 + 3 * math.log(3) / 5, rel=1e-12)
    # revisited (Hann here): L2 over 5 frames of log1p differences ln(4/2), ln(7/3), ln(4/2)
    rev = MSSLoss(**ONE_SCALE, mode="revisited", window="hann")(x, y)
    frame = 2 * math.log(2) ** 2 + math.log(7 / 3) ** 2
    assert rev.item() == pytest.approx(math.sqrt(5 * frame), rel=1e-12)
    rev_g = MSSLoss(**ONE_SCALE, mode="revisited", window="hann", gamma=2.0)(x, y)
    frame_g = 2 * math.log(7 / 3) ** 2 + math.log(13 / 5) ** 2
    assert rev_g.item() == pytest.approx(math.sqrt(5 * frame_g), rel=1e-12)
    # p = 1 and log_eps != 1: sum of |log(|X| + 0.5)| differences over 5 frames
    rev_p1 = MSSLoss(**ONE_SCALE, mode="revisited", window="hann", p=1, log_eps=0.5)(x, y)
    frame_p1 = 2 * math.log(3.5 / 1.5) + math.log(6.5 / 2.5)
    assert rev_p1.item() == pytest.approx(5 * frame_p1, rel=1e-12)
    # scales: linear / log average them, revisited sums them
    two = dict(fft_sizes=[8, 8], hop_sizes=[4, 4], win_lengths=[8, 8])
    assert MSSLoss(**two, mode="linear")(x, y).item() == pytest.approx(lin.item(), rel=1e-12)
    assert MSSLoss(**two, mode="revisited", window="hann")(x, y).item() == pytest.approx(
        2 * rev.item(), rel=1e-12)


# Recorded once (peer venv: auraloss 0.4.0, scipy 1.17.1, torch 2.14.1) for
# g = torch.Generator().manual_seed(0); x = randn(3, 1, 8192, g); y = 0.5 * randn(3, 1, 8192, g):
#   auraloss.freq.MultiResolutionSTFTLoss(fft 64..2048, hop fft/4, win fft, w_sc=0, w_phs=0,
#       w_lin_mag=1, w_log_mag=0 | 1, mag_distance='L1')(x, y)
#   LogMSSLoss formula (flattop sym=False windows 67..2053, hops 33..1026, log1p, L2, sum, mean)
RECORDED = {"linear": 7.485133647918701, "log": 8.427619934082031,
            "revisited": 476.7623596191406}


@pytest.mark.parametrize("mode", MSS_MODES)
def test_matches_recorded_reference_values(mode):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 1, 8192, generator=g)
    y = torch.randn(3, 1, 8192, generator=g) * 0.5
    assert MSSLoss(mode=mode)(x, y).item() == pytest.approx(RECORDED[mode], rel=1e-5)


def test_matches_straightforward_reference():
    """Per-scale loop written out (auraloss's formulas) on a small batch, float64."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 1, 1000, generator=g, dtype=torch.float64)
    y = torch.randn(2, 1, 1000, generator=g, dtype=torch.float64)
    ffts, hops, wins = [64, 256, 100], [16, 50, 25], [64, 200, 77]
    lin = log = 0.0
    for n, h, w in zip(ffts, hops, wins):
        win = torch.hann_window(w, dtype=torch.float64)
        mag = [torch.stft(s.view(-1, 1000), n, h, w, win, return_complex=True).abs()
               .pow(2).clamp(min=1e-8).sqrt() for s in (x, y)]
        lin = lin + (mag[0] - mag[1]).abs().mean()
        log = log + (mag[0].log() - mag[1].log()).abs().mean()
    kw = dict(fft_sizes=ffts, hop_sizes=hops, win_lengths=wins)
    torch.testing.assert_close(MSSLoss(**kw, mode="linear")(x, y), lin / 3)
    torch.testing.assert_close(MSSLoss(**kw, mode="log")(x, y), (lin + log) / 3)


def test_defaults_follow_the_paper_configs():
    lin = MSSLoss()
    assert lin.mode == "linear" and lin.window == "hann"
    assert lin.fft_sizes == (64, 128, 256, 512, 1024, 2048) == lin.win_lengths
    assert lin.hop_sizes == (16, 32, 64, 128, 256, 512)
    rev = MSSLoss(mode="revisited")
    assert rev.window == "flattop" and rev.p == 2
    assert rev.fft_sizes == (67, 127, 257, 509, 1021, 2053) == rev.win_lengths
    assert rev.hop_sizes == (33, 63, 128, 254, 510, 1026)


def test_windows():
    scipy_windows = pytest.importorskip("scipy.signal.windows")
    for n in (8, 67, 2053):
        ref = torch.from_numpy(scipy_windows.flattop(n, sym=False))
        torch.testing.assert_close(flattop_window(n, dtype=torch.float64), ref,
                                   rtol=0, atol=1e-12)
    torch.testing.assert_close(make_window("hann", 16), torch.hann_window(16))
    assert make_window("rect", 5).eq(1).all()
    with pytest.raises(ValueError, match="window"):
        make_window("hamming", 8)


@pytest.mark.parametrize("mode", MSS_MODES)
def test_zero_for_identical_positive_symmetric(mode):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 1, 4096, generator=g)
    y = torch.randn(2, 1, 4096, generator=g)
    loss = MSSLoss(mode=mode)
    assert loss(x, x.clone()).item() == 0.0
    assert loss(x, y).item() > 0
    torch.testing.assert_close(loss(x, y), loss(y, x))


def test_scale_identities():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 1, 4096, generator=g, dtype=torch.float64)
    y = torch.randn(2, 1, 4096, generator=g, dtype=torch.float64)
    c = 2.5
    lin, log = MSSLoss(mode="linear"), MSSLoss(mode="log")
    # linear magnitudes are 1-homogeneous (the 1e-8 floor on |X|^2 is never reached here)
    torch.testing.assert_close(lin(c * x, c * y), c * lin(x, y), rtol=1e-12, atol=0)
    # the log term is scale invariant: (log - lin) does not change with c
    torch.testing.assert_close(log(c * x, c * y) - lin(c * x, c * y), log(x, y) - lin(x, y),
                               rtol=1e-10, atol=0)
    # revisited: scaling the signals is the same as scaling gamma
    rev = MSSLoss(mode="revisited")
    rev_c = MSSLoss(mode="revisited", gamma=c)
    torch.testing.assert_close(rev(c * x, c * y), rev_c(x, y), rtol=1e-12, atol=0)


def test_reductions_shapes_and_ignored_arguments():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 1, 4096, generator=g)
    y = torch.randn(3, 1, 4096, generator=g)
    for mode in MSS_MODES:
        per = MSSLoss(mode=mode, reduction="none")(x, y)
        assert per.shape == (3,)
        torch.testing.assert_close(MSSLoss(mode=mode)(x, y, seed=1, path_idx=2), per.mean())
        torch.testing.assert_close(MSSLoss(mode=mode, reduction="sum")(x, y), per.sum())
        torch.testing.assert_close(MSSLoss(mode=mode)(x[2:], y[2:]), per[2])
    assert MSSLoss()(x.double(), y.double()).dtype == torch.float64


@pytest.mark.parametrize("mode", MSS_MODES)
def test_gradient_finite(mode):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 1, 4096, generator=g, requires_grad=True)
    y = torch.randn(2, 1, 4096, generator=g)
    loss = MSSLoss(mode=mode)
    loss(x, y).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # identical inputs, and silence (|X| = 0 everywhere)
    for target in (x.detach().clone(), torch.zeros_like(y)):
        x.grad = None
        loss(x, target).backward()
        assert torch.isfinite(x.grad).all()
    z = torch.zeros(1, 1, 4096, requires_grad=True)
    loss(z, y[:1]).backward()
    assert torch.isfinite(z.grad).all()


def test_gradient_matches_finite_difference():
    g = torch.Generator().manual_seed(6)
    x = torch.randn(1, 1, 600, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(1, 1, 600, generator=g, dtype=torch.float64)
    v = torch.randn(1, 1, 600, generator=g, dtype=torch.float64)
    for mode in MSS_MODES:
        loss = MSSLoss(fft_sizes=[64, 127], hop_sizes=[16, 63], mode=mode)
        x.grad = None
        loss(x, y).backward()
        h = 1e-6
        with torch.no_grad():
            fd = (loss(x + h * v, y) - loss(x - h * v, y)) / (2 * h)
        assert (x.grad * v).sum().item() == pytest.approx(fd.item(), rel=1e-4), mode


def test_bad_arguments_name_the_argument():
    x = torch.randn(2, 1, 1000)
    with pytest.raises(ValueError, match="fft_sizes"):
        MSSLoss()(x, x)                                   # 2048 > 1000
    with pytest.raises(ValueError, match="x_target"):
        MSSLoss(fft_sizes=[64])(x, x[:1])
    with pytest.raises(ValueError, match="mode"):
        MSSLoss(mode="mel")
    with pytest.raises(ValueError, match="reduction"):
        MSSLoss(reduction="batchmean")
    with pytest.raises(ValueError, match="window"):
        MSSLoss(window="kaiser")
    with pytest.raises(ValueError, match="hop_sizes"):
        MSSLoss(fft_sizes=[64, 128], hop_sizes=[16])
    with pytest.raises(ValueError, match="hop_sizes"):
        MSSLoss(fft_sizes=[64], hop_sizes=[0])
    with pytest.raises(ValueError, match="win_lengths"):
        MSSLoss(fft_sizes=[64], win_lengths=[65])
    with pytest.raises(ValueError, match="fft_sizes"):
        MSSLoss(fft_sizes=[64.5])
    with pytest.raises(ValueError, match="fft_sizes"):
        MSSLoss(fft_sizes=[])
    with pytest.raises(ValueError, match="p, gamma"):
        MSSLoss(mode="linear", p=2)
    with pytest.raises(ValueError, match="gamma"):
        MSSLoss(mode="revisited", gamma=0.0)


def test_stft_magnitude_fast_form_without_gradient_equals_abs():
    """Without autograd the magnitude is sqrt(re^2 + im^2) (faster than complex abs); with
    it, abs, whose gradient stays finite where the STFT is 0 (silence)."""
    from scrapl.mss import make_window, stft_magnitude
    x = torch.cat([torch.randn(1, 2048), torch.zeros(1, 2048)], dim=1)
    window = make_window("hann", 256)
    with torch.no_grad():
        fast = stft_magnitude(x, 256, 64, window)
    X = torch.stft(x, 256, 64, window=window, center=True, pad_mode="reflect",
                   return_complex=True)
    torch.testing.assert_close(fast, X.abs(), rtol=1e-6, atol=1e-7)
    xg = x.clone().requires_grad_(True)
    stft_magnitude(xg, 256, 64, window).sum().backward()
    assert torch.isfinite(xg.grad).all()
