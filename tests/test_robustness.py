"""Issue 17, trustworthy with users' files: one test per case a careless or hostile user hit.

Each test runs the CLI (``main`` in-process, or a real subprocess where signals or the
console are the point) or the API on the bad input and asserts the exit status, a one-line
message without "Traceback", that every pre-existing file is byte-identical afterwards and
that no temporary file (``*.tmp*``) or claim is left.  Sounds are 0.25 s, matches take
one step.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import numpy as np
import pytest
import soundfile
import torch

from matching import MatchOptions
from matching.audio import AudioFileError
from matching.batch import match_batch
from matching.cli import main
from matching.inputs import expand_inputs
from matching.match import match_preset
from matching.outputs import PAUSE_VARIABLE, OutputError, OutputPlan
from matching.resume import Claims
from matching.targets import prepare_target
from synths import Preset, PresetError, SynthError

REPO = Path(__file__).resolve().parents[1]
RATE = 44100
FAST = ["--steps", "1", "--candidates", "2", "--starts", "1", "--no-jtfs-distance", "--quiet",
        "--no-encoder", "--voice", "BD"]
FAST_OPTIONS = dict(steps=1, candidates=2, n_starts=1, jtfs_distance=False, progress=False,
                    use_encoder=False)


# ----------------------------------------------------------------------------- helpers
def hit(seconds: float = 0.25, freq: float = 60.0, seed: int = 0) -> np.ndarray:
    """A decaying sine with a click: a short kick-like sound in [-0.8, 0.8]."""
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    return (0.8 * np.sin(2 * np.pi * freq * t) * np.exp(-t * 20)
            + 0.01 * rng.standard_normal(len(t)) * np.exp(-t * 80)).astype(np.float32)


def write_wav(path: Path, audio: np.ndarray, subtype: str = "PCM_16") -> Path:
    soundfile.write(str(path), audio, RATE, subtype=subtype)
    return path


def snapshot(folder: Path) -> Dict[str, bytes]:
    """Every file under ``folder`` (links not followed) -> its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def assert_untouched(folder: Path, before: Dict[str, bytes]) -> None:
    """Every file of ``before`` is byte-identical, and no temporary file or claim is left."""
    after = snapshot(folder)
    for name, data in before.items():
        assert after.get(name) == data, f"{name} changed"
    leftovers = [p.name for p in folder.rglob("*") if ".tmp" in p.name or p.name.endswith(".claim")]
    assert not leftovers, leftovers


