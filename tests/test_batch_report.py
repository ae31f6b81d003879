"""The batch's index page (OUT/index.html): a row per sound with the batch result's numbers,
worst match first, failures with their reason, players linked to WAVs that exist and hold
the target and the match, links to the per-sound reports, hostile names escaped, rebuilt
on a resumed batch; and in a real browser (headless Chromium, where installed) it loads
without console errors, sorts on a header click and its players load."""
from __future__ import annotations

import base64
import io
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile as sf

import synths
from matching import match_batch
from matching.batch_report import spectrogram_thumbnail
from support import CHROMIUM, headless_chromium, sound_file as _sound

HOSTILE = ('<script>alert(1)<\\script>', '<img src=x onerror=alert(1)> "q" & <b>')
FAST = dict(candidates=4, steps=2, detect_steps=1, detect_voices=1, jtfs_distance=False,
            progress=False)


class _Rows(HTMLParser):
    """The index's body rows: each ``tr``'s attributes, its cells' attributes and text,
    and every tag with its attributes."""

    def __init__(self):
        super().__init__()
        self.rows, self.tags, self.text = [], [], []
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append({"attrs": attrs, "cells": [], "tags": []})
        elif self._in_body and self.rows:
            if tag == "td":
                self.rows[-1]["cells"].append({"attrs": attrs, "text": ""})
            self.rows[-1]["tags"].append((tag, attrs))

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_body and self.rows and self.rows[-1]["cells"]:
            self.rows[-1]["cells"][-1]["text"] += data


