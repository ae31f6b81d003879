"""The HTML match report: self-contained, its audio decodes to the match and the target,
its numbers are the report's, its spectrograms share one colour scale (target and match)
and its envelopes are the level envelopes, hostile names are escaped, and in a real browser (headless
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
from PIL import Image

import synths
from matching import match_preset
from matching.objective import envelope_db
from matching.plot import HOP, N_FFT, spectrogram_db
from matching.report_panels import match_panels
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


def _png(uri: str):
    """The palette indices ``(rows, columns)`` and the RGB palette ``(256, 3)`` of a PNG
    ``data:`` URI."""
    head, data = uri.split(",", 1)
    assert head == "data:image/png;base64"
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    assert image.mode == "P"
    return np.asarray(image), np.asarray(image.getpalette(), dtype=int).reshape(-1, 3)


def _top_colour(cmap: str):
    import matplotlib
    return np.round(255 * np.asarray(matplotlib.colormaps[cmap](1.0)[:3])).astype(int)


def _check_scale(images, target, match):
    """``images``: key -> (vmin, vmax, cmap, PNG URI) of the target, match and difference
    spectrograms.  One colour scale for target and match, topped by the target's peak
    (above DC); the frame of each one's loudest bin shows the colour of its level on it
    (the target's: the map's top colour); the difference on +-40 dB."""
    peaks = {key: spectrogram_db(x, N_FFT, HOP)[1:] for key, x in (("target", target),
                                                                   ("match", match))}
    vmin, vmax, cmap, _ = images["target"]
    assert images["match"][:3] == (vmin, vmax, cmap)
    assert vmax == float(peaks["target"].max()) and vmin == vmax - 80
    assert images["difference"][:2] == (-40.0, 40.0)
    for key, db in peaks.items():
        index, palette = _png(images[key][3])
        frame = int(db.max(dim=0).values.argmax())
        level = (float(db.max()) - vmin) / (vmax - vmin) * 255
        assert abs(int(index[:, frame].max()) - level) <= 0.51, key
        assert int(index.max()) == int(index[:, frame].max()), key
        if key == "target":
            brightest = palette[index[:, frame].max()]
            assert (brightest == _top_colour(cmap)).all()


def test_target_and_match_spectrograms_share_one_colour_scale(page, result):
    images = {a["id"].split("-", 1)[1]: (float(a["data-vmin"]), float(a["data-vmax"]),
                                         a["data-cmap"], a["href"])
              for tag, a in _parse(page).tags if tag == "image" and a.get("class") == "spectrogram"}
    assert set(images) == {"target", "match", "difference"}
    _check_scale(images, result.target, result.audio)


def test_a_quieter_match_is_darker_on_the_shared_scale():
    """A match 12 dB below the target: its loudest bin sits 12 dB under the top colour (a
    scale of its own would put it at the top)."""
    s = synths.get("tr808", voice="SD", duration=1.0)
    target = s.render({"level": 9.0}).reshape(-1)
    panels = match_panels(target, target * 0.25, s.sample_rate)["spectrograms"]
    images = {p["key"]: (p["vmin"], p["vmax"], p["cmap"], p["image"]) for p in panels}
    _check_scale(images, target, target * 0.25)
    assert _png(images["match"][3])[0].max() == round((80 - 20 * np.log10(4)) / 80 * 255)


def test_the_envelopes_are_the_level_envelopes(result):
    env = match_panels(result.target, result.audio, result.sample_rate)["envelope"]
    area = env["plot"]
    assert [line["name"] for line in env["lines"]] == ["target", "match"]
    ticks = [(t["at"], float(t["label"])) for t in env["y_ticks"]]
    (y0, db0), (y1, db1) = ticks[0], ticks[-1]
    for line, x in zip(env["lines"], (result.target, result.audio)):
        points = np.array([p.split(",") for p in line["points"].split()], dtype=float)
        want = envelope_db(x.reshape(1, -1).float(), hop=HOP)[0].numpy()
        assert len(want) - 1 <= len(points) <= len(want)    # to the sound's end
        want = want[:len(points)]
        assert (points[:, 0] >= area["x"]).all() and (points[:, 0] <= area["x"] + area["w"]).all()
        assert (points[:, 1] >= area["y"]).all() and (points[:, 1] <= area["y"] + area["h"]).all()
        got_db = db0 + (points[:, 1] - y0) * (db1 - db0) / (y1 - y0)
        assert np.abs(got_db - want).max() < 0.2            # pixels back to dB (0.1 px)


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
