"""Recordings of a real TR-808 named by their knob settings, as the calibration set has them.

A file name is the panel's two-letter instrument code followed by one digit pair per knob
(``00`` = 0, ``50`` = 5, ``25`` = 2.5, ``75`` = 7.5, ``10`` = 10), in the order of
:data:`RECORDED_KNOBS` (Michael Fischer's 1994 naming: tone/tuning before decay/snappy);
the level knob is at maximum in every file and is not in the name. ``BD0050.WAV`` is the
bass drum at tone 0, decay 5.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import soundfile

__all__ = ["Recording", "RECORDED_KNOBS", "find_recordings", "select_recordings", "parse_name", "DIGIT_POSITIONS"]

#: The knobs a file name encodes, per voice, in name order (level is always at 10).
RECORDED_KNOBS: dict[str, tuple[str, ...]] = {
    "BD": ("tone", "decay"), "SD": ("tone", "snappy"), "CY": ("tone", "decay"),
    "LT": ("tuning",), "MT": ("tuning",), "HT": ("tuning",),
    "LC": ("tuning",), "MC": ("tuning",), "HC": ("tuning",),
    "OH": ("decay",), "CH": (), "CP": (), "CB": (), "CL": (), "MA": (), "RS": (),
}

#: Digit pair in a file name -> knob position on the panel's 0-10 scale.
DIGIT_POSITIONS: dict[str, float] = {"00": 0.0, "25": 2.5, "50": 5.0, "75": 7.5, "10": 10.0}

_NAME = re.compile(r"^([A-Z]{2})((?:\d\d)*)$")


@dataclass(frozen=True)
class Recording:
    """One recorded hit: its file, voice, and knob positions (0-10; level is 10)."""

    path: Path
    voice: str
    knobs: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The file's stem (``"BD0050"``)."""
        return self.path.stem

    def audio(self) -> tuple[np.ndarray, int]:
        """The recording as mono float64 ``[n]`` and its sample rate (Hz)."""
        samples, rate = soundfile.read(str(self.path), dtype="float64", always_2d=True)
        return samples.mean(axis=1), int(rate)

    def positions(self) -> set[float]:
        """The knob positions this recording has (empty for level-only voices)."""
        return set(self.knobs.values())


def parse_name(stem: str) -> tuple[str, dict[str, float]]:
    """``"BD0050"`` -> ``("BD", {"tone": 0.0, "decay": 5.0})``; a name that does not follow
    the convention raises ValueError naming it."""
    match = _NAME.match(stem.upper())
    if not match or match.group(1) not in RECORDED_KNOBS:
        raise ValueError(f"{stem!r} is not a TR-808 recording name (voice code + a digit pair per knob)")
    voice, digits = match.group(1), match.group(2)
    names = RECORDED_KNOBS[voice]
    pairs = [digits[i:i + 2] for i in range(0, len(digits), 2)]
    if len(pairs) != len(names) or any(p not in DIGIT_POSITIONS for p in pairs):
        raise ValueError(f"{stem!r}: {voice} names {len(names)} knob position(s) ({', '.join(names) or 'none'}) "
                         f"from {sorted(DIGIT_POSITIONS)}, got {digits!r}")
    return voice, {name: DIGIT_POSITIONS[p] for name, p in zip(names, pairs)}


def find_recordings(directory: Path, voices: Optional[Iterable[str]] = None) -> list[Recording]:
    """Every ``*.wav`` under ``directory`` (any depth, any case) whose name parses, sorted by
    name; ``voices`` keeps only those voices. A missing directory raises FileNotFoundError."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such recordings directory")
    keep = None if voices is None else set(voices)
    found = []
    for path in sorted(directory.rglob("*"), key=lambda p: p.name):
        if path.suffix.lower() != ".wav":
            continue
        try:
            voice, knobs = parse_name(path.stem)
        except ValueError:
            continue
        if keep is None or voice in keep:
            found.append(Recording(path, voice, knobs))
    return found


def select_recordings(directory: Path, voices: str = "") -> list[Recording]:
    """:func:`find_recordings` for a command line: ``voices`` is comma-separated (empty:
    all); a missing directory or no recordings at all raises ValueError (one line)."""
    keep = [v for v in voices.split(",") if v] or None
    try:
        found = find_recordings(directory, keep)
    except FileNotFoundError as error:
        raise ValueError(str(error)) from None
    if not found:
        raise ValueError(f"{directory}: no TR-808 recordings" + (f" of {voices}" if keep else ""))
    return found
