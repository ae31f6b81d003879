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
* **Matching.**  Each group goes through :func:`matching.engine.match_group` (search,
  voice detection, refinement, report): candidates are rendered once per group and voice and
  scored against every target at once, and each refinement is one Adam optimization over
  the starts of all the group's sounds (rows do not interact).
* **Failures.**  A file that cannot be read, is silent or fails during matching is
  reported with its reason and the others continue (a failing group is retried sound by
  sound, so one bad sound does not take its group down).
* **Resume.**  A sound whose preset already exists in the output folder is skipped (its
  row in the summary comes from the preset's metadata) if it is current: the preset
  records its sound's size, mtime and SHA-256 and the match options, and a sound that
  changed, or options that changed, match it again (:mod:`matching.resume`).
* **Claims.**  Each sound is claimed (a lock file in ``out_dir``) before it is loaded, so
  concurrent runs on one ``out_dir`` share the work: a sound claimed by another run is
  left to it (status ``claimed``), none is matched twice.
* **Outputs.**  Every output (presets, WAVs, reports, summary, index, kit) is planned and
  checked before any work (:class:`~matching.outputs.OutputPlan`); each sound's preset and
  files are written as one atomic set as the sound is done, the summary and the index
  (one set) and the kit at the end.
* **Warnings.**  What the input checks see (truncated, clipped, DC offset, no onset, too
  long: :mod:`matching.targets`) goes into each item's ``warnings``, the preset's
  metadata and the summary's ``warnings`` column.
* **Ranks.**  Under ``torchrun`` (a ``torch.distributed`` group) the files are dealt round
  robin over the ranks; rank 0 gathers the outcomes and writes the summary and the kit.

Outputs in ``out_dir``: one preset per sound (``NAME.json``, atomic writes),
``summary.csv`` (file, status ok/skipped/failed, preset, voice, durations, distances,
baselines, time, error, warnings), ``index.html`` (every sound's row, worst match first,
with players and a spectrogram thumbnail: :mod:`matching.batch_report`) and in
``report/`` each matched sound's target and match (``NAME.target.wav``,
``NAME.match.wav``, 16-bit) and, with ``reports=True``, its HTML report (``NAME.html``).
``time_s`` of a sound is its share of its group's wall time.
"""
from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import synths
from synths.files import atomic_output
from synths.preset import Preset

from .batch_report import (INDEX_NAME, REPORT_FOLDER, restore_sound, sound_files,
                           sound_writers, write_batch_index)
from .distributed import DistContext, context, shard_list
from .engine import Matcher, Sound, SoundMatch, window_duration
from .inputs import expand_inputs, output_names
from .match import MatchResult, check_voice
from .options import MatchOptions, check_count
from .outputs import OutputPlan
from .resume import Claims, input_identity, match_record, stale_reason

__all__ = ["SUMMARY_NAME", "SUMMARY_FIELDS", "BatchItem", "BatchResult", "match_batch"]

SUMMARY_NAME = "summary.csv"
SUMMARY_FIELDS = ("file", "status", "preset", "voice", "duration_s", "window_s", "log_mel",
                  "mss", "mss_revisited", "envelope_db", "jtfs", "default_log_mel",
                  "random_log_mel", "time_s", "error", "warnings")
_DISTANCES = ("log_mel", "mss", "mss_revisited", "envelope_db", "jtfs")


# ----------------------------------------------------------------------------- outcomes
@dataclass
class BatchItem:
    """The outcome for one sound: ``status`` is ``ok`` (matched now), ``skipped`` (its
    preset existed and is current), ``claimed`` (another run is matching it; ``error``
    says which) or ``failed`` (``error`` says why).  ``warnings``: what the input checks
    saw (one line each).  ``target_wav``, ``match_wav``, ``page``: its files in
    ``out_dir/report`` ("" where none was written)."""

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
    warnings: List[str] = field(default_factory=list)
    target_wav: str = ""
    match_wav: str = ""
    page: str = ""

    def row(self) -> Dict[str, str]:
        fmt = lambda v: "" if v is None else f"{v:.6g}"
        base = list(self.baselines.values())
        out = {"file": self.file, "status": self.status, "preset": self.preset,
               "voice": "" if self.voice is None else str(self.voice),
               "duration_s": fmt(self.duration_s), "window_s": fmt(self.window_s),
               "time_s": fmt(self.time_s), "error": self.error,
               "warnings": " | ".join(self.warnings),
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
    index: Optional[Path] = None         # out_dir/index.html (rank 0)
    sample_rate: Optional[int] = None    # Hz, of the synth and the WAVs

    @property
    def failed(self) -> List[BatchItem]:
        return [i for i in self.items if i.status == "failed"]

    def count(self, status: str) -> int:
        return sum(i.status == status for i in self.items)

    def to_html(self, path: Union[str, Path]) -> Path:
        """Write the batch's index page (:mod:`matching.batch_report`: a row per sound, worst
        match first, players linked to the WAVs in ``out_dir/report``) to ``path``
        (atomically); links are relative to ``path``'s folder.  Returns the path."""
        return write_batch_index(self.items, path, sample_rate=self.sample_rate)


