"""Batch matching: every sound of a folder (or of globs, or a list of files) matched by one
synth in batched optimizations (``synthmatch match DIR_OR_GLOB... --out DIR``).

Per sound the result is what :func:`~matching.match.match_preset` computes (the same
voice detection, random candidates, encoder estimate, refinement, report with distances and
baselines); what changes is that sounds share the work:

* **Windows.**  A sound is matched over a window of its effective duration (onset to
  -50 dB) rounded *up* to a grid of durations spaced by ``length_tolerance`` (10 %): the
  window is at most 10 % longer than the sound's own duration and the extra is the sound's
  own tail below -50 dB (or silence).  Sounds with the same window form a group; within a
  group every voice of the synth renders at one length, so whole groups go through one
  synth call, one objective call and one Adam optimization.  ``length_tolerance=0`` uses
  the exact durations (sounds batch only when their windows are equal) and then gives
  ``match_preset``'s result.  Windows are at least 4096 samples long (the objective's
  longest analysis frame), so clicks shorter than that are matched too.
* **Search.**  The default preset and the random candidates (seeded per voice and seed,
  the same draws for every sound, as ``match_preset`` draws them; ``DETECT_CANDIDATES`` per
  voice, then the rest of ``candidates`` for the chosen voice) are rendered once per group
  and voice and scored against every target of the group at once (:meth:`MatchObjective.pairwise`,
  spectra computed once); the shipped encoder (where one ships) runs on the group as one
  batch and its estimates join each sound's candidates.
* **Refinement.**  Voice-detection refinement (per voice, the sounds that have it among
  their finalists) and the final refinement (per chosen voice) are one Adam optimization
  over the starts of all those sounds (:class:`MatchObjective` gives each row the loss
  against its own target, so the rows do not interact; the SCRAPL term draws one path per
  step for the group, the path ``match_preset`` draws at that step).
* **Failures.**  A file that cannot be read, is silent or fails during matching is
  reported with its reason and the others continue (a failing group is retried sound by
  sound, so one bad sound does not take its group down).
* **Resume.**  A sound whose preset already exists in the output folder is skipped (its
  row in the summary comes from the preset's metadata).
* **Ranks.**  Under ``torchrun`` (a ``torch.distributed`` group) the files are dealt round
  robin over the ranks; rank 0 gathers the outcomes and writes the summary and the kit.

Outputs in ``out_dir``: one preset per sound (``NAME.json``, atomic writes) and
``summary.csv`` (file, status ok/skipped/failed, preset, voice, durations, distances,
baselines, time, error).  ``time_s`` of a sound is its share of its group's wall time.
"""
from __future__ import annotations

import csv
import dataclasses
import glob
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

import synths
from synths.preset import Preset

from .audio import fit_length
from .distributed import DistContext, context as _dist_context, shard_list
from .match import (CANDIDATES, DETECT_CANDIDATES, DETECT_STEPS, DETECT_VOICES, LR,
                    N_STARTS, STEPS, check_match_options)
from .objective import FFT_SIZES, MatchObjective, batch_distances

__all__ = ["AUDIO_SUFFIXES", "SUMMARY_NAME", "SUMMARY_FIELDS", "BatchItem",
           "BatchResult", "batch_distances", "expand_inputs", "output_names", "match_batch",
           "window_duration"]

AUDIO_SUFFIXES = (".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3")
SUMMARY_NAME = "summary.csv"
SUMMARY_FIELDS = ("file", "status", "preset", "voice", "duration_s", "window_s", "log_mel",
                  "mss", "mss_revisited", "envelope_db", "jtfs", "default_log_mel",
                  "random_log_mel", "time_s", "error")
_DISTANCES = ("log_mel", "mss", "mss_revisited", "envelope_db", "jtfs")
_GLOB_CHARS = set("*?[")


