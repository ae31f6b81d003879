"""Batch resume that is never stale, and concurrent batch runs that share the work.

* **Identity.**  Each batch preset records, in ``metadata["input"]``, its sound's size,
  ``mtime_ns`` and SHA-256 (:func:`input_identity`), and in ``metadata["match"]`` what the
  match depends on (:func:`match_record`: the synth, the voice asked for, the
  :class:`~matching.options.MatchOptions` except ``progress`` and ``device``, and the
  batch's ``length_tolerance``).  A rerun keeps a preset only if the sound's size and hash
  and the record are equal (:func:`stale_reason`).  The hash is always compared: a drum
  sample hashes in milliseconds, and size plus mtime miss a file replaced by a copy that
  kept its mtime (``cp -p``, ``rsync -t``); the mtime alone is not compared, so a file
  only touched is not matched again.  Presets without the record (older versions) are
  matched again.
* **Claims.**  A run claims a sound before loading it: an exclusive, non-blocking
  ``flock`` on ``out/.NAME.claim`` (:class:`Claims`), which holds the claimer's pid and
  host for the message.  The kernel drops the lock when its process dies, so a claim of a
  killed run is never stale; a claimed sound is left to the run holding it, and a run that
  gets the claim checks again whether the sound's preset is current (the other run may
  have just written it), so no sound is matched twice and none is lost.  The claim file is
  removed when the sound is done.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import socket
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from .options import MatchOptions

__all__ = ["input_identity", "match_record", "stale_reason", "Claims", "CLAIM_SUFFIX"]

CLAIM_SUFFIX = ".claim"
#: options that do not change a match's result
_UNRECORDED = ("progress", "device")


def input_identity(path: Path) -> Dict[str, Any]:
    """``{"size": bytes, "mtime_ns": int, "sha256": hex}`` of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        stat = os.fstat(f.fileno())
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest.hexdigest()}


def match_record(synth: str, voice: Optional[str], options: MatchOptions,
                 length_tolerance: float) -> Dict[str, Any]:
    """What a batch match of one sound depends on besides the sound (JSON-ready)."""
    fields = {k: v for k, v in dataclasses.asdict(options).items() if k not in _UNRECORDED}
    return json.loads(json.dumps({"synth": synth, "voice": voice, "options": fields,
                                  "length_tolerance": length_tolerance}))


def stale_reason(metadata: Mapping[str, Any], identity: Mapping[str, Any],
                 record: Mapping[str, Any]) -> Optional[str]:
    """Why a preset with ``metadata`` is not the current match of a sound of ``identity``
    under ``record`` (None: it is current)."""
    stored = metadata.get("input")
    if not isinstance(stored, Mapping):
        return "the preset does not record its input"
    if stored.get("size") != identity["size"] or stored.get("sha256") != identity["sha256"]:
        return "the sound changed since it was matched"
    if metadata.get("match") != record:
        return "the match options changed"
    return None


class Claims:
    """The claims this process holds in ``folder``: :meth:`take` one per sound name,
    :meth:`release` it when done, :meth:`release_all` at the end (also on errors)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.held: Dict[str, int] = {}

    def path(self, name: str) -> Path:
        """The claim file of sound ``name``."""
        return self.folder / f".{name}{CLAIM_SUFFIX}"

    def take(self, name: str) -> Optional[str]:
        """Claim sound ``name``: None when this process holds it now, else who holds it."""
        path = self.path(name)
        for _ in range(8):                       # the file may be removed while we open it
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another run"
                os.close(fd)
                return holder
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if not same:                         # locked a file its holder just removed
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
            self.held[name] = fd
            return None
        return "another run"

    def release(self, name: str) -> None:
        """Remove and unlock the claim of ``name`` (if held)."""
        fd = self.held.pop(name, None)
        if fd is not None:
            try:
                self.path(name).unlink(missing_ok=True)
            finally:
                os.close(fd)

    def release_all(self) -> None:
        """Release every claim still held."""
        for name in list(self.held):
            self.release(name)
