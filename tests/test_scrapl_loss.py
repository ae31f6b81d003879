"""SCRAPLLoss: peer-compatible API, path sampling, probabilities, caching, errors."""
from __future__ import annotations

import fractions

import pytest
import torch

from scrapl.loss import SCRAPLLoss
from scrapl.path_sampling import PathSampler, PathSamplingError

# tiny configuration: N=2048, 35 second-order paths, builds in ~10 ms
CFG = dict(shape=2048, J=7, Q1=2, Q2=1, J_fr=2, Q_fr=1)


def make(**kw) -> SCRAPLLoss:
    kw = {"use_p_adam": False, "use_p_saga": False, "seed": 0, **kw}
    return SCRAPLLoss(**CFG, **kw)


def signals(batch=2, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 1, CFG["shape"], generator=g, dtype=dtype),
            torch.randn(batch, 1, CFG["shape"], generator=g, dtype=dtype))


def test_peer_attributes_and_keys():
    loss = make()
    assert loss.n_paths == len(loss.scrapl_keys) == 35
    assert loss.unif_prob == pytest.approx(1 / 35)
    assert loss.probs.dtype == torch.float64 and loss.probs.shape == (35,)
    assert torch.allclose(loss.probs, torch.full((35,), 1 / 35, dtype=torch.float64))
    assert loss.curr_path_idx is None and loss.path_counts == {} and loss.scrapl_t == 0
    for name in ("attach_params", "clear", "state_dict", "load_state_dict", "sample_path",
                 "calc_dist", "update_prob", "load_probs", "load_probs_from_warmup_dir",
                 "warmup_lc_hvp", "check_is_deterministic", "check_probs", "calc_log_probs",
                 "adam_grad_norm_cont"):
        assert callable(getattr(loss, name)), name


def test_forward_is_the_mean_norm_of_the_path_difference():
    loss = make()
    x, y = signals()
    for idx in (0, 17, 34):
        n2, n_fr = loss.scrapl_keys[idx]
        expected = torch.linalg.vector_norm(loss.jtfs.single_path(y, n2, n_fr)
                                            - loss.jtfs.single_path(x, n2, n_fr),
                                            dim=(-2, -1)).mean()
        got = loss(x, y, path_idx=idx)
        assert torch.allclose(got, expected, rtol=1e-6), idx
        assert loss.curr_path_idx == idx


def test_log1p_and_p_options():
    x, y = signals()
    loss = make(use_rho_log1p=True, log1p_eps=1e-2, p=1)
    n2, n_fr = loss.scrapl_keys[5]
    S = lambda s: torch.log1p(loss.jtfs.single_path(s, n2, n_fr) / 1e-2)
    expected = (S(y) - S(x)).abs().sum(dim=(-2, -1)).mean()
    assert torch.allclose(loss(x, y, path_idx=5), expected, rtol=1e-5)


def test_unpad_false_is_the_padded_peer_output():
    x, y = signals()
    padded, unpadded = make(unpad=False), make()
    _, Sx_p, _ = padded.calc_dist(x, y, 3)
    _, Sx_u, _ = unpadded.calc_dist(x, y, 3)
    assert Sx_p.shape[-1] > Sx_u.shape[-1]
    n2, n_fr = padded.scrapl_keys[3]
    assert torch.equal(Sx_p, padded.jtfs.single_path(x, n2, n_fr, unpad=False))


def test_training_counts_steps_and_paths_eval_does_not():
    loss = make()
    x, y = signals()
    for idx in (3, 3, 7):
        loss(x, y, path_idx=idx)
    assert loss.scrapl_t == 3 and loss.path_counts == {3: 2, 7: 1}
    loss.eval()
    loss(x, y)
    assert loss.scrapl_t == 3 and sum(loss.path_counts.values()) == 3


