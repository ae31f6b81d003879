"""File helpers shared by every writer in the project."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Union

PathLike = Union[str, "os.PathLike[str]"]


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success.

    An existing file is never left half-written: if the body raises, the temporary file is
    removed and ``path`` keeps its old content. The parent folder must exist.
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write {target}: folder {parent} does not exist")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=parent)
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        umask = os.umask(0)          # mkstemp makes 0600 files; give the usual 0666 & ~umask
        os.umask(umask)
        if temporary_path.is_file():
            os.chmod(temporary_path, 0o666 & ~umask)
        os.replace(temporary_path, target)
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        raise