# ----------------------------------------------------------------------------- driver
def _existing(path: Path, source: str, synth: str, voice: Optional[str],
              identity: Dict[str, Any], record: Dict[str, Any]) -> Optional[BatchItem]:
    """The summary row of a preset written by an earlier run, or None if it is unusable,
    for another synth or voice, or stale (then the sound is matched again)."""
    try:
        preset = Preset.load(path)
    except Exception:                               # noqa: BLE001 - rematch it
        return None
    if preset.synth != synth or (voice is not None and preset.voice != voice):
        return None
    meta = preset.metadata or {}
    if stale_reason(meta, identity, record) is not None:
        return None
    return BatchItem(source, "skipped", str(path), preset.voice, meta.get("duration_s"),
                     meta.get("window_s"), dict(meta.get("distances") or {}),
                     dict(meta.get("baselines") or {}), meta.get("time_s"),
                     warnings=list(meta.get("warnings") or []))


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or exc.__class__.__name__


def _write_summary(path: Path, items: Sequence[BatchItem]) -> Path:
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS)
            w.writeheader()
            for item in items:
                w.writerow(item.row())
    return path


def match_batch(inputs: Iterable[Union[str, Path]], out_dir: Union[str, Path],
                synth: str = "tr808", voice: Optional[str] = None,
                options: Optional[MatchOptions] = None, *, batch_size: int = 16,
                length_tolerance: float = 0.1, kit: Optional[Union[str, Path]] = None,
                resume: bool = True, max_batch_samples: int = 2 ** 22,
                dist: Optional[DistContext] = None, reports: bool = False,
                **overrides: Any) -> BatchResult:
    """Match every sound of ``inputs`` (files, folders, glob patterns:
    :func:`~matching.inputs.expand_inputs`) with ``synth``; write ``out_dir/NAME.json`` per
    sound, ``out_dir/summary.csv``, ``out_dir/index.html`` and the WAVs it plays
    (``out_dir/report/``), one HTML report per sound (``out_dir/report/NAME.html``) if
    ``reports``, and the Hydrogen kit ``kit`` of every matched preset if given.  See the
    module docstring.

    ``options`` (default :class:`~matching.options.MatchOptions`), changed by
    ``overrides`` (its field names, e.g. ``steps=100``, ``device="cuda"``): how each sound is
    matched, as by :func:`~matching.match.match_preset`; ``progress`` shows one bar for the
    folder.  ``batch_size``: most sounds per batched optimization (fewer for long sounds:
    rows x samples stay within ``max_batch_samples``); ``length_tolerance``: how much
    longer than a sound its matching window may be, to share a batch; ``resume``: skip
    sounds whose preset exists and is current (same sound, same options).  ``dist``: the process group (default: the current one, if
    any); files are dealt over the ranks and every rank returns all ranks' items.
    Raises ValueError for bad options or when the inputs name no file at all,
    :class:`~matching.outputs.OutputError` for outputs that cannot be written (before any
    work).
    """
    started = time.perf_counter()
    opts = (options or MatchOptions()).replace(**overrides).check()
    check_voice(synth, voice)
    cls = synths.synth_class(synth)
    check_count("batch_size", batch_size, 1)
    if not (length_tolerance >= 0 and math.isfinite(length_tolerance)):
        raise ValueError(f"length_tolerance must be >= 0, got {length_tolerance}")
    dist = context() if dist is None else dist
    files, problems = expand_inputs(inputs)
    if not files:
        raise ValueError("; ".join(problems) if problems else "no input files")
    out = Path(out_dir)
    names = dict(zip(map(str, files), output_names(files)))
    plan = OutputPlan(inputs=[f for f in files if f.exists()])
    plan.add("--out", out, "folder")
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    folder = out / REPORT_FOLDER
    made_folder = not folder.exists()
    try:                                  # the kit may go into out_dir, now made
        plan.add(f"{REPORT_FOLDER} folder", folder, "folder")
        folder.mkdir(exist_ok=True)
        plan.add("--kit", kit, "hydrogen")
        plan.add("summary", out / SUMMARY_NAME, "csv")
        plan.add("index", out / INDEX_NAME, "report")
        for f in files:
            plan.add(f"preset of {f}", out / f"{names[str(f)]}.json", "preset")
            for key, path in sound_files(out, names[str(f)], reports).items():
                plan.add(f"{key} of {f}", path, "report" if key == "page" else "audio")
    except BaseException:
        for made_it, path in ((made_folder, folder), (made, out)):
            if made_it and path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        raise
    rate = cls.default_sample_rate
    record = match_record(synth, voice, opts, length_tolerance)
    claims = Claims(out)
    try:
        return _run(files, names, out, kit, synth, voice, opts, record, plan, claims,
                    batch_size, length_tolerance, resume, max_batch_samples, dist,
                    problems, started, rate, reports)
    finally:
        claims.release_all()