# ----------------------------------------------------------------------------- inputs
def _is_audio(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES \
        and not path.name.startswith(".")


def expand_inputs(inputs: Iterable[Union[str, Path]]) -> Tuple[List[Path], List[str]]:
    """Files to match from paths, folders and glob patterns, in order, without repeats.

    A folder gives its audio files (``.wav .flac .aif .aiff .ogg .mp3``, sorted, not
    recursive: use a glob such as ``'pack/**/*.wav'`` to recurse); a pattern gives the audio
    files it matches (sorted); a plain path is taken as given (a missing or unreadable file
    then fails with its reason).  Returns ``(files, problems)``: ``problems`` names each
    folder or pattern that gave no audio file."""
    files: List[Path] = []
    seen = set()
    problems: List[str] = []

    def add(path: Path) -> None:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            files.append(path)

    for item in inputs:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if _is_audio(p))
            if not found:
                problems.append(f"{text}: no audio files ({' '.join(AUDIO_SUFFIXES)})")
            for p in found:
                add(p)
        elif not path.exists() and _GLOB_CHARS & set(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if _is_audio(Path(p)))
            if not found:
                problems.append(f"{text}: the pattern matches no audio file")
            for p in found:
                add(p)
        else:
            add(path)
    return files, problems


def output_names(files: Sequence[Path]) -> List[str]:
    """One preset file name (without ``.json``) per file, unique: the file's stem, or, where
    stems repeat, its path relative to the files' common folder with ``/`` as ``__`` (and the
    extension kept if that still repeats)."""
    stems = [f.stem for f in files]
    absolute = [os.path.abspath(f) for f in files]
    root = os.path.commonpath([os.path.dirname(a) for a in absolute]) if files else ""
    names = []
    for f, stem, a in zip(files, stems, absolute):
        if stems.count(stem) == 1:
            names.append(stem)
            continue
        rel = os.path.splitext(os.path.relpath(a, root))[0]
        names.append(rel.replace(os.sep, "__"))
    repeated = {name for name in names if names.count(name) > 1}
    return [f"{name}{f.suffix.lower().replace('.', '_')}" if name in repeated else name
            for name, f in zip(names, files)]


def window_duration(duration: float, tolerance: float, sample_rate: int,
                    min_s: float = 0.05) -> float:
    """The matching window of a sound of ``duration`` seconds: ``duration`` rounded up to the
    grid ``min_s * (1 + tolerance) ** k`` (``tolerance`` 0: unchanged), and at least the
    objective's longest frame (4096 samples)."""
    floor = max(FFT_SIZES) / sample_rate
    if tolerance > 0:
        k = math.ceil(math.log(max(duration, min_s) / min_s) / math.log1p(tolerance) - 1e-9)
        duration = min_s * (1 + tolerance) ** max(0, k)
    return float(max(duration, floor))


# ----------------------------------------------------------------------------- outcomes
@dataclass
class BatchItem:
    """The outcome for one sound: ``status`` is ``ok`` (matched now), ``skipped`` (its
    preset existed) or ``failed`` (``error`` says why)."""

    file: str
    status: str
    preset: str = ""
    voice: Optional[str] = None
    duration_s: Optional[float] = None
    window_s: Optional[float] = None
    distances: Dict[str, float] = field(default_factory=dict)
    baselines: Dict[str, Dict[str, float]] = field(default_factory=dict)
    time_s: Optional[float] = None
    error: str = ""
    report: Dict[str, Any] = field(default_factory=dict, repr=False)

    def row(self) -> Dict[str, str]:
        fmt = lambda v: "" if v is None else f"{v:.6g}"
        base = list(self.baselines.values())
        out = {"file": self.file, "status": self.status, "preset": self.preset,
               "voice": "" if self.voice is None else str(self.voice),
               "duration_s": fmt(self.duration_s), "window_s": fmt(self.window_s),
               "time_s": fmt(self.time_s), "error": self.error,
               "default_log_mel": fmt(base[0].get("log_mel")) if base else "",
               "random_log_mel": fmt(base[1].get("log_mel")) if len(base) > 1 else ""}
        for k in _DISTANCES:
            out[k] = fmt(self.distances.get(k))
        return out


