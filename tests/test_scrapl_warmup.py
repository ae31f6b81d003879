"""θ-IS warm-up: power iteration, batched HVPs, per-path curvature, sharding and resume."""
from __future__ import annotations

import math

import pytest
import torch

from scrapl import warmup as W
from scrapl.loss import SCRAPLLoss

CFG = dict(shape=1024, J=5, Q1=2, Q2=1, J_fr=1, Q_fr=1)      # 15 paths


def test_power_iteration_on_known_matrices():
    g = torch.Generator().manual_seed(0)
    mats = []
    for eigs in ([3.0, 1.0, -0.5, 0.1], [-5.0, 2.0, 1.0, 0.0], [0.2, 0.1, 0.05, 0.01]):
        Q, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=torch.float64))
        mats.append(Q @ torch.diag(torch.tensor(eigs, dtype=torch.float64)) @ Q.T)
    A = torch.stack(mats)
    hvp = lambda V: torch.einsum("nij,nj->ni", A, V)
    lam = W.power_iteration(hvp, 3, 4, n_iter=500, tol=1e-12, dtype=torch.float64,
                            generator=torch.Generator().manual_seed(1))
    assert torch.allclose(lam, torch.tensor([3.0, 5.0, 0.2], dtype=torch.float64), rtol=1e-6)


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.lin = torch.nn.Linear(4, 2, dtype=torch.float64)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(2, 4, generator=g, dtype=torch.float64) * 0.3)
            self.lin.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = torch.stack([x.std(dim=-1), x.abs().mean(dim=-1), x[..., ::2].std(dim=-1),
                             x[..., :256].std(dim=-1)], dim=-1).squeeze(1)
        return torch.sigmoid(self.lin(feats))


def synth(theta: torch.Tensor) -> torch.Tensor:
    """Decaying sinusoid: amplitude theta_0, frequency 40..200 cycles per signal (theta_1)."""
    t = torch.linspace(0, 1, CFG["shape"], dtype=theta.dtype)
    f = 40 + 160 * theta[:, 1:2]
    return (theta[:, 0:1] * torch.sin(2 * math.pi * f * t) * torch.exp(-3 * t)).unsqueeze(1)


def target(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return synth(torch.rand(2, 2, generator=g, dtype=torch.float64))


def make_loss() -> SCRAPLLoss:
    return SCRAPLLoss(**CFG, use_p_adam=False, use_p_saga=False, n_theta=2,
                      dtype=torch.float64)


def test_batched_hvp_matches_explicit_jacobians():
    """Power iteration on H_i v equals the dominant eigenvalue of the explicit matrix
    d/dw [J^T (e_i ⊙ dL/dθ)], vectorized and looped alike."""
    enc, loss = Encoder(), make_loss()
    params = [enc.lin.weight, enc.lin.bias]
    x = target()
    rows = W.path_theta_weight_gradients(loss, 3, enc, synth, {"x": x}, None, params)
    n = rows.shape[1]
    explicit = []
    for i in range(2):
        H = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(
            rows[i, k], params, retain_graph=True)]) for k in range(n)])
        ev = torch.linalg.eigvals(H)
        explicit.append(ev[ev.abs().argmax()])
    V = torch.randn(2, n, dtype=torch.float64)
    a = W.batched_hvp(rows, params, V, vectorize=True)
    b = W.batched_hvp(rows, params, V, vectorize=False)
    assert torch.allclose(a, b, rtol=1e-10, atol=1e-14)
    eigs = loss.calc_theta_eigs(3, enc, synth, [{"x": x}], params, n_iter=300, tol=1e-12)
    for i in range(2):
        if abs(explicit[i].imag) < 1e-9 * abs(explicit[i]):
            assert eigs[i].item() == pytest.approx(abs(explicit[i].real.item()), rel=1e-4)
    assert any(abs(e.imag) < 1e-9 * abs(e) for e in explicit)   # something was compared


def test_warmup_sets_probabilities_saves_and_resumes(tmp_path, monkeypatch):
    enc, loss = Encoder(), make_loss()
    params = list(enc.parameters())
    batches = [{"x": target(0)}]
    loss.warmup_lc_hvp(enc, synth, batches, params, save_dir=str(tmp_path), n_iter=4,
                       progress=False)
    files = sorted(p.name for p in tmp_path.glob("vals_*.pt"))
    assert len(files) == loss.n_paths and (tmp_path / "probs.pt").is_file()
    vals = torch.stack([torch.load(tmp_path / f"vals_{i}.pt", weights_only=True)[0]
                        for i in range(loss.n_paths)]).double()
    assert (vals > 0).all()
    expected = 0.5 * (vals[:, 0] / vals[:, 0].sum() + vals[:, 1] / vals[:, 1].sum())
    assert torch.allclose(loss.probs, expected, rtol=1e-6)
    assert not torch.allclose(loss.probs, torch.full_like(loss.probs, 1 / loss.n_paths))
    assert all(p.grad is None for p in params)

    # a rerun reads the saved values instead of recomputing them
    def fail(*a, **k):
        raise AssertionError("recomputed a saved path")
    again = make_loss()
    monkeypatch.setattr(again, "calc_theta_eigs", fail)
    again.warmup_lc_hvp(enc, synth, batches, params, save_dir=str(tmp_path), progress=False)
    assert torch.allclose(again.probs, loss.probs)


def test_sharded_warmup_merges_to_the_single_process_result(tmp_path):
    enc = Encoder()
    params = list(enc.parameters())
    batches = [{"x": target(0)}, {"x": target(1)}]        # two batches: averaged operators
    single = make_loss()
    single.warmup_lc_hvp(enc, synth, batches, params, save_dir=str(tmp_path / "one"),
                         n_iter=3, progress=False)
    shards = tmp_path / "shards"
    for start, end in ((0, 7), (7, 15)):
        make_loss().warmup_lc_hvp(enc, synth, batches, params, save_dir=str(shards),
                                  start_path_idx=start, end_path_idx=end, n_iter=3,
                                  progress=False)
    merged = make_loss()
    merged.load_probs_from_warmup_dir(str(shards))
    assert torch.allclose(merged.probs, single.probs, rtol=1e-6)
    with pytest.raises(Exception, match="cannot update probs"):
        merged.update_prob(0, 1.0)


def test_warmup_argument_errors():
    enc, loss = Encoder(), make_loss()
    params = list(enc.parameters())
    with pytest.raises(ValueError, match="'x'"):
        loss.warmup_lc_hvp(enc, synth, [{"y": target()}], params, save_dir=None)
    with pytest.raises(ValueError, match="end_path_idx"):
        loss.warmup_lc_hvp(enc, synth, [{"x": target()}], params, save_dir=None,
                           start_path_idx=5, end_path_idx=5)
    params[0].grad = torch.zeros_like(params[0])
    with pytest.raises(ValueError, match="no gradients"):
        loss.warmup_lc_hvp(enc, synth, [{"x": target()}], params, save_dir=None)
