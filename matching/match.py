"""``match_preset``: the preset of a synth that recreates a sound.

1. The target is loaded (any format libsndfile reads), downmixed, resampled to the synth's
   rate, cut at its onset and trimmed to where it falls below -50 dB of its peak.
2. :func:`matching.engine.match_group` matches it over its own duration: search of random
   presets, the default and the shipped encoder's estimate for every candidate voice, voice
   detection, gradient refinement through the synth, and the report.
3. The result: a :class:`~synths.preset.Preset` (physical units), the rendered match, the
   prepared target and the report (distances, baselines, voice scores, time).

Example::

    result = match_preset("examples/sounds/kick.wav", synth="tr808")
    result.preset.voice, result.preset.params     # 'BD', {'level': .., 'tone': .., 'decay': ..}
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np
import torch

import synths
from synths.preset import Preset

from .engine import Matcher, Sound, window_duration
from .options import MatchOptions
from .targets import Target, effective_duration, load_target, prepare_target

__all__ = ["MatchResult", "match_preset", "check_voice"]


@dataclass
class MatchResult:
    """What :func:`match_preset` returns: the ``preset``, the rendered match ``audio`` and the
    prepared ``target`` (both ``(n,)`` float32 at ``sample_rate`` Hz, onset-aligned) and the
    ``report`` (``voice``, ``voices``: each voice's score, ``distances`` of the match,
    ``baselines``, ``time_s``, ...)."""

    preset: Preset
    audio: torch.Tensor
    target: torch.Tensor
    sample_rate: int
    report: Dict[str, Any] = field(default_factory=dict)

    def to_html(self, path: Union[str, Path], exports: Optional[Dict[str, str]] = None) -> Path:
        """Write the match as one self-contained HTML page (A/B players, spectrograms,
        the preset, scores, distances: :mod:`matching.html_report`); ``exports``: label ->
        link of files written with it.  Returns the path."""
        from .html_report import write_match_report
        return write_match_report(self, path, exports)

    def _repr_html_(self) -> str:
        """The HTML page, for Jupyter."""
        from .html_report import match_report_html
        return match_report_html(self)


def _target(audio, sample_rate: Optional[int], rate: int, offset_s: float) -> Target:
    if isinstance(audio, (str, Path)):
        return load_target(audio, rate, offset_s=offset_s)
    if sample_rate is None:
        raise ValueError("sample_rate is required when audio is an array or tensor")
    return prepare_target(audio, sample_rate, rate, offset_s=offset_s)


def check_voice(synth: str, voice: Optional[str]) -> None:
    """:class:`~synths.SynthError` unless ``voice`` is None or a voice of ``synth``."""
    cls = synths.synth_class(synth)
    if voice is not None and voice not in cls.voices:
        if list(cls.voices) == [None]:
            raise synths.SynthError(f"synth {synth!r} has a single voice; leave out --voice "
                                    f"(got {voice!r})")
        raise synths.SynthError(f"synth {synth!r} has no voice {voice!r}; voices: "
                                + ", ".join(str(v) for v in cls.voices))


def match_preset(audio: Union[str, Path, torch.Tensor, np.ndarray], synth: str = "tr808",
                 voice: Optional[str] = None, options: Optional[MatchOptions] = None, *,
                 sample_rate: Optional[int] = None, **overrides: Any) -> MatchResult:
    """Find the preset of ``synth`` that best recreates ``audio``.

    audio: a file path, or samples ``[n]`` / ``[channels, n]`` with ``sample_rate`` (Hz).
    voice: one voice of the synth, or None to detect the best-matching voice.
    options: how to match (:class:`~matching.options.MatchOptions`; default: its defaults),
    changed by ``overrides``, its field names: e.g. ``steps=100, n_starts=4`` for a closer,
    slower match, ``refine=False`` for the search only, ``device="cuda"``, ``seed=1``,
    ``progress=False``.  The defaults take ~1-3 s for a 1 s sound on two CPU cores.
    Returns a :class:`MatchResult`; ``result.report["voices"]`` has each voice's score,
    ``result.report["warnings"]`` one line per problem seen in the options (a very long
    run) or the input (truncated, clipped, DC offset, no onset, longer than the window:
    :mod:`matching.targets`), also in ``preset.metadata["warnings"]``.
    Raises ValueError for a bad option, :class:`~synths.SynthError` for an unknown synth or
    voice, :class:`~matching.audio.AudioFileError` for audio that cannot be used.
    """
    started = time.perf_counter()
    opts = (options or MatchOptions()).replace(**overrides).check()
    check_voice(synth, voice)
    cls = synths.synth_class(synth)
    rate = cls.default_sample_rate
    tgt = _target(audio, sample_rate, rate, float(opts.offset))
    duration = effective_duration(tgt.audio, rate)
    voices: List[Optional[str]] = list(cls.voices) if voice is None else [voice]
    name = Path(tgt.source).stem if isinstance(audio, (str, Path)) else None
    sound = Sound(Path(tgt.source), name, tgt, duration, window_duration(duration, 0.0, rate))
    (match,) = Matcher(synth, voices, opts, refine_progress=opts.progress).match([sound])
    match.report["time_s"] = round(time.perf_counter() - started, 3)
    match.report["warnings"] = opts.warnings() + tgt.warnings
    match.preset.metadata["time_s"] = match.report["time_s"]
    if match.report["warnings"]:
        match.preset.metadata["warnings"] = match.report["warnings"]
    return MatchResult(match.preset, match.audio, match.target, rate, match.report)
