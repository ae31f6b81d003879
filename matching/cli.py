"""The ``synthmatch`` command line.

Sub-commands:
    synthmatch synths [NAME] [--json]          list synths, voices and parameters
    synthmatch render PRESET.json -o OUT.wav   render a preset and print its parameters
    synthmatch export PRESET.json... --midi OUT.mid | --kit OUT.h2drumkit | --sfz DIR
                                               MIDI file and rendered kits (see matching.export)
    synthmatch import FILE -o DIR              presets from a .mid, .sfz, .h2drumkit or .json
    synthmatch match SOUND --synth tr808 [--voice BD] [-o P.json] [--midi M.mid] [--wav W.wav]
                     [--plot P.png]            the preset that recreates SOUND (match_preset)
    synthmatch match DIR_OR_GLOB... --out DIR [--kit K.h2drumkit]
                                               every sound, batched (matching.batch)
    synthmatch train --synth tr808 --voice BD --loss {param,mss,jtfs,scrapl} -o DIR
                                               train an encoder with the synth in the loop

``match`` (batch mode) and ``train`` also run under ``torchrun`` (``torchrun
--nproc_per_node=N -m matching ...``): files are split across the ranks, training uses
DistributedDataParallel (see matching.distributed).

Bad arguments or input print one line ``synthmatch: error: ...`` and exit with status 2
(usage) or 1 (input that cannot be used).  Every output is planned and checked before any
work (:class:`matching.outputs.OutputPlan`: not an input, not another output, the right
extension and type, its folder exists) and a command's outputs are written as a set.
Warnings about the input print ``synthmatch: warning: ...``.  SIGINT and SIGTERM print
``synthmatch: interrupted (SIGINT)`` and exit with 130 or 143, temporary files removed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, Optional

import synths
from synths import Preset, PresetError, SynthError

from .audio import AudioFileError, write_audio
from .export import ExportError
from .outputs import Interrupted, OutputError, OutputPlan, handle_interrupts


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


def _warn(message: str) -> None:
    print(f"synthmatch: warning: {message}", file=sys.stderr)


def _render(args: argparse.Namespace) -> int:
    plan = OutputPlan(inputs=[args.preset])
    plan.add("-o", args.output, "audio")
    preset = Preset.load(args.preset)
    synth = preset.build_synth()
    audio = preset.render(synth)
    plan.write_all({"-o": lambda path: write_audio(path, audio, synth.sample_rate,
                                                   peak_normalize=args.normalize)})
    print(f"{preset.synth}" + (f" voice {preset.voice}" if preset.voice else "") + f", seed {preset.seed}")
    for name, value in preset.params.items():
        print(f"  {name:<14} {value:g} {synth.spec(name).unit}")
    print(f"wrote {args.output} ({synth.n_samples} samples at {synth.sample_rate} Hz, "
          f"peak {audio.abs().max().item():.3f})")
    return 0


def _pattern_argument(text: str) -> object:
    from .export import parse_pattern_text

    try:
        return parse_pattern_text(text)
    except ExportError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _export(args: argparse.Namespace) -> int:
    from .export import export_kit, load_cc_map, presets_to_midi

    plan = OutputPlan(inputs=args.presets)
    plan.add("--midi", args.midi, "midi")
    plan.add("--kit", args.kit, "hydrogen")
    plan.add("--sfz", args.sfz, "folder")
    presets = [Preset.load(path) for path in args.presets]
    sounds = f"{len(presets)} preset{'s' if len(presets) != 1 else ''}"
    writers, written = {}, {}
    if args.midi:
        writers["--midi"] = lambda path: presets_to_midi(
            presets, path, cc_map=args.cc_map, channel=args.channel, pattern=args.pattern,
            bpm=args.bpm, steps_per_beat=args.steps_per_beat, name=args.name)
    if args.kit:
        writers["--kit"] = lambda path: export_kit(presets, path, format="hydrogen",
                                                   name=args.name or Path(args.kit).stem,
                                                   normalize=args.normalize)
    if args.sfz:
        writers["--sfz"] = lambda path: written.setdefault("--sfz", export_kit(
            presets, path, format="sfz", name=args.name, normalize=args.normalize))
    plan.write_all(writers)
    if args.midi:
        how = "as a pattern" if args.pattern else "one note a beat"
        channel = args.channel or load_cc_map(args.cc_map).channel
        print(f"wrote {args.midi} ({sounds} {how}, CC map {args.cc_map}, channel {channel})")
    if args.kit:
        print(f"wrote {args.kit} (Hydrogen drum kit of {sounds})")
    if args.sfz:
        print(f"wrote {written['--sfz']} (SFZ instrument of {sounds})")
    return 0


def _is_batch(args: argparse.Namespace) -> bool:
    """Several sounds, a folder or a glob pattern (or --out / --kit): batch mode."""
    from .inputs import is_pattern
    return (args.out is not None or args.kit is not None or len(args.sounds) > 1
            or any(Path(s).is_dir() or is_pattern(s) for s in args.sounds))


def _match_options(args: argparse.Namespace):
    """The :class:`~matching.options.MatchOptions` of the parsed ``match`` flags."""
    from .cli_options import dataclass_from_args
    from .options import MatchOptions
    return dataclass_from_args(MatchOptions, args)


def _match_batch(args: argparse.Namespace) -> int:
    from . import distributed
    from .batch import SUMMARY_NAME, match_batch
    from .batch_report import INDEX_NAME

    single = [flag for flag, value in (("-o", args.output), ("--midi", args.midi),
                                       ("--wav", args.wav), ("--plot", args.plot),
                                       ("--report", args.report)) if value]
    if single:
        print(f"synthmatch: error: {', '.join(single)} {'apply' if len(single) > 1 else 'applies'} "
              f"to one sound; with several sounds, a folder or a pattern use --out DIR "
              f"(and --reports for a report per sound; see synthmatch match --help)",
              file=sys.stderr)
        return 2
    if args.out is None:
        print("synthmatch: error: several sounds, a folder or a pattern need --out DIR "
              "(see synthmatch match --help)", file=sys.stderr)
        return 2
    try:
        options = _match_options(args).check()
    except ValueError as error:
        print(f"synthmatch: error: {error}", file=sys.stderr)
        return 2
    with distributed.session() as dist:
        if dist.is_main:
            for warning in options.warnings():
                _warn(warning)
        try:
            result = match_batch(
                args.sounds, args.out, synth=args.synth, voice=args.voice,
                options=options, batch_size=args.batch_size,
                length_tolerance=args.length_tolerance, kit=args.kit,
                resume=not args.no_resume, dist=dist, reports=args.reports)
        except ValueError as error:
            if dist.is_main:
                print(f"synthmatch: error: {error}", file=sys.stderr)
            return 1
    failed = result.failed
    if dist.is_main:
        ok, skipped = result.count("ok"), result.count("skipped")
        where = f" on {dist.world_size} processes" if dist.enabled else ""
        claimed = result.count("claimed")
        others = f", {claimed} left to another run" if claimed else ""
        print(f"matched {ok} sound{'s' if ok != 1 else ''}, skipped {skipped} already matched, "
              f"{len(failed)} failed{others}, of {len(result.items)} in {result.elapsed_s:.1f} s{where}")
        for problem in result.problems:
            _warn(problem)
        for item in result.items:
            for warning in item.warnings:
                _warn(warning)
        for item in failed:
            print(f"  failed: {item.file}: {item.error}", file=sys.stderr)
        print(f"wrote {ok} preset{'s' if ok != 1 else ''}, {Path(args.out) / SUMMARY_NAME} "
              f"and {Path(args.out) / INDEX_NAME}")
        if result.kit is not None:
            print(f"wrote {result.kit} (Hydrogen drum kit of {ok + skipped} presets)")
        if result.kit_error is not None:
            print(f"synthmatch: error: kit {args.kit}: {result.kit_error}", file=sys.stderr)
    return 1 if failed or result.kit_error is not None else 0


def _match(args: argparse.Namespace) -> int:
    from .match import match_preset

    if _is_batch(args):
        return _match_batch(args)
    args.sound = args.sounds[0]
    try:
        options = _match_options(args).check()
    except ValueError as error:
        print(f"synthmatch: error: {error}", file=sys.stderr)
        return 2
    plan = OutputPlan(inputs=[args.sound])
    for label, path, kind in (("-o", args.output, "preset"), ("--midi", args.midi, "midi"),
                              ("--wav", args.wav, "audio"), ("--plot", args.plot, "plot"),
                              ("--report", args.report, "report")):
        plan.add(label, path, kind)
    early = options.warnings()
    for warning in early:
        _warn(warning)
    result = match_preset(args.sound, synth=args.synth, voice=args.voice, options=options)
    preset, report = result.preset, result.report
    print(f"{args.sound}: {preset.synth}" + (f" voice {preset.voice}" if preset.voice else "")
          + f" in {report['time_s']:.1f} s")
    if len(report["voices"]) > 1:
        ranked = sorted(report["voices"].items(), key=lambda kv: kv[1])
        print("  voice scores (lower is better): " + ", ".join(f"{k} {v:.3f}" for k, v in ranked[:6]))
    for name, value in preset.params.items():
        print(f"  {name:<14} {value:.3f}")
    d, base = report["distances"], report["baselines"]
    print("  distances      " + "  ".join(f"{k} {v:.4g}" for k, v in d.items()))
    for label, dist in base.items():
        print(f"  {label:<14} " + "  ".join(f"{k} {v:.4g}" for k, v in dist.items()))
    for warning in report.get("warnings", []):
        if warning not in early:
            _warn(warning)
    writers = {}
    if args.output:
        writers["-o"] = preset.save
    if args.midi:
        from .export import preset_to_midi
        writers["--midi"] = lambda path: preset_to_midi(preset, path)
    if args.wav:
        writers["--wav"] = lambda path: write_audio(
            path, result.audio, result.sample_rate, peak_normalize=False,
            float_samples=Path(args.wav).suffix.lower() in (".wav", ".aif", ".aiff"))
    if args.report:
        import os
        base = plan.outputs["--report"].target.parent
        links = {label: os.path.relpath(plan.outputs[flag].target, base) for label, flag in
                 (("preset (JSON)", "-o"), ("MIDI", "--midi"), ("rendered match (WAV)", "--wav"),
                  ("plot (PNG)", "--plot")) if flag in plan.outputs}
        writers["--report"] = lambda path: result.to_html(path, exports=links)
    if args.plot:
        from .plot import plot_match
        writers["--plot"] = lambda path: plot_match(
            path, result.target, result.audio, result.sample_rate,
            title=f"{Path(args.sound).name} -> {preset.synth} {preset.voice or ''}")
    plan.write_all(writers)
    for label in writers:
        print(f"wrote {plan.outputs[label].path}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from . import distributed

    with distributed.session() as dist:      # torchrun: one process group for the run
        return _train_in(args, dist)


def _train_in(args: argparse.Namespace, dist) -> int:
    from .cli_options import dataclass_from_args
    from .training import TrainConfig, train

    try:
        cfg = dataclass_from_args(TrainConfig, args)
        cfg.check()
        summary = train(cfg, args.output, resume=not args.no_resume)
    except ValueError as error:
        if dist.is_main:
            print(f"synthmatch: error: {error}", file=sys.stderr)
        return 1
    if not dist.is_main:
        return 0
    best = summary["best"]
    print(f"trained {summary['steps']} steps in {summary['elapsed_s']:.1f} s; best validation "
          f"{best['val_loss']:.4g} at step {best['step']}")
    print(f"wrote {summary['model']}, {summary['metrics']} and metrics.png in {args.output}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from .export import import_presets
    from .export.common import safe_name
    from .export.samples import preset_title

    plan = OutputPlan(inputs=[args.file])
    plan.add("-o", args.output, "folder")
    presets = import_presets(args.file, cc_map=args.cc_map, channel=args.channel)
    output = Path(args.output)
    made = not output.exists()
    try:
        output.mkdir(parents=True, exist_ok=True)
        paths = [output / f"{index:02d}_{safe_name(preset_title(preset))}.json"
                 for index, preset in enumerate(presets, start=1)]
        for index, path in enumerate(paths):
            plan.add(f"preset {index + 1}", path, "preset")
        plan.write_all({f"preset {index + 1}": preset.save for index, preset in enumerate(presets)})
    except BaseException as error:
        if made and output.is_dir() and not any(output.iterdir()):
            output.rmdir()
        if isinstance(error, OSError):
            raise ExportError(f"cannot write presets to {output}: {error.strerror or error}") from None
        raise
    for path, preset in zip(paths, presets):
        print(f"wrote {path} ({preset.synth}" + (f" {preset.voice}" if preset.voice else "") + ")")
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

    export = commands.add_parser("export", help="write presets as a MIDI file, a Hydrogen kit or an SFZ kit")
    export.add_argument("presets", nargs="+", metavar="PRESET.json", help="preset files")
    export.add_argument("--midi", metavar="OUT.mid", help="Standard MIDI File: notes plus the device's control changes")
    export.add_argument("--cc-map", default="tr8s", metavar="NAME",
                        help="MIDI CC map: tr8s (default), tr8, or a map file's path")
    export.add_argument("--channel", type=int, metavar="1-16", help="MIDI channel (default: the map's, 10)")
    export.add_argument("--pattern", type=_pattern_argument, metavar="STEPS",
                        help="play a step pattern instead of one note a beat: 'x...x...' for all, "
                             "or 'BD=x...x...,SD=....x...'")
    export.add_argument("--bpm", type=float, default=120.0, help="tempo (default 120)")
    export.add_argument("--steps-per-beat", type=int, default=4, help="pattern steps per beat (default 4)")
    export.add_argument("--kit", metavar="OUT.h2drumkit", help="Hydrogen drum kit of rendered samples")
    export.add_argument("--sfz", metavar="DIR", help="folder for an SFZ instrument of rendered samples")
    export.add_argument("--name", help="kit / track name (default: from the output name)")
    export.add_argument("--normalize", action="store_true", help="peak-normalize each sample to 0.99")
    export.set_defaults(handler=_export)

    import_ = commands.add_parser("import", help="presets from a MIDI file, a kit written by synthmatch, or JSON")
    import_.add_argument("file", metavar="FILE", help=".mid, .sfz (or its folder), .h2drumkit or preset .json")
    import_.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the preset JSON files")
    import_.add_argument("--cc-map", metavar="NAME", help="MIDI CC map for MIDI files (default: the file's, else tr8s)")
    import_.add_argument("--channel", type=int, metavar="1-16", help="MIDI channel (default: the file's, else 10)")
    import_.set_defaults(handler=_import)

    match = commands.add_parser(
        "match", help="find the preset that recreates a sound (or each sound of a folder)",
        description="One sound: print the match, write it with -o/--midi/--wav/--plot.  Several "
                    "sounds, folders or glob patterns: batch mode, --out DIR gets one preset per "
                    "sound, summary.csv and index.html (a page of every match); sounds already matched there are skipped; exit "
                    "status 1 if any sound failed.  Under torchrun the files are split across "
                    "the processes.")
    match.add_argument("sounds", nargs="+", metavar="SOUND",
                       help="audio file (WAV, FLAC, AIFF, OGG, MP3), folder or quoted glob "
                            "pattern ('kits/**/*.wav')")
    match.add_argument("--out", metavar="DIR",
                       help="batch mode: folder for one preset per sound, summary.csv, index.html "
                            "and the WAVs it plays (DIR/report/)")
    match.add_argument("--kit", metavar="OUT.h2drumkit",
                       help="batch mode: also a Hydrogen drum kit of the matched presets")
    match.add_argument("--batch-size", type=int, default=16,
                       help="batch mode: most sounds per batched optimization (default 16)")
    match.add_argument("--length-tolerance", type=float, default=0.1,
                       help="batch mode: a sound's matching window may be this much longer "
                            "than the sound (default 0.1) so sounds share batches; 0: exact")
    match.add_argument("--reports", action="store_true",
                       help="batch mode: also one HTML report per sound (DIR/report/NAME.html), "
                            "linked from DIR/index.html")
    match.add_argument("--no-resume", action="store_true",
                       help="batch mode: match again sounds whose preset exists in --out")
    match.add_argument("--synth", default="tr808", help="synth name (default tr808)")
    match.add_argument("--voice", help="voice of the synth (default: detected)")
    match.add_argument("-o", "--output", metavar="PRESET.json", help="write the preset")
    match.add_argument("--midi", metavar="OUT.mid", help="write a MIDI file playing the preset")
    match.add_argument("--wav", metavar="OUT.wav", help="write the rendered match")
    match.add_argument("--plot", metavar="OUT.png", help="plot target and match side by side")
    match.add_argument("--report", metavar="OUT.html",
                       help="one self-contained HTML page: A/B players, spectrograms, the "
                            "preset on the panel, scores, distances, links to the outputs")
    from .cli_options import add_dataclass_arguments
    from .options import MatchOptions
    add_dataclass_arguments(match, MatchOptions)
    match.set_defaults(handler=_match)

    from .cli_options import add_dataclass_arguments
    from .training import TrainConfig
    tr = commands.add_parser("train", help="train an encoder with the synth in the loop")
    tr.add_argument("-o", "--output", required=True, metavar="DIR",
                    help="folder for checkpoint.pt, metrics.csv/.png, model.safetensors; "
                         "an existing checkpoint there is resumed")
    tr.add_argument("--no-resume", action="store_true",
                    help="fail if DIR already holds a checkpoint instead of resuming it")
    add_dataclass_arguments(tr, TrainConfig, skip=("jtfs",))   # a dict: Python API only
    tr.set_defaults(handler=_train)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``synthmatch`` console script; returns the exit status (130 or
    143 after SIGINT or SIGTERM, temporary files removed)."""
    with handle_interrupts():
        try:
            return _main(argv)
        except KeyboardInterrupt as interrupt:       # Interrupted, or a plain Ctrl-C
            name = interrupt.args[0] if isinstance(interrupt, Interrupted) else "SIGINT"
            print(f"synthmatch: interrupted ({name})", file=sys.stderr)
            return interrupt.exit_status if isinstance(interrupt, Interrupted) else 130


def _main(argv: Optional[Sequence[str]]) -> int:
    from .allocator import keep_freed_memory
    keep_freed_memory()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "export" and not (args.midi or args.kit or args.sfz):
        parser.error("export needs at least one output: --midi OUT.mid, --kit OUT.h2drumkit or --sfz DIR")
    try:
        return args.handler(args)
    except (PresetError, SynthError, AudioFileError, ExportError, OutputError) as error:
        print(f"synthmatch: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:             # missing, unreadable or unwritable files
        text = f"{error.filename}: {error.strerror}" if error.filename and error.strerror else str(error)
        print(f"synthmatch: error: {text}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
