"""``match_preset``: the preset of a synth that recreates a sound.

1. The target is loaded (any format libsndfile reads), downmixed, resampled to the synth's
   rate, cut at its onset and trimmed to where it falls below -50 dB of its peak.
2. Each candidate voice (all voices of the synth when ``voice`` is None) is rendered at that
   length for the default preset and ``candidates`` random presets (seeded); the best
   ``n_starts`` of each voice are scored by :class:`~matching.objective.MatchObjective`; the
   ``detect_voices`` best voices get a short refinement, and the best score wins; the report
   lists every voice's score.
3. Refinement (``refine=True``): gradient descent (Adam on the logits of the normalized
   parameters) through the synth from those starts, on the log-spectral + envelope
   objective plus a SCRAPL term (one random JTFS path per step).  The best start wins.
4. The result: a :class:`~synths.preset.Preset` (physical units), the rendered match and a
   report with distances (log-mel, MSS, JTFS, envelope), the baselines' distances (default
   preset, best random preset) and the time taken.

Where a trained encoder ships for a voice (``matching/pretrained/``, see
``scripts/train_pretrained.py``) its estimate joins the random candidates of step 2.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np
import torch

import synths
from synths.preset import Preset

from .audio import fit_length
from .models import load_pretrained
from .objective import MatchObjective, match_distances
from .targets import Target, effective_duration, load_target, prepare_target

__all__ = ["MatchResult", "match_preset"]


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


def _search(synth, objective: MatchObjective, candidates: int, gen: torch.Generator,
            extra: Optional[torch.Tensor] = None):
    """Default + ``extra`` (e.g. the encoder's estimate) + random presets, scored; returns
    (theta sorted best first, scores, best score)."""
    theta = torch.cat([synth.default_theta(1)] + ([extra] if extra is not None else [])
                      + [torch.rand(candidates, synth.n_params, generator=gen)])
    with torch.no_grad():
        scores = torch.cat([objective(synth(chunk)) for chunk in theta.split(64)])
    order = torch.argsort(scores)
    return theta[order], scores[order], float(scores[0])


def _refine(synth, objective: MatchObjective, starts: torch.Tensor, steps: int, lr: float,
            progress: bool, desc: str) -> tuple[torch.Tensor, torch.Tensor]:
    from tqdm.auto import tqdm
    eps = 1e-4
    logits = torch.logit(starts.clamp(eps, 1 - eps)).clone().requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=lr)
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


def _encoder_estimate(synth: str, voice: Optional[str], audio: torch.Tensor
                      ) -> Optional[torch.Tensor]:
    """The shipped encoder's parameter estimate (1, n_params) for the prepared target, or
    None if no model ships for this voice.  The model reads the target at the length it
    was trained on (the voice's default duration)."""
    model = _pretrained(synth, voice)
    if model is None:
        return None
    with torch.no_grad():
        return model(fit_length(audio, model.features.n_samples).reshape(1, -1)).clamp(0, 1)


def match_preset(audio: Union[str, Path, torch.Tensor, np.ndarray], synth: str = "tr808",
                 voice: Optional[str] = None, refine: bool = True, seed: int = 0,
                 sample_rate: Optional[int] = None, candidates: int = 64, n_starts: int = 4,
                 steps: int = 150, lr: float = 0.05, scrapl_weight: float = 0.5,
                 detect_voices: int = 4, detect_steps: int = 20, use_encoder: bool = True,
                 progress: bool = True) -> MatchResult:
    """Find the preset of ``synth`` that best recreates ``audio``.

    audio: a file path, or samples ``[n]``/``[channels, n]`` with ``sample_rate``.
    voice: one voice, or None to pick the best-matching voice of the synth.
    refine: gradient refinement from the ``n_starts`` best of ``candidates`` random presets
    (``steps`` Adam steps at ``lr``); ``scrapl_weight`` weights the SCRAPL term.
    Voice detection refines the ``detect_voices`` best voices of the random search for
    ``detect_steps`` steps each before choosing.  ``use_encoder``: add the shipped
    encoder's estimate (``matching/pretrained/``, where one ships for the voice) to the
    candidates; ``report["encoder_scores"]`` has its score per voice.
    Returns a :class:`MatchResult`; ``result.report["voices"]`` has each voice's score.
    """
    started = time.perf_counter()
    cls = synths.synth_class(synth)
    rate = cls.default_sample_rate
    tgt = _target(audio, sample_rate, rate)
    duration = effective_duration(tgt.audio, rate)
    voices: List[Optional[str]] = list(cls.voices) if voice is None else [voice]
    gen = torch.Generator().manual_seed(seed)
    per_voice: Dict[str, Dict[str, Any]] = {}
    for v in voices:
        s = synths.get(synth, voice=v, duration=duration, seed=seed)
        objective = MatchObjective(fit_length(tgt.audio, s.n_samples), rate)
        estimate = _encoder_estimate(synth, v, tgt.audio) if use_encoder else None
        theta, scores, best = _search(s, objective, candidates, gen, estimate)
        per_voice[str(v)] = {"voice": v, "synth": s, "theta": theta, "score": best,
                             "default_score": float(objective(s(s.default_theta(1)))[0])}
        if estimate is not None:
            with torch.no_grad():
                per_voice[str(v)]["encoder_score"] = float(objective(s(estimate))[0])
    # the most promising voices get a short refinement before the choice
    finalists = sorted(per_voice.values(), key=lambda d: d["score"])[:detect_voices]
    if refine and len(per_voice) > 1:
        for d in finalists:
            objective = MatchObjective(fit_length(tgt.audio, d["synth"].n_samples), rate)
            theta, scores = _refine(d["synth"], objective, d["theta"][:2], detect_steps, lr,
                                    False, "")
            d["theta"] = torch.cat([theta[torch.argsort(scores)], d["theta"][2:]])
            d["score"] = float(scores.min())
    chosen = min(finalists, key=lambda d: d["score"])
    s, v = chosen["synth"], chosen["voice"]
    target = fit_length(tgt.audio, s.n_samples)
    theta = chosen["theta"][:1]
    if refine:
        objective = MatchObjective(target, rate, scrapl_weight=scrapl_weight, seed=seed)
        starts = chosen["theta"][:n_starts]
        refined, _ = _refine(s, objective, starts, steps, lr, progress, f"refining {synth}:{v}")
        final = MatchObjective(target, rate)
        with torch.no_grad():
            scores = final(s(refined))
        theta = refined[int(torch.argmin(scores))].unsqueeze(0)
    with torch.no_grad():
        match = s(theta).reshape(-1)
        default_audio = s(s.default_theta(1)).reshape(-1)
        random_best = s(chosen["theta"][:1]).reshape(-1)
    elapsed = time.perf_counter() - started
    report = {
        "source": tgt.source, "synth": synth, "voice": v, "duration_s": duration,
        "onset_s": tgt.onset_s, "refined": refine, "seed": seed, "time_s": round(elapsed, 3),
        "voices": {k: round(d["score"], 5) for k, d in per_voice.items()},
        "default_scores": {k: round(d["default_score"], 5) for k, d in per_voice.items()},
        "encoder_scores": {k: round(d["encoder_score"], 5) for k, d in per_voice.items()
                           if "encoder_score" in d},
        "distances": match_distances(match, target, rate),
        "baselines": {"default_preset": match_distances(default_audio, target, rate),
                      f"best_of_{candidates}_random": match_distances(random_best, target, rate)},
    }
    preset = Preset.from_theta(s, theta[0], metadata={
        "matched_from": tgt.source, "voice_scores": report["voices"],
        "distances": report["distances"], "duration_s": duration})
    return MatchResult(preset, match, target, rate, report)
