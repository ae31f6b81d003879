"""Shared pieces of the exporters: the error type, safe file names, atomic folder writes."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from synths.files import PathLike


class ExportError(ValueError):
    """Presets that cannot be exported, or a file that cannot be imported; the message says why."""


#: longest name :func:`safe_name` gives (file names stay well within the 255-byte limit)
MAX_NAME_LENGTH = 100


def safe_name(text: str, fallback: str = "sound") -> str:
    """``text`` reduced to letters, digits, ``-`` and ``_`` (runs of others become ``_``),
    at most :data:`MAX_NAME_LENGTH` characters."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:MAX_NAME_LENGTH].rstrip("_")
    return cleaned or fallback


def unique_names(names: list[str]) -> list[str]:
    """``names`` with repeats numbered: ``["BD", "BD", "SD"] -> ["BD", "BD 2", "SD"]``."""
    result: list[str] = []
    for name in names:
        unique, count = name, 1
        while unique in result:
            count += 1
            unique = f"{name} {count}"
        result.append(unique)
    return result


@contextlib.contextmanager
def atomic_directory(path: PathLike, replaceable: Callable[[Path], bool]) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; move it to ``path`` only on success.

    ``path`` may be absent or an empty folder; an existing non-empty folder is replaced
    only when ``replaceable(path)`` says it is a previous export (it is renamed aside,
    the new folder renamed in, then the old one deleted), otherwise :class:`ExportError`.
    If the body raises, the temporary folder is deleted and ``path`` is untouched.
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise ExportError(f"cannot write {target}: folder {parent} does not exist")
    if target.exists():
        if not target.is_dir():
            raise ExportError(f"cannot write {target}: it exists and is not a folder")
        if any(target.iterdir()) and not replaceable(target):
            raise ExportError(f"cannot write {target}: the folder is not empty and holds no kit "
                              "written by synthmatch; choose a new or empty folder")
    try:
        temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    except OSError as error:
        raise ExportError(f"cannot write {target}: {error.strerror or error}") from None
    umask = os.umask(0)                 # mkdtemp makes 0700 folders; give the usual 0777 & ~umask
    os.umask(umask)
    os.chmod(temporary, 0o777 & ~umask)
    try:
        yield temporary
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.rmdir(old)
            os.rename(target, old)
            try:
                os.rename(temporary, target)
            except BaseException:
                os.rename(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
