"""Presets: a synth, a voice, physical parameter values, a seed, and metadata, as JSON.

A preset file looks like::

    {
      "format": "synthmatch-preset",
      "version": 2,
      "synth": "tr808",
      "voice": "BD",
      "name": "dark kick",
      "calibration": "fischer-103852",
      "seed": 0,
      "params": {"level": 8.0, "tone": 4.5, "decay": 6.0},
      "metadata": {"source": "kick.wav"}
    }

Loading validates everything against the synth registry: an unknown synth, voice or
parameter, or a value outside its range, raises :class:`PresetError` naming it and the
allowed range. Parameters left out take their default.

Format versions (``docs/preset.schema.json`` is the published JSON Schema; regenerate it
with ``python -m synths.schema``):

* 1: ``format``, ``version``, ``synth``, ``voice``, ``seed``, ``params``, ``metadata``.
* 2: adds ``name``, an optional display name (kit instrument and sample names use it).
* 3: adds ``calibration``, the name (or JSON file) of the synth's calibration the preset was
  made with (synths that have calibrations: ``tr808``, see :mod:`synths.tr808_calibration`);
  ``null`` means the synth's default.

Older files are read through :func:`migrate`, one step per version, so a version-1 file
loads as a current preset (``name`` is ``null``). A tr808 preset of version 1 or 2 was made
on the model before it was calibrated to a real unit, so it migrates to ``calibration:
"legacy"`` and renders as it did; other synths' presets get ``null``. Files are always
written in the current version.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from .base import Synth, SynthError
from .files import PathLike, atomic_output
from .registry import get, synth_class

FORMAT_NAME = "synthmatch-preset"
FORMAT_VERSION = 3

#: The fields each format version allows (a field of a later version in an older file is an error).
FORMAT_FIELDS: dict[int, frozenset[str]] = {
    1: frozenset({"format", "version", "synth", "voice", "seed", "params", "metadata"}),
    2: frozenset({"format", "version", "synth", "voice", "name", "seed", "params", "metadata"}),
    3: frozenset({"format", "version", "synth", "voice", "name", "calibration", "seed", "params", "metadata"}),
}

#: Synths whose version 1-2 presets were made on a model that has since been calibrated:
#: ``{synth: the calibration those presets render with}``.
PRE_CALIBRATION: dict[str, str] = {"tr808": "legacy"}


class PresetError(ValueError):
    """A preset that cannot be read or does not fit its synth."""


#: deepest nesting of JSON arrays and objects a preset file may have (metadata included)
MAX_JSON_DEPTH = 64


def _nesting_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in JSON ``text`` (outside strings)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _unique_keys(pairs: list[tuple[str, Any]], source: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        if key in data:
            raise PresetError(f"{source}: the key {key!r} is given twice in one object")
        data[key] = value
    return data


def _migrate_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "version": 2, "name": None}


def _migrate_2_to_3(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "version": 3, "calibration": PRE_CALIBRATION.get(data.get("synth"))}


#: ``{version: function}`` turning the plain data of that version into the next version's.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _migrate_1_to_2, 2: _migrate_2_to_3}


def migrate(data: Mapping[str, Any], source: str = "preset") -> dict[str, Any]:
    """Bring a preset's plain data (a parsed JSON object) up to :data:`FORMAT_VERSION`.

    A missing ``version`` means the current one. Unknown versions and fields that the
    file's own version does not have raise :class:`PresetError`; the input is not modified.
    """
    version = data.get("version", FORMAT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise PresetError(f"{source}: unsupported preset version {version!r}; this program reads 1 to {FORMAT_VERSION}")
    known = FORMAT_FIELDS[version]
    extra = sorted(set(data) - known)
    if extra:
        raise PresetError(f"{source}: unknown field {extra[0]!r} for preset version {version}; "
                          f"fields: {', '.join(sorted(known))}")
    migrated = {**data, "version": version}
    while migrated["version"] < FORMAT_VERSION:
        migrated = MIGRATIONS[migrated["version"]](migrated)
    return migrated


@dataclass
class Preset:
    """A synth setting in physical units.

    Attributes:
        synth: registry name (``"tr808"``).
        voice: voice name, or ``None`` for single-voice synths.
        params: ``{parameter name: physical value}``; validated on construction.
        seed: seed of the synth's random elements (noise, per-seed draws).
        metadata: free-form JSON-serializable data (source file, match scores, ...).
        version: preset format version (always :data:`FORMAT_VERSION` once loaded: older
            files are migrated).
        name: optional display name (``"dark kick"``); kits name instruments and samples
            after it, or after the voice when it is ``None``.
        calibration: the synth's calibration (a shipped name or a JSON file's path) the
            preset renders with; ``None``: the synth's default. Only synths with
            calibrations (tr808) take one.
    """

    synth: str
    voice: Optional[str] = None
    params: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION
    name: Optional[str] = None
    calibration: Optional[str] = None

    def __post_init__(self) -> None:
        if self.name is not None and not isinstance(self.name, str):
            raise PresetError(f"preset name must be a string or null, got {self.name!r}")
        self.params = self._validated_params()
        if self.calibration is not None:
            if not isinstance(self.calibration, str) or not self.calibration:
                raise PresetError(f"preset calibration must be a name or null, got {self.calibration!r}")
            try:
                synth_class(self.synth).check_calibration(self.calibration)
            except (SynthError, ValueError) as error:
                raise PresetError(str(error)) from None

    # ---------------------------------------------------------------- validation
    def _validated_params(self) -> dict[str, float]:
        try:
            cls = synth_class(self.synth)
        except SynthError as error:
            raise PresetError(str(error)) from None
        voice = cls.default_voice if self.voice is None else self.voice
        if voice not in cls.voices:
            raise PresetError(
                f"synth {self.synth!r} has no voice {self.voice!r}; voices: {', '.join(str(v) for v in cls.voices)}"
            )
        self.voice = voice
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise PresetError(f"preset seed must be an integer >= 0, got {self.seed!r}")
        if not isinstance(self.params, Mapping):
            raise PresetError(f"preset params must be a mapping of name to number, got {type(self.params).__name__}")
        specs = {spec.name: spec for spec in cls.voice_param_specs(voice)}
        label = f"{self.synth}/{voice}" if voice is not None else self.synth
        unknown = sorted(set(self.params) - set(specs))
        if unknown:
            raise PresetError(f"{label} has no parameter {unknown[0]!r}; parameters: {', '.join(specs)}")
        validated = {}
        for name, spec in specs.items():
            value = self.params.get(name, spec.default)
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                value = value.item()
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise PresetError(f"{label} parameter {name!r} must be a finite number, got {value!r}")
            if not spec.contains(float(value)):
                raise PresetError(
                    f"{label} parameter {name!r} = {value:g} is out of range: expected {spec.range_text()}"
                )
            validated[name] = min(max(float(value), spec.min), spec.max)
        return validated

    # ---------------------------------------------------------------- synth bridge
    def build_synth(self, **options: Any) -> Synth:
        """The synth this preset is for (``options`` e.g. ``sample_rate``, ``duration``)."""
        if self.calibration is not None:
            options = {"calibration": self.calibration, **options}
        return get(self.synth, voice=self.voice, seed=self.seed, **options)

    def theta(self, synth: Optional[Synth] = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Normalized parameters ``[1, n_params]`` for ``synth`` (default: :meth:`build_synth`)."""
        synth = synth or self.build_synth()
        return synth.normalize(self.params, batch_size=1, dtype=dtype)

    def render(self, synth: Optional[Synth] = None, device: Optional[torch.device] = None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Render to mono audio ``[n_samples]`` at the synth's sample rate."""
        synth = synth or self.build_synth()
        with torch.no_grad():
            return synth.render(self.params, batch_size=1, device=device, dtype=dtype)[0, 0]

    @classmethod
    def from_theta(cls, synth: Synth, theta: torch.Tensor, metadata: Optional[dict[str, Any]] = None) -> "Preset":
        """The preset of one row of normalized parameters (``[n_params]`` or ``[1, n_params]``)."""
        row = theta.detach().reshape(1, -1).to(torch.float64).clamp(0.0, 1.0)
        physical = synth.denormalize(row)
        return cls(synth=synth.name, voice=synth.voice, seed=synth.seed,
                   params={name: float(value[0]) for name, value in physical.items()},
                   metadata=dict(metadata or {}), calibration=synth.calibration_name())

    # ---------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form written to JSON."""
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "synth": self.synth,
            "voice": self.voice,
            "name": self.name,
            "calibration": self.calibration,
            "seed": self.seed,
            "params": dict(self.params),
            "metadata": self.metadata,
        }

    def to_json(self, path: Optional[PathLike] = None, indent: int = 2) -> str:
        """The preset as JSON text; also written to ``path`` (atomically) when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"
        if path is not None:
            with atomic_output(path) as temporary:
                temporary.write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: Any, source: str = "preset") -> "Preset":
        """Build and validate a preset from its plain-data form."""
        if not isinstance(data, Mapping):
            raise PresetError(f"{source}: a preset must be a JSON object, got {type(data).__name__}")
        if data.get("format", FORMAT_NAME) != FORMAT_NAME:
            raise PresetError(f"{source}: not a synthmatch preset (format {data.get('format')!r})")
        data = migrate(data, source=source)
        if "synth" not in data or not isinstance(data["synth"], str):
            raise PresetError(f"{source}: missing the string field 'synth'")
        metadata = data.get("metadata", {})
        if not isinstance(metadata, Mapping):
            raise PresetError(f"{source}: 'metadata' must be an object")
        params = data.get("params", {})
        if not isinstance(params, Mapping):
            raise PresetError(f"{source}: 'params' must be an object mapping parameter names to numbers")
        try:
            return cls(synth=data["synth"], voice=data.get("voice"), params=dict(params),
                       seed=data.get("seed", 0), metadata=dict(metadata), version=FORMAT_VERSION,
                       name=data.get("name"), calibration=data.get("calibration"))
        except PresetError as error:
            raise PresetError(f"{source}: {error}") from None

    @classmethod
    def from_json(cls, text: str, source: str = "preset") -> "Preset":
        """Parse and validate JSON text (a leading byte-order mark is allowed; a key given
        twice in one object, or nesting deeper than :data:`MAX_JSON_DEPTH`, is an error)."""
        text = text.removeprefix("\ufeff")
        depth = _nesting_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise PresetError(f"{source}: JSON nested {depth} levels deep; a preset has at most "
                              f"{MAX_JSON_DEPTH}")
        try:
            data = json.loads(text, object_pairs_hook=lambda pairs: _unique_keys(pairs, source))
        except json.JSONDecodeError as error:
            raise PresetError(f"{source}: not valid JSON ({error})") from None
        except RecursionError:
            raise PresetError(f"{source}: JSON nested too deeply") from None
        return cls.from_dict(data, source=source)

    @classmethod
    def load(cls, path: PathLike) -> "Preset":
        """Read and validate a preset file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PresetError(f"{path}: no such preset file") from None
        except (OSError, UnicodeDecodeError) as error:
            raise PresetError(f"{path}: cannot read preset ({error})") from None
        return cls.from_json(text, source=str(path))

    def save(self, path: PathLike) -> None:
        """Write the preset as JSON (atomically)."""
        self.to_json(path)
