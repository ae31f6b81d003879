"""torch.distributed (gloo, 2 processes on the CPU, launched by torchrun):

* distributed training == one process with the doubled batch (SCRAPL with 𝒫-Adam, 𝒫-SAGA
  and θ-IS warm-up; supervised with Adam), and resuming a distributed run is exact;
* the sharded θ-IS warm-up == the single-process warm-up;
* batch matching under torchrun splits the files over the ranks and reports a bad file.

The workers are this file run by ``python -m torch.distributed.run`` (see ``_worker``).
"""
from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
TINY = dict(synth="tr808", voice="RS", val_size=4, val_every=2, checkpoint_every=2,
            log_every=1, out_channels=(4, 4), latent_dim=8, progress=False)
SCRAPL = dict(loss="scrapl", theta_is=True, warmup_iters=5, steps=4,
              jtfs=dict(shape=4096, J=5, Q1=2, Q2=1, J_fr=1, Q_fr=1))
PARAM = dict(loss="param", steps=3, lr=3e-3)
BATCH = 2                     # per rank; the single-process reference uses 2 x BATCH

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(),
                                reason="this PyTorch has no torch.distributed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
           "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=timeout)


def _configs(batch_size: int):
    from matching.training import TrainConfig
    return (TrainConfig(batch_size=batch_size, **TINY, **SCRAPL),
            TrainConfig(batch_size=batch_size, **TINY, **PARAM))