def _parse(path: Path) -> _Rows:
    parser = _Rows()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    d = tmp_path_factory.mktemp("sounds")
    _sound(d / "rim.wav", "RS", {"level": 4.0})
    _sound(d / f"{HOSTILE[0]}.wav", "CL", {"level": 7.0})
    _sound(d / f"{HOSTILE[1]}.wav", "RS", {"level": 9.0})
    (d / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    out = tmp_path_factory.mktemp("batch") / "out"
    result = match_batch([d], out, "tr808", voice="RS", reports=True, **FAST)
    return d, out, result


def _worst_first(items):
    """Indices of items, largest log-mel first, those without one (failed) before all."""
    key = lambda i: -np.inf if "log_mel" not in items[i].distances else -items[i].distances["log_mel"]
    return sorted(range(len(items)), key=key)


def _check_index(path: Path, result):
    """Every property of the page that depends on the batch result (shared by the first
    run and the resumed one)."""
    page = _parse(path)
    items = result.items
    order = [int(r["attrs"]["data-index"]) for r in page.rows]
    assert sorted(order) == list(range(len(items)))           # one row per sound
    assert order == _worst_first(items)                       # worst match first
    for row in page.rows:
        item = items[int(row["attrs"]["data-index"])]
        name, status, voice, log_mel, default, envelope = (c["text"].strip() for c in row["cells"][:6])
        assert name == Path(item.file).name and status == item.status
        assert row["cells"][0]["attrs"]["title"] == item.file
        if item.status == "failed":
            assert item.error and row["cells"][-1]["text"].strip() == item.error
            assert not [t for t, a in row["tags"] if t in ("audio", "img")]
            continue
        assert voice == item.voice == "RS"
        values = [c["attrs"].get("data-value") for c in row["cells"][3:6]]
        want = [item.distances["log_mel"], item.baselines["default_preset"]["log_mel"],
                item.distances["envelope_db"]]
        assert [float(v) for v in values] == want             # exactly, not rounded
        players = [a for t, a in row["tags"] if t == "audio"]
        assert len(players) == 2
        rate = result.sample_rate
        for a, wav in zip(players, (item.target_wav, item.match_wav)):
            linked = (path.parent / unquote(a["src"])).resolve()
            assert linked == Path(wav).resolve() and linked.is_file()
            samples, got_rate = sf.read(str(linked), dtype="float32")
            assert got_rate == rate and len(samples) == round(item.window_s * rate)
            assert 0 < float(a["data-gain"]) <= 1
        links = [a["href"] for t, a in row["tags"] if t == "a"]
        assert [(path.parent / unquote(h)).resolve() for h in links] == [Path(item.page).resolve()]
        (thumb,) = [a["src"] for t, a in row["tags"] if t == "img"]
        assert thumb.startswith("data:image/png;base64,") and len(thumb) < 3000
    return page


def test_the_index_has_the_batch_results_rows_worst_first(batch):
    d, out, result = batch
    assert result.index == out / "index.html"
    assert [i.status for i in result.items].count("failed") == 1
    page = _check_index(result.index, result)
    for tag, attrs in page.tags:                   # nothing but data: URIs and relative links
        for name in ("src", "href"):
            value = attrs.get(name, "")
            assert not re.match(r"^[a-z]+:", value) or value.startswith("data:"), value
    # the players play what the batch matched: the match WAV is the preset rendered
    item = next(i for i in result.items if Path(i.file).name == "rim.wav")
    preset = synths.Preset.load(item.preset)
    want = preset.render(preset.build_synth(duration=item.window_s)).numpy()
    got, _ = sf.read(item.match_wav, dtype="float32")
    assert np.abs(got - np.clip(want, -1, 1)).max() < 1e-3


def test_per_sound_reports_are_small_and_link_back(batch):
    d, out, result = batch
    for item in result.items:
        if item.status == "ok":
            page = Path(item.page)
            assert page.stat().st_size < 2_000_000
            hrefs = [a["href"] for t, a in _parse(page).tags if t == "a"]
            assert "../index.html" in hrefs and all((page.parent / unquote(h)).exists() for h in hrefs)


def test_hostile_names_are_escaped(batch):
    d, out, result = batch
    text = result.index.read_text(encoding="utf-8")
    for name in HOSTILE:
        assert name not in text
    assert "<img src=x" not in text and "<b>" not in text and '"q"' not in text
    assert text.count("<script") == 1                        # ours, inline
    assert text.count("&lt;script&gt;alert(1)&lt;\\script&gt;.wav") >= 2   # the name, the title
    assert text.count("&lt;img src=x onerror=alert(1)&gt; &#34;q&#34; &amp; &lt;b&gt;.wav") >= 2
    texts = " ".join(_parse(result.index).text)
    assert all(f"{name}.wav" in texts for name in HOSTILE)     # shown as text


def test_a_resumed_batch_rebuilds_the_index(batch, tmp_path):
    d, out, first = batch
    rim = next(i for i in first.items if Path(i.file).name == "rim.wav")
    Path(rim.target_wav).unlink()                    # a file an earlier version did not write
    before = Path(rim.match_wav).read_bytes()
    again = match_batch([d], out, "tr808", voice="RS", reports=True, **FAST)
    assert [i.status for i in again.items] == ["skipped" if i.status == "ok" else i.status
                                               for i in first.items]
    _check_index(again.index, again)
    (rim2,) = [i for i in again.items if Path(i.file).name == "rim.wav"]
    assert Path(rim2.target_wav).is_file() and Path(rim2.match_wav).read_bytes() == before
    got, _ = sf.read(rim2.target_wav, dtype="float32")
    assert np.abs(got).max() > 0.01
    # the Python entry point writes the same page anywhere, links relative to it
    copy = again.to_html(tmp_path / "copy.html")
    _check_index(copy, again)


def test_the_thumbnail_is_a_tiny_png_of_both_sounds():
    s = synths.get("tr808", voice="SD", duration=1.0)
    loud, quiet = s.render({"level": 9.0})[0, 0], s.render({"level": 9.0})[0, 0] * 1e-3
    uri = spectrogram_thumbnail(loud, quiet, s.sample_rate)
    data = base64.b64decode(uri.split(",", 1)[1])
    from PIL import Image
    image = Image.open(io.BytesIO(data)).convert("L")
    assert image.size == (129, 32) and len(data) < 2000
    pixels = np.asarray(image, dtype=float)
    assert pixels[:, :64].mean() > 4 * pixels[:, 65:].mean() + 5     # the quiet one: darker


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
def test_a_browser_loads_it_sorts_it_and_plays_it(batch, tmp_path):
    d, out, result = batch
    page = result.index
    base = headless_chromium()
    done = subprocess.run(base + ["--dump-dom", f"{page.as_uri()}#sort-selftest"],
                          capture_output=True, text=True, timeout=120)
    body = re.search(r"<body[^>]*>", done.stdout).group(0)
    assert 'data-selftest="done"' in body, body
    before = re.search(r'data-order-before="([0-9,]+)"', body).group(1)
    after = re.search(r'data-order-after="([0-9,]+)"', body).group(1)
    items = result.items
    assert before == ",".join(map(str, _worst_first(items)))
    matched = [i for i in range(len(items)) if "log_mel" in items[i].distances]
    best_first = sorted(matched, key=lambda i: items[i].distances["log_mel"])
    failed = [i for i in range(len(items)) if i not in matched]
    assert after == ",".join(map(str, best_first + failed))       # the click reversed it
    again = re.search(r'data-order-again="([0-9,]+)"', body).group(1)
    assert again == before                                        # and a second click back
    first = items[best_first[-1]]                 # the first player after the two clicks
    duration = float(re.search(r'data-duration="([0-9.]+)"', body).group(1))
    assert duration == pytest.approx(first.window_s, abs=2e-3)    # the linked WAV loaded
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    shot = tmp_path / "shot.png"
    shot_run = subprocess.run(base + ["--window-size=1300,700", f"--screenshot={shot}",
                                      page.as_uri()], capture_output=True, timeout=120)
    assert shot_run.returncode == 0 and shot.read_bytes()[:4] == b"\x89PNG"
