"""𝒫-Adam / 𝒫-SAGA: hand-computed updates, unbiasedness, memory, accumulation, exact resume."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from scrapl.loss import SCRAPLLoss
from scrapl.path_optim import PathGradientState

CFG = dict(shape=2048, J=7, Q1=2, Q2=1, J_fr=2, Q_fr=1)


class Toy(torch.nn.Module):
    """A tiny 'encoder + synth': learnable amplitudes of fixed random waveforms."""

    def __init__(self, seed: int = 0, dtype=torch.float32):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = torch.nn.Parameter(torch.randn(3, 4, generator=g, dtype=dtype) * 0.5)
        self.b = torch.nn.Parameter(torch.zeros(4, dtype=dtype))
        self.register_buffer("basis", torch.randn(4, CFG["shape"], generator=g, dtype=dtype))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return ((z @ self.w + self.b) @ self.basis).unsqueeze(1)


def batch(seed: int, dtype=torch.float32):
    g = torch.Generator().manual_seed(1000 + seed)
    z = torch.randn(2, 3, generator=g, dtype=dtype)
    return z, torch.randn(2, 1, CFG["shape"], generator=g, dtype=dtype)


def reference_updates(raw, paths, P, adam, saga, b1=0.9, b2=0.999, eps=1e-8, mult=1.0):
    """Independent float64 NumPy implementation of the documented update rules."""
    m, v, last = {}, {}, {}
    table, total, out = {}, 0.0, []
    for step, (g, p) in enumerate(zip(raw, paths), start=1):
        g = np.asarray(g, dtype=np.float64) * mult
        if adam:
            t, tp = step / P, last.get(p, 0) / P
            mp, vp = m.get(p, np.zeros_like(g)), v.get(p, np.zeros_like(g))
            m[p] = b1 ** (t - tp) * mp + (1 - b1 ** (t - tp)) * g
            v[p] = b2 ** (t - tp) * vp + (1 - b2 ** (t - tp)) * g * g
            g = (m[p] / (1 - b1 ** t)) / (np.sqrt(v[p] / (1 - b2 ** t)) + eps)
        last[p] = step
        if saga:
            old = table.get(p, np.zeros_like(g))
            out.append(g - old + total / P)
            total = total + g - old
            table[p] = g
        else:
            out.append(g)
    return out


@pytest.mark.parametrize("adam,saga", [(True, False), (False, True), (True, True)])
def test_hand_computed_updates(adam, saga):
    torch.manual_seed(0)
    model = Toy(dtype=torch.float64)
    loss = SCRAPLLoss(**CFG, use_p_adam=adam, use_p_saga=saga, grad_mult=10.0, seed=0,
                      dtype=torch.float64, state_dtype=torch.float64)
    loss.attach_params([model.w])
    paths = [0, 1, 0, 2, 1, 0, 2, 2]
    raw, got = [], []
    for step, p in enumerate(paths):
        z, y = batch(step, torch.float64)
        d = loss(model(z), y, path_idx=p)
        raw.append(torch.autograd.grad(d, model.w, retain_graph=True)[0].numpy().copy())
        model.zero_grad(set_to_none=True)
        d.backward()
        got.append(model.w.grad.numpy().copy())
    expected = reference_updates(raw, paths, loss.n_paths, adam, saga, mult=10.0)
    for step, (a, b) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=f"step {step}")


def test_unattached_parameters_are_untouched():
    model = Toy()
    loss = SCRAPLLoss(**CFG, use_rho_log1p=True, grad_mult=1.0, seed=0)
    loss.attach_params([model.w])
    z, y = batch(0)
    d = loss(model(z), y, path_idx=4)
    raw_b = torch.autograd.grad(d, model.b, retain_graph=True)[0]
    d.backward()
    assert torch.equal(model.b.grad, raw_b)


def test_saga_is_unbiased_for_any_state_and_distribution():
    """Mean over p ~ π of the 𝒫-SAGA output equals the mean over paths of the current
    directions, uniform (plain) or non-uniform (importance-weighted)."""
    P, n = 5, 7
    g = torch.Generator().manual_seed(0)
    state = PathGradientState([n], P, use_p_adam=False, use_p_saga=True,
                              state_dtype=torch.float64)
    for step, p in enumerate([0, 3, 3, 1, 4, 0], start=1):      # some history
        state.transform(0, torch.randn(n, generator=g, dtype=torch.float64), p, step)
    current = torch.randn(P, n, generator=g, dtype=torch.float64)
    target = current.mean(dim=0)
    uniform = torch.stack([copy.deepcopy(state).transform(0, current[p], p, 7)
                           for p in range(P)]).mean(dim=0)
    assert torch.allclose(uniform, target, atol=1e-12)
    pi = torch.tensor([0.1, 0.4, 0.2, 0.2, 0.1], dtype=torch.float64)
    weighted = sum(pi[p] * copy.deepcopy(state).transform(0, current[p], p, 7,
                                                          weight=1 / (P * float(pi[p])))
                   for p in range(P))
    assert torch.allclose(weighted, target, atol=1e-12)


def test_running_sum_equals_the_table_sum():
    state = PathGradientState([6], 4, use_p_adam=True, use_p_saga=True,
                              state_dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    for step in range(1, 40):
        p = int(torch.randint(0, 4, (1,), generator=g))
        state.transform(0, torch.randn(6, generator=g, dtype=torch.float64), p, step)
    running = state.saga_sum[0].clone()
    state.resum()
    assert torch.allclose(running, state.saga_sum[0], atol=1e-12)


def test_single_path_gradients_average_to_the_full_second_order_gradient():
    """Uniform SCRAPL is an unbiased estimate of the full JTFS second-order distance."""
    loss = SCRAPLLoss(**CFG, use_p_adam=False, use_p_saga=False, dtype=torch.float64)
    x0, y = batch(0, torch.float64)
    y = y.double()
    x = torch.randn(2, 1, CFG["shape"], dtype=torch.float64, requires_grad=True)
    per_path = torch.zeros_like(x)
    for idx in range(loss.n_paths):
        per_path += torch.autograd.grad(loss(x, y, path_idx=idx), x)[0]
    per_path /= loss.n_paths
    n1 = len(loss.jtfs.first_order_keys)
    Sx, Sy = loss.jtfs.full(x)[:, :, n1:], loss.jtfs.full(y)[:, :, n1:]
    full = torch.linalg.vector_norm(Sy - Sx, dim=(-2, -1)).mean()
    assert full.dim() == 0
    full_grad = torch.autograd.grad(full, x)[0]
    assert torch.allclose(per_path, full_grad, rtol=1e-8, atol=1e-12 * full_grad.abs().max())


def test_state_is_allocated_only_for_what_is_enabled():
    model = Toy()
    W = sum(q.numel() for q in model.parameters())
    params = list(model.parameters())
    sizes = {}
    for adam, saga, dtype in [(False, False, torch.float32), (True, False, torch.float32),
                              (False, True, torch.float32), (True, True, torch.float32),
                              (True, True, torch.bfloat16)]:
        loss = SCRAPLLoss(**CFG, use_p_adam=adam, use_p_saga=saga, grad_mult=2.0,
                          state_dtype=dtype)
        loss.attach_params(params)
        sizes[(adam, saga, dtype)] = loss.state_bytes()
    P, steps = 35, len(params) * 35 * 8
    assert sizes[(False, False, torch.float32)] == steps
    assert sizes[(True, False, torch.float32)] == 2 * P * W * 4 + steps
    assert sizes[(False, True, torch.float32)] == P * W * 4 + W * 4 + steps
    # both: the SAGA table is derived from the Adam moments, only the running sum is added
    assert sizes[(True, True, torch.float32)] == 2 * P * W * 4 + W * 4 + steps
    assert sizes[(True, True, torch.bfloat16)] == 2 * P * W * 2 + W * 4 + steps


def test_bfloat16_state_tracks_float32():
    results = {}
    for dtype in (torch.float32, torch.bfloat16):
        torch.manual_seed(0)
        model = Toy()
        loss = SCRAPLLoss(**CFG, use_rho_log1p=True, grad_mult=1.0, state_dtype=dtype, seed=1)
        loss.attach_params(model.parameters())
        opt = torch.optim.SGD(model.parameters(), lr=1e-2)
        for step in range(12):
            z, y = batch(step)
            opt.zero_grad()
            loss(model(z), y).backward()
            opt.step()
        results[dtype] = model.w.detach().clone()
    drift = (results[torch.float32] - results[torch.bfloat16]).abs().max()
    assert 0 < drift < 5e-3


def train(model, loss, opt, steps, start=0, accum=1):
    for step in range(start, start + steps):
        opt.zero_grad(set_to_none=True)
        z, y = batch(step)
        for k in range(accum):
            sl = slice(k * 2 // accum, (k + 1) * 2 // accum)
            (loss(model(z[sl]), y[sl]) / accum).backward()
        opt.step()


def build(seed=0, accum=1, dtype=torch.float32):
    torch.manual_seed(seed)
    model = Toy()
    loss = SCRAPLLoss(**CFG, use_rho_log1p=True, grad_mult=1.0, grad_accum_steps=accum,
                      state_dtype=dtype, seed=7)
    loss.attach_params(model.parameters())
    return model, loss, torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_resume_is_exact(tmp_path, dtype):
    model, loss, opt = build(dtype=dtype)
    train(model, loss, opt, 12)
    straight = model.w.detach().clone(), loss.path_counts

    model, loss, opt = build(dtype=dtype)
    train(model, loss, opt, 6)
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                "loss": loss.state_dict()}, tmp_path / "ckpt.pt")
    del model, loss, opt
    model, loss, opt = build(seed=99, dtype=dtype)      # different init: all from the file
    ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["opt"])
    loss.load_state_dict(ckpt["loss"])
    assert loss.scrapl_t == 6
    train(model, loss, opt, 6, start=6)
    assert torch.equal(model.w.detach(), straight[0])
    assert loss.path_counts == straight[1]


def test_loading_grad_state_needs_attached_params():
    model, loss, opt = build()
    train(model, loss, opt, 2)
    state = loss.state_dict()
    fresh = SCRAPLLoss(**CFG, use_rho_log1p=True, grad_mult=1.0)
    with pytest.raises(ValueError, match="attach_params"):
        fresh.load_state_dict(state)


def test_gradient_accumulation_equals_the_full_batch():
    full_model, full_loss, full_opt = build(accum=1)
    acc_model, acc_loss, acc_opt = build(accum=2)
    train(full_model, full_loss, full_opt, 8)
    train(acc_model, acc_loss, acc_opt, 8, accum=2)
    assert acc_loss.scrapl_t == full_loss.scrapl_t == 8
    assert acc_loss.path_counts == full_loss.path_counts
    assert torch.allclose(acc_model.w, full_model.w, rtol=1e-4, atol=1e-6)


def test_accumulation_window_keeps_its_path():
    loss = SCRAPLLoss(**CFG, use_p_adam=False, use_p_saga=False, grad_accum_steps=3, seed=0)
    z, y = batch(0)
    x = torch.randn_like(y)
    loss(x, y)
    first = loss.curr_path_idx
    loss(x, y)
    assert loss.curr_path_idx == first
    with pytest.raises(ValueError, match="accumulation window"):
        loss(x, y, path_idx=(first + 1) % loss.n_paths)


def _second_moment_after_visits(dtype, visits=2500, P=4, n=2048):
    state = PathGradientState([n], P, use_p_adam=True, use_p_saga=False, state_dtype=dtype)
    for k in range(visits):
        g = torch.full((n,), 1.0 if k < visits // 2 else 2.0)
        state.transform(0, g, 0, 1 + k * P)              # path 0 revisited every P steps
    return state.v[0][0].double().mean().item()


def test_bfloat16_second_moment_does_not_freeze(monkeypatch):
    """Late in training v moves by ~0.1 % per visit (1 - β2), below half a bfloat16 step:
    round-to-nearest stalls it; stochastic rounding follows float32 on average."""
    v32 = _second_moment_after_visits(torch.float32)
    v16 = _second_moment_after_visits(torch.bfloat16)
    assert abs(v16 / v32 - 1) < 0.01
    import scrapl.path_optim as po          # the same run with round-to-nearest drifts away
    monkeypatch.setattr(po, "to_bfloat16_stochastic", lambda x, g: x.to(torch.bfloat16))
    assert abs(_second_moment_after_visits(torch.bfloat16) / v32 - 1) > 0.03


def test_stochastic_rounding_is_unbiased():
    from scrapl.path_optim import to_bfloat16_stochastic
    x = torch.full((200_000,), 1.0 + 2 ** -10)          # 1/8 of a bfloat16 step above 1
    y = to_bfloat16_stochastic(x, torch.Generator().manual_seed(0)).double()
    assert set(y.unique().tolist()) == {1.0, 1.0 + 2 ** -7}
    assert abs(y.mean().item() - (1.0 + 2 ** -10)) < 2e-5
