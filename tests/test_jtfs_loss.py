"""``scrapl.jtfs_loss.JTFSLoss``: the full-JTFS baseline distance.

Checks against a direct computation from ``JTFS.full``, against the peer's full-JTFS loss
(``TimeFrequencyScatteringTorch(format='joint')`` of scrapl-loss 0.1.0, values recorded
below) and against the full-JTFS fixtures of ``shared/peer/fixtures`` (granular and tr808
configurations, restricted to the fixture paths to stay cheap).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scrapl.jtfs import JTFS
from scrapl.jtfs_loss import JTFSLoss

N = 2048
SMALL = dict(shape=N, J=6, Q1=4, Q2=1, J_fr=2, Q_fr=1)          # 4 + 28 channels, ~0.1 s
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "peer" / "fixtures"


def _signals(B=2, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, 1, N, generator=g, dtype=dtype),
            torch.randn(B, 1, N, generator=g, dtype=dtype))


@pytest.fixture(scope="module")
def small_loss():
    return JTFSLoss(**SMALL)


def _direct(jtfs, x, y, log1p_eps=None, first_order=True, p=2, unpad=True):
    Sx = jtfs.full(x.reshape(-1, N), first_order=first_order, unpad=unpad)
    Sy = jtfs.full(y.reshape(-1, N), first_order=first_order, unpad=unpad)
    if log1p_eps is not None:
        Sx, Sy = torch.log1p(Sx / log1p_eps), torch.log1p(Sy / log1p_eps)
    return torch.linalg.vector_norm(Sy - Sx, ord=p, dim=(-2, -1))      # (B, C)


def test_equals_direct_computation(small_loss):
    x, y = _signals()
    jtfs = JTFS(N, 6, (4, 1), 2, 1)
    with torch.no_grad():
        ref = _direct(jtfs, x, y)
        assert ref.shape == (2, len(jtfs.first_order_keys) + len(jtfs.scrapl_keys))
        torch.testing.assert_close(small_loss.channel_distances(x, y), ref)
        torch.testing.assert_close(small_loss(x, y), ref.mean())
        assert small_loss.n_first_order == 4 and small_loss.n_paths == 28
        # p = 1 and the log1p variant
        l1 = JTFSLoss(**SMALL, p=1, use_rho_log1p=True, log1p_eps=1e-2)
        torch.testing.assert_close(l1(x, y), _direct(jtfs, x, y, 1e-2, p=1).mean())


def test_matches_peer_full_jtfs_loss():
    """Values of the peer's baseline (bench_peer.py ``worker_full_jtfs`` formula) computed
    once with scrapl-loss 0.1.0's vendored kymatio on ``randn`` inputs from
    ``torch.Generator().manual_seed(1234)`` (x then target, each (2, 1, 2048))."""
    g = torch.Generator().manual_seed(1234)
    x, y = torch.randn(2, 1, N, generator=g), torch.randn(2, 1, N, generator=g)
    with torch.no_grad():
        a = JTFSLoss(**SMALL)(x, y)
        b = JTFSLoss(**SMALL, T=256, F=1, use_rho_log1p=True)(x, y)
    assert a.item() == pytest.approx(0.020525475963950157, rel=1e-5)
    assert b.item() == pytest.approx(2.085177421569824, rel=1e-5)


def test_zero_for_identical_positive_otherwise(small_loss):
    x, y = _signals()
    with torch.no_grad():
        assert small_loss(x, x.clone()).item() == 0.0
        assert small_loss(x, y).item() > 0
        d = small_loss.channel_distances(x, y)
        assert (d > 0).all()


def test_reductions_and_ignored_arguments():
    x, y = _signals(B=3)
    losses = {r: JTFSLoss(**SMALL, reduction=r) for r in ("mean", "sum", "none")}
    with torch.no_grad():
        per = losses["none"](x, y)
        assert per.shape == (3,)
        torch.testing.assert_close(losses["mean"](x, y), per.mean())
        torch.testing.assert_close(losses["sum"](x, y), per.sum())
        # each row is the loss of that signal alone; seed / path_idx are ignored
        torch.testing.assert_close(per[1], losses["mean"](x[1:2], y[1:2], seed=7, path_idx=3))
    with pytest.raises(ValueError, match="reduction"):
        JTFSLoss(**SMALL, reduction="avg")


def test_gradient_flows(small_loss):
    x, y = _signals()
    x.requires_grad_(True)
    small_loss(x, y).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    x.grad = None
    JTFSLoss(**SMALL, use_rho_log1p=True)(x, y).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_gradient_matches_finite_difference():
    x, y = _signals(B=1, dtype=torch.float64)
    loss = JTFSLoss(**SMALL, use_rho_log1p=True, dtype=torch.float64)
    x.requires_grad_(True)
    loss(x, y).backward()
    v = torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    h = 1e-6
    with torch.no_grad():
        fd = (loss(x + h * v, y) - loss(x - h * v, y)) / (2 * h)
    assert (x.grad * v).sum().item() == pytest.approx(fd.item(), rel=1e-5)


def test_second_order_only_is_mean_of_single_path_distances():
    """Unbiasedness: mean over all paths of single-path distances == first_order=False."""
    x, y = _signals()
    for unpad in (True, False):
        loss = JTFSLoss(**SMALL, use_rho_log1p=True, unpad=unpad)
        jtfs = loss.jtfs
        with torch.no_grad():
            per_path = []
            for n2, n_fr in jtfs.scrapl_keys:
                Sx = torch.log1p(jtfs.single_path(x, n2, n_fr, unpad=unpad) / 1e-3)
                Sy = torch.log1p(jtfs.single_path(y, n2, n_fr, unpad=unpad) / 1e-3)
                per_path.append(torch.linalg.vector_norm(Sy - Sx, dim=(-2, -1)).mean())
            expected = torch.stack(per_path).mean()
            torch.testing.assert_close(loss.second_order_only(x, y), expected)
            only2 = JTFSLoss(**SMALL, use_rho_log1p=True, unpad=unpad, first_order=False)
            assert only2.n_first_order == 0
            torch.testing.assert_close(only2(x, y), expected)
            # the full loss is the channel-weighted mix of orders 1 and 2
            d = loss.channel_distances(x, y)
            torch.testing.assert_close(d[:, 4:].mean(dim=-1).mean(), expected)


def test_paths_subset():
    x, y = _signals()
    full = JTFSLoss(**SMALL)
    sub = JTFSLoss(**SMALL, paths=[0, 5, 27])
    with torch.no_grad():
        d_full = full.channel_distances(x, y)
        d_sub = sub.channel_distances(x, y)
    torch.testing.assert_close(d_sub, d_full[:, [0, 1, 2, 3, 4, 9, 31]])
    with pytest.raises(ValueError, match="paths"):
        JTFSLoss(**SMALL, paths=[28])


def test_bad_inputs(small_loss):
    x, y = _signals()
    with pytest.raises(ValueError, match="x_target"):
        small_loss(x, y[:1])
    with pytest.raises(ValueError, match="shape"):
        small_loss(x[..., :1024], y[..., :1024])
    with pytest.raises(ValueError, match="log1p_eps"):
        JTFSLoss(**SMALL, use_rho_log1p=True, log1p_eps=0.0)
    with pytest.raises(ValueError, match="p must"):
        JTFSLoss(**SMALL, p=0)


# ---------------------------------------------------------------- peer fixtures
FIXTURE_CONFIGS = {
    "granular": dict(shape=32768, J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=None, F=None),
    "tr808": dict(shape=44100, J=12, Q1=8, Q2=2, J_fr=5, Q_fr=2, T=2048, F=1,
                  use_rho_log1p=True),
}


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"peer fixtures folder {FIXTURES} is absent")
@pytest.mark.parametrize("cfg", list(FIXTURE_CONFIGS))
def test_fixture_full_jtfs_distance(cfg):
    """Distance between the two fixture inputs (x[0] vs x[1]) over the first-order
    channels and the fixture paths: from the peer's full-JTFS coefficients vs ours."""
    torch.set_num_threads(2)
    full = torch.load(FIXTURES / f"{cfg}_full_jtfs.pt", weights_only=True)
    x = torch.load(FIXTURES / f"{cfg}_input.pt", weights_only=True)["x"]     # (2, 1, N)
    kw = FIXTURE_CONFIGS[cfg]
    S = torch.cat([full["first_order"], full["paths"]], dim=2)[:, 0]          # (2, C, fr, t)
    if kw.get("use_rho_log1p"):
        S = torch.log1p(S / 1e-3)
    ref = torch.linalg.vector_norm(S[1] - S[0], dim=(-2, -1))                 # (C,)
    loss = JTFSLoss(**kw, paths=[int(i) for i in full["paths_idx"]])
    with torch.no_grad():
        ours = loss.channel_distances(x[:1], x[1:])[0]
        value = loss(x[:1], x[1:])
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-3, atol=1e-4 * ref.abs().max().item())
    assert value.item() == pytest.approx(ref.mean().item(), rel=1e-4)
