"""Matching sounds to synth presets.

Example (the README's "Matching in Python" runs it as a test)::

    from matching import match_preset
    result = match_preset("examples/sounds/kick.wav", synth="tr808")
    result.preset          # Preset(synth='tr808', voice='BD', params={...}): panel knobs

The public surface (what the README's Python section shows):

* :func:`match_preset` (one sound -> :class:`MatchResult`) and :func:`match_batch` (files,
  folders, globs -> presets, ``summary.csv`` and a kit -> :class:`BatchResult`), both
  configured by :class:`MatchOptions`;
* :func:`train` with :class:`TrainConfig`: an encoder trained with the synth in the loop;
  :func:`load_pretrained` / :func:`load_model`: encoders (safetensors, never unpickled);
* :mod:`matching.export`: presets as MIDI, Hydrogen and SFZ kits.

Names are imported on first use (PEP 562), so ``import matching`` and the command line's
start stay fast.
"""
from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it
_PUBLIC = {
    "match_preset": "match", "MatchResult": "match",
    "match_batch": "batch", "BatchResult": "batch", "BatchItem": "batch",
    "MatchOptions": "options",
    "train": "training", "TrainConfig": "training", "DataSource": "training",
    "load_pretrained": "models", "load_model": "models", "save_model": "models",
    "EncoderModel": "models",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'matching' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