@dataclass
class BatchResult:
    """What :func:`match_batch` returns (on every rank: all ranks' items)."""

    items: List[BatchItem]
    summary: Optional[Path]
    kit: Optional[Path]
    elapsed_s: float
    kit_error: Optional[str] = None      # why the kit could not be written
    problems: List[str] = field(default_factory=list)   # inputs that named no audio file

    @property
    def failed(self) -> List[BatchItem]:
        return [i for i in self.items if i.status == "failed"]

    def count(self, status: str) -> int:
        return sum(i.status == status for i in self.items)


@dataclass
class _Sound:
    file: Path
    name: str
    target: Any            # matching.targets.Target
    duration: float
    window: float


# ----------------------------------------------------------------------------- matching
@dataclass
class _Job:
    synth: str
    voices: List[Optional[str]]
    refine: bool = True
    seed: int = 0
    candidates: int = CANDIDATES
    n_starts: int = N_STARTS
    steps: int = STEPS
    lr: float = LR
    scrapl_weight: float = 0.5
    detect_voices: int = DETECT_VOICES
    detect_steps: int = DETECT_STEPS
    use_encoder: bool = True
    device: torch.device = torch.device("cpu")
    jtfs_distance: bool = True
    refine_progress: bool = False       # a progress bar for the final refinement
    models: Dict[Tuple[str, str], nn.Module] = field(default_factory=dict)


