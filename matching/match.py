"""``match_preset``: the preset of a synth that recreates a sound.

1. The target is loaded (any format libsndfile reads), downmixed, resampled to the synth's
   rate, cut at its onset and trimmed to where it falls below -50 dB of its peak.
2. Each candidate voice (all voices of the synth when ``voice`` is None) is rendered at that
   length for the default preset, the shipped encoder's estimate and ``DETECT_CANDIDATES``
   (8) random presets (seeded per voice), all scored by
   :class:`~matching.objective.MatchObjective`; the voice with the best score wins
   (optionally, ``detect_steps > 0``, the ``detect_voices`` best voices are refined briefly
   first); the report lists every voice's score.  The chosen voice then gets the rest of
   ``candidates`` random presets (a given voice is searched the same way, so it finds
   what detecting it finds).
3. Refinement (``refine=True``): gradient descent (Adam on the logits of the normalized
   parameters) through the synth from those starts, on the log-spectral + envelope
   objective plus a SCRAPL term (one random JTFS path per step).  The best start wins.
4. The result: a :class:`~synths.preset.Preset` (physical units), the rendered match and a
   report with distances (log-mel, MSS, JTFS, envelope), the baselines' distances (default
   preset, best random preset) and the time taken.

Encoders ship for every voice of tr808, for ddsp808 and the granular texture
(``matching/pretrained/``, trained by ``scripts/train_pretrained.py``).  The work is done by
:mod:`matching.batch` (``_match_group``), which matches sounds in batches; a match is that
for one sound over its own duration.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np
import torch

import synths
from synths.preset import Preset

from .models import load_pretrained
from .objective import MatchObjective
from .targets import Target, effective_duration, load_target, prepare_target

__all__ = ["MatchResult", "match_preset", "CANDIDATES", "N_STARTS", "STEPS", "LR",
           "DETECT_CANDIDATES", "DETECT_VOICES", "DETECT_STEPS"]

#: defaults of :func:`match_preset` (and of batch matching): random presets per voice,
#: refinement starts, steps and Adam learning rate (on parameter logits), voices refined
#: before the choice and their steps
CANDIDATES, N_STARTS, STEPS, LR, DETECT_VOICES, DETECT_STEPS = 32, 2, 40, 0.1, 3, 0
#: random presets per voice when the voice is detected (the rest of CANDIDATES go to the
#: chosen voice)
DETECT_CANDIDATES = 8


@dataclass
class MatchResult:
    """What :func:`match_preset` returns."""

    preset: Preset
    audio: torch.Tensor                 # (n,) rendered match at ``sample_rate``
    target: torch.Tensor                # (n,) prepared target
    sample_rate: int
    report: Dict[str, Any] = field(default_factory=dict)


def _target(audio, sample_rate: Optional[int], rate: int) -> Target:
    if isinstance(audio, (str, Path)):
        return load_target(audio, rate)
    if sample_rate is None:
        raise ValueError("sample_rate is required when audio is an array or tensor")
    return prepare_target(audio, sample_rate, rate)


def check_match_options(**counts: int) -> None:
    """Raise ValueError unless each count is an integer within its range: ``steps``,
    ``detect_steps`` and ``candidates`` >= 0, the others (``n_starts``, ``detect_voices``,
    ``batch_size``) >= 1."""
    for name, value in counts.items():
        low = 0 if name in ("steps", "detect_steps", "candidates") else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


class Adam:
    """Adam on one tensor, the update of ``torch.optim.Adam`` (default betas, eps, no
    weight decay).  ``torch.optim``'s optimizers import ``torch._dynamo`` when the first one
    is built (~1.4 s on 2 cores), a third of the command line's time budget for a match."""

    def __init__(self, param: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.m, self.v, self.t = torch.zeros_like(param), torch.zeros_like(param), 0

    def zero_grad(self) -> None:
        self.param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        (b1, b2), g = self.betas, self.param.grad
        self.t += 1
        self.m.lerp_(g, 1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (self.v.sqrt() / math.sqrt(1 - b2 ** self.t)).add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-self.lr / (1 - b1 ** self.t))


def _refine(synth, objective: MatchObjective, starts: torch.Tensor, steps: int, lr: float,
            progress: bool, desc: str) -> tuple[torch.Tensor, torch.Tensor]:
    from tqdm.auto import tqdm
    eps = 1e-4
    logits = torch.logit(starts.clamp(eps, 1 - eps)).clone().requires_grad_(True)
    opt = Adam(logits, lr=lr)
    best_theta, best_score = starts.clone(), torch.full((len(starts),), float("inf"),
                                                    device=starts.device)
    for _ in tqdm(range(steps), desc=desc, unit="step", disable=not progress, leave=False):
        theta = torch.sigmoid(logits)
        loss = objective(synth(theta))
        with torch.no_grad():
            better = loss < best_score
            best_score = torch.where(better, loss.detach(), best_score)
            best_theta[better] = theta.detach()[better]
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    return best_theta, best_score


@functools.lru_cache(maxsize=None)
def _pretrained(synth: str, voice: Optional[str]):
    return load_pretrained(synth, voice)


def match_preset(audio: Union[str, Path, torch.Tensor, np.ndarray], synth: str = "tr808",
                 voice: Optional[str] = None, refine: bool = True, seed: int = 0,
                 sample_rate: Optional[int] = None, candidates: int = CANDIDATES,
                 n_starts: int = N_STARTS, steps: int = STEPS, lr: float = LR,
                 scrapl_weight: float = 0.5, detect_voices: int = DETECT_VOICES,
                 detect_steps: int = DETECT_STEPS, use_encoder: bool = True,
                 jtfs_distance: bool = True, progress: bool = True) -> MatchResult:
    """Find the preset of ``synth`` that best recreates ``audio``.

    audio: a file path, or samples ``[n]``/``[channels, n]`` with ``sample_rate``.
    voice: one voice, or None to pick the best-matching voice of the synth.
    refine: gradient refinement from the ``n_starts`` best of ``candidates`` random presets
    (``steps`` Adam steps at ``lr``); ``scrapl_weight`` weights the SCRAPL term.
    Voice detection picks the voice whose best candidate (of its encoder estimate, default
    and ``DETECT_CANDIDATES`` random presets) scores best; with
    ``detect_steps > 0`` it first refines the ``detect_voices`` best voices for
    ``detect_steps`` steps each.  ``use_encoder``: add the shipped
    encoder's estimate (``matching/pretrained/``, where one ships for the voice) to the
    candidates; ``report["encoder_scores"]`` has its score per voice.
    ``jtfs_distance``: include the full-JTFS distance of the match in the report (the
    baselines' distances leave it out).  The defaults take ~1-3 s for a 1 s sound on two
    CPU cores; more ``steps`` and ``n_starts`` give a closer match, slower.
    Returns a :class:`MatchResult`; ``result.report["voices"]`` has each voice's score.
    """
    check_match_options(candidates=candidates, n_starts=n_starts, steps=steps,
                        detect_voices=detect_voices, detect_steps=detect_steps)
    from .batch import _Job, _Sound, _match_group, window_duration
    started = time.perf_counter()
    cls = synths.synth_class(synth)
    rate = cls.default_sample_rate
    tgt = _target(audio, sample_rate, rate)
    duration = effective_duration(tgt.audio, rate)
    voices: List[Optional[str]] = list(cls.voices) if voice is None else [voice]
    job = _Job(synth, voices, refine, seed, candidates, n_starts, steps, lr, scrapl_weight,
               detect_voices, detect_steps, use_encoder, jtfs_distance=jtfs_distance,
               refine_progress=progress)
    name = Path(tgt.source).stem if isinstance(audio, (str, Path)) else None
    sound = _Sound(Path(tgt.source), name, tgt, duration, window_duration(duration, 0.0, rate))
    ((preset, report, match, target),) = _match_group(job, [sound])
    report["time_s"] = round(time.perf_counter() - started, 3)
    preset.metadata["time_s"] = report["time_s"]
    return MatchResult(preset, match, target, rate, report)
