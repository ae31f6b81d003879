"""Kit contents shared by the SFZ and Hydrogen writers: notes, names and rendered one-shots.

Each preset becomes one sample ``NN_LABEL.wav`` (32-bit float WAV at the synth's sample
rate, so nothing clips; peak-normalized to 0.99 only when asked) with the preset itself
beside it as ``NN_LABEL.json``; reading a kit back loads those files. ``LABEL`` is the
preset's name, else its voice, else its synth, reduced to letters, digits, ``-``, ``_``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from synths import Preset, PresetError

from ..audio import AudioFileError, write_audio
from .cc_maps import DEFAULT_CC_MAP, load_cc_map
from .common import ExportError, safe_name, unique_names

FIRST_FREE_NOTE = 36  # notes for sounds without a General MIDI drum note count up from here


@dataclass(frozen=True)
class KitEntry:
    """One sound of a kit.

    Attributes:
        note: MIDI note that plays it.
        sample: the sample's path relative to the kit's root (``/``-separated).
        name: instrument name.
        preset: the preset it was rendered from (``None`` for kits not written by synthmatch).
    """

    note: int
    sample: str
    name: str
    preset: Optional[Preset] = None


def preset_title(preset: Preset) -> str:
    """Display name: the preset's name, else its voice, else its synth."""
    return preset.name or (preset.voice if preset.voice is not None else preset.synth)


def kit_notes(presets: Sequence[Preset], notes: Optional[Sequence[int]] = None) -> list[int]:
    """MIDI notes for ``presets``: ``notes`` when given, else each voice's General MIDI drum note
    (from the default CC map), and the lowest free notes from 36 up for the rest and for repeats."""
    if notes is not None:
        notes = list(notes)
        if len(notes) != len(presets):
            raise ExportError(f"got {len(notes)} notes for {len(presets)} presets")
        for note in notes:
            if isinstance(note, bool) or not isinstance(note, int) or not 0 <= note <= 127:
                raise ExportError(f"MIDI notes must be integers 0 to 127, got {note!r}")
        if len(set(notes)) != len(notes):
            raise ExportError("two presets were given the same MIDI note")
        return notes
    device_map = load_cc_map(DEFAULT_CC_MAP)
    assigned: list[Optional[int]] = []
    for preset in presets:
        try:
            note: Optional[int] = device_map.for_preset(preset).note
        except ExportError:
            note = None
        assigned.append(None if note in assigned else note)
    result = []
    for note in assigned:
        if note is None:
            note = next(n for n in range(FIRST_FREE_NOTE, 128) if n not in assigned and n not in result)
        result.append(note)
    return result


def plan_kit(presets: Sequence[Preset], notes: Optional[Sequence[int]] = None, folder: str = "") -> list[KitEntry]:
    """Notes, names and sample paths (under ``folder``) for ``presets``, without rendering."""
    if not presets:
        raise ExportError("nothing to export: no presets given")
    for preset in presets:
        if not isinstance(preset, Preset):
            raise ExportError(f"expected presets, got {type(preset).__name__}")
    names = unique_names([preset_title(preset) for preset in presets])
    prefix = f"{folder}/" if folder else ""
    return [KitEntry(note=note, sample=f"{prefix}{i + 1:02d}_{safe_name(name)}.wav", name=name, preset=preset)
            for i, (preset, note, name) in enumerate(zip(presets, kit_notes(presets, notes), names))]


def render_kit(entries: Sequence[KitEntry], root: Path, normalize: bool = False) -> None:
    """Render every entry's preset to ``root / entry.sample`` and save the preset beside it."""
    for entry in entries:
        assert entry.preset is not None
        target = root / entry.sample
        target.parent.mkdir(parents=True, exist_ok=True)
        synth = entry.preset.build_synth()
        audio = entry.preset.render(synth)
        try:
            write_audio(target, audio, synth.sample_rate, peak_normalize=normalize, float_samples=True)
        except AudioFileError as error:
            raise ExportError(f"{entry.name}: {error}") from None
        entry.preset.save(target.with_suffix(".json"))


def sidecar_preset(text: Optional[str], source: str) -> Optional[Preset]:
    """The preset stored beside a sample (``None`` when there is none)."""
    if text is None:
        return None
    try:
        return Preset.from_json(text, source=source)
    except PresetError as error:
        raise ExportError(str(error)) from None
