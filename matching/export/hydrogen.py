"""Hydrogen drum kits: ``drumkit.xml`` plus samples, packed as ``NAME.h2drumkit``.

The XML follows Hydrogen 1.2's drumkit format (namespace
``http://www.hydrogen-music.org/drumkit``, as its ``data/xsd/drumkit.xsd`` describes; it
validates against that schema): ``drumkit_info`` holds ``name``, ``author``, ``info``,
``license``, ``image``, ``imageLicense``, a ``componentList`` with one
``drumkitComponent`` and an ``instrumentList`` with one ``instrument`` per sound, whose
``instrumentComponent`` has one ``layer`` (``filename``, ``min``, ``max``, ``gain``,
``pitch``). ``midiOutNote`` holds the sound's MIDI note (its General MIDI drum note for
TR-808 voices), which is how :func:`read_hydrogen_kit` gets the notes back; open and closed
hi-hat share a mute group.

``h2cli --check`` of Hydrogen 1.2 accepts the archives (a test runs it where ``h2cli`` is
installed). Hydrogen 1.1's schema predates 1.2's ``isSoloed``, ``pan`` and ``pitchOffset``
elements, so 1.1 may report the kit as not matching its schema.

A ``.h2drumkit`` file is a gzipped tar of one folder named after the kit that holds
``drumkit.xml``, the samples and, beside each sample, its preset as ``.json`` (Hydrogen
ignores those). Hydrogen's "Import drumkit" installs it. A path without that extension
gets the unpacked folder instead (e.g. straight into ``~/.hydrogen/data/drumkits/``).
"""

from __future__ import annotations

import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Callable, Optional

from synths import Preset
from synths.files import PathLike, atomic_output

from .common import ExportError, atomic_directory, safe_name
from .samples import KitEntry, plan_kit, render_kit, sidecar_preset

NAMESPACE = "http://www.hydrogen-music.org/drumkit"
ARCHIVE_SUFFIX = ".h2drumkit"
INFO_MARKER = "Written by synthmatch"
HIHAT_VOICES = {("tr808", "OH"), ("tr808", "CH")}  # share a mute group (closed chokes open)


def _element(parent: ET.Element, tag: str, text: object = None) -> ET.Element:
    child = ET.SubElement(parent, f"{{{NAMESPACE}}}{tag}")
    if text is not None:
        child.text = str(text)
    return child


def drumkit_xml(entries: Sequence[KitEntry], name: str, author: str = "synthmatch",
                license_text: str = "") -> bytes:
    """The ``drumkit.xml`` of ``entries`` (sample file names relative to the kit folder)."""
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(f"{{{NAMESPACE}}}drumkit_info")
    _element(root, "name", name)
    _element(root, "author", author)
    _element(root, "info", f"{INFO_MARKER}: {len(entries)} one-shot samples rendered from presets; "
                           "each sample's preset is the .json file beside it.")
    _element(root, "license", license_text)
    _element(root, "image", "")
    _element(root, "imageLicense", "")
    component = _element(_element(root, "componentList"), "drumkitComponent")
    _element(component, "id", 0)
    _element(component, "name", "Main")
    _element(component, "volume", "1.0")
    instruments = _element(root, "instrumentList")
    for index, entry in enumerate(entries):
        preset = entry.preset
        hihat = preset is not None and (preset.synth, preset.voice) in HIHAT_VOICES
        instrument = _element(instruments, "instrument")
        for tag, value in (
            ("id", index), ("name", entry.name), ("volume", "1.0"), ("isMuted", "false"), ("isSoloed", "false"),
            ("pan", "0.0"), ("pitchOffset", "0.0"), ("randomPitchFactor", "0.0"), ("gain", "1.0"),
            ("applyVelocity", "true"), ("filterActive", "false"), ("filterCutoff", "1.0"),
            ("filterResonance", "0.0"), ("Attack", 0), ("Decay", 0), ("Sustain", "1.0"), ("Release", 1000),
            ("muteGroup", 1 if hihat else -1), ("midiOutChannel", -1), ("midiOutNote", entry.note),
            ("isStopNote", "false"), ("sampleSelectionAlgo", "VELOCITY"), ("isHihat", -1),
            ("lower_cc", 0), ("higher_cc", 127),
            ("FX1Level", "0.0"), ("FX2Level", "0.0"), ("FX3Level", "0.0"), ("FX4Level", "0.0"),
        ):
            _element(instrument, tag, value)
        layers = _element(instrument, "instrumentComponent")
        _element(layers, "component_id", 0)
        _element(layers, "gain", "1.0")
        layer = _element(layers, "layer")
        for tag, value in (("filename", PurePosixPath(entry.sample).name), ("min", "0.0"), ("max", "1.0"),
                           ("gain", "1.0"), ("pitch", "0.0")):
            _element(layer, tag, value)
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def _anonymous(member: tarfile.TarInfo) -> tarfile.TarInfo:
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    return member


