"""Shared fixtures: every (synth, voice) pair of the built-in registry."""

from __future__ import annotations

import pytest
import torch

import synths

torch.set_num_threads(2)

BUILTIN_VOICES = [
    (name, voice) for name in ("tr808", "ddsp808", "granular") for voice in synths.synth_class(name).voices
]


def voice_id(pair) -> str:
    name, voice = pair
    return f"{name}-{voice}" if voice is not None else name


@pytest.fixture(params=BUILTIN_VOICES, ids=[voice_id(p) for p in BUILTIN_VOICES])
def synth_voice(request):
    """A ``(synth name, voice)`` pair."""
    return request.param