def _worker(root: Path) -> None:
    """What each rank runs: the SCRAPL run, the same run interrupted and resumed, the
    supervised run, and the CLI under the same process group."""
    import dataclasses
    from matching import distributed
    from matching.cli import main
    from matching.training import train
    with distributed.session() as dist:
        assert dist.world_size == 2
        scrapl, param = _configs(BATCH)
        train(scrapl, root / "scrapl")
        train(dataclasses.replace(scrapl, steps=2), root / "resumed")
        train(scrapl, root / "resumed")
        train(param, root / "param")
        code = main(["train", "--voice", "RS", "--loss", "mss", "--steps", "2", "--batch-size",
                     "1", "--val-size", "2", "--val-every", "2", "--channels", "4", "4",
                     "--latent-dim", "8", "--quiet", "-o", str(root / "cli")])
        assert code == 0


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    result = torchrun(str(Path(__file__)), str(root))
    assert result.returncode == 0, result.stderr[-4000:]
    return root


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The single-process references: the same runs with twice the batch."""
    from matching.training import train
    root = tmp_path_factory.mktemp("one")
    for kind, cfg in zip(("scrapl", "param"), _configs(2 * BATCH)):
        train(cfg, root / kind)
    return root


def _ckpt(path: Path):
    from matching.training import load_checkpoint
    return load_checkpoint(path / "checkpoint.pt")


def _assert_same_encoder(a, b, **tol):
    for k, v in a["encoder"].items():
        assert torch.allclose(v, b["encoder"][k], **tol), (k, (v - b["encoder"][k]).abs().max())


@pytest.mark.parametrize("kind", ["scrapl", "param"])
def test_two_ranks_train_like_one_process_with_twice_the_batch(ddp_runs, one_process, kind):
    scrapl, param = _configs(2 * BATCH)
    cfg = scrapl if kind == "scrapl" else param
    tmp_path = one_process / kind
    one, two = _ckpt(tmp_path), _ckpt(ddp_runs / kind)
    assert one["step"] == two["step"] == cfg.steps and two["world_size"] == 2
    # P-Adam divides each path's gradient by its own running RMS, so summation-order
    # differences of ~1e-7 between one and two processes grow to ~1e-4 of a weight after a
    # few steps (measured 1.5e-4 on a bias, machine-dependent); a wrong batch split moves
    # weights by the learning rate (1e-3 per step and more)
    _assert_same_encoder(one, two, rtol=1e-3 if kind == "scrapl" else 1e-4, atol=1e-6)
    if kind == "scrapl":
        sa, sb = one["loss"]["_extra_state"], two["loss"]["_extra_state"]
        assert torch.equal(sa["path_counts"], sb["path_counts"])     # the same paths
        # 𝒫-Adam's normalized gradients m / sqrt(v) are O(1) whatever the gradient's size, so
        # an entry whose gradient is ~0 turns summation-order noise into an O(0.1) change
        # (measured: one bias entry of saga_sum, -1.584 vs -1.678, on this machine at bfd79ce
        # already); the bulk must agree to 1e-3 of the scale and no entry by more than 10 %
        for k, v in sa["grad_state"].items():
            v, w = v.float(), sb["grad_state"][k].float()
            d, scale = (v - w).abs(), v.abs().max() + 1e-6
            assert d.median() <= 1e-3 * scale + 1e-6 and d.max() <= 0.1 * scale + 1e-6, (k, d.max(), scale)
    # logged losses are the global batch's, validation covers the whole held-out set
    with open(tmp_path / "metrics.csv") as f1, open(ddp_runs / kind / "metrics.csv") as f2:
        r1, r2 = list(csv.DictReader(f1)), list(csv.DictReader(f2))
    assert [(r["step"], r["split"]) for r in r1] == [(r["step"], r["split"]) for r in r2]
    for a, b in zip(r1, r2):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-4)
    assert (ddp_runs / kind / "model.safetensors").is_file()


def test_sharded_warmup_equals_single_process(ddp_runs, one_process):
    """Each rank measured half of the paths; both ended with the distribution of one
    process measuring all of them (the per-path values, and the sampler state)."""
    tmp_path = one_process / "scrapl"
    files = sorted(p.name for p in (tmp_path / "warmup").glob("vals_*.pt"))
    assert files and files == sorted(p.name for p in (ddp_runs / "scrapl" / "warmup").glob("vals_*.pt"))
    for name in files:
        a = torch.load(tmp_path / "warmup" / name, weights_only=True)
        b = torch.load(ddp_runs / "scrapl" / "warmup" / name, weights_only=True)
        assert torch.allclose(a, b, rtol=1e-4), name
    one = _ckpt(tmp_path)["loss"]["_extra_state"]["sampler"]
    two = _ckpt(ddp_runs / "scrapl")["loss"]["_extra_state"]["sampler"]
    assert torch.allclose(one["probs"], two["probs"], rtol=1e-4)
    assert not torch.allclose(one["probs"], torch.full_like(one["probs"], 1 / len(one["probs"])))
    assert torch.equal(one["theta_updated"], two["theta_updated"])


def test_distributed_resume_is_exact(ddp_runs):
    a, b = _ckpt(ddp_runs / "scrapl"), _ckpt(ddp_runs / "resumed")
    assert len(b["rng_ranks"]) == 2
    _assert_same_encoder(a, b, rtol=0, atol=0)
    sa, sb = a["loss"]["_extra_state"], b["loss"]["_extra_state"]
    for k, v in sa["grad_state"].items():
        assert torch.equal(v, sb["grad_state"][k]), k


def test_cli_train_under_torchrun_writes_once(ddp_runs):
    out = ddp_runs / "cli"
    assert {"checkpoint.pt", "metrics.csv", "metrics.png", "model.safetensors"} <= {
        p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]    # no temporary left


def test_batch_match_splits_files_across_ranks(tmp_path):
    import synths
    from matching.audio import write_audio
    d = tmp_path / "in"
    d.mkdir()
    s = synths.get("tr808", voice="RS")
    for i, level in enumerate((9.0, 6.0, 3.0)):
        write_audio(d / f"rim{i}.wav", s.render({"level": level})[0, 0], s.sample_rate,
                    float_samples=True)
    (d / "bad.wav").write_bytes(b"not audio at all")
    out = tmp_path / "out"
    result = torchrun("-m", "matching", "match", str(d / "*.wav"), "--voice", "RS", "--out",
                      str(out), "--steps", "2", "--candidates", "4", "--no-jtfs-distance",
                      "--quiet")
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stdout.count("matched 3 sounds") == 1          # rank 0 reports, once
    assert "on 2 processes" in result.stdout and "bad.wav" in result.stderr
    with open(out / "summary.csv") as f:
        rows = {Path(r["file"]).name: r for r in csv.DictReader(f)}
    assert {k: r["status"] for k, r in rows.items()} == {
        "bad.wav": "failed", "rim0.wav": "ok", "rim1.wav": "ok", "rim2.wav": "ok"}
    assert sorted(p.name for p in out.glob("*.json")) == ["rim0.json", "rim1.json", "rim2.json"]


if __name__ == "__main__":          # a torchrun worker: python -m torch.distributed.run ... ROOT
    sys.path.insert(0, str(REPO))
    _worker(Path(sys.argv[1]))