def _is_our_kit(folder: Path) -> bool:
    try:
        return INFO_MARKER in (folder / "drumkit.xml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def write_hydrogen_kit(presets: Sequence[Preset], path: PathLike, name: Optional[str] = None,
                       notes: Optional[Sequence[int]] = None, normalize: bool = False) -> Path:
    """Render ``presets`` into a Hydrogen drum kit (atomically) and return its path.

    ``path`` ending in ``.h2drumkit`` gets the packed kit, any other path the kit folder
    (new, empty, or a kit written here before). ``name`` defaults to the file's stem.
    ``notes``: one MIDI note per preset (default: General MIDI drum notes).
    """
    path = Path(path)
    packed = path.suffix.lower() == ARCHIVE_SUFFIX
    name = name or (path.stem if packed else path.resolve().name) or "synthmatch kit"
    entries = plan_kit(presets, notes)
    if not packed:
        with atomic_directory(path, _is_our_kit) as temporary:
            render_kit(entries, temporary, normalize=normalize)
            (temporary / "drumkit.xml").write_bytes(drumkit_xml(entries, name))
        return path
    folder_name = safe_name(name, "kit")
    with tempfile.TemporaryDirectory(prefix="synthmatch-kit-") as work:
        kit_folder = Path(work) / folder_name
        kit_folder.mkdir()
        render_kit(entries, kit_folder, normalize=normalize)
        (kit_folder / "drumkit.xml").write_bytes(drumkit_xml(entries, name))
        try:
            with atomic_output(path) as temporary:
                with tarfile.open(temporary, "w:gz") as archive:
                    archive.add(kit_folder, arcname=folder_name, filter=_anonymous)
        except FileNotFoundError as error:
            raise ExportError(str(error)) from None
        except OSError as error:
            raise ExportError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, tag: str) -> Optional[ET.Element]:
    return next((child for child in element if _local(child.tag) == tag), None)


def _children(element: ET.Element, tag: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == tag]


def parse_drumkit_xml(data: bytes, source: str, read_text: Callable[[str], Optional[str]]) -> list[KitEntry]:
    """Kit entries of a ``drumkit.xml``; ``read_text(filename)`` returns a file of the kit folder or ``None``.

    Reads the 1.x layout (``instrumentComponent/layer``) and the older one (``layer`` or
    ``filename`` directly in ``instrument``), with or without the namespace. The note is
    ``midiOutNote``, else Hydrogen's default ``36 + position``.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        raise ExportError(f"{source}: not valid XML ({error})") from None
    if _local(root.tag) != "drumkit_info":
        raise ExportError(f"{source}: not a Hydrogen drumkit (root element {_local(root.tag)!r})")
    instrument_list = _child(root, "instrumentList")
    entries = []
    instruments = _children(instrument_list, "instrument") if instrument_list is not None else []
    for position, instrument in enumerate(instruments):
        layer = None
        for component in _children(instrument, "instrumentComponent"):
            layer = layer or _child(component, "layer")
        layer = layer or _child(instrument, "layer")
        filename_element = _child(layer, "filename") if layer is not None else _child(instrument, "filename")
        if filename_element is None or not (filename_element.text or "").strip():
            continue  # an instrument without a sample
        filename = filename_element.text.strip()
        note_element = _child(instrument, "midiOutNote")
        try:
            note = int(note_element.text) if note_element is not None and note_element.text else 36 + position
        except ValueError:
            raise ExportError(f"{source}: instrument {position + 1} has a bad midiOutNote") from None
        name_element = _child(instrument, "name")
        sidecar = str(PurePosixPath(filename).with_suffix(".json"))
        preset = sidecar_preset(read_text(sidecar), f"{source}: {sidecar}")
        entries.append(KitEntry(note=note, sample=filename, preset=preset,
                                name=(name_element.text or "").strip() if name_element is not None else filename))
    if not entries:
        raise ExportError(f"{source}: the drumkit has no instruments with samples")
    return entries


def read_hydrogen_kit(path: PathLike) -> list[KitEntry]:
    """The instruments of a ``.h2drumkit`` file, a kit folder or its ``drumkit.xml``.

    Samples are named relative to the kit folder; presets come from the ``.json`` beside
    each sample (kits written by synthmatch). Archives are read in place, never extracted.
    """
    path = Path(path)
    if path.suffix.lower() == ARCHIVE_SUFFIX:
        try:
            with tarfile.open(path, "r:*") as archive:
                members = {PurePosixPath(m.name): m for m in archive.getmembers() if m.isfile()}
                xml_names = sorted((p for p in members if p.name == "drumkit.xml"), key=lambda p: len(p.parts))
                if not xml_names:
                    raise ExportError(f"{path}: no drumkit.xml in the archive")
                folder = xml_names[0].parent

                def read_member(name: str) -> Optional[str]:
                    member = members.get(folder / name)
                    handle = archive.extractfile(member) if member is not None else None
                    return handle.read().decode("utf-8") if handle is not None else None

                return parse_drumkit_xml(archive.extractfile(members[xml_names[0]]).read(), str(path), read_member)
        except FileNotFoundError:
            raise ExportError(f"{path}: no such file") from None
        except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError) as error:
            raise ExportError(f"{path}: not a readable .h2drumkit archive ({error})") from None
    xml_path = path / "drumkit.xml" if path.is_dir() else path
    try:
        data = xml_path.read_bytes()
    except OSError as error:
        raise ExportError(f"{xml_path}: cannot read ({error.strerror or error})") from None

    def read_file(name: str) -> Optional[str]:
        file = xml_path.parent / name
        return file.read_text(encoding="utf-8") if file.is_file() else None

    return parse_drumkit_xml(data, str(xml_path), read_file)
