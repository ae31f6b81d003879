"""File helpers shared by every writer in the project: :func:`atomic_output` (one file)
and :func:`atomic_outputs` (a set of files, all renamed once every one is complete).

One implementation for every package: synths saves presets with it, scrapl its θ-IS
warm-up tensors, matching its reports, models and exports.  It lives in :mod:`kernels`
because that is the bottom layer, the one package synths and scrapl may both import
(each imports only downward); it uses nothing but the standard library.
``synths.files`` re-exports it for synths' callers.

Temporary files are named ``.NAME.XXXX.tmp.EXT`` beside their target (same folder, so
the rename is atomic; same extension, so writers that pick a format by it still work).
They are removed when the body raises anything, ``KeyboardInterrupt`` included (a SIGTERM
handler that raises, as ``synthmatch``'s does, gets the same cleanup).  The renames run
with SIGINT and SIGTERM blocked, so a signal lands before or after them, never between.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Union

__all__ = ["PathLike", "atomic_output", "atomic_outputs", "TEMPORARY_MARK"]

PathLike = Union[str, "os.PathLike[str]"]

#: every temporary file's name holds this (``.NAME.XXXX.tmp.EXT``)
TEMPORARY_MARK = ".tmp"

_SIGNALS = {signal.SIGINT, signal.SIGTERM}
#: temporary files of the atomic writes in progress (a writer asked to write one of them
#: atomically writes it directly: the enclosing write renames it)
_ACTIVE: set[Path] = set()


def _temporary_beside(target: Path) -> Path:
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write {target}: folder {parent} does not exist")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMPORARY_MARK + target.suffix,
                                         dir=parent)
    os.close(handle)
    return Path(temporary)


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """SIGINT and SIGTERM held back (delivered on exit) in the main thread."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[PathLike]) -> Iterator[list[Path]]:
    """Yield one temporary path beside each of ``paths``; rename them all over their targets
    only once the body has returned, so either every target is new or none is.

    If the body raises (or is interrupted), every temporary file is removed and every
    target keeps its old content.  Each target's folder must exist.  Temporary files get
    the usual ``0666 & ~umask`` mode.  A target that is itself a temporary file of an
    enclosing atomic write is written directly (that write renames it).
    """
    targets = [Path(p) for p in paths]
    if targets and all(t.absolute() in _ACTIVE for t in targets):
        yield targets
        return
    temporaries: list[Path] = []
    try:
        for target in targets:
            temporaries.append(_temporary_beside(target))
            _ACTIVE.add(temporaries[-1].absolute())
        yield list(temporaries)
        umask = os.umask(0)          # mkstemp makes 0600 files; give the usual 0666 & ~umask
        os.umask(umask)
        with _signals_blocked():
            for temporary in temporaries:
                if temporary.is_file():
                    os.chmod(temporary, 0o666 & ~umask)
            for temporary, target in zip(temporaries, targets):
                os.replace(temporary, target)
    except BaseException:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
        raise
    finally:
        for temporary in temporaries:
            _ACTIVE.discard(temporary.absolute())


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success.

    An existing file is never left half-written: if the body raises, the temporary file is
    removed and ``path`` keeps its old content. The parent folder must exist.
    """
    with atomic_outputs([path]) as (temporary,):
        yield temporary
