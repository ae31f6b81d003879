"""Helpers shared by test modules (importable as ``support``: pytest puts ``tests/`` on
``sys.path``): tiny tr808 sounds as files, and the headless Chromium command line."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

import synths
from matching.audio import write_audio

#: the Chromium binary (None: the browser tests skip)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def sound_file(path: Path, voice: str, params: dict) -> Path:
    """Write the tr808 ``voice`` at ``params`` (panel values) as a float WAV at ``path``."""
    s = synths.get("tr808", voice=voice)
    write_audio(path, s.render(params)[0, 0], s.sample_rate, float_samples=True)
    return path


def headless_chromium() -> List[str]:
    """The command line of a headless Chromium run that logs console messages to stderr
    and lets a page's scripts run for 5 s of virtual time."""
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
