"""A match as one self-contained HTML page: listen (A/B), look (spectrograms, difference,
envelopes), read (the preset, on the panel for ``tr808``; detection scores; distances
against the baselines; warnings; links to the exported files).

Nothing is fetched: the audio (16-bit WAV) and the spectrogram images (PNG,
:mod:`matching.report_panels`; their axes and the level envelopes are inline SVG) are
embedded as ``data:`` URIs, the script and styles are inline, and a Content-Security-Policy
forbids any other source.  Everything from file names or metadata is escaped (jinja2 autoescaping).

>>> from matching import match_preset                                   # doctest: +SKIP
>>> match_preset("kick.wav").to_html("kick.html")                       # doctest: +SKIP
"""
from __future__ import annotations

import base64
import functools
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

if TYPE_CHECKING:
    from .match import MatchResult

__all__ = ["match_report_html", "write_match_report", "knob_panel_svg", "wav_data_uri",
           "wav_bytes", "equal_loudness_gains", "template_environment", "KNOB_SWEEP_DEG"]

#: a panel knob's travel: 0 at -150 degrees (from 12 o'clock), 10 at +150
KNOB_SWEEP_DEG = 300.0
TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.lru_cache(maxsize=None)
def template_environment():
    """The jinja2 environment of ``matching/templates`` (autoescaping on, undefined names an
    error); one per process, so each template compiles once."""
    import jinja2
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                              autoescape=jinja2.select_autoescape(["html", "j2"]),
                              undefined=jinja2.StrictUndefined, trim_blocks=False)