def one_line_error(err: str, text: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("synthmatch: ") and text in lines[0], err


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def sound(tmp_path) -> Path:
    return write_wav(tmp_path / "victim.wav", hit())


# ----------------------------------------------------------------------------- 1 data loss
def test_output_that_is_the_input_is_refused_before_any_work(tmp_path, sound, capsys):
    os.link(sound, tmp_path / "hard.wav")
    (tmp_path / "soft.wav").symlink_to(sound)
    before = snapshot(tmp_path)
    for target in (sound, tmp_path / "hard.wav", tmp_path / "soft.wav"):
        status, out, err = cli(capsys, "match", str(sound), "--wav", str(target), *FAST)
        assert status == 1 and out == ""
        one_line_error(err, "is the input file")
    assert_untouched(tmp_path, before)


# ----------------------------------------------------------------------------- 2 stale resume
def test_resume_redoes_a_replaced_sound_and_changed_options(tmp_path):
    sounds, out = tmp_path / "in", tmp_path / "out"
    sounds.mkdir()
    write_wav(sounds / "a.wav", hit(freq=60))
    first = match_batch([sounds], out, voice="BD", **FAST_OPTIONS)
    assert [i.status for i in first.items] == ["ok"]
    assert match_batch([sounds], out, voice="BD", **FAST_OPTIONS).items[0].status == "skipped"
    old = (out / "a.json").read_bytes()
    write_wav(sounds / "a.wav", hit(freq=120))              # same size, new content
    os.utime(sounds / "a.wav", ns=(json.loads(old)["metadata"]["input"]["mtime_ns"],) * 2)
    again = match_batch([sounds], out, voice="BD", **FAST_OPTIONS)
    assert again.items[0].status == "ok"
    meta = Preset.load(out / "a.json").metadata
    assert meta["input"]["sha256"] != json.loads(old)["metadata"]["input"]["sha256"]
    changed = match_batch([sounds], out, voice="BD", **{**FAST_OPTIONS, "seed": 3})
    assert changed.items[0].status == "ok"
    assert_untouched(out, {})


# ----------------------------------------------------------------------------- 3 memory, time
def test_huge_candidates_refused_and_huge_steps_warned(tmp_path, sound, capsys):
    before = snapshot(tmp_path)
    status, out, err = cli(capsys, "match", str(sound), "--candidates", "100000000")
    assert status == 2
    one_line_error(err, "candidates must be at most 100000")
    with pytest.raises(ValueError, match="at most 100000"):
        MatchOptions(candidates=10 ** 8).check()
    warning = MatchOptions(steps=10 ** 8).check().warnings()
    assert len(warning) == 1 and " h per 1 s sound" in warning[0]
    assert MatchOptions().check().warnings() == []
    status, out, err = cli(capsys, "match", str(tmp_path / "missing.wav"), "--steps", "100000000")
    lines = err.splitlines()
    assert status == 1 and len(lines) == 2 and lines[0].startswith("synthmatch: warning: steps")
    assert "no such file" in lines[1]
    assert_untouched(tmp_path, before)


# ----------------------------------------------------------------------------- 4 tracebacks
def test_bad_counts_and_seed_are_one_line_errors(tmp_path, sound, capsys):
    before = snapshot(tmp_path)
    for flag, value, text in (("--steps", "-1", "steps must be"), ("--starts", "0", "n_starts must be"),
                              ("--candidates", "-5", "candidates must be"),
                              ("--seed", str(2 ** 70), "seed must be below"),
                              ("--offset", "-1", "offset must be")):
        status, out, err = cli(capsys, "match", str(sound), flag, value)
        assert status == 2, flag
        one_line_error(err, text)
    assert_untouched(tmp_path, before)


def test_output_folder_deep_json_and_long_names(tmp_path, sound, capsys):
    (tmp_path / "dir.json").mkdir()
    deep = tmp_path / "deep.json"
    deep.write_text('{"synth": "tr808", "metadata": ' + "[" * 100000 + "]" * 100000 + "}")
    long_name = tmp_path / "long.json"
    Preset(synth="tr808", voice="BD", name="x" * 5000).save(long_name)
    before = snapshot(tmp_path)
    status, out, err = cli(capsys, "match", str(sound), "-o", str(tmp_path / "dir.json"), *FAST)
    assert status == 1 and out == ""            # refused before the match (it prints its result)
    one_line_error(err, "is a folder")
    status, _, err = cli(capsys, "render", str(deep), "-o", str(tmp_path / "x.wav"))
    assert status == 1
    one_line_error(err, "nested 100001 levels deep")
    status, _, err = cli(capsys, "export", str(long_name), "--sfz", str(tmp_path / "kit"))
    assert status == 0 and err == ""
    assert all(len(p.name) <= 120 for p in (tmp_path / "kit").rglob("*"))
    status, _, err = cli(capsys, "render", str(sound), "-o", str(tmp_path / ("y" * 300 + ".wav")))
    assert status == 1
    one_line_error(err, "too long")
    assert_untouched(tmp_path, before)


def wait_for_write_phase(folder: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until a temporary file appears in ``folder`` (the write phase has begun)."""
    deadline = time.monotonic() + timeout
    while not any(".tmp" in p.name for p in folder.iterdir()):
        assert process.poll() is None, process.communicate()
        if time.monotonic() > deadline:             # a guard against hanging, not a timing
            pytest.fail("the write phase never began")
        time.sleep(0.05)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_the_write_phase_leaves_old_files(tmp_path, signum, status):
    """A real signal to a real subprocess inside the write phase (test hook: the writes
    pause after every temporary file is written): one line, 130/143, old files intact."""
    presets = [tmp_path / "bd.json", tmp_path / "sd.json"]
    Preset(synth="tr808", voice="BD").save(presets[0])
    Preset(synth="tr808", voice="SD").save(presets[1])
    (tmp_path / "kit.mid").write_bytes(b"old midi")
    (tmp_path / "kit.h2drumkit").write_bytes(b"old kit")
    before = snapshot(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "matching", "export", *map(str, presets), "--midi",
         str(tmp_path / "kit.mid"), "--kit", str(tmp_path / "kit.h2drumkit")],
        cwd=REPO, env={**os.environ, PAUSE_VARIABLE: "60"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    wait_for_write_phase(tmp_path, process)
    time.sleep(0.2)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    one_line_error(err, f"interrupted ({signal.Signals(signum).name})")
    assert out == ""
    assert_untouched(tmp_path, before)


# ----------------------------------------------------------------------------- 5 partial outputs
def test_outputs_sharing_a_path_or_a_bad_extension_write_nothing(tmp_path, sound, capsys):
    (tmp_path / "out.json").write_text("old preset")
    (tmp_path / "out.mid").write_text("old midi")
    (tmp_path / "link.mid").symlink_to(tmp_path / "out.mid")
    before = snapshot(tmp_path)
    for argv, text in (
            (["-o", str(tmp_path / "out.json"), "--midi", str(tmp_path / "out.json")],
             "unsupported midi extension '.json'"),
            (["-o", str(tmp_path / "out.json"), "--wav", str(tmp_path / "out.mp4")], "unsupported audio extension"),
            (["-o", str(tmp_path / "out.json"), "--plot", str(tmp_path / "x.txt")], "unsupported plot extension"),
            (["-o", str(tmp_path / "no" / "x.json")], "does not exist")):
        status, out, err = cli(capsys, "match", str(sound), *argv, *FAST)
        assert status == 1 and out == "", argv
        one_line_error(err, text)
    preset = tmp_path / "bd.json"
    Preset(synth="tr808", voice="BD").save(preset)
    before = snapshot(tmp_path)
    status, out, err = cli(capsys, "export", str(preset), "--kit", str(tmp_path / "k.h2drumkit"),
                           "--sfz", str(tmp_path / "k.h2drumkit"))
    assert status == 1 and out == ""
    one_line_error(err, "are the same file")
    status, out, err = cli(capsys, "export", str(preset), "--midi", str(tmp_path / "link.mid"),
                           "--sfz", str(tmp_path / "out.mid"))
    assert status == 1 and out == ""
    one_line_error(err, "exists and is not a folder")
    assert_untouched(tmp_path, before)


def test_output_plan_writes_all_or_nothing(tmp_path):
    (tmp_path / "a.json").write_text("old a")
    before = snapshot(tmp_path)
    plan = OutputPlan()
    plan.add("a", tmp_path / "a.json", "preset")
    plan.add("b", tmp_path / "b.csv", "csv")

    def fail(path: Path) -> None:
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        plan.write_all({"a": lambda p: p.write_text("new a"), "b": fail})
    assert_untouched(tmp_path, before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    plan.write_all({"a": lambda p: p.write_text("new a"), "b": lambda p: p.write_text("b")})
    assert (tmp_path / "a.json").read_text() == "new a" and (tmp_path / "b.csv").read_text() == "b"
    assert oct((tmp_path / "b.csv").stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    with pytest.raises(OutputError, match="are the same file"):
        plan.add("c", tmp_path / "b.csv", "csv")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ----------------------------------------------------------------------------- 6 garbage in
def test_truncated_file_is_warned_about_in_cli_and_report(tmp_path, capsys):
    full = write_wav(tmp_path / "full.wav", hit(0.8))
    data = full.read_bytes()
    truncated = tmp_path / "cut.wav"
    truncated.write_bytes(data[:44 + 2 * 11745])
    before = snapshot(tmp_path)
    result = match_preset(truncated, voice="BD", **FAST_OPTIONS)
    assert any("header declares 35280 frames, 11745 are present" in w for w in result.report["warnings"])
    assert result.preset.metadata["warnings"] == result.report["warnings"]
    status, out, err = cli(capsys, "match", str(truncated), *FAST)
    assert status == 0 and "Traceback" not in err
    assert err.startswith("synthmatch: warning: ") and "11745 are present" in err
    assert_untouched(tmp_path, before)


def test_one_sample_file_is_refused(tmp_path, capsys):
    tiny = write_wav(tmp_path / "tiny.wav", np.array([0.5], dtype=np.float32))
    before = snapshot(tmp_path)
    status, out, err = cli(capsys, "match", str(tiny), *FAST)
    assert status == 1
    one_line_error(err, "1 sample (0.023 ms) is too short to match: at least 256 samples")
    assert_untouched(tmp_path, before)


@pytest.mark.parametrize("case, text", [
    ("long", "only the first 4 s are matched (--offset SECONDS"),
    ("noise", "no onset"),
    ("dc", "DC offset +0.5"),
    ("loud", "is outside [-1, 1] (a float file at the wrong scale?)"),
    ("clipped", "clipped ("),
])
def test_suspicious_input_is_warned_about(case, text):
    rng = np.random.default_rng(0)
    audio = {
        "long": lambda: np.tile(hit(1.0), 600),
        "noise": lambda: 0.5 * rng.standard_normal(RATE).astype(np.float32),
        "dc": lambda: 0.5 + 0.01 * hit(),
        "loud": lambda: 1.25e6 * hit(),
        "clipped": lambda: np.clip(3 * hit(), -1, 1),
    }[case]()
    warnings = prepare_target(audio, RATE, RATE, source="x.wav").warnings
    assert any(w.startswith("x.wav: ") and text in w for w in warnings), warnings
    assert prepare_target(hit(), RATE, RATE).warnings == []


def test_offset_chooses_where_a_long_sound_is_matched():
    audio = np.concatenate([np.zeros(RATE, dtype=np.float32), hit()])
    target = prepare_target(audio, RATE, RATE, offset_s=0.5)
    assert abs(target.onset_s - 1.0) < 0.01
    with pytest.raises(AudioFileError, match="beyond the end"):
        prepare_target(audio, RATE, RATE, offset_s=5.0)


# ----------------------------------------------------------------------------- 7 model files
def _model_file(tmp_path: Path, name: str, change) -> Path:
    import synths
    from safetensors.torch import load_file, save_file
    from matching.models import EncoderModel, save_model
    model = EncoderModel.for_synth(synths.get("tr808", voice="BD", duration=0.1),
                                   out_channels=(4,), latent_dim=4)
    path = save_model(model, tmp_path / f"{name}.safetensors")
    meta = model.metadata()
    text = change(meta)
    save_file(load_file(str(path)), str(path), metadata={"synthmatch": text})
    return path


@pytest.mark.parametrize("change, text", [
    (lambda m: json.dumps({**m, "synth": "moog"}), "unknown synth 'moog'"),
    (lambda m: json.dumps({**m, "voice": "XX"}), "has no voice 'XX'"),
    (lambda m: json.dumps({**m, "features": {**m["features"], "n_samples": 10 ** 12}}),
     "features.n_samples must be an integer from 1 to"),
    (lambda m: json.dumps(m)[:-5], "metadata is not valid JSON"),
])
def test_model_metadata_is_validated_naming_the_file(tmp_path, change, text):
    from matching.models import load_model
    path = _model_file(tmp_path, "bad", change)
    with pytest.raises(ValueError) as error:
        load_model(path)
    message = str(error.value)
    assert message.startswith(str(path)) and text in message and "\n" not in message


def test_pickle_checkpoint_refused_with_our_message(tmp_path):
    from matching.training.checkpoints import load_checkpoint
    path = tmp_path / "checkpoint.pt"
    torch.save({"format": "x", "object": Path("/etc")}, path)     # needs unpickling a class
    with pytest.raises(ValueError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert message.startswith(f"{path}: not a readable training checkpoint: refused")
    assert "weights_only" not in message
    assert "\n" not in message


# ----------------------------------------------------------------------------- 8 smaller ones
def test_concurrent_runs_claim_each_sound(tmp_path):
    sounds, out = tmp_path / "in", tmp_path / "out"
    sounds.mkdir()
    out.mkdir()
    write_wav(sounds / "a.wav", hit(freq=60))
    write_wav(sounds / "b.wav", hit(freq=90))
    other_run = Claims(out)
    assert other_run.take("a") is None and Claims(out).take("a") is not None
    result = match_batch([sounds], out, voice="BD", **FAST_OPTIONS)
    assert [i.status for i in result.items] == ["claimed", "ok"]
    assert "being matched by pid" in result.items[0].error
    assert not (out / "a.json").exists()
    other_run.release_all()
    result = match_batch([sounds], out, voice="BD", **FAST_OPTIONS)
    assert [i.status for i in result.items] == ["ok", "skipped"]
    assert_untouched(out, {})


def test_failed_train_leaves_no_folder(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    status, out, err = cli(capsys, "train", "--synth", "tr808", "--voice", "BD", "--loss", "mss",
                           "--audio-dir", str(empty), "--steps", "1", "-o", str(tmp_path / "run"))
    assert status == 1
    one_line_error(err, "no audio files")
    assert not (tmp_path / "run").exists()


def test_sfz_folder_follows_the_umask(tmp_path, capsys):
    preset = tmp_path / "bd.json"
    Preset(synth="tr808", voice="BD").save(preset)
    old = os.umask(0o022)
    try:
        status, _, _ = cli(capsys, "export", str(preset), "--sfz", str(tmp_path / "kit"))
    finally:
        os.umask(old)
    assert status == 0
    assert (tmp_path / "kit").stat().st_mode & 0o777 == 0o755


def test_preset_json_bom_and_duplicate_keys():
    assert Preset.from_json('\ufeff{"synth": "tr808", "voice": "SD"}').voice == "SD"
    with pytest.raises(PresetError, match="the key 'voice' is given twice"):
        Preset.from_json('{"synth": "tr808", "voice": "SD", "voice": "BD"}')


def test_symlink_loop_and_subfolders_are_named(tmp_path, capsys):
    loop = tmp_path / "loop.wav"
    loop.symlink_to(loop)
    status, _, err = cli(capsys, "match", str(loop), *FAST)
    assert status == 1
    one_line_error(err, "symbolic link loop")
    (tmp_path / "pack" / "sub").mkdir(parents=True)
    write_wav(tmp_path / "pack" / "a.wav", hit())
    files, problems = expand_inputs([tmp_path / "pack"])
    assert len(files) == 1 and len(problems) == 1 and "1 subfolder not searched" in problems[0]
    assert "**/*.wav" in problems[0]


def test_messages_read_well(tmp_path, sound, capsys):
    with pytest.raises(SynthError, match="has a single voice; leave out --voice"):
        match_preset(sound, synth="ddsp808", voice="BD", **FAST_OPTIONS)
    status, _, err = cli(capsys, "match", str(sound), "--out", str(tmp_path / "o"), "-o", "x.json")
    assert status == 2 and "-o applies to one sound" in err
    with pytest.raises(PresetError) as error:
        Preset(synth="tr808", voice="BD", params={"tone": 42})
    assert "expected 0 to 10 (knob)" in str(error.value) and "knob (knob)" not in str(error.value)
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd")
    status, _, err = cli(capsys, "import", str(bad), "-o", str(tmp_path / "imported"))
    assert status == 1 and not err.rstrip().endswith("()")
    one_line_error(err, "the file ends too early")
    assert not (tmp_path / "imported").exists()
