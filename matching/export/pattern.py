"""Step patterns: ``"x...x..."`` strings, one character a step.

``x`` or ``X`` is a hit, ``.`` or ``-`` a rest; spaces and ``|`` only separate bars for the
eye. A pattern is either one string (every sound plays it) or ``{voice: string}``; on the
command line ``"BD=x...x...,SD=....x..."``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Union

from .common import ExportError

Pattern = Union[str, Mapping[str, str]]

HITS = "xX"
RESTS = ".-"
SEPARATORS = " |"


def parse_steps(steps: str, label: str = "pattern") -> list[bool]:
    """``"x..x"`` -> ``[True, False, False, True]``; :class:`ExportError` names a bad character."""
    if not isinstance(steps, str):
        raise ExportError(f"{label}: a step string must be text like 'x...x...', got {steps!r}")
    result = []
    for char in steps:
        if char in SEPARATORS:
            continue
        if char not in HITS + RESTS:
            raise ExportError(f"bad {label} {steps!r}: step {len(result) + 1} is {char!r}; "
                              "use 'x' for a hit and '.' or '-' for a rest")
        result.append(char in HITS)
    if not result:
        raise ExportError(f"bad {label} {steps!r}: it has no steps")
    return result


def parse_pattern_text(text: str) -> Pattern:
    """The command-line form: ``"x...x..."`` or ``"BD=x...x...,SD=....x..."``."""
    if "=" not in text:
        parse_steps(text)
        return text
    pattern: dict[str, str] = {}
    for part in text.split(","):
        voice, sep, steps = part.partition("=")
        voice = voice.strip()
        if not sep or not voice:
            raise ExportError(f"bad pattern {text!r}: write VOICE=STEPS pairs separated by commas, "
                              "e.g. 'BD=x...x...,SD=....x...'")
        if voice in pattern:
            raise ExportError(f"bad pattern {text!r}: voice {voice!r} appears twice")
        parse_steps(steps.strip(), f"pattern for {voice}")
        pattern[voice] = steps.strip()
    return pattern