def _render(s, theta: torch.Tensor, chunk: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([s(t).reshape(len(t), -1) for t in theta.split(chunk)])


def _estimates(job: _Job, voice, sounds: List[_Sound]) -> Optional[torch.Tensor]:
    """The shipped encoder's estimates (K, n_params) for the group, or None."""
    from .match import _pretrained
    model = _pretrained(job.synth, voice)
    if model is None:
        return None
    if job.device.type != "cpu":            # a copy: match_preset shares the cached model
        key = (str(voice), str(job.device))
        if key not in job.models:
            import copy
            job.models[key] = copy.deepcopy(model).to(job.device)
        model = job.models[key]
    audio = torch.stack([fit_length(s.target.audio, model.features.n_samples) for s in sounds])
    with torch.no_grad():
        return model(audio.to(job.device)).clamp(0, 1)


def _draws(job: _Job, voice: Optional[str], phase: int) -> torch.Generator:
    """The random candidates' generator of one voice and phase (0: detection, 1: the rest):
    seeded by the seed, the voice and the phase only, so a sound gets the same candidates
    whatever the other voices or sounds of its job."""
    index = synths.synth_class(job.synth).voices.index(voice)
    return torch.Generator().manual_seed(job.seed * 1_000_003 + 2 * index + phase)


def _more_candidates(job: _Job, modules: Dict[str, Any], objectives: Dict[str, MatchObjective],
                     chosen: List[Dict[str, Any]], count: int, dev: torch.device) -> None:
    """Score ``count`` more random presets of each chosen voice (seeded by the seed and the
    voice, so a sound gets the same ones alone or in a group) for the sounds that chose it
    (``objectives``: the search's, per voice, over every sound of the group), and merge
    them into their candidates, best first."""
    for v in job.voices:
        members = [k for k in range(len(chosen)) if chosen[k]["voice"] == v]
        if not members:
            continue
        s = modules[str(v)]
        theta = torch.rand(count, s.n_params, generator=_draws(job, v, 1)).to(dev)
        chunk = max(64, 2 ** 22 // s.n_samples)
        with torch.no_grad():
            scores = torch.cat([objectives[str(v)].pairwise(a)
                                for a in _render(s, theta, chunk).split(chunk)], dim=1)
        for k in members:
            d = chosen[k]
            sc = torch.cat([d["scores"], scores[k]])
            order = torch.argsort(sc)
            d["theta"], d["scores"] = torch.cat([d["theta"], theta])[order], sc[order]
            d["score"] = float(sc[order[0]])


def _match_group(job: _Job, sounds: List[_Sound]
                 ) -> List[Tuple[Preset, Dict[str, Any], torch.Tensor, torch.Tensor]]:
    """Match sounds that share one window; returns per sound (preset, report, rendered
    match, target fitted to the window), both (n,) on the CPU.  ``match_preset`` is this
    for one sound."""
    from .match import _refine
    started = time.perf_counter()
    dev, K = job.device, len(sounds)
    rate = synths.synth_class(job.synth).default_sample_rate
    window = sounds[0].window
    state: List[Dict[str, Dict[str, Any]]] = [{} for _ in sounds]
    modules: Dict[str, Any] = {}
    objectives: Dict[str, MatchObjective] = {}         # the search's, per voice
    # DETECT_CANDIDATES per voice pick the voice, the rest go to the chosen one (also when
    # the voice is given, so that a given voice finds what detecting it finds)
    first = min(job.candidates, DETECT_CANDIDATES)
    for v in job.voices:
        s = synths.get(job.synth, voice=v, duration=window, seed=job.seed)
        modules[str(v)] = s
        n = s.n_samples
        chunk = max(64, 2 ** 22 // n)
        targets = torch.stack([fit_length(x.target.audio, n) for x in sounds]).to(dev)
        objective = objectives[str(v)] = MatchObjective(targets, rate).to(dev)
        drawn = torch.rand(first, s.n_params, generator=_draws(job, v, 0))
        shared = torch.cat([s.default_theta(1), drawn]).to(dev)
        with torch.no_grad():
            scores = torch.cat([objective.pairwise(a) for a in
                                _render(s, shared, chunk).split(chunk)], dim=1)    # (K, 1+C)
        estimate = _estimates(job, v, sounds) if job.use_encoder else None
        est_scores = None
        if estimate is not None:
            with torch.no_grad():
                est_scores = objective(_render(s, estimate, chunk), torch.arange(K, device=dev))
        for k in range(K):
            if estimate is None:
                theta, sc = shared, scores[k]
            else:       # match_preset's order: default, estimate, random candidates
                theta = torch.cat([shared[:1], estimate[k:k + 1], shared[1:]])
                sc = torch.cat([scores[k, :1], est_scores[k:k + 1], scores[k, 1:]])
            order = torch.argsort(sc)
            entry = {"voice": v, "theta": theta[order], "scores": sc[order],
                     "score": float(sc[order[0]]), "default_score": float(scores[k, 0])}
            if est_scores is not None:
                entry["encoder_score"] = float(est_scores[k])
            state[k][str(v)] = entry

    finalists = [sorted(st.values(), key=lambda d: d["score"])[:job.detect_voices]
                 for st in state]
    if job.refine and len(job.voices) > 1 and job.detect_steps > 0:
        for v in job.voices:
            members = [k for k in range(K) if any(d["voice"] == v for d in finalists[k])]
            if not members:
                continue
            s = modules[str(v)]
            targets = torch.stack([fit_length(sounds[k].target.audio, s.n_samples)
                                   for k in members]).to(dev)
            objective = MatchObjective(targets, rate).to(dev)
            per = min(2, state[members[0]][str(v)]["theta"].shape[0])
            starts = torch.cat([state[k][str(v)]["theta"][:per] for k in members])
            index = torch.arange(len(members), device=dev).repeat_interleave(per)
            theta, scores = _refine(s, objective.rows(index), starts, job.detect_steps,
                                    job.lr, False, "")
            for j, k in enumerate(members):
                d = state[k][str(v)]
                th, sc = theta[j * per:(j + 1) * per], scores[j * per:(j + 1) * per]
                order = torch.argsort(sc)
                d["theta"] = torch.cat([th[order], d["theta"][per:]])
                d["scores"] = torch.cat([sc[order], d["scores"][per:]])
                d["score"] = float(sc.min())
    chosen = [min(f, key=lambda d: d["score"]) for f in finalists]
    if first < job.candidates:
        _more_candidates(job, modules, objectives, chosen, job.candidates - first, dev)

    results: List[Optional[Tuple[Preset, Dict[str, Any]]]] = [None] * K
    for v in job.voices:
        members = [k for k in range(K) if chosen[k]["voice"] == v]
        if not members:
            continue
        s = modules[str(v)]
        targets = torch.stack([fit_length(sounds[k].target.audio, s.n_samples)
                               for k in members]).to(dev)
        best_random = torch.cat([chosen[k]["theta"][:1] for k in members])
        theta = best_random
        if job.refine:
            per = min(job.n_starts, chosen[members[0]]["theta"].shape[0])
            starts = torch.cat([chosen[k]["theta"][:per] for k in members])
            index = torch.arange(len(members), device=dev).repeat_interleave(per)
            objective = MatchObjective(targets, rate, scrapl_weight=job.scrapl_weight,
                                       seed=job.seed).to(dev)
            refined, _ = _refine(s, objective.rows(index), starts, job.steps, job.lr,
                                 job.refine_progress, f"refining {job.synth}:{v}")
            final = MatchObjective(targets, rate).to(dev)
            with torch.no_grad():
                scores = final(s(refined), index).reshape(len(members), per)
            pick = torch.argmin(scores, dim=1) + torch.arange(len(members), device=dev) * per
            theta = refined[pick]
        with torch.no_grad():
            match = s(theta).reshape(len(members), -1)
            default = s(s.default_theta(1).to(dev)).reshape(1, -1).expand(len(members), -1)
            random_best = s(best_random).reshape(len(members), -1)
        m = len(members)
        # the full-JTFS distance (the slowest) for the matches only
        dist = batch_distances(match, targets, rate, jtfs=job.jtfs_distance)
        dist += batch_distances(torch.cat([default, random_best]), targets, rate,
                                torch.arange(m).repeat(2), jtfs=False)
        for j, k in enumerate(members):
            snd = sounds[k]
            report = {
                "source": snd.target.source, "synth": job.synth, "voice": v,
                "duration_s": snd.duration, "window_s": snd.window,
                "onset_s": snd.target.onset_s, "refined": job.refine, "seed": job.seed,
                "voices": {key: round(d["score"], 5) for key, d in state[k].items()},
                "default_scores": {key: round(d["default_score"], 5)
                                   for key, d in state[k].items()},
                "encoder_scores": {key: round(d["encoder_score"], 5)
                                   for key, d in state[k].items() if "encoder_score" in d},
                "distances": dist[j],
                "baselines": {"default_preset": dist[m + j],
                              f"best_of_{job.candidates}_random": dist[2 * m + j]},
            }
            preset = Preset.from_theta(s, theta[j].cpu(), metadata={
                "matched_from": snd.target.source, "voice_scores": report["voices"],
                "distances": report["distances"], "duration_s": snd.duration,
                "window_s": snd.window, "baselines": report["baselines"]})
            results[k] = (dataclasses.replace(preset, name=snd.name), report,
                          match[j].cpu(), targets[j].cpu())
    share = round((time.perf_counter() - started) / K, 3)
    for preset, report, _, _ in results:
        report["time_s"] = share
        preset.metadata["time_s"] = share
    return results      # type: ignore[return-value]


# ----------------------------------------------------------------------------- driver
def _existing(path: Path, source: str, synth: str, voice: Optional[str]) -> Optional[BatchItem]:
    """The summary row of a preset written by an earlier run, or None if it is unusable or
    for another synth or voice (then the sound is matched again)."""
    try:
        preset = Preset.load(path)
    except Exception:                               # noqa: BLE001 - rematch it
        return None
    if preset.synth != synth or (voice is not None and preset.voice != voice):
        return None
    meta = preset.metadata or {}
    return BatchItem(source, "skipped", str(path), preset.voice, meta.get("duration_s"),
                     meta.get("window_s"), dict(meta.get("distances") or {}),
                     dict(meta.get("baselines") or {}), meta.get("time_s"))


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or exc.__class__.__name__


def _write_summary(path: Path, items: Sequence[BatchItem]) -> Path:
    from synths.files import atomic_output
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS)
            w.writeheader()
            for item in items:
                w.writerow(item.row())
    return path


def match_batch(inputs: Iterable[Union[str, Path]], out_dir: Union[str, Path],
                synth: str = "tr808", voice: Optional[str] = None, *, batch_size: int = 16,
                length_tolerance: float = 0.1, refine: bool = True, seed: int = 0,
                candidates: int = CANDIDATES, n_starts: int = N_STARTS, steps: int = STEPS,
                lr: float = LR, scrapl_weight: float = 0.5,
                detect_voices: int = DETECT_VOICES, detect_steps: int = DETECT_STEPS,
                use_encoder: bool = True, jtfs_distance: bool = True,
                kit: Optional[Union[str, Path]] = None,
                resume: bool = True, progress: bool = True, max_batch_samples: int = 2 ** 22,
                device: Optional[Union[str, torch.device]] = None,
                dist: Optional[DistContext] = None) -> BatchResult:
    """Match every sound of ``inputs`` (files, folders, glob patterns: :func:`expand_inputs`)
    with ``synth``; write ``out_dir/NAME.json`` per sound and ``out_dir/summary.csv``, and
    the Hydrogen kit ``kit`` of every matched preset if given.  See the module docstring.

    ``batch_size``: most sounds per batched optimization (fewer for long sounds:
    rows x samples stay within ``max_batch_samples``); ``length_tolerance``: how much
    longer than a sound its matching window may be, to share a batch; ``resume``: skip
    sounds whose preset exists; ``jtfs_distance=False`` leaves the full-JTFS distance out of
    the reports (by far their slowest part).  The matching options are
    :func:`match_preset`'s.
    ``dist``: the process group (default: the current one, if any); files are dealt over
    the ranks and every rank returns all ranks' items.
    Raises ValueError for bad options or when the inputs name no file at all.
    """
    from tqdm.auto import tqdm
    from .targets import effective_duration, load_target
    started = time.perf_counter()
    cls = synths.synth_class(synth)
    if voice is not None and voice not in cls.voices:
        raise synths.SynthError(f"synth {synth!r} has no voice {voice!r}; voices: "
                                + ", ".join(str(v) for v in cls.voices))
    check_match_options(batch_size=batch_size, candidates=candidates, n_starts=n_starts,
                        steps=steps, detect_voices=detect_voices, detect_steps=detect_steps)
    if not (length_tolerance >= 0 and math.isfinite(length_tolerance)):
        raise ValueError(f"length_tolerance must be >= 0, got {length_tolerance}")
    dist = _dist_context() if dist is None else dist
    files, problems = expand_inputs(inputs)
    if not files:
        raise ValueError("; ".join(problems) if problems else "no input files")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    names = dict(zip(map(str, files), output_names(files)))
    rate = cls.default_sample_rate
    job = _Job(synth, list(cls.voices) if voice is None else [voice], refine, seed, candidates,
               n_starts, steps, lr, scrapl_weight, detect_voices, detect_steps, use_encoder,
               torch.device(device) if device is not None else torch.device("cpu"),
               jtfs_distance)

    mine = shard_list(files, dist.rank, dist.world_size)
    items: Dict[str, BatchItem] = {}
    pending: List[_Sound] = []
    bar = tqdm(total=len(mine), unit="sound", disable=not progress or not dist.is_main,
               desc=f"match {synth}" + (f" (rank 0 of {dist.world_size})" if dist.enabled else ""))
    for f in mine:
        key, preset_path = str(f), out / f"{names[str(f)]}.json"
        done = _existing(preset_path, key, synth, voice) \
            if resume and preset_path.is_file() else None
        if done is not None:
            items[key] = done
            bar.update(1)
            continue
        try:
            tgt = load_target(f, rate)
            duration = effective_duration(tgt.audio, rate)
            pending.append(_Sound(f, names[key], tgt, duration,
                                  window_duration(duration, length_tolerance, rate)))
        except Exception as exc:                     # noqa: BLE001 - reported, then go on
            items[key] = BatchItem(key, "failed", error=_reason(exc))
            bar.update(1)

    groups: Dict[float, List[_Sound]] = {}
    for snd in pending:
        groups.setdefault(snd.window, []).append(snd)
    per_row = max(1, n_starts) if refine else 1
    for window in sorted(groups):
        n = int(round(window * rate))
        size = max(1, min(batch_size, max_batch_samples // (per_row * n)))
        members = groups[window]
        for i in range(0, len(members), size):
            chunk = members[i:i + size]
            bar.set_postfix_str(f"{len(chunk)} x {window:.2f} s")
            for snd, outcome in zip(chunk, _match_chunk(job, chunk)):
                key = str(snd.file)
                if isinstance(outcome, str):
                    items[key] = BatchItem(key, "failed", duration_s=snd.duration,
                                           window_s=snd.window, error=outcome)
                    continue
                preset, report = outcome[:2]
                path = out / f"{snd.name}.json"
                try:
                    preset.save(path)
                except Exception as exc:            # noqa: BLE001
                    items[key] = BatchItem(key, "failed", error=f"cannot write {path}: "
                                                                f"{_reason(exc)}")
                    continue
                items[key] = BatchItem(key, "ok", str(path), preset.voice, snd.duration,
                                       snd.window, report["distances"], report["baselines"],
                                       report["time_s"], report=report)
            bar.update(len(chunk))
    bar.close()

    gathered: Dict[str, BatchItem] = {}
    for part in dist.all_gather_object(items):
        gathered.update(part)
    ordered = [gathered[str(f)] for f in files]
    summary = kit_path = None
    kit_error: Optional[str] = None
    if dist.is_main:
        summary = _write_summary(out / SUMMARY_NAME, ordered)
        if kit is not None:
            try:
                kit_path = _write_kit(ordered, kit)
            except Exception as exc:                 # noqa: BLE001 - reported by the caller
                kit_error = _reason(exc)
    kit_error = dist.broadcast_object(kit_error)
    dist.barrier()
    return BatchResult(ordered, summary, kit_path, round(time.perf_counter() - started, 3),
                       kit_error, problems)


def _match_chunk(job: _Job, chunk: List[_Sound]) -> List[Union[str, tuple]]:
    """``_match_group`` on the chunk; if it fails, sound by sound, so that only the sounds
    that fail alone are reported (with their reason)."""
    try:
        return list(_match_group(job, chunk))
    except Exception as exc:                         # noqa: BLE001
        if len(chunk) == 1:
            return [_reason(exc)]
    out: List[Union[str, tuple]] = []
    for snd in chunk:
        try:
            out.append(_match_group(job, [snd])[0])
        except Exception as exc:                     # noqa: BLE001
            out.append(_reason(exc))
    return out


def _write_kit(items: Sequence[BatchItem], kit: Union[str, Path]) -> Path:
    from .export import ExportError, export_kit
    presets = [Preset.load(i.preset) for i in items if i.status in ("ok", "skipped")]
    if not presets:
        raise ExportError("no sound was matched")
    try:
        return export_kit(presets, kit, format="hydrogen")
    except StopIteration:       # kit_notes ran out of MIDI notes
        raise ExportError(f"{len(presets)} sounds do not fit one kit's MIDI notes; "
                          f"split the folder") from None
