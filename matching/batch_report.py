"""A batch's HTML index, ``OUT/index.html``, and the per-sound files it links to.

One row per sound: the file (linked to its own report, ``OUT/report/NAME.html``, where
``--reports`` wrote one), the status, the voice, the distances (log-mel, the main one, its
default-preset baseline, the envelope), a spectrogram thumbnail (target | match, a tiny
embedded PNG) and two players.  Rows are worst match first (largest log-mel distance;
failed and unmatched sounds, with their reason, before all); clicking a column header sorts
by it, clicking again reverses.

The players link to 16-bit WAV files the batch writes beside the index,
``OUT/report/NAME.target.wav`` (the prepared target: onset-aligned, fitted to the window)
and ``OUT/report/NAME.match.wav`` (the rendered match), rather than embedding them: for
200 one-shots of 1 s, embedded audio would make a page of about 47 MB; linked, the page
stays near 5 kB a row and each player loads only when played.  The page is otherwise
self-contained (inline script and styles, images as ``data:`` URIs; a
Content-Security-Policy forbids any other source) and everything from file names or
metadata is escaped (jinja2 autoescaping; links are also URL-quoted).

The index is built from the batch's items and the WAV files on disk, so a resumed batch's
index shows the sounds matched by earlier runs too (:func:`restore_sound` writes the
files of such a sound when they are missing).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Union
from urllib.parse import quote

import torch

from .html_report import equal_loudness_gains, template_environment, wav_bytes, write_match_report

if TYPE_CHECKING:
    from .batch import BatchItem
    from .match import MatchResult

__all__ = ["INDEX_NAME", "REPORT_FOLDER", "THUMBNAIL_SIZE", "sound_files", "sound_writers",
           "restore_sound", "spectrogram_thumbnail", "batch_index_html", "write_batch_index"]

INDEX_NAME = "index.html"
#: the folder (in ``OUT``) of the per-sound WAV files and reports
REPORT_FOLDER = "report"
#: (width, height) in pixels of each half (target, match) of a thumbnail
THUMBNAIL_SIZE = (64, 32)
#: the thumbnail's colour levels (a 4-bit palette keeps the PNG near 1 kB)
_LEVELS = 16


def sound_files(out_dir: Path, name: str, reports: bool = False) -> Dict[str, Path]:
    """The per-sound files of sound ``name`` in ``out_dir``: ``target`` and ``match`` WAVs,
    and its ``page`` (report) if ``reports``."""
    folder = Path(out_dir) / REPORT_FOLDER
    files = {"target": folder / f"{name}.target.wav", "match": folder / f"{name}.match.wav"}
    if reports:
        files["page"] = folder / f"{name}.html"
    return files


def sound_writers(files: Mapping[str, Path], result: "MatchResult", preset_path: Path,
                  index_path: Path) -> Dict[str, Callable[[Path], object]]:
    """One writer per key of ``files`` (:func:`sound_files`), each taking the path to write:
    the WAVs of ``result`` (16-bit PCM) and its report, linked to the preset at
    ``preset_path``, the WAVs and the index at ``index_path``."""
    rate = result.sample_rate
    audio = {"target": result.target, "match": result.audio}
    writers: Dict[str, Callable[[Path], object]] = {
        key: (lambda path, x=audio[key]: Path(path).write_bytes(wav_bytes(x, rate)))
        for key in ("target", "match") if key in files}
    if "page" in files:
        base = files["page"].parent
        exports = {"preset (JSON)": preset_path, "target (WAV)": files["target"],
                   "rendered match (WAV)": files["match"], "batch index": index_path}
        links = {label: relative_link(path, base) for label, path in exports.items()}
        writers["page"] = lambda path: write_match_report(result, path, links)
    return writers


def restore_sound(preset_path: Path, source: Path, sample_rate: int, offset_s: float = 0.0
                  ) -> "MatchResult":
    """The match of ``source`` saved by an earlier batch run as the preset at
    ``preset_path``, rebuilt: the preset rendered over its matching window (``window_s`` of
    its metadata, s), the prepared target fitted to it, the report from the metadata."""
    from synths.preset import Preset

    from .audio import fit_length
    from .match import MatchResult
    from .targets import load_target
    preset = Preset.load(preset_path)
    meta = preset.metadata or {}
    target = load_target(source, sample_rate, offset_s=offset_s).audio
    window = float(meta.get("window_s") or target.shape[-1] / sample_rate)
    audio = preset.render(preset.build_synth(duration=window, sample_rate=sample_rate))
    report = {"source": str(source), "voices": dict(meta.get("voice_scores") or {}),
              "distances": dict(meta.get("distances") or {}),
              "baselines": dict(meta.get("baselines") or {}), "time_s": meta.get("time_s"),
              "warnings": list(meta.get("warnings") or []), "seed": preset.seed}
    return MatchResult(preset, audio, fit_length(target, audio.shape[-1]), sample_rate, report)


def relative_link(path: Union[str, Path], base: Path) -> str:
    """``path`` relative to folder ``base``, with ``/`` and URL-quoted, for an ``href``."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    return quote(rel.replace(os.sep, "/"))


