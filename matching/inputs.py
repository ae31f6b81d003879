"""What to match: audio files from paths, folders and glob patterns, and the names of their
outputs (``synthmatch match DIR_OR_GLOB... --out DIR``)."""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Iterable, List, Sequence, Tuple, Union

__all__ = ["AUDIO_SUFFIXES", "expand_inputs", "output_names", "is_pattern"]

#: the audio files a folder or pattern gives
AUDIO_SUFFIXES = (".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3")
_GLOB_CHARS = set("*?[")


def is_pattern(text: str) -> bool:
    """Whether ``text`` is a glob pattern rather than a path: it names nothing that exists
    and holds ``*``, ``?`` or ``[``."""
    return not Path(text).exists() and bool(_GLOB_CHARS & set(text))


def _is_audio(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES \
        and not path.name.startswith(".")


def expand_inputs(inputs: Iterable[Union[str, Path]]) -> Tuple[List[Path], List[str]]:
    """Files to match from paths, folders and glob patterns, in order, without repeats.

    A folder gives its audio files (``.wav .flac .aif .aiff .ogg .mp3``, sorted, not
    recursive: use a glob such as ``'pack/**/*.wav'`` to recurse); a pattern gives the audio
    files it matches (sorted); a plain path is taken as given (a missing or unreadable file
    then fails with its reason).  Returns ``(files, problems)``: ``problems`` names each
    folder or pattern that gave no audio file, and each folder whose subfolders were not
    searched."""
    files: List[Path] = []
    seen = set()
    problems: List[str] = []

    def add(path: Path) -> None:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            files.append(path)

    for item in inputs:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if _is_audio(p))
            folders = sum(1 for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
            if not found:
                problems.append(f"{text}: no audio files ({' '.join(AUDIO_SUFFIXES)})"
                                + (f" (subfolders are not searched: give '{text}/**/*.wav')" if folders else ""))
            elif folders:
                problems.append(f"{text}: {folders} subfolder{'s' if folders != 1 else ''} not "
                                f"searched; to include them give the pattern '{text.rstrip('/')}/**/*.wav'")
            for p in found:
                add(p)
        elif is_pattern(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True) if _is_audio(Path(p)))
            if not found:
                problems.append(f"{text}: the pattern matches no audio file")
            for p in found:
                add(p)
        else:
            add(path)
    return files, problems


def output_names(files: Sequence[Path]) -> List[str]:
    """One preset file name (without ``.json``) per file, unique: the file's stem, or, where
    stems repeat, its path relative to the files' common folder with ``/`` as ``__`` (and the
    extension kept if that still repeats)."""
    stems = [f.stem for f in files]
    absolute = [os.path.abspath(f) for f in files]
    root = os.path.commonpath([os.path.dirname(a) for a in absolute]) if files else ""
    names = []
    for f, stem, a in zip(files, stems, absolute):
        if stems.count(stem) == 1:
            names.append(stem)
            continue
        rel = os.path.splitext(os.path.relpath(a, root))[0]
        names.append(rel.replace(os.sep, "__"))
    repeated = {name for name in names if names.count(name) > 1}
    return [f"{name}{f.suffix.lower().replace('.', '_')}" if name in repeated else name
            for name, f in zip(names, files)]
