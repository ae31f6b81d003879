"""The figure of a match report without a matplotlib figure: each spectrogram is a palette
PNG made straight from its numbers (:func:`matching.plot.match_spectrograms`, the same as
the PNG figure's), one row per log-spaced frequency band and one column per frame, target
and match on one colour scale; the axes, ticks, colour bars and the level envelopes are
geometry (pixel positions and labels) that ``templates/panels.html.j2`` draws as inline SVG.

:func:`match_panels` -> ``{"spectrograms": [target, match, difference], "envelope": ...}``
(plain dicts, see there); :func:`log_bands` and :func:`palette_png` also make the batch
index's thumbnails.
"""
from __future__ import annotations

import base64
import functools
import math
import struct
import zlib
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import torch

from .objective import envelope_db
from .plot import DIFFERENCE_DB, HOP, match_spectrograms

__all__ = ["log_bands", "palette_png", "png_data_uri", "nice_ticks", "match_panels",
           "PLOT_SIZE", "LOW_HZ", "MAX_COLUMNS", "SPECTROGRAM_CMAP", "DIFFERENCE_CMAP"]

#: (width, height) of each panel's plot area, SVG pixels (the spectrogram has as many rows)
PLOT_SIZE = (180, 160)
#: the lowest frequency shown (Hz), as in the PNG figure
LOW_HZ = 20.0
#: a longer sound's frames are max-pooled into this many image columns
MAX_COLUMNS = 400
SPECTROGRAM_CMAP, DIFFERENCE_CMAP = "magma", "coolwarm"
#: the panels' margins (SVG pixels): left (frequency labels), top (title), right, bottom
_LEFT, _TOP, _RIGHT, _BOTTOM = 46, 20, 8, 34
#: the colour bar's extra width (bar, ticks, label) beside a panel
_BAR = 52


def log_bands(spec: torch.Tensor, sample_rate: int, rows: int, low_hz: float = LOW_HZ
              ) -> torch.Tensor:
    """``spec`` ``(bins, frames)`` (bin 0 DC, the last Nyquist) pooled (max) into ``rows``
    log-spaced bands from ``low_hz`` to Nyquist, lowest first: every bin but DC is in a band
    (a band narrower than a bin takes its nearest), so the peak above DC is kept."""
    bins = spec.shape[0]
    edges = torch.logspace(math.log10(low_hz), math.log10(sample_rate / 2), rows + 1)
    index = (edges / (sample_rate / 2) * (bins - 1)).round().long().clamp(1, bins - 1).tolist()
    index[-1] = bins
    return torch.stack([spec[lo:max(hi, lo + 1)].amax(dim=0)
                        for lo, hi in zip(index[:-1], index[1:])])


def palette_png(values: torch.Tensor, low: float, high: float, cmap: str, levels: int = 256,
                bits: int = 8) -> bytes:
    """The PNG (palette, ``bits`` = 8 or 4 a pixel) of ``values`` ``(rows, columns)``, top
    row first: ``low`` .. ``high`` linearly onto ``levels`` (at most ``2 ** bits``) colours
    of matplotlib's colour map ``cmap`` (outside: clipped), so a value at ``high`` has the
    map's top colour."""
    scaled = (values.float() - low) / (high - low) * (levels - 1)
    index = scaled.round().clamp(0, levels - 1).to(torch.uint8).numpy()
    if bits == 4:
        index = np.pad(index, ((0, 0), (0, index.shape[1] % 2)))
        index = (index[:, 0::2] << 4) | index[:, 1::2]
    rows, columns = values.shape
    lines = np.concatenate([np.zeros((rows, 1), np.uint8), index], axis=1)   # filter 0
    return b"".join([b"\x89PNG\r\n\x1a\n",
                     _chunk(b"IHDR", struct.pack(">IIBBBBB", columns, rows, bits, 3, 0, 0, 0)),
                     _chunk(b"PLTE", _palette(cmap, levels)),
                     _chunk(b"IDAT", zlib.compress(lines.tobytes(), 9)), _chunk(b"IEND", b"")])


def _chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.lru_cache(maxsize=None)
def _palette(cmap: str, levels: int) -> bytes:
    """``levels`` colours of matplotlib's ``cmap``, bottom to top, as 8-bit RGB triples."""
    import matplotlib
    colours = matplotlib.colormaps[cmap].resampled(levels)(range(levels))[:, :3]
    return (colours * 255).round().astype(np.uint8).tobytes()


