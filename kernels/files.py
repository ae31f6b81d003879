"""File helpers shared by every writer in the project: :func:`atomic_output`.

One implementation for every package: synths saves presets with it, scrapl its θ-IS
warm-up tensors, matching its reports, models and exports.  It lives in :mod:`kernels`
because that is the bottom layer, the one package synths and scrapl may both import
(each imports only downward); it uses nothing but the standard library.
``synths.files`` re-exports it for synths' callers.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Union

__all__ = ["PathLike", "atomic_output"]

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
