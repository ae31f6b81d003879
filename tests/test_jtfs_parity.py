"""Parity of ``scrapl.jtfs.JTFS`` with the peer's JTFS (scrapl-loss 0.1.0 / kymatio 0.4.0.dev0).

Reference values are the fixtures of ``shared/peer/fixtures`` (see ``shared/peer/README.md``,
section "Fixtures"): filter metadata, path keys, raw single-path coefficients (padded, the
peer's ``scattering_singlepath``), SCRAPL distances and gradients, and the full JTFS
('joint' format, unpadded) first-order channels and fixture-path channels.

Tolerance: max |ours - peer| <= 1e-4 * max |peer| per path / channel (float32 maths).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from scrapl.jtfs import JTFS

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "peer" / "fixtures"
RTOL = 1e-4

CONFIGS = {
    "granular": dict(N=32768, J=12, Q=(8, 2), J_fr=3, Q_fr=2, T=None, F=None),
    "tr808": dict(N=44100, J=12, Q=(8, 2), J_fr=5, Q_fr=2, T=2048, F=1),
}
LOG1P = {"granular": False, "tr808": True}

pytestmark = pytest.mark.skipif(
    not FIXTURES.is_dir(), reason=f"peer fixtures folder {FIXTURES} is absent")


def _load(name: str):
    return torch.load(FIXTURES / name, weights_only=True)


def _lit(v):
    return ast.literal_eval(v) if isinstance(v, str) else v


def _rel_err(a: torch.Tensor, ref: torch.Tensor) -> float:
    return ((a - ref).abs().max() / ref.abs().max()).item()


@pytest.fixture(scope="module", params=list(CONFIGS))
def case(request):
    """Per config: the module, fixtures, and compat-mode single-path outputs (no grad)."""
    torch.set_num_threads(2)
    cfg = request.param
    jtfs = JTFS(**CONFIGS[cfg])
    meta = _load(f"{cfg}_meta.pt")
    x = _load(f"{cfg}_input.pt")
    sp = _load(f"{cfg}_singlepath.pt")
    full = _load(f"{cfg}_full_jtfs.pt")
    keys = [tuple(k) for k in _lit(sp["keys"])]
    with torch.no_grad():
        coef = [jtfs.single_path(x["x"], n2, n_fr, unpad=False) for n2, n_fr in keys]
    return dict(cfg=cfg, jtfs=jtfs, meta=meta, x=x, sp=sp, full=full, keys=keys,
                path_idx=list(_lit(sp["path_idx"])), coef=coef)


def test_scrapl_keys(case):
    ref = [tuple(k) for k in case["meta"]["scrapl_keys"]]
    assert case["jtfs"].scrapl_keys == ref
    assert len(ref) == case["meta"]["n_paths"]
    assert [case["jtfs"].scrapl_keys[i] for i in case["path_idx"]] == case["keys"]
    # the full output's channel order: first order (n_fr,), then the paths
    n1 = int(_lit(case["full"]["n_first_order"]))
    assert len(case["jtfs"].first_order_keys) == n1


def test_filter_metadata(case):
    jtfs, ref = case["jtfs"], case["meta"]["filterbank"]
    for name in ("psi1", "psi2", "psis_fr"):
        ours, theirs = jtfs.meta[name], ref[name]
        assert len(ours) == len(theirs), name
        for a, b in zip(ours, theirs):
            assert a["j"] == b["j"], name
            assert a["xi"] == pytest.approx(b["xi"], rel=1e-12, abs=1e-15), name
            assert a["sigma"] == pytest.approx(b["sigma"], rel=1e-12), name
    for name in ("phi", "phi_fr"):
        for key in ("xi", "sigma", "j", "N"):
            assert jtfs.meta[name][key] == pytest.approx(ref[name][key], rel=1e-12), (name, key)
    scal = ref["scalars"]
    for key in ("N_padded", "N_padded_fr", "pad_left", "pad_right", "log2_stride",
                "log2_stride_fr", "T", "F"):
        assert getattr(jtfs, key) == scal[key], key
    assert {int(k): v for k, v in scal["ind_start"].items()} == jtfs.ind_start
    assert {int(k): v for k, v in scal["ind_end"].items()} == jtfs.ind_end


def test_single_path_compat_equals_peer(case):
    for k, key in enumerate(case["keys"]):
        ref = case["sp"]["coef"][k].squeeze(-1)          # (B, 1, freq, time_padded)
        ours = case["coef"][k]
        assert ours.shape == ref.shape, key
        assert _rel_err(ours, ref) <= RTOL, key


def test_single_path_unpadded_and_full(case):
    """unpad=True equals the full JTFS channel; full first order equals the peer's."""
    jtfs, x, full = case["jtfs"], case["x"]["x"], case["full"]
    r = jtfs.log2_stride
    with torch.no_grad():
        S = jtfs.full(x, paths=case["path_idx"])        # (B, 1, n1 + 8, freq, time)
    n_first = len(jtfs.first_order_keys)
    assert S.shape[-2:] == full["first_order"].shape[-2:]
    for c in range(n_first):
        assert _rel_err(S[:, :, c], full["first_order"][:, :, c]) <= RTOL, c
    for k, key in enumerate(case["keys"]):
        ref = full["paths"][:, :, k]
        assert _rel_err(S[:, :, n_first + k], ref) <= RTOL, key
        # compat output unpadded == full channel (same arithmetic)
        unpadded = case["coef"][k][..., jtfs.ind_start[r]:jtfs.ind_end[r]]
        torch.testing.assert_close(unpadded, S[:, :, n_first + k], rtol=0, atol=1e-6 * ref.abs().max().item())
    # unpad=True is the default of single_path (checked on one path: it recomputes)
    n2, n_fr = case["keys"][-1]
    with torch.no_grad():
        one = jtfs.single_path(x, n2, n_fr)
    torch.testing.assert_close(one, S[:, :, -1], rtol=0, atol=1e-6 * one.abs().max().item())