def png_data_uri(png: bytes) -> str:
    """``png`` as a ``data:image/png;base64`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def nice_ticks(low: float, high: float, most: int = 6) -> List[float]:
    """Round values (steps of 1, 2, 2.5 or 5 times a power of ten) from ``low`` to ``high``,
    at most ``most`` + 1 of them."""
    span = max(high - low, 1e-12)
    step = next(m * 10 ** e for e in range(math.floor(math.log10(span / most)), 99)
                for m in (1, 2, 2.5, 5) if span / (m * 10 ** e) <= most)
    first = math.ceil(low / step - 1e-9)
    return [round(k * step, 9) for k in range(first, math.floor(high / step + 1e-9) + 1)]


def _label(value: float) -> str:
    return f"{value:g}"


def _hz(value: float) -> str:
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def _frame(title: str, y_ticks: Sequence[Tuple[float, str]], y_label: str, seconds: float,
           bar: bool) -> Dict[str, Any]:
    """A panel's size, plot area, title, axis labels and ticks (``y_ticks``: (pixel y,
    label)); time from 0 to ``seconds`` along x."""
    w, h = PLOT_SIZE
    x_ticks = [{"at": round(_LEFT + w * t / seconds, 1), "label": _label(t)}
               for t in nice_ticks(0.0, seconds, 5)]
    return {"title": title, "width": _LEFT + w + _RIGHT + (_BAR if bar else 0),
            "height": _TOP + h + _BOTTOM, "plot": {"x": _LEFT, "y": _TOP, "w": w, "h": h},
            "x_ticks": x_ticks, "x_label": "time (s)",
            "y_ticks": [{"at": round(y, 1), "label": label} for y, label in y_ticks],
            "y_label": y_label}


def _colour_bar(low: float, high: float, cmap: str) -> Dict[str, Any]:
    """A colour bar beside the plot: its image (the scale, top first), ticks and label."""
    _, h = PLOT_SIZE
    values = torch.linspace(high, low, 256).reshape(-1, 1)
    return {"x": _LEFT + PLOT_SIZE[0] + _RIGHT + 6, "w": 10,
            "image": png_data_uri(palette_png(values, low, high, cmap)),
            "ticks": [{"at": round(_TOP + h * (high - v) / (high - low), 1), "label": _label(v)}
                      for v in nice_ticks(low, high, 4)], "label": "dB"}


def match_panels(target: torch.Tensor, match: torch.Tensor, sample_rate: int
                 ) -> Dict[str, Any]:
    """The report's figure of ``target`` and ``match`` (``(n,)`` at ``sample_rate`` Hz):
    ``{"spectrograms": [panel, panel, panel], "envelope": panel}``.

    Every panel has ``title``, ``width``, ``height`` (SVG pixels), ``plot`` (``x``, ``y``,
    ``w``, ``h``: the plot area), ``x_ticks``/``y_ticks`` (``at``: pixel, ``label``),
    ``x_label``, ``y_label``.  A spectrogram's also ``key`` (target, match, difference),
    ``image`` (a PNG ``data:`` URI filling the plot area), ``vmin``/``vmax`` (dB at its
    colour map's bottom and top: the same for target and match), ``cmap`` and ``bar`` (a
    colour bar, or None: the target shares the match's); the envelope's ``lines`` (``name``,
    ``points``: an SVG polyline's, dBFS against time)."""
    spec = match_spectrograms(target, match)
    w, h = PLOT_SIZE
    n = max(target.shape[-1], match.shape[-1])
    seconds = n / sample_rate
    nyquist = sample_rate / 2
    span = math.log(nyquist / LOW_HZ)
    freq_ticks = [(_TOP + h * (1 - math.log(f / LOW_HZ) / span), _hz(f))
                  for f in (100, 1000, 10000) if LOW_HZ <= f <= nyquist]
    low, top = spec["vmin"], spec["vmax"]
    shown = [("target", "target", SPECTROGRAM_CMAP, low, top, False),
             ("match", "match", SPECTROGRAM_CMAP, low, top, True),
             ("difference", "difference (match - target)", DIFFERENCE_CMAP, -DIFFERENCE_DB,
              DIFFERENCE_DB, True)]
    panels = []
    for key, title, cmap, vmin, vmax, bar in shown:
        bands = log_bands(spec[key], sample_rate, h)
        if bands.shape[1] > MAX_COLUMNS:
            bands = torch.nn.functional.adaptive_max_pool1d(bands.unsqueeze(0), MAX_COLUMNS)[0]
        panel = _frame(title, freq_ticks, "frequency (Hz)", seconds, bar)
        panel.update(key=key, cmap=cmap, vmin=vmin, vmax=vmax,
                     image=png_data_uri(palette_png(bands.flip(0), vmin, vmax, cmap)),
                     bar=_colour_bar(vmin, vmax, cmap) if bar else None)
        panels.append(panel)
    envelopes = {name: envelope_db(x.reshape(1, -1).float(), hop=HOP)[0]
                 for name, x in (("target", target), ("match", match))}
    lowest = min(float(e.min()) for e in envelopes.values())
    highest = max(float(e.max()) for e in envelopes.values())
    db_low, db_high = 10 * math.floor(lowest / 10), 5 * math.ceil(highest / 5 + 1e-9)
    y_of = lambda db: _TOP + h * (db_high - db) / (db_high - db_low)       # noqa: E731
    envelope = _frame("level envelope",
                      [(y_of(v), _label(v)) for v in nice_ticks(db_low, db_high, 6)],
                      "dBFS", seconds, False)
    envelope["lines"] = [
        {"name": name, "points": " ".join(
            f"{_LEFT + w * k * HOP / sample_rate / seconds:.1f},{y_of(v):.1f}"
            for k, v in enumerate(env.tolist()) if k * HOP <= n)}
        for name, env in envelopes.items()]
    return {"spectrograms": panels, "envelope": envelope}