def test_seed_gives_the_same_path_and_sampler_is_reproducible():
    loss = make()
    x, y = signals()
    a = [loss.sample_path(seed=s) for s in range(20)]
    b = [loss.sample_path(seed=s) for s in range(20)]
    assert a == b and len(set(a)) > 5
    one, two = make(seed=123), make(seed=123)
    assert [one.sample_path() for _ in range(30)] == [two.sample_path() for _ in range(30)]


def test_uniform_sampling_frequencies():
    sampler = PathSampler(5, seed=1)
    draws = torch.tensor([sampler.sample() for _ in range(5000)])
    freq = torch.bincount(draws, minlength=5).double() / 5000
    assert (freq - 0.2).abs().max() < 0.03


def test_sample_all_paths_first_visits_every_path_once():
    loss = make(sample_all_paths_first=True)
    x, y = signals(batch=1)
    seen = [loss.sample_path() for _ in range(loss.n_paths)]
    assert sorted(seen) == list(range(loss.n_paths))
    assert loss.unsampled_paths == []
    loss.eval()
    fresh = make(sample_all_paths_first=True).eval()
    fresh.sample_path()
    assert len(fresh.unsampled_paths) == fresh.n_paths     # eval does not consume the queue


def test_update_prob_proportional_with_min_prob_frac():
    """The peer's checks fail with min_prob_frac > 0; here the distribution is exact."""
    loss = make(min_prob_frac=0.2)
    vals = torch.rand(loss.n_paths, generator=torch.Generator().manual_seed(0)) + 0.1
    for i in range(loss.n_paths):
        loss.update_prob(i, float(vals[i]))
    P = loss.n_paths
    expected = 0.8 * vals.double() / vals.double().sum() + 0.2 / P
    assert torch.allclose(loss.probs, expected, rtol=1e-12)
    assert loss.probs.min() >= 0.2 / P - 1e-15
    loss.check_probs(loss.probs, P, 1e-12, 0.2 / P, vals.double(), list(range(P)))


def test_partial_update_keeps_stale_mass():
    sampler = PathSampler(10)
    sampler.update(0, [4.0])
    assert torch.allclose(sampler.probs, torch.full((10,), 0.1, dtype=torch.float64))
    sampler.update(1, [1.0])        # two of ten updated: they share 2/10 as 4:1
    assert sampler.probs[0] == pytest.approx(0.2 * 0.8)
    assert sampler.probs[1] == pytest.approx(0.2 * 0.2)
    assert torch.allclose(sampler.probs[2:], torch.full((8,), 0.1, dtype=torch.float64))


def test_several_thetas_are_averaged():
    sampler = PathSampler(3, n_theta=2)
    for i, (a, b) in enumerate([(1.0, 1.0), (2.0, 1.0), (1.0, 2.0)]):
        sampler.update(i, [a, b])
    expected = 0.5 * (torch.tensor([1, 2, 1.]) / 4 + torch.tensor([1, 1, 2.]) / 4)
    assert torch.allclose(sampler.probs, expected.double())


def test_importance_weighting_of_the_loss_value():
    loss = make(importance_weighting=True)
    vals = torch.arange(1, loss.n_paths + 1).double()
    for i in range(loss.n_paths):
        loss.update_prob(i, vals[i])
    x, y = signals()
    plain = make()
    idx = 4
    w = 1 / (loss.n_paths * float(loss.probs[idx]))
    assert torch.allclose(loss(x, y, path_idx=idx), w * plain(x, y, path_idx=idx), rtol=1e-6)
    loss.eval()          # evaluation reports the plain distance
    assert torch.allclose(loss(x, y, path_idx=idx), plain(x, y, path_idx=idx), rtol=1e-6)


def test_paths_per_step_averages_distinct_paths():
    loss = make(paths_per_step=3)
    single = make()
    x, y = signals()
    d = loss(x, y, seed=5)
    paths = loss.curr_path_indices
    assert len(set(paths)) == 3
    expected = torch.stack([single(x, y, path_idx=i) for i in paths]).mean()
    assert torch.allclose(d, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="paths_per_step"):
        SCRAPLLoss(**CFG, paths_per_step=2, use_rho_log1p=True, grad_mult=1.0)


