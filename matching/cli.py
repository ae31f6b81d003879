"""The ``synthmatch`` command line.

Sub-commands:
    synthmatch synths [NAME] [--json]          list synths, voices and parameters
    synthmatch render PRESET.json -o OUT.wav   render a preset and print its parameters

Bad arguments or input print one line ``synthmatch: error: ...`` and exit with status 2
(usage) or 1 (input that cannot be used).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn, Optional

import synths
from synths import Preset, PresetError, SynthError

from .audio import AudioFileError, write_audio


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, not a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _list_synths(args: argparse.Namespace) -> int:
    names = [args.name] if args.name else synths.available()
    descriptions = [synths.synth_class(name).describe() for name in names]
    if args.json:
        print(json.dumps(descriptions, indent=2))
        return 0
    for description in descriptions:
        print(f"{description['name']}: {description['doc']} ({description['sample_rate']} Hz)")
        for voice, info in description["voices"].items():
            label = f"  voice {voice}" if voice != "None" else "  (single voice)"
            print(f"{label} ({info['duration']:g} s)")
            for spec in info["params"]:
                print(f"    {spec['name']:<14} {spec['min']:>9g} .. {spec['max']:<9g} {spec['unit']:<6} "
                      f"default {spec['default']:<8g} {spec['description']}")
    return 0


def _render(args: argparse.Namespace) -> int:
    preset = Preset.load(args.preset)
    synth = preset.build_synth()
    audio = preset.render(synth)
    write_audio(args.output, audio, synth.sample_rate, peak_normalize=args.normalize)
    print(f"{preset.synth}" + (f" voice {preset.voice}" if preset.voice else "") + f", seed {preset.seed}")
    for name, value in preset.params.items():
        print(f"  {name:<14} {value:g} {synth.spec(name).unit}")
    print(f"wrote {args.output} ({synth.n_samples} samples at {synth.sample_rate} Hz, "
          f"peak {audio.abs().max().item():.3f})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``synthmatch``."""
    parser = OneLineParser(prog="synthmatch", description="Synthesizer sound matching with differentiable synths.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    listing = commands.add_parser("synths", help="list synths, voices and parameters")
    listing.add_argument("name", nargs="?", help="only this synth")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_list_synths)

    render = commands.add_parser("render", help="render a preset to an audio file")
    render.add_argument("preset", help="preset JSON file")
    render.add_argument("-o", "--output", required=True, help="output audio file (.wav, .flac, .aiff, .ogg)")
    render.add_argument("--normalize", action="store_true", help="scale the peak to 0.99")
    render.set_defaults(handler=_render)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``synthmatch`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (PresetError, SynthError, AudioFileError, FileNotFoundError) as error:
        print(f"synthmatch: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