@pytest.mark.parametrize("which", [0, -1])
def test_scrapl_dist_and_grad(case, which):
    """SCRAPL distance and d dist / d x of the peer (compat mode) on two paths."""
    jtfs, sp = case["jtfs"], case["sp"]
    n2, n_fr = case["keys"][which]
    x = case["x"]["x"].clone().requires_grad_(True)
    Sx = jtfs.single_path(x, n2, n_fr, unpad=False)
    with torch.no_grad():
        St = jtfs.single_path(case["x"]["x_target"], n2, n_fr, unpad=False)
    if LOG1P[case["cfg"]]:
        Sx, St = torch.log1p(Sx / 1e-3), torch.log1p(St / 1e-3)
    dist = torch.linalg.vector_norm(St - Sx, ord=2, dim=(-2, -1)).mean()
    dist.backward()
    ref_dist = sp["dist"][which]
    assert dist.item() == pytest.approx(ref_dist.item(), rel=RTOL)
    ref_grad = sp["grad_x"][which]
    assert _rel_err(x.grad, ref_grad) <= 1e-3


def test_full_transform_all_channels(case):
    """The whole 'joint' output: shape of the peer's, fixture channels where they sit.

    (~5 s granular, ~13 s tr808 on 2 cores: the first-order scalogram is shared by all
    paths and each n2's second-order wavelet transform by all its n_fr.)"""
    jtfs, full = case["jtfs"], case["full"]
    with torch.no_grad():
        S = jtfs.full(case["x"]["x"])
    assert list(S.shape) == list(_lit(full["full_shape"]))
    n_first = len(jtfs.first_order_keys)
    assert _rel_err(S[:, :, :n_first], full["first_order"]) <= RTOL
    for k, i in enumerate(case["path_idx"]):
        assert _rel_err(S[:, :, n_first + i], full["paths"][:, :, k]) <= RTOL, i


def test_float64_module(case):
    """A float64 module (float32 inputs are cast) matches the peer on two fixture paths and
    its float32 twin to float32 rounding."""
    jtfs64 = JTFS(**CONFIGS[case["cfg"]], dtype=torch.float64)
    x = case["x"]["x"]
    for k in (0, len(case["keys"]) - 1):
        n2, n_fr = case["keys"][k]
        with torch.no_grad():
            S = jtfs64.single_path(x, n2, n_fr, unpad=False)
        assert S.dtype == torch.float64
        ref = case["sp"]["coef"][k].squeeze(-1).double()
        assert _rel_err(S, ref) <= RTOL, (n2, n_fr)
        assert _rel_err(S, case["coef"][k].double()) <= 1e-5, (n2, n_fr)
