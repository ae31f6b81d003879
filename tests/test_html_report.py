"""The HTML match report: self-contained, its audio decodes to the match and the target,
its numbers are the report's, hostile names are escaped, and in a real browser (headless
Chromium, where installed) it loads without console errors and its A/B switch swaps the
playing element at the same position."""
from __future__ import annotations

import base64
import io
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import synths
from matching import match_preset
from support import CHROMIUM, headless_chromium

HOSTILE = '<img src=x onerror=alert(1)> "quoted" & <b>'
FAST = dict(steps=1, candidates=2, n_starts=1, use_encoder=False, jtfs_distance=False,
            progress=False)


class _Page(HTMLParser):
    """Tags with their attributes, and the page's text."""

    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    rs = synths.get("tr808", voice="RS")
    path = folder / f"{HOSTILE}.wav"
    sf.write(str(path), rs.render({"level": 7.0}).reshape(-1).numpy(), rs.sample_rate, format="WAV")
    r = match_preset(path, synth="tr808", voice="RS", **FAST)
    r.report["warnings"] = [f"a warning about {HOSTILE}"]
    return r


@pytest.fixture(scope="module")
def page(result, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "match.html"
    result.to_html(path, exports={f"preset {HOSTILE}": f"{HOSTILE}.json"})
    return path


def _parse(path: Path) -> _Page:
    parser = _Page()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_the_page_is_self_contained(page):
    text = page.read_text(encoding="utf-8")
    parsed = _parse(page)
    for tag, attrs in parsed.tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is not None and tag != "a":
                assert value.startswith("data:"), (tag, value[:40])
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in text
    assert page.stat().st_size < 2_000_000


def test_the_audio_elements_decode_to_target_and_match(page, result):
    audio = {a["id"]: a for tag, a in _parse(page).tags if tag == "audio"}
    assert set(audio) == {"audio-target", "audio-match"}
    for name, want in (("audio-target", result.target), ("audio-match", result.audio)):
        head, data = audio[name]["src"].split(",", 1)
        assert head == "data:audio/wav;base64"
        samples, rate = sf.read(io.BytesIO(base64.b64decode(data)), dtype="float32")
        assert rate == result.sample_rate and len(samples) == len(want)
        assert np.abs(samples - want.clamp(-1, 1).numpy()).max() < 2 / 32768


def test_every_number_is_the_reports(page, result):
    values = [float(a["data-value"]) for tag, a in _parse(page).tags if "data-value" in a]
    report = result.report
    want = list(report["distances"].values())
    for baseline in report["baselines"].values():
        want += list(baseline.values())
    want += list(result.preset.params.values())
    for v in want:
        assert v in values, v                  # exactly, not rounded
    knobs = [a for tag, a in _parse(page).tags if tag == "g" and a.get("class") == "knob"]
    assert {k["data-name"]: float(k["data-value"]) for k in knobs} == pytest.approx(
        result.preset.params, abs=5e-6)


def test_hostile_names_are_escaped(page):
    text = page.read_text(encoding="utf-8")
    assert HOSTILE not in text and "<img src=x" not in text and '"quoted"' not in text
    assert text.count("<script") == 1              # ours, inline
    escaped = "&lt;img src=x onerror=alert(1)&gt; &#34;quoted&#34; &amp; &lt;b&gt;"
    assert text.count(escaped) >= 3                 # the title, the warning, the export link
    assert HOSTILE in "".join(_Page().text) or HOSTILE in " ".join(_parse(page).text)


def test_jupyter_shows_the_page(result):
    html = result._repr_html_()
    assert html.startswith("<!doctype html>") and 'id="ab-toggle"' in html


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
def test_a_browser_loads_it_and_the_switch_swaps_the_player(page, tmp_path):
    shot = tmp_path / "shot.png"
    base = headless_chromium()
    done = subprocess.run(base + ["--dump-dom", f"{page.as_uri()}#ab-selftest"],
                          capture_output=True, text=True, timeout=120)
    body = re.search(r"<body[^>]*>", done.stdout).group(0)
    assert 'data-selftest="done"' in body, body
    assert 'data-playing="audio-match"' in body        # the switch made B the current player
    before = float(re.search(r'data-position-before="([0-9.]+)"', body).group(1))
    after = float(re.search(r'data-position="([0-9.]+)"', body).group(1))
    assert before > 0 and after == pytest.approx(before, abs=1e-3)   # at A's position
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    shot_run = subprocess.run(base + ["--window-size=1200,1400", f"--screenshot={shot}",
                                      page.as_uri()], capture_output=True, timeout=120)
    assert shot_run.returncode == 0 and shot.read_bytes()[:4] == b"\x89PNG"
