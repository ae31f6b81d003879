"""Rendered kits in one call, reading any kit back, and importing presets from any format."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, Optional

from synths import Preset, PresetError
from synths.files import PathLike

from .cc_maps import CCMap
from .common import ExportError
from .hydrogen import ARCHIVE_SUFFIX, read_hydrogen_kit, write_hydrogen_kit
from .midi import presets_from_midi
from .samples import KitEntry
from .sfz import read_sfz, write_sfz

KitFormat = Literal["sfz", "hydrogen"]
KIT_FORMATS: tuple[str, ...] = ("sfz", "hydrogen")
MIDI_SUFFIXES = (".mid", ".midi", ".smf")


def export_kit(presets: Iterable[Preset], path: PathLike, format: KitFormat = "sfz", name: Optional[str] = None,
               notes: Optional[Sequence[int]] = None, normalize: bool = False) -> Path:
    """Render ``presets`` to one-shot WAVs and write them as a kit; returns the written path.

    Args:
        presets: the sounds, any synth.
        path: ``"sfz"``: the kit folder (gets ``NAME.sfz`` and ``samples/``; the ``.sfz``
            path is returned); ``"hydrogen"``: ``NAME.h2drumkit`` (or a folder for the
            unpacked kit).
        format: ``"sfz"`` or ``"hydrogen"``.
        name: kit name (default from ``path``).
        notes: one MIDI note per preset (default: each voice's General MIDI drum note).
        normalize: peak-normalize each sample to 0.99 (default: the synth's own level, in
            32-bit float WAVs so nothing clips).

    Nothing is left half-written: the kit is built aside and moved into place at the end.
    """
    presets = list(presets)
    if format == "sfz":
        return write_sfz(presets, path, name=name, notes=notes, normalize=normalize)
    if format == "hydrogen":
        return write_hydrogen_kit(presets, path, name=name, notes=notes, normalize=normalize)
    raise ExportError(f"unknown kit format {format!r}; formats: {', '.join(KIT_FORMATS)}")


def read_kit(path: PathLike) -> list[KitEntry]:
    """The sounds of a kit: an ``.sfz`` file or folder holding one, a ``.h2drumkit``, a Hydrogen
    kit folder or its ``drumkit.xml``."""
    path = Path(path)
    if path.suffix.lower() == ".sfz" or (path.is_dir() and any(path.glob("*.sfz"))):
        return read_sfz(path)
    if path.suffix.lower() in (ARCHIVE_SUFFIX, ".xml") or (path / "drumkit.xml").is_file():
        return read_hydrogen_kit(path)
    if not path.exists():
        raise ExportError(f"{path}: no such kit")
    raise ExportError(f"{path}: not a kit (expected an .sfz file, a .h2drumkit file or a folder holding one)")


def import_presets(path: PathLike, cc_map: Optional[str | CCMap] = None, channel: Optional[int] = None) -> list[Preset]:
    """The presets stored in ``path``: a preset ``.json``, a MIDI file (see
    :func:`.midi.presets_from_midi`; ``cc_map`` and ``channel`` apply to it) or a kit written
    by synthmatch (see :func:`read_kit`)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            return [Preset.load(path)]
        except PresetError as error:
            raise ExportError(str(error)) from None
    if path.suffix.lower() in MIDI_SUFFIXES:
        return presets_from_midi(path, cc_map=cc_map, channel=channel)
    entries = read_kit(path)
    missing = [entry.sample for entry in entries if entry.preset is None]
    if missing:
        raise ExportError(f"{path}: no preset stored for sample {missing[0]!r} (only kits written by "
                          "synthmatch carry presets)")
    return [entry.preset for entry in entries if entry.preset is not None]