def spectrogram_thumbnail(target: torch.Tensor, match: torch.Tensor, sample_rate: int,
                          size: Sequence[int] = THUMBNAIL_SIZE) -> str:
    """A PNG ``data:`` URI: the spectrograms of ``target`` and ``match`` (``(n,)`` at
    ``sample_rate`` Hz) side by side, each ``size`` = (width, height) pixels (log frequency
    upwards, 80 dB below the target's peak to its peak, magma colours in 16 levels)."""
    from .plot import spectrogram_db
    from .report_panels import log_bands, palette_png, png_data_uri
    width, height = int(size[0]), int(size[1])
    n = max(target.shape[-1], match.shape[-1])
    hop = max(64, n // width)
    halves = [log_bands(spectrogram_db(x, 1024, hop), sample_rate, height, 40.0)
              for x in (target, match)]
    top = float(halves[0].max())
    halves = [torch.nn.functional.adaptive_max_pool1d(h.unsqueeze(0), width)[0] for h in halves]
    gap = torch.full((height, 1), top - 80.0)
    image = torch.cat([halves[0], gap, halves[1]], dim=1).flip(0)
    return png_data_uri(palette_png(image, top - 80.0, top, "magma", _LEVELS, 4))


def _read(path: str) -> Optional[torch.Tensor]:
    """The mono samples of the WAV at ``path`` (None if it is missing or unreadable)."""
    import soundfile as sf
    try:
        samples, _ = sf.read(path, dtype="float32", always_2d=True)
    except Exception:                                # noqa: BLE001 - no player, no thumbnail
        return None
    return torch.from_numpy(samples.mean(axis=1))


def _row(index: int, item: "BatchItem", base: Path, sample_rate: Optional[int]) -> Dict[str, Any]:
    baselines = list(item.baselines.values())
    cells = {"log_mel": item.distances.get("log_mel"),
             "default_log_mel": baselines[0].get("log_mel") if baselines else None,
             "envelope_db": item.distances.get("envelope_db")}
    row: Dict[str, Any] = {
        "index": index, "name": Path(item.file).name, "file": item.file, "status": item.status,
        "voice": "" if item.voice is None else str(item.voice), "cells": cells,
        "error": item.error, "warnings": list(item.warnings), "thumbnail": "",
        "page": relative_link(item.page, base) if item.page and Path(item.page).is_file() else "",
        "players": []}
    audio = {key: _read(path) for key, path in (("target", item.target_wav),
                                                ("match", item.match_wav)) if path}
    if len(audio) == 2 and all(a is not None for a in audio.values()):
        gains = equal_loudness_gains(audio["target"], audio["match"])
        row["players"] = [{"key": key, "href": relative_link(path, base), "gain": f"{gains[key]:.6f}"}
                          for key, path in (("target", item.target_wav), ("match", item.match_wav))]
        if sample_rate:
            row["thumbnail"] = spectrogram_thumbnail(audio["target"], audio["match"], sample_rate)
    return row


def _worst_first(row: Dict[str, Any]) -> float:
    value = row["cells"]["log_mel"]
    return -math.inf if value is None else -float(value)


def batch_index_html(items: Sequence["BatchItem"], base: Union[str, Path],
                     title: str = "batch match", sample_rate: Optional[int] = None) -> str:
    """The index page of ``items`` (see the module docstring), its links relative to the
    folder ``base`` (where the page goes); ``sample_rate`` (Hz) of the WAVs, for the
    thumbnails (read from the files when None)."""
    if sample_rate is None:
        sample_rate = _sample_rate(items)
    rows = [_row(i, item, Path(base), sample_rate) for i, item in enumerate(items)]
    rows.sort(key=_worst_first)                      # stable: ties keep the batch's order
    counts: Dict[str, int] = {}
    for item in items:
        counts[item.status] = counts.get(item.status, 0) + 1
    return template_environment().get_template("batch_index.html.j2").render(
        title=title, rows=rows, counts=sorted(counts.items()))


def _sample_rate(items: Sequence["BatchItem"]) -> Optional[int]:
    import soundfile as sf
    for item in items:
        if item.target_wav and Path(item.target_wav).is_file():
            return int(sf.info(item.target_wav).samplerate)
    return None


def write_batch_index(items: Sequence["BatchItem"], path: Union[str, Path],
                      title: Optional[str] = None, sample_rate: Optional[int] = None) -> Path:
    """Write :func:`batch_index_html` of ``items`` to ``path`` (atomically; a temporary
    file of an enclosing atomic write, e.g. an :class:`~matching.outputs.OutputPlan`'s,
    is written directly)."""
    from kernels.files import atomic_output
    path = Path(path)
    text = batch_index_html(items, path.parent, title or f"batch match: {len(items)} sounds",
                            sample_rate)
    with atomic_output(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return path
