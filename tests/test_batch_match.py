"""Batch matching: the objective's terms equal their definitions (MSSLoss, envelope, a SCRAPL
path distance) and several targets equal one target at a time, a batch of one
sound gives match_preset's result, a folder with a corrupt file finishes the others and
reports the bad one, reruns skip what is done, inputs expand and name outputs uniquely."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import synths
from matching.audio import resample_to_length
from matching import match_batch
from matching.engine import window_duration
from matching.inputs import expand_inputs, output_names
from matching.objective import batch_distances
from matching.match import match_preset
from support import sound_file as _sound
from matching.objective import (JTFS_RATE, MatchObjective, envelope_db, jtfs_config,
                                match_distances)

REPO = Path(__file__).resolve().parents[1]
FAST = dict(candidates=8, steps=3, detect_steps=2, detect_voices=2, progress=False)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("sounds")
    _sound(d / "rim.wav", "RS", {"level": 4.0})
    _sound(d / "clave.wav", "CL", {"level": 7.0})
    (d / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    (d / "notes.txt").write_text("not audio")
    return d


def _band_envelopes(x, rate, frame=512, hop=256):
    """The envelope term's frame levels by definition: each zero-padded frame (as
    envelope_db frames it) Hann-windowed, its one-sided power spectrum split at
    ENVELOPE_SPLIT_HZ, each band's mean square (Parseval) in dB, floored at -80: (rows, 2 * frames)."""
    from matching.objective import ENVELOPE_SPLIT_HZ
    frames = torch.nn.functional.pad(x, (frame // 2, frame // 2)).unfold(-1, frame, hop)
    window = torch.hann_window(frame, periodic=True)
    power = torch.fft.rfft(frames * window).abs().square()        # (rows, frames, bins)
    power[..., 1:-1] *= 2.0
    power = power / (frame * window.square().sum())
    k = int(round(ENVELOPE_SPLIT_HZ * frame / rate))
    bands = torch.cat([power[..., :k].sum(-1), power[..., k:].sum(-1)], dim=-1)
    return 10 * torch.log10(bands.clamp_min(1e-8))


def _reference_objective(x, target, rate):
    """MatchObjective's definition without SCRAPL, from scrapl.mss.MSSLoss: (rows,)."""
    from matching.objective import SPECTRAL_FLOOR_DB
    from scrapl.mss import MSSLoss, make_window, stft_magnitude
    t = target.reshape(1, 1, -1).expand(x.shape[0], 1, -1)
    distance, silence = 0.0, 0.0
    for size, hop in zip((256, 1024, 4096), (64, 256, 1024)):
        # one scale: log1p(|STFT| / a), a SPECTRAL_FLOOR_DB below the target's peak bin
        mss = MSSLoss(mode="revisited", fft_sizes=(size,), hop_sizes=(hop,), window="hann", reduction="none")
        a = stft_magnitude(target.reshape(1, -1), size, hop, make_window("hann", size)).max() * 10 ** (-SPECTRAL_FLOOR_DB / 20)
        distance = distance + mss(x.unsqueeze(1) / a, t / a)
        silence = silence + mss(torch.zeros_like(t[:1]), t[:1] / a)
    env = (_band_envelopes(x, rate) - _band_envelopes(target.reshape(1, -1), rate)).abs().mean(dim=-1) / 20.0
    # the attack term: log1p(|FFT| / a) of the first ATTACK_S s (flat, then a half Hann
    # window), a ATTACK_FLOOR_DB below the target's peak bin, over the same of silence
    from matching.objective import ATTACK_FLOOR_DB, ATTACK_S, ATTACK_WEIGHT
    m = int(ATTACK_S * rate)
    window = np.ones(m)
    window[m // 2:] = np.hanning(2 * (m - m // 2))[m - m // 2:]
    window = torch.from_numpy(window).float()
    size = int(2 ** np.ceil(np.log2(m)))
    spectrum = lambda y: torch.fft.rfft(y[..., :m] * window, n=size).abs()
    ref = spectrum(target.reshape(-1))
    a = ref.max() * 10 ** (-ATTACK_FLOOR_DB / 20)
    attack = (torch.log1p(spectrum(x) / a) - torch.log1p(ref / a)).norm(dim=-1) / torch.log1p(ref / a).norm()
    return distance / silence + env + ATTACK_WEIGHT * attack


def test_match_objective_terms_and_several_targets():
    g = torch.Generator().manual_seed(0)
    n, rate = 4096, 44100
    decay = torch.exp(-torch.arange(n) / 2000.0)
    targets = torch.randn(3, n, generator=g) * decay
    x = (torch.randn(5, n, generator=g) * decay).requires_grad_(True)
    index = torch.tensor([2, 0, 1, 2, 0])
    batched = MatchObjective(targets, rate)
    got = batched(x, index)
    want = torch.stack([_reference_objective(x[i:i + 1], targets[k], rate)[0]
                        for i, k in enumerate(index.tolist())])
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)
    single = torch.stack([MatchObjective(targets[k], rate)(x[i:i + 1])[0]
                          for i, k in enumerate(index.tolist())])
    assert torch.allclose(got, single, rtol=1e-6, atol=1e-7)
    with torch.no_grad():
        pair = batched.pairwise(x)
    assert pair.shape == (3, 5)
    assert torch.allclose(pair[index, torch.arange(5)], got.detach(), rtol=1e-5, atol=1e-6)
    got.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # the SCRAPL term: the path drawn by a sampler with that seed, the distance on it
    # divided by that of silence
    from scrapl.loss import SCRAPLLoss
    with_scrapl = MatchObjective(targets, rate, scrapl_weight=0.5, seed=3)
    ref = SCRAPLLoss(**jtfs_config(n, rate), use_rho_log1p=True, grad_mult=1.0,
                     use_p_adam=False, use_p_saga=False, seed=3)
    low = lambda s: resample_to_length(s, rate, JTFS_RATE, ref.jtfs.N).unsqueeze(1)
    for _ in range(2):
        path = ref.sample_path()
        with torch.no_grad():
            term = (with_scrapl(x, index) - batched(x, index)) / 0.5
            t = low(targets)[index]
            d = ref.path_distances(low(x), t, [path], reduction="none")[0]
            silence = ref.path_distances(torch.zeros_like(t), t, [path], reduction="none")[0]
        assert torch.allclose(term, d / silence, rtol=1e-4, atol=1e-6)
    # scored: the same loss, and the score without the SCRAPL term
    loss, score = with_scrapl.scored(x, index)
    assert loss.requires_grad and not score.requires_grad
    assert torch.allclose(score, batched(x, index).detach(), rtol=1e-6, atol=1e-7)
    assert not torch.allclose(loss.detach(), score)


def test_batch_distances_equal_their_definitions():
    import torchaudio
    from scrapl.jtfs_loss import JTFSLoss
    from scrapl.mss import MSSLoss
    s = synths.get("tr808", voice="RS", duration=0.05)
    rate = s.sample_rate
    x = s(torch.rand(2, s.n_params, generator=torch.Generator().manual_seed(1))).reshape(2, -1)
    t = s(s.default_theta(2)).reshape(2, -1)
    got = batch_distances(torch.cat([x, t[:1]]), t, rate, torch.tensor([0, 1, 1]))
    mel = torchaudio.transforms.MelSpectrogram(rate, n_fft=2048, hop_length=256, n_mels=128)
    lm = lambda a: torch.log(mel(a) + 1e-6)
    cfg = jtfs_config(x.shape[-1], rate)
    jtfs = JTFSLoss(**cfg, use_rho_log1p=True)
    low = lambda a: resample_to_length(a, rate, JTFS_RATE, cfg["shape"]).unsqueeze(1)
    for i, (a, b) in enumerate(((x[0], t[0]), (x[1], t[1]), (t[0], t[1]))):
        a, b = a.reshape(1, -1), b.reshape(1, -1)
        with torch.no_grad():
            want = {"log_mel": float((lm(a) - lm(b)).abs().mean()),
                    "mss": float(MSSLoss(mode="log")(a.unsqueeze(1), b.unsqueeze(1))),
                    "mss_revisited": float(MSSLoss(mode="revisited")(a.unsqueeze(1),
                                                                     b.unsqueeze(1))),
                    "envelope_db": float((envelope_db(a) - envelope_db(b)).abs().mean()),
                    "jtfs": float(jtfs(low(a), low(b)))}
        assert got[i].keys() == want.keys()
        for k in want:
            assert got[i][k] == pytest.approx(want[k], rel=1e-4, abs=1e-6), k
        assert match_distances(a, b, rate) == pytest.approx(got[i], rel=1e-5, abs=1e-7)


def test_window_duration_grid():
    rate = 44100
    assert window_duration(0.5, 0.0, rate) == 0.5
    assert window_duration(0.01, 0.0, rate) == pytest.approx(4096 / rate)
    for d in (0.12, 0.3, 0.77, 2.5):
        w = window_duration(d, 0.1, rate)
        assert d <= w <= d * 1.1 + 1e-9
    # neighbours share a window
    assert window_duration(0.300, 0.1, rate) == window_duration(0.305, 0.1, rate)


def test_single_sound_batch_equals_match_preset(tmp_path):
    """With exact windows (length_tolerance=0) batch matching is match_preset: the same
    voice detection over every voice and the same refined parameters."""
    sound = _sound(tmp_path / "snare.wav", "SD", {"level": 7.0, "tone": 3.0, "snappy": 6.0})
    want = match_preset(sound, "tr808", **FAST)
    result = match_batch([sound], tmp_path / "out", "tr808", length_tolerance=0.0, **FAST)
    (item,) = result.items
    assert item.status == "ok" and item.voice == want.preset.voice
    from synths import Preset
    got = Preset.load(item.preset)
    for name, value in want.preset.params.items():
        assert got.params[name] == pytest.approx(value, abs=1e-3), name
    assert item.report["voices"] == pytest.approx(want.report["voices"], rel=1e-4, abs=1e-5)
    for k, v in want.report["distances"].items():
        assert item.distances[k] == pytest.approx(v, rel=1e-3, abs=1e-5), k


def test_folder_with_a_corrupt_file_finishes_the_others_and_resumes(folder, tmp_path, capsys):
    from matching.cli import main
    out, kit = tmp_path / "presets", tmp_path / "kit.h2drumkit"
    args = ["match", str(folder), "--synth", "tr808", "--voice", "RS", "--out", str(out),
            "--kit", str(kit), "--steps", "3", "--candidates", "8", "--no-jtfs-distance",
            "--quiet"]
    assert main(args) == 1                                  # a sound failed
    captured = capsys.readouterr()
    assert "failed: " in captured.err and "broken.wav" in captured.err
    rows = {Path(r["file"]).name: r for r in _rows(out / "summary.csv")}
    assert set(rows) == {"rim.wav", "clave.wav", "broken.wav"}     # notes.txt: not audio
    assert rows["broken.wav"]["status"] == "failed"
    assert "not a readable audio file" in rows["broken.wav"]["error"]
    for name in ("rim.wav", "clave.wav"):
        r = rows[name]
        assert r["status"] == "ok" and r["voice"] == "RS", r
        assert float(r["time_s"]) > 0 and Path(r["preset"]).is_file()
        assert all(r[k] != "" for k in ("log_mel", "mss", "default_log_mel"))
        assert r["jtfs"] == ""                                # --no-jtfs-distance
    assert float(rows["rim.wav"]["log_mel"]) < float(rows["rim.wav"]["default_log_mel"])
    assert {p.name for p in out.glob("*.json")} == {"rim.json", "clave.json"}
    assert (out / "index.html").is_file() and "index.html" in captured.out
    assert kit.is_file()
    from matching.export import read_kit
    assert len(read_kit(kit)) == 2
    # rerun: the matched sounds are skipped (files untouched), the bad one fails again
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    assert main(args) == 1
    rows2 = {Path(r["file"]).name: r for r in _rows(out / "summary.csv")}
    assert rows2["rim.wav"]["status"] == rows2["clave.wav"]["status"] == "skipped"
    assert rows2["rim.wav"]["log_mel"] == rows["rim.wav"]["log_mel"]
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")} == stamps
    assert "skipped 2 already matched, 1 failed" in capsys.readouterr().out
    # only good files: exit status 0
    assert main(["match", str(folder / "rim.wav"), str(folder / "clave.wav"), "--voice", "RS",
                 "--out", str(out), "--quiet"]) == 0


def test_batch_groups_several_sounds(tmp_path):
    """Two rim shots of one window go through one batched optimization; each gets its own
    preset, close to the preset of matching it alone."""
    d = tmp_path / "in"
    d.mkdir()
    _sound(d / "a.wav", "RS", {"level": 9.0})
    _sound(d / "b.wav", "RS", {"level": 4.0})
    together = match_batch([d], tmp_path / "x", "tr808", voice="RS", jtfs_distance=False,
                           **FAST)
    alone = match_batch([d / "b.wav"], tmp_path / "y", "tr808", voice="RS",
                        jtfs_distance=False, **FAST)
    assert [i.status for i in together.items] == ["ok", "ok"]
    assert together.items[0].window_s == together.items[1].window_s
    from synths import Preset
    b_together = Preset.load(together.items[1].preset)
    b_alone = Preset.load(alone.items[0].preset)
    for k, v in b_alone.params.items():
        assert b_together.params[k] == pytest.approx(v, abs=1e-3)


def test_inputs_expand_and_output_names_are_unique(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for p in ("a/kick.wav", "b/kick.wav", "b/kick.flac", "a/snare.wav", "a/.hidden.wav"):
        (tmp_path / p).write_bytes(b"x")
    files, problems = expand_inputs([tmp_path / "a", str(tmp_path / "b" / "*"),
                                     tmp_path / "a" / "kick.wav", str(tmp_path / "none*.wav")])
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "a/kick.wav", "a/snare.wav", "b/kick.flac", "b/kick.wav"]
    assert len(problems) == 1 and "matches no audio file" in problems[0]
    names = output_names(files)
    assert len(set(names)) == 4 and names[1] == "snare"
    assert names[0] == "a__kick" and set(names[2:]) == {"b__kick_flac", "b__kick_wav"}


def test_cli_batch_errors_are_one_line(tmp_path, folder):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "matching", *args], capture_output=True,
                              text=True, cwd=REPO)
    r = run("match", str(folder), "-o", str(tmp_path / "p.json"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--out DIR" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run("match", str(empty), "--out", str(tmp_path / "o"))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "no audio files" in r.stderr
