"""match_preset: target preparation, recovery of known presets, voice choice, errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

import synths
from matching.audio import AudioFileError
from matching import match_preset
from matching.options import DETECT_CANDIDATES, MatchOptions
from matching.targets import effective_duration, load_target, prepare_target


def test_prepare_target_downmixes_resamples_and_aligns():
    sr = 22050
    t = np.arange(sr) / sr
    burst = np.sin(2 * np.pi * 440 * t) * np.exp(-t / 0.05)
    stereo = np.zeros((2, sr + 2205))
    stereo[:, 2205:] = burst                      # onset after 100 ms
    tgt = prepare_target(stereo, sr, 44100, n_samples=30000)
    assert tgt.audio.shape == (30000,) and tgt.sample_rate == 44100
    assert tgt.onset_s == pytest.approx(0.1 - 0.002, abs=1e-3)
    assert tgt.audio[:80].abs().max() < 0.05 and tgt.audio[100:400].abs().max() > 0.5


def test_load_target_errors_name_the_file(tmp_path):
    silent = tmp_path / "silent.wav"
    soundfile.write(str(silent), np.zeros(1000), 44100)
    with pytest.raises(AudioFileError, match="silent.wav: the audio is silent"):
        load_target(silent, 44100)
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00not really a wave file")
    with pytest.raises(AudioFileError, match="corrupt.wav: not a readable audio file"):
        load_target(bad, 44100)
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    with pytest.raises(AudioFileError, match="empty.flac: the file is empty"):
        load_target(empty, 44100)
    with pytest.raises(AudioFileError, match="no such file"):
        load_target(tmp_path / "missing.wav", 44100)


def test_effective_duration_follows_the_decay():
    t = torch.arange(44100) / 44100
    assert effective_duration(torch.exp(-t / 0.05), 44100) == pytest.approx(0.05 * 50 / 20 * np.log(10), rel=0.02)


def test_recovers_a_known_bass_drum_preset():
    bd = synths.get("tr808", voice="BD")
    knobs = {"level": 7.0, "tone": 3.0, "decay": 6.0}
    audio = bd.render(knobs)
    result = match_preset(audio, "tr808", voice="BD", sample_rate=44100, steps=40,
                          candidates=32, scrapl_weight=0.0, progress=False)
    for name, value in knobs.items():
        assert result.preset.params[name] == pytest.approx(value, abs=0.5), name
    assert result.report["distances"]["log_mel"] < \
        result.report["baselines"]["default_preset"]["log_mel"]
    assert result.audio.shape == result.target.shape


def test_picks_the_voice_of_a_rendered_sound():
    oh = synths.get("tr808", voice="OH")
    audio = oh.render({"level": 8.0, "decay": 5.0})
    result = match_preset(audio, "tr808", sample_rate=44100, steps=10, candidates=16,
                          detect_steps=8, scrapl_weight=0.0, progress=False)
    assert result.preset.voice == "OH"
    assert set(result.report["voices"]) == set(synths.synth_class("tr808").voices)


def test_a_detected_voice_matches_as_the_given_voice():
    """Detection scores DETECT_CANDIDATES random presets per voice and gives the rest of
    ``candidates`` to the chosen voice; the same split when the voice is given, so both
    refine from the same starts and return the same preset."""
    rs = synths.get("tr808", voice="RS")
    audio = rs.render({"level": 6.0})
    opts = dict(sample_rate=44100, steps=5, candidates=DETECT_CANDIDATES + 8,
                scrapl_weight=0.0, progress=False, jtfs_distance=False)
    detected = match_preset(audio, "tr808", **opts)
    given = match_preset(audio, "tr808", voice=detected.preset.voice, **opts)
    assert detected.preset.voice == "RS"
    assert torch.equal(detected.preset.theta(), given.preset.theta())


def test_array_input_needs_a_sample_rate():
    with pytest.raises(ValueError, match="sample_rate"):
        match_preset(np.ones(100), "tr808", voice="BD")


def test_refinement_adam_equals_torch_adam():
    from matching.engine import Adam
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 5, generator=g).requires_grad_(True)
    b = a.detach().clone().requires_grad_(True)
    ours, ref = Adam(a, lr=0.05), torch.optim.Adam([b], lr=0.05)
    for k in range(20):
        target = torch.randn(3, 5, generator=g)
        for p, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            ((p - target) ** 3).abs().sum().backward()
            opt.step()
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7), k


def test_refinement_keeps_the_visited_preset_of_lowest_score_not_of_lowest_loss():
    """The SCRAPL term's path changes every step, so the loss of two steps does not compare
    presets: the refinement keeps the visited preset whose score (the loss without that
    term) is lowest, the start among them."""
    from matching.engine import refine
    g = torch.Generator().manual_seed(1)
    visited = []

    def objective(theta):
        score = (theta - 0.8).square().sum(dim=1)
        visited.append((theta.detach().clone(), score.detach().clone()))
        return score + 5 * torch.rand(len(theta), generator=g), score.detach()

    starts = torch.tensor([[0.3, 0.4], [0.7, 0.9], [0.8, 0.8]])
    theta, score = refine(torch.nn.Identity(), objective, starts, steps=12, lr=0.3)
    all_theta = torch.stack([t for t, _ in visited])            # (steps, rows, 2)
    all_score = torch.stack([s for _, s in visited])            # (steps, rows)
    best = all_score.argmin(dim=0)
    assert torch.equal(score, all_score.min(dim=0).values)
    assert torch.equal(theta, all_theta[best, torch.arange(3)])
    assert torch.allclose(theta[2], starts[2], atol=1e-4)       # the start was the best


@pytest.mark.parametrize("option, value, message", [
    ("steps", -1, "steps must be an integer >= 0"),
    ("n_starts", 0, "n_starts must be an integer >= 1"),
    ("candidates", 2.5, "candidates must be an integer >= 0"),
    ("detect_steps", True, "detect_steps must be an integer >= 0"),
    ("attack_weight", -1.0, "attack_weight must be a finite number >= 0")])
def test_match_options_are_checked(option, value, message):
    audio = torch.zeros(4410)
    audio[0] = 1.0
    with pytest.raises(ValueError, match=message):
        match_preset(audio, "tr808", voice="RS", sample_rate=44100, progress=False,
                     **{option: value})


def test_the_objective_terms_default_per_synth():
    """The objective's attack term reads the tr808's tone knobs; on ddsp808 it made the
    matches of examples/sounds worse, so other synths match without it unless asked.  The
    SCRAPL term read the real TR-808 recordings worse, so tr808 refines without it."""
    from matching.engine import Matcher
    from matching.objective import ATTACK_WEIGHT, SCRAPL_WEIGHT
    assert ATTACK_WEIGHT > 0 and SCRAPL_WEIGHT > 0
    weights = lambda synth, voice, **o: (lambda m: (m.attack_weight, m.scrapl_weight))(
        Matcher(synth, [voice], MatchOptions(**o)))
    assert weights("tr808", "BD") == (ATTACK_WEIGHT, 0.0)
    assert weights("ddsp808", None) == (0.0, SCRAPL_WEIGHT)
    assert weights("ddsp808", None, attack_weight=0.5, scrapl_weight=0.0) == (0.5, 0.0)
    assert weights("tr808", "BD", attack_weight=0.0, scrapl_weight=0.25) == (0.0, 0.25)
    # and the match uses them: the default ddsp808 match is the one without the attack term
    sound = str(Path(__file__).resolve().parents[1] / "examples" / "sounds" / "tom.wav")
    opts = dict(candidates=8, steps=4, progress=False, jtfs_distance=False)
    default = match_preset(sound, "ddsp808", **opts)
    without = match_preset(sound, "ddsp808", attack_weight=0.0, **opts)
    with_term = match_preset(sound, "ddsp808", attack_weight=1.0, **opts)
    assert default.preset.params == without.preset.params
    assert default.report["voices"] == without.report["voices"]          # the search's score
    assert default.preset.params != with_term.preset.params
    assert default.report["voices"] != with_term.report["voices"]
    # the tr808 refines without the SCRAPL term
    kick = str(Path(__file__).resolve().parents[1] / "examples" / "sounds" / "kick.wav")
    opts.update(steps=20, grid_size=0)
    default = match_preset(kick, "tr808", voice="BD", **opts)
    assert default.preset.params == match_preset(kick, "tr808", voice="BD", scrapl_weight=0.0,
                                                 **opts).preset.params
    assert default.preset.params != match_preset(kick, "tr808", voice="BD", scrapl_weight=0.5,
                                                 **opts).preset.params


def test_plot_match_writes_a_png(tmp_path):
    from matching.plot import plot_match
    t = torch.arange(22050) / 44100
    target = torch.sin(2 * torch.pi * 110 * t) * torch.exp(-t / 0.1)
    match = torch.sin(2 * torch.pi * 120 * t) * torch.exp(-t / 0.05)
    out = tmp_path / "m.png"
    plot_match(out, target, match, 44100, title="a -> b")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]      # no temporary left


def test_the_coarse_grid_finds_a_few_knob_voice_without_refinement():
    """A tom at knob positions on no random candidate: the exhaustive grid of the chosen
    voice lands within one grid step of every knob before any refinement."""
    from matching.engine import coarse_grid
    lt = synths.get("tr808", voice="LT")
    true = {"level": 9.0, "tuning": 3.3}
    audio = lt.render(true).reshape(-1)
    opts = dict(sample_rate=lt.sample_rate, voice="LT", refine=False, candidates=0,
                use_encoder=False, jtfs_distance=False, progress=False)
    step = 10 / (int(len(coarse_grid(2, MatchOptions().grid_size)) ** 0.5) - 1)
    found = match_preset(audio, "tr808", **opts).preset.params
    assert all(abs(found[k] - v) <= step for k, v in true.items()), found
    without = match_preset(audio, "tr808", grid_size=0, **opts).preset.params
    assert max(abs(without[k] - v) for k, v in true.items()) > step, without


def test_detection_grid_points_are_on_every_coarse_grid():
    """The search's 0 / 1/2 / 1 grid is a subset of the chosen voice's coarse grid (which
    then leaves those points out), so a given voice scores the same candidates as before."""
    from matching.engine import coarse_grid, detection_grid
    for n in (1, 2, 3):
        full = {tuple(row) for row in coarse_grid(n, MatchOptions().grid_size).tolist()}
        corners = {tuple(row) for row in detection_grid(n).tolist()}
        assert len(corners) == 3 ** n and corners <= full
    assert detection_grid(4).shape == (0, 4)


def test_a_real_snare_with_its_snappy_at_zero_is_detected_as_the_snare():
    """SD5000 (tone 5, snappy 0) of the real unit: no random candidate has the snappy near 0,
    and without the detection grid the search chose MC (issue 14's confusion table)."""
    path = Path(__file__).parent / "data" / "tr808-real" / "SD5000.WAV"
    result = match_preset(str(path), "tr808", refine=False, progress=False)
    assert result.preset.voice == "SD"
    assert result.preset.params["snappy"] < 1.0