def wav_bytes(audio: torch.Tensor, sample_rate: int) -> bytes:
    """``audio`` ``(n,)`` in [-1, 1] at ``sample_rate`` Hz as the bytes of a 16-bit PCM mono
    WAV file (clipped at full scale): 2 bytes a sample plus a 44-byte header."""
    import soundfile as sf
    buffer = io.BytesIO()
    samples = audio.detach().reshape(-1).float().clamp(-1, 1).cpu().numpy()
    sf.write(buffer, samples, int(sample_rate), format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def wav_data_uri(audio: torch.Tensor, sample_rate: int) -> str:
    """``audio`` ``(n,)`` in [-1, 1] as a 16-bit PCM mono WAV ``data:`` URI (clipped at
    full scale): :func:`wav_bytes` in base64."""
    return "data:audio/wav;base64," + base64.b64encode(wav_bytes(audio, sample_rate)).decode("ascii")


def equal_loudness_gains(target: torch.Tensor, match: torch.Tensor) -> Dict[str, float]:
    """``{"target": g, "match": g}``: the playback gains (linear, <= 1) that turn the louder
    of the two down to the quieter one's RMS (a silent one keeps gain 1)."""
    rms_t, rms_m = _rms(target), _rms(match)
    quiet = min(rms_t, rms_m)
    return {"target": quiet / rms_t if rms_t > 0 else 1.0,
            "match": quiet / rms_m if rms_m > 0 else 1.0}


def _knob(x: float, label: str, value: float, low: float, high: float) -> str:
    """One knob's SVG group at horizontal offset ``x``: dial, ticks 0-10, pointer, label."""
    from xml.sax.saxutils import escape
    cx, cy, r = x + 40, 45, 26
    parts = [f'<g class="knob" data-name="{escape(label, {chr(34): "&quot;"})}" '
             f'data-value="{value:.6g}">',
             f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="#333" stroke="#111" stroke-width="2"/>']
    for tick in range(11):
        angle = math.radians(-KNOB_SWEEP_DEG / 2 + KNOB_SWEEP_DEG * tick / 10)
        x1, y1 = cx + (r + 3) * math.sin(angle), cy - (r + 3) * math.cos(angle)
        x2, y2 = cx + (r + 8) * math.sin(angle), cy - (r + 8) * math.cos(angle)
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                     f'stroke="#666" stroke-width="{2 if tick % 5 == 0 else 1}"/>')
    fraction = min(1.0, max(0.0, (value - low) / (high - low)))
    angle = math.radians(-KNOB_SWEEP_DEG / 2 + KNOB_SWEEP_DEG * fraction)
    px, py = cx + (r - 4) * math.sin(angle), cy - (r - 4) * math.cos(angle)
    parts.append(f'<line class="pointer" x1="{cx}" y1="{cy}" x2="{px:.1f}" y2="{py:.1f}" '
                 f'stroke="#f60" stroke-width="4" stroke-linecap="round"/>')
    parts.append(f'<text x="{cx}" y="{cy + r + 24}" text-anchor="middle" font-size="12" '
                 f'font-family="sans-serif">{escape(label.upper())}</text>')
    parts.append(f'<text x="{cx}" y="{cy + r + 38}" text-anchor="middle" font-size="11" '
                 f'font-family="sans-serif" fill="#555">{value:.1f}</text></g>')
    return "".join(parts)


def knob_panel_svg(params: Mapping[str, float], specs: Sequence[Any], voice: Optional[str]
                   ) -> str:
    """An SVG of a voice's panel knobs at ``params`` (physical values; ``specs``: the
    synth's :class:`~synths.ParamSpec` of each, knobs on their min-max travel), the
    voice's name at the left."""
    from xml.sax.saxutils import escape
    width = 80 * len(specs) + 70
    body = [_knob(70 + 80 * i, s.name, float(params[s.name]), s.min, s.max)
            for i, s in enumerate(specs)]
    name = escape(str(voice or ""))
    return (f'<svg class="panel" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="125" viewBox="0 0 {width} 125" role="img" aria-label="panel {name}">'
            f'<rect width="{width}" height="125" rx="6" fill="#e8e4da"/>'
            f'<text x="14" y="50" font-size="20" font-weight="bold" font-family="sans-serif">'
            f'{name}</text>' + "".join(body) + "</svg>")


def _rms(x: torch.Tensor) -> float:
    return float(x.detach().float().square().mean().sqrt())


def match_report_html(result: "MatchResult", exports: Optional[Mapping[str, str]] = None,
                      title: Optional[str] = None) -> str:
    """The HTML page of ``result`` (see the module docstring).  ``exports``: label -> link
    (relative to the page) of the files written with it (preset JSON, MIDI, kit, ...)."""
    import synths
    from .report_panels import match_panels

    report, preset = result.report, result.preset
    rate = result.sample_rate
    source = str(report.get("source") or "audio")
    title = title or f"{Path(source).name} -> {preset.synth} {preset.voice or ''}".strip()
    synth_cls = synths.synth_class(preset.synth)
    specs = synth_cls.voice_param_specs(preset.voice)
    params = [{"name": s.name, "value": float(preset.params[s.name]), "unit": s.unit,
               "range": f"{s.min:g} .. {s.max:g}"} for s in specs]
    knobs = [s for s in specs if s.unit == "knob"]
    gains = equal_loudness_gains(result.target, result.audio)
    distances = dict(report.get("distances") or {})
    rows = [{"label": "match", "cells": distances}]
    for label, values in (report.get("baselines") or {}).items():
        rows.append({"label": label.replace("_", " "), "cells": dict(values)})
    names = list(dict.fromkeys(k for row in rows for k in row["cells"]))
    voices = sorted((report.get("voices") or {}).items(), key=lambda kv: kv[1])
    return template_environment().get_template("match_report.html.j2").render(
        title=title, synth=preset.synth, voice=preset.voice, seed=report.get("seed"),
        time_s=report.get("time_s"), warnings=list(report.get("warnings") or []),
        target_wav=wav_data_uri(result.target, rate), match_wav=wav_data_uri(result.audio, rate),
        gains={k: f"{v:.6f}" for k, v in gains.items()},
        figure=match_panels(result.target, result.audio, rate),
        knobs_svg=knob_panel_svg(preset.params, knobs, preset.voice) if knobs else "",
        params=params, voices=voices if len(voices) > 1 else [],
        distance_names=names, distance_rows=rows, exports=list((exports or {}).items()))


def write_match_report(result: "MatchResult", path: Union[str, Path],
                       exports: Optional[Mapping[str, str]] = None) -> Path:
    """Write :func:`match_report_html` of ``result`` to ``path`` (atomically)."""
    from kernels.files import atomic_output
    text = match_report_html(result, exports)
    with atomic_output(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return Path(path)