def _sound_writers(key: str, files: Dict[str, Path], result: Any, preset: Path,
                   out: Path) -> Dict[str, Any]:
    """The writers of one sound's ``files`` (:func:`~matching.batch_report.sound_files`)
    under their labels in the plan."""
    return {f"{k} of {key}": w
            for k, w in sound_writers(files, result, preset, out / INDEX_NAME).items()}


def _link_sound(item: BatchItem, out: Path, name: str) -> BatchItem:
    """``item`` with the per-sound files that exist."""
    files = sound_files(out, name, True)
    item.target_wav, item.match_wav, item.page = (
        str(files[k]) if files[k].is_file() else "" for k in ("target", "match", "page"))
    return item


def _run(files, names, out, kit, synth, voice, opts, record, plan, claims, batch_size,
         length_tolerance, resume, max_batch_samples, dist, problems, started, rate,
         reports=False) -> BatchResult:
    from tqdm.auto import tqdm
    from .targets import effective_duration, load_target
    cls = synths.synth_class(synth)
    matcher = Matcher(synth, list(cls.voices) if voice is None else [voice], opts)
    mine = shard_list(files, dist.rank, dist.world_size)
    items: Dict[str, BatchItem] = {}
    pending: List[Sound] = []
    identities: Dict[str, Dict[str, Any]] = {}
    bar = tqdm(total=len(mine), unit="sound", disable=not opts.progress or not dist.is_main,
               desc=f"match {synth}" + (f" (rank 0 of {dist.world_size})" if dist.enabled else ""))
    for f in mine:
        key, preset_path = str(f), out / f"{names[str(f)]}.json"
        holder = claims.take(names[key])
        if holder is not None:
            items[key] = BatchItem(key, "claimed", error=f"being matched by {holder}")
            bar.update(1)
            continue
        try:
            identities[key] = identity = input_identity(f)
            done = _existing(preset_path, key, synth, voice, identity, record) \
                if resume and preset_path.is_file() else None
            if done is not None:
                missing = {k: p for k, p in sound_files(out, names[key], reports).items()
                           if not p.is_file()}
                try:                         # the files an earlier run did not write
                    if missing:
                        plan.write_all(_sound_writers(key, missing, restore_sound(
                            preset_path, f, rate, float(opts.offset)), preset_path, out))
                except Exception:            # noqa: BLE001 - its row, without them
                    pass
                items[key] = _link_sound(done, out, names[key])
                claims.release(names[key])
                bar.update(1)
                continue
            tgt = load_target(f, rate, offset_s=float(opts.offset))
            duration = effective_duration(tgt.audio, rate)
            pending.append(Sound(f, names[key], tgt, duration,
                                  window_duration(duration, length_tolerance, rate)))
        except Exception as exc:                     # noqa: BLE001 - reported, then go on
            items[key] = BatchItem(key, "failed", error=_reason(exc))
            claims.release(names[key])
            bar.update(1)

    groups: Dict[float, List[Sound]] = {}
    for snd in pending:
        groups.setdefault(snd.window, []).append(snd)
    per_row = max(1, opts.n_starts) if opts.refine else 1
    for window in sorted(groups):
        n = int(round(window * rate))
        size = max(1, min(batch_size, max_batch_samples // (per_row * n)))
        members = groups[window]
        for i in range(0, len(members), size):
            chunk = members[i:i + size]
            bar.set_postfix_str(f"{len(chunk)} x {window:.2f} s")
            for snd, outcome in zip(chunk, _match_chunk(matcher, chunk)):
                key = str(snd.file)
                warnings = list(snd.target.warnings)
                if isinstance(outcome, str):
                    items[key] = BatchItem(key, "failed", duration_s=snd.duration,
                                           window_s=snd.window, error=outcome, warnings=warnings)
                    claims.release(str(snd.name))
                    continue
                preset, report = outcome.preset, outcome.report
                report["warnings"] = warnings
                preset.metadata.update({"input": identities[key], "match": record})
                if warnings:
                    preset.metadata["warnings"] = warnings
                path = out / f"{snd.name}.json"
                match = MatchResult(preset, outcome.audio, outcome.target, rate, report)
                if not reports:              # an earlier match's page no longer applies
                    sound_files(out, str(snd.name), True)["page"].unlink(missing_ok=True)
                writers = _sound_writers(key, sound_files(out, str(snd.name), reports),
                                         match, path, out)
                try:
                    plan.write_all({f"preset of {key}": preset.save, **writers})
                except Exception as exc:            # noqa: BLE001
                    items[key] = BatchItem(key, "failed", error=f"cannot write {path}: "
                                                                f"{_reason(exc)}")
                    continue
                finally:
                    claims.release(str(snd.name))
                items[key] = _link_sound(BatchItem(
                    key, "ok", str(path), preset.voice, snd.duration, snd.window,
                    report["distances"], report["baselines"], report["time_s"], report=report,
                    warnings=warnings), out, str(snd.name))
            bar.update(len(chunk))
    bar.close()

    gathered: Dict[str, BatchItem] = {}
    for part in dist.all_gather_object(items):
        gathered.update(part)
    ordered = [gathered[str(f)] for f in files]
    summary = kit_path = index = None
    kit_error: Optional[str] = None
    if dist.is_main:
        written = plan.write_all({
            "summary": lambda path: _write_summary(path, ordered),
            "index": lambda path: write_batch_index(ordered, path, sample_rate=rate)})
        summary, index = written["summary"], written["index"]
        if kit is not None:
            try:
                kit_path = _write_kit(ordered, kit)
            except Exception as exc:                 # noqa: BLE001 - reported by the caller
                kit_error = _reason(exc)
    kit_error = dist.broadcast_object(kit_error)
    dist.barrier()
    return BatchResult(ordered, summary, kit_path, round(time.perf_counter() - started, 3),
                       kit_error, problems, index, rate)


def _match_chunk(matcher: Matcher, chunk: List[Sound]) -> List[Union[str, SoundMatch]]:
    """The matches of the chunk; if it fails, sound by sound, so that only the sounds that
    fail alone are reported (with their reason)."""
    try:
        return matcher.match(chunk)
    except Exception as exc:                         # noqa: BLE001
        if len(chunk) == 1:
            return [_reason(exc)]
    out: List[Union[str, SoundMatch]] = []
    for snd in chunk:
        try:
            out.append(matcher.match([snd])[0])
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