def test_path_distances_match_single_calls():
    loss = make()
    x, y = signals()
    d = loss.path_distances(x, y, [1, 9, 30])
    for k, i in enumerate([1, 9, 30]):
        assert torch.allclose(d[k], make()(x, y, path_idx=i), rtol=1e-6)


def test_cached_target_gives_the_same_values_and_gradients():
    x, y = signals()
    fresh, cached = make(cache_target=False), make()
    for idx in (2, 20, 2, 33):
        xa = x.clone().requires_grad_(True)
        xb = x.clone().requires_grad_(True)
        a, b = fresh(xa, y.clone(), path_idx=idx), cached(xb, y, path_idx=idx)
        a.backward(), b.backward()
        assert torch.allclose(a, b, rtol=1e-5), idx
        assert torch.allclose(xa.grad, xb.grad, rtol=1e-4, atol=1e-7), idx
    y.add_(1.0)                  # modified in place: the cache must not be used
    assert torch.allclose(cached(x, y, path_idx=2), fresh(x, y, path_idx=2), rtol=1e-5)


def test_bad_inputs_give_clear_errors():
    loss = make()
    x, y = signals()
    with pytest.raises(ValueError, match="shape"):
        loss(x[..., :100], y[..., :100])
    with pytest.raises(ValueError, match="differ"):
        loss(x, y[:1])
    with pytest.raises(ValueError, match=r"path_idx must be in \[0, 35\)"):
        loss(x, y, path_idx=35)
    with pytest.raises(TypeError, match="torch.Tensor"):
        loss(x.numpy(), y)
    with pytest.raises(ValueError, match="grad_mult"):
        SCRAPLLoss(**CFG, use_p_adam=True, grad_mult=1.0)
    with pytest.raises(ValueError, match="min_prob_frac"):
        make(min_prob_frac=1.0)
    with pytest.raises(PathSamplingError, match="curvature values"):
        loss.update_prob(0, -1.0)


def test_load_probs_refuses_pickles_and_checks_shape(tmp_path):
    loss = make()
    good = tmp_path / "probs.pt"
    probs = torch.linspace(1, 2, loss.n_paths).double()
    torch.save(probs / probs.sum(), good)
    loss.load_probs(str(good))
    assert torch.allclose(loss.probs, probs / probs.sum())
    assert loss.loaded_probs_path == str(good)
    with pytest.raises(PathSamplingError, match="external probs"):
        loss.update_prob(0, 1.0)
    wrong = tmp_path / "wrong.pt"
    torch.save(torch.ones(3) / 3, wrong)
    with pytest.raises(PathSamplingError, match="expected 35"):
        make().load_probs(str(wrong))
    evil = tmp_path / "evil.pt"
    torch.save({"probs": probs, "obj": fractions.Fraction(1, 3)}, evil)  # arbitrary class
    with pytest.raises(ValueError, match="evil.pt"):
        make().load_probs(str(evil))


def test_clear_resets_everything():
    loss = make()
    x, y = signals()
    loss(x, y, path_idx=1)
    loss.update_prob(0, 1.0), loss.update_prob(1, 3.0)
    loss.clear()
    assert loss.scrapl_t == 0 and loss.path_counts == {} and loss.curr_path_idx is None
    assert torch.allclose(loss.probs, torch.full((35,), 1 / 35, dtype=torch.float64))


def test_check_is_deterministic():
    det = lambda x: x.mean(dim=-1)
    synth = lambda th: th.unsqueeze(-1).expand(-1, -1, 8)
    x = torch.randn(2, 1, 8)
    assert SCRAPLLoss.check_is_deterministic(det, {"x": x}, synth)
    noisy = lambda x: x.mean(dim=-1) + torch.rand(1)
    assert not SCRAPLLoss.check_is_deterministic(noisy, {"x": x}, synth)
