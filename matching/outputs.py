"""Outputs planned before any work, written as a set: :class:`OutputPlan`; and
interruption turned into one line: :func:`handle_interrupts`, :class:`Interrupted`.

A command first names every file it will write (``plan.add("-o", path, "preset")``).  Each
is checked at once, before any work: its path resolved (symbolic links followed; an
existing file is also compared by device and inode, so hard links count), it is not any
input file nor another output, its extension suits its kind, an existing target is of
the right type (a file, or a folder for folder outputs) and its folder exists (or, for
folder outputs, can be made).  A problem is an :class:`OutputError` naming the flag and
the path.  After the work, :meth:`OutputPlan.write_all` writes every output to a
temporary file beside its target and renames them all only once every one is complete
(:func:`kernels.files.atomic_outputs`): an error or an interruption leaves every old file
as it was and no temporary file behind.

Example::

    plan = OutputPlan(inputs=["kick.wav"])
    plan.add("-o", "kick.json", "preset")
    plan.add("--wav", "kick.wav", "audio")      # OutputError: --wav kick.wav is an input file
    ...
    plan.write_all({"-o": preset.save})

Test hook: when the environment variable ``SYNTHMATCH_TEST_WRITE_PAUSE`` holds a number of
seconds, :meth:`OutputPlan.write_all` sleeps that long after writing every temporary file
and before renaming them, so a test can deliver a signal inside the write phase.  It
changes nothing else and is unset in normal use.
"""
from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from kernels.files import PathLike, atomic_outputs

from .audio import WRITE_FORMATS

__all__ = ["OutputError", "OutputPlan", "PlannedOutput", "OUTPUT_KINDS", "Interrupted",
           "handle_interrupts", "PAUSE_VARIABLE"]

#: the extensions each kind of output may have (None: a folder)
OUTPUT_KINDS: Dict[str, Optional[Tuple[str, ...]]] = {
    "preset": (".json",),
    "midi": (".mid", ".midi"),
    "audio": tuple(WRITE_FORMATS),
    "plot": (".png",),
    "report": (".html", ".htm"),
    "csv": (".csv",),
    "hydrogen": (".h2drumkit",),
    "folder": None,
}
#: environment variable of the test hook (see the module docstring)
PAUSE_VARIABLE = "SYNTHMATCH_TEST_WRITE_PAUSE"


class OutputError(ValueError):
    """An output that cannot be written as asked; the message names the flag and the path."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM received; ``exit_status`` is 128 + the signal number (130, 143)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_status = 128 + signum


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def handle_interrupts() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` in the main thread while inside (so
    every ``finally`` and atomic writer cleans up); the previous handlers come back after."""
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, _raise_interrupted)
        except ValueError:          # not the main thread: leave signals alone
            pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _identity(path: Path) -> Optional[Tuple[int, int]]:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


@dataclass(frozen=True)
class PlannedOutput:
    """One output of a plan: its ``label`` (the flag, e.g. ``"-o"``), the ``path`` as given,
    the resolved ``target`` written and its ``kind`` (a key of :data:`OUTPUT_KINDS`)."""

    label: str
    path: Path
    target: Path
    kind: str


class OutputPlan:
    """Every output of one command, checked up front and written as a set (see the module
    docstring).  ``inputs``: the files the command reads (none may be overwritten)."""

    def __init__(self, inputs: Iterable[PathLike] = ()):
        self.inputs: List[Tuple[Path, Path, Optional[Tuple[int, int]]]] = []
        self.outputs: Dict[str, PlannedOutput] = {}
        for item in inputs:
            self.add_input(item)

    def add_input(self, path: PathLike) -> None:
        """Also protect ``path`` (a file the command reads)."""
        given = Path(path)
        resolved = Path(os.path.realpath(given))
        self.inputs.append((given, resolved, _identity(resolved)))
        for output in self.outputs.values():
            self._check_not_input(output.label, output.path, output.target)

    def _check_not_input(self, label: str, path: Path, target: Path) -> None:
        ident = _identity(target)
        for given, resolved, input_ident in self.inputs:
            if resolved == target or (ident is not None and ident == input_ident):
                raise OutputError(f"{label} {path}: is the input file {given}; "
                                  f"writing it would replace the input")

    def add(self, label: str, path: Optional[PathLike], kind: str) -> Optional[Path]:
        """Plan output ``label`` (e.g. ``"--wav"``) at ``path`` of ``kind``; None is skipped.
        Returns the resolved target; :class:`OutputError` for a problem."""
        if path is None:
            return None
        if kind not in OUTPUT_KINDS:
            raise ValueError(f"unknown output kind {kind!r}; kinds: {', '.join(OUTPUT_KINDS)}")
        given = Path(path)
        if str(given) == "":
            raise OutputError(f"{label}: the path is empty")
        target = Path(os.path.realpath(given))
        suffixes = OUTPUT_KINDS[kind]
        suffix = given.suffix.lower()
        if suffixes is not None and not (suffix in suffixes and target.suffix.lower() in suffixes):
            raise OutputError(f"{label} {given}: unsupported {kind} extension "
                              f"{given.suffix or target.suffix or 'none'!r}; use {', '.join(suffixes)}")
        if suffixes is not None and target.is_dir():
            raise OutputError(f"{label} {given}: is a folder; give a file name")
        if suffixes is None and target.exists() and not target.is_dir():
            raise OutputError(f"{label} {given}: exists and is not a folder")
        if len(target.name) > 255 - 24:       # room for the temporary file's prefix and suffix
            raise OutputError(f"{label} {given}: the file name is too long "
                              f"({len(target.name)} characters)")
        parent = target.parent
        if suffixes is None:                  # a folder may be made, with its parents
            while not parent.exists() and parent != parent.parent:
                parent = parent.parent
        if not parent.is_dir():
            raise OutputError(f"cannot write {given}: folder {given.parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(f"cannot write {given}: folder {parent} is not writable")
        self._check_not_input(label, given, target)
        ident = _identity(target)
        for other in self.outputs.values():
            if other.target == target or (ident is not None and ident == _identity(other.target)):
                raise OutputError(f"{label} {given} and {other.label} {other.path} are the same "
                                  f"file; give each output its own path")
        planned = PlannedOutput(label, given, target, kind)
        self.outputs[label] = planned
        return target

    def write_all(self, writers: Mapping[str, Callable[[Path], object]]) -> Dict[str, Path]:
        """Write the planned outputs: ``writers[label](path)`` writes one.  File outputs get a
        temporary path beside their target and are renamed together once all are written;
        folder outputs (whose writers are atomic themselves) are written last, with their
        target.  Returns ``{label: target}``.  On any error or interruption no file output
        changes and no temporary file is left."""
        unknown = sorted(set(writers) - set(self.outputs))
        if unknown:
            raise ValueError(f"outputs not planned: {', '.join(unknown)}")
        files = [self.outputs[k] for k in writers if self.outputs[k].kind != "folder"]
        folders = [self.outputs[k] for k in writers if self.outputs[k].kind == "folder"]
        with atomic_outputs([o.target for o in files]) as temporaries:
            for output, temporary in zip(files, temporaries):
                writers[output.label](temporary)
            pause = os.environ.get(PAUSE_VARIABLE)
            if pause:
                time.sleep(float(pause))
            for output in folders:
                writers[output.label](output.target)
        return {label: self.outputs[label].target for label in writers}
