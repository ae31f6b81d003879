"""AudioLoss: the scrapl losses at a synth's rate (resampling, JTFS configuration, access)."""
from __future__ import annotations

import pytest
import torch

from matching.audio import resample_to_length
from matching.audio_loss import JTFS_RATE, AudioLoss, jtfs_config
from scrapl.jtfs_loss import JTFSLoss
from scrapl.loss import SCRAPLLoss
from scrapl.mss import MSSLoss

SMALL = dict(shape=1024, J=5, Q1=2, Q2=1, J_fr=1, Q_fr=1)     # explicit, at the synth's rate


def audio(batch: int, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, n, generator=g) * torch.exp(-torch.arange(n) / (n / 4))


def test_rate_and_configuration():
    n, rate = 8820, 44100
    default = AudioLoss("scrapl", n, rate, use_p_adam=False, use_p_saga=False, seed=0)
    assert default.rate == JTFS_RATE and default.config == jtfs_config(n, rate)
    assert default.scrapl is default.fn and default.fn.jtfs.N == default.config["shape"]
    x = audio(2, n)
    assert torch.equal(default.resample(x), resample_to_length(x, rate, JTFS_RATE,
                                                               default.config["shape"])
                       .unsqueeze(1))
    explicit = AudioLoss("jtfs", 1000, 22050, jtfs=SMALL)
    assert explicit.rate == 22050 and explicit.config == SMALL and explicit.scrapl is None
    y = audio(3, 1000)
    assert torch.equal(explicit.resample(y), torch.nn.functional.pad(y, (0, 24)).unsqueeze(1))
    mss = AudioLoss("mss", n, rate, mss_mode="log")
    assert mss.config is None and mss.rate == rate and torch.equal(mss.resample(x),
                                                                   x.unsqueeze(1))
    with pytest.raises(ValueError, match="family"):
        AudioLoss("param", n, rate)


def test_losses_equal_the_wrapped_losses_on_the_resampled_audio():
    n = SMALL["shape"]
    x, t = audio(2, n, 1), audio(2, n, 2)
    a, b = x.unsqueeze(1), t.unsqueeze(1)
    jtfs = AudioLoss("jtfs", n, 16000, jtfs=SMALL, reduction="none")
    assert torch.equal(jtfs(x, t), JTFSLoss(**SMALL, use_rho_log1p=True, reduction="none")(a, b))
    # the coefficients and their distances are the loss, in two steps
    d = jtfs.coefficient_distances(jtfs.coefficients(x), jtfs.coefficients(t))
    assert torch.allclose(d.mean(dim=-1), jtfs(x, t), rtol=1e-6)
    u, v = audio(2, 4096, 3), audio(2, 4096, 4)
    mss = AudioLoss("mss", 4096, 16000, mss_mode="revisited")
    assert torch.equal(mss(u, v), MSSLoss(mode="revisited")(u.unsqueeze(1), v.unsqueeze(1)))
    scrapl = AudioLoss("scrapl", n, 16000, jtfs=SMALL, use_p_adam=False, use_p_saga=False,
                       seed=0)
    ref = SCRAPLLoss(**SMALL, use_rho_log1p=True, grad_mult=1.0, use_p_adam=False,
                     use_p_saga=False, seed=0)
    assert torch.equal(scrapl(x, t), ref(a, b))
    paths = [0, 3, scrapl.scrapl.n_paths - 1]
    assert torch.equal(scrapl.path_distances(x, t, paths, "none"),
                       ref.path_distances(a, b, paths, "none"))


def test_path_coefficients_from_a_kept_first_order():
    n = SMALL["shape"]
    loss = AudioLoss("scrapl", n, 16000, jtfs=SMALL, use_p_adam=False, use_p_saga=False,
                     seed=0)
    t = audio(2, n, 3)
    first_order = loss.scalogram(t)
    for path in (0, 5):
        kept = loss.path_coefficients(None, path, scalogram=first_order)
        assert torch.allclose(kept, loss.path_coefficients(t, path), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="family 'jtfs'"):
        loss.coefficients(t)
    with pytest.raises(ValueError, match="family 'scrapl'"):
        AudioLoss("jtfs", n, 16000, jtfs=SMALL).path_coefficients(t, 0)


def test_a_scrapl_configuration_builds_the_full_jtfs_loss_too():
    """Training passes one JTFS configuration (SCRAPLLoss arguments, e.g. grad_mult) to
    every JTFS family; the full JTFS takes what applies to it."""
    import torch
    from matching.audio_loss import AudioLoss
    cfg = dict(shape=4096, J=5, Q1=2, Q2=1, J_fr=1, Q_fr=1, use_rho_log1p=False, grad_mult=1e8)
    loss = AudioLoss("jtfs", 4096, 8192, jtfs=cfg)
    x, y = torch.randn(2, 4096), torch.randn(2, 4096)
    assert torch.isfinite(loss(x, y)) and loss(x, x) == 0
