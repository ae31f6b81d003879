"""SFZ instruments: a folder with ``NAME.sfz`` and ``samples/`` (one-shots plus preset JSON).

The written ``.sfz`` has one ``<region>`` per sound (``sample``, ``lokey``/``hikey`` and
``pitch_keycenter`` on its note, ``loop_mode=one_shot`` from ``<global>``), so any SFZ
player (sfizz, Sforzando, ...) plays the kit from a drum track. Each sample's preset is the
``.json`` file beside it; :func:`read_sfz` returns the regions with those presets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from synths import Preset
from synths.files import PathLike

from .common import ExportError, atomic_directory, safe_name
from .samples import KitEntry, plan_kit, render_kit, sidecar_preset

MARKER = "// Written by synthmatch"
SAMPLE_FOLDER = "samples"
NOTE_NAMES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}


def sfz_text(entries: Sequence[KitEntry], name: str) -> str:
    """The ``.sfz`` file for ``entries`` (sample paths relative to the kit folder)."""
    lines = [
        f"{MARKER}: kit {name!r}, {len(entries)} one-shot samples rendered from presets.",
        "// Each sample's preset is the .json file beside it.",
        "<control>",
        f"default_path={SAMPLE_FOLDER}/",
        "<global>",
        "loop_mode=one_shot",
    ]
    for entry in entries:
        sample = entry.sample[len(SAMPLE_FOLDER) + 1:]
        lines.append(f"<region> sample={sample} lokey={entry.note} hikey={entry.note} "
                     f"pitch_keycenter={entry.note} // {entry.name}")
    return "\n".join(lines) + "\n"


def _is_our_kit(folder: Path) -> bool:
    for sfz in folder.glob("*.sfz"):
        try:
            with sfz.open(encoding="utf-8") as handle:
                if handle.readline().startswith(MARKER):
                    return True
        except (OSError, UnicodeDecodeError):
            continue
    return False


def write_sfz(presets: Sequence[Preset], folder: PathLike, name: Optional[str] = None,
              notes: Optional[Sequence[int]] = None, normalize: bool = False) -> Path:
    """Render ``presets`` into the SFZ kit folder ``folder`` (atomically) and return the ``.sfz`` path.

    ``folder`` must be new, empty, or a kit this function wrote before (which is replaced
    whole); ``name`` (default the folder's name) names the ``.sfz`` file. ``notes``: one MIDI
    note per preset (default: General MIDI drum notes, see :func:`.samples.kit_notes`).
    """
    folder = Path(folder)
    name = name or folder.resolve().name or "kit"
    entries = plan_kit(presets, notes, folder=SAMPLE_FOLDER)
    sfz_name = f"{safe_name(name, 'kit')}.sfz"
    with atomic_directory(folder, _is_our_kit) as temporary:
        render_kit(entries, temporary, normalize=normalize)
        (temporary / sfz_name).write_text(sfz_text(entries, name), encoding="utf-8")
    return folder / sfz_name


def _note_number(value: str, where: str) -> int:
    text = value.strip().lower()
    if re.fullmatch(r"-?\d+", text):
        number = int(text)
    else:
        match = re.fullmatch(r"([a-g])([#b]?)(-?\d+)", text)
        if not match:
            raise ExportError(f"{where}: {value!r} is not a MIDI note")
        letter, accidental, octave = match.groups()
        number = NOTE_NAMES[letter] + {"#": 1, "b": -1, "": 0}[accidental] + 12 * (int(octave) + 1)
    if not 0 <= number <= 127:
        raise ExportError(f"{where}: note {value!r} is outside 0 to 127")
    return number


def _opcodes(line: str) -> list[tuple[str, str]]:
    """``(header, "")`` and ``(opcode, value)`` pairs of one line, comments removed."""
    line = line.split("//", 1)[0]
    tokens = []
    for match in re.finditer(r"<(\w+)>|(\w+)=(.*?)(?=\s+\w+=|\s*<|\s*$)", line):
        tokens.append((f"<{match.group(1)}>", "") if match.group(1) else (match.group(2), match.group(3).strip()))
    return tokens


def _find_sfz(path: Path) -> Path:
    if path.is_dir():
        found = sorted(path.glob("*.sfz"))
        if len(found) != 1:
            raise ExportError(f"{path}: expected one .sfz file in the folder, found {len(found)}")
        return found[0]
    if not path.is_file():
        raise ExportError(f"{path}: no such SFZ file")
    return path


def read_sfz(path: PathLike) -> list[KitEntry]:
    """The regions of an SFZ file (or of the one ``.sfz`` in a folder), in file order.

    Each entry's ``sample`` is relative to the ``.sfz`` file's folder; ``preset`` is loaded
    from the ``.json`` beside the sample when there is one (kits written by synthmatch).
    Supports ``<control>`` ``default_path``, ``<global>``/``<master>``/``<group>``
    inheritance, ``key`` or ``lokey``/``pitch_keycenter``, and note names (``c4`` = 60).
    """
    sfz_path = _find_sfz(Path(path))
    try:
        text = sfz_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ExportError(f"{sfz_path}: cannot read ({error})") from None
    scopes = ["<global>", "<master>", "<group>"]  # each resets itself and the scopes below it
    inherited: dict[str, dict[str, str]] = {scope: {} for scope in scopes}
    control: dict[str, str] = {}
    regions: list[dict[str, str]] = []
    current: Optional[dict[str, str]] = None
    for line in text.splitlines():
        for key, value in _opcodes(line):
            if key == "<region>":
                current = {**inherited["<global>"], **inherited["<master>"], **inherited["<group>"]}
                regions.append(current)
            elif key == "<control>":
                current = control
            elif key in inherited:
                for scope in scopes[scopes.index(key):]:
                    inherited[scope] = {}
                current = inherited[key]
            elif key.startswith("<"):
                current = None  # other headers (<curve>, <effect>, ...) are ignored
            elif current is not None:
                current[key] = value
    entries = []
    for number, region in enumerate(regions, start=1):
        where = f"{sfz_path}: region {number}"
        if "sample" not in region:
            raise ExportError(f"{where} has no sample")
        sample = (control.get("default_path", "") + region["sample"]).replace("\\", "/")
        key = region.get("key", region.get("lokey", region.get("pitch_keycenter")))
        if key is None:
            raise ExportError(f"{where} has no key")
        sample_path = sfz_path.parent / sample
        sidecar = sample_path.with_suffix(".json")
        preset = sidecar_preset(sidecar.read_text(encoding="utf-8") if sidecar.is_file() else None, str(sidecar))
        entries.append(KitEntry(note=_note_number(key, where), sample=sample, name=Path(sample).stem, preset=preset))
    return entries
