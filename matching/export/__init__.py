"""Export and import: presets as JSON, MIDI and rendered kits (SFZ, Hydrogen), and back.

>>> from synths import Preset
>>> from matching.export import presets_to_midi, presets_from_midi, export_kit, read_kit
>>> kit = [Preset(synth="tr808", voice="BD"), Preset(synth="tr808", voice="SD")]
>>> presets_to_midi(kit, "kit.mid", pattern={"BD": "x...x...", "SD": "....x..."})
>>> presets_from_midi("kit.mid") == kit
True
>>> export_kit(kit, "kit.h2drumkit", format="hydrogen")

Modules: :mod:`.cc_maps` (device note/CC maps, data files in ``cc_maps/``), :mod:`.midi`,
:mod:`.pattern` (step strings), :mod:`.samples` (rendered one-shots), :mod:`.sfz`,
:mod:`.hydrogen`, :mod:`.kit` (one entry point for kits and imports).
"""

from .cc_maps import DEFAULT_CC_MAP, CCMap, Control, VoiceMap, available_cc_maps, load_cc_map
from .common import ExportError
from .hydrogen import read_hydrogen_kit, write_hydrogen_kit
from .kit import KIT_FORMATS, export_kit, import_presets, read_kit
from .midi import preset_to_midi, presets_from_midi, presets_to_midi
from .pattern import parse_pattern_text, parse_steps
from .samples import KitEntry
from .sfz import read_sfz, write_sfz

__all__ = [
    "CCMap", "Control", "DEFAULT_CC_MAP", "ExportError", "KIT_FORMATS", "KitEntry", "VoiceMap",
    "available_cc_maps", "export_kit", "import_presets", "load_cc_map", "parse_pattern_text", "parse_steps",
    "preset_to_midi", "presets_from_midi", "presets_to_midi", "read_hydrogen_kit", "read_kit", "read_sfz",
    "write_hydrogen_kit", "write_sfz",
]
