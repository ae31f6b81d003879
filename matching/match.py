"""``match_preset``: the preset of a synth that recreates a sound.

1. The target is loaded (any format libsndfile reads), downmixed, resampled to the synth's
   rate, cut at its onset and trimmed to where it falls below -50 dB of its peak.
2. Each candidate voice (all voices of the synth when ``voice`` is None) is rendered at that
   length for the default preset, the shipped encoder's estimate and ``candidates`` random
   presets (seeded), all scored by :class:`~matching.objective.MatchObjective`; the voice
   with the best score wins (optionally, ``detect_steps > 0``, the ``detect_voices`` best
   voices are refined briefly first); the report lists every voice's score.
3. Refinement (``refine=True``): gradient descent (Adam on the logits of the normalized
   parameters) through the synth from those starts, on the log-spectral + envelope
   objective plus a SCRAPL term (one random JTFS path per step).  The best start wins.
4. The result: a :class:`~synths.preset.Preset` (physical units), the rendered match and a
   report with distances (log-mel, MSS, JTFS, envelope), the baselines' distances (default
   preset, best random preset) and the time taken.

Encoders ship for every voice of tr808, for ddsp808 and the granular texture
(``matching/pretrained/``, trained by ``scripts/train_pretrained.py``).
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

from .audio import fit_length
from .models import load_pretrained
from .objective import MatchObjective, batch_distances
from .targets import Target, effective_duration, load_target, prepare_target

__all__ = ["MatchResult", "match_preset", "CANDIDATES", "N_STARTS", "STEPS", "LR",
           "DETECT_VOICES", "DETECT_STEPS"]

#: defaults of :func:`match_preset` (and of batch matching): random presets per voice,
#: refinement starts, steps and Adam learning rate (on parameter logits), voices refined
#: before the choice and their steps
CANDIDATES, N_STARTS, STEPS, LR, DETECT_VOICES, DETECT_STEPS = 32, 2, 40, 0.1, 3, 0


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
    (theta sorted best first, their scores, the scores in the order default, extra,
    random)."""
    theta = torch.cat([synth.default_theta(1)] + ([extra] if extra is not None else [])
                      + [torch.rand(candidates, synth.n_params, generator=gen)])
    with torch.no_grad():
        scores = torch.cat([objective(synth(chunk)) for chunk in theta.split(64)])
    order = torch.argsort(scores)
    return theta[order], scores[order], scores


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
    Voice detection picks the voice whose best candidate scores best; with
    ``detect_steps > 0`` it first refines the ``detect_voices`` best voices for
    ``detect_steps`` steps each.  ``use_encoder``: add the shipped
    encoder's estimate (``matching/pretrained/``, where one ships for the voice) to the
    candidates; ``report["encoder_scores"]`` has its score per voice.
    ``jtfs_distance``: include the full-JTFS distance of the match in the report (the
    baselines' distances leave it out).  The defaults take ~2-4 s for a 1 s sound on two
    CPU cores; more ``steps`` and ``n_starts`` give a closer match, slower.
    Returns a :class:`MatchResult`; ``result.report["voices"]`` has each voice's score.
    """
    check_match_options(candidates=candidates, n_starts=n_starts, steps=steps,
                        detect_voices=detect_voices, detect_steps=detect_steps)
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
        theta, scores, raw = _search(s, objective, candidates, gen, estimate)
        per_voice[str(v)] = {"voice": v, "synth": s, "theta": theta, "score": float(scores[0]),
                             "default_score": float(raw[0])}
        if estimate is not None:
            per_voice[str(v)]["encoder_score"] = float(raw[1])
    # the most promising voices get a short refinement before the choice
    finalists = sorted(per_voice.values(), key=lambda d: d["score"])[:detect_voices]
    if refine and len(per_voice) > 1 and detect_steps > 0:
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
        renders = s(torch.cat([theta, s.default_theta(1), chosen["theta"][:1]]))
        renders = renders.reshape(3, -1)          # match, default preset, best random
    match = renders[0]
    # the full-JTFS distance (the slowest) for the match only, the others for all three
    dist, default_dist, random_dist = batch_distances(renders, target.reshape(1, -1), rate,
                                                      torch.zeros(3, dtype=torch.long),
                                                      jtfs=False)
    if jtfs_distance:
        dist.update(batch_distances(renders[:1], target.reshape(1, -1), rate)[0])
    elapsed = time.perf_counter() - started
    report = {
        "source": tgt.source, "synth": synth, "voice": v, "duration_s": duration,
        "onset_s": tgt.onset_s, "refined": refine, "seed": seed, "time_s": round(elapsed, 3),
        "voices": {k: round(d["score"], 5) for k, d in per_voice.items()},
        "default_scores": {k: round(d["default_score"], 5) for k, d in per_voice.items()},
        "encoder_scores": {k: round(d["encoder_score"], 5) for k, d in per_voice.items()
                           if "encoder_score" in d},
        "distances": dist,
        "baselines": {"default_preset": default_dist,
                      f"best_of_{candidates}_random": random_dist},
    }
    preset = Preset.from_theta(s, theta[0], metadata={
        "matched_from": tgt.source, "voice_scores": report["voices"],
        "distances": report["distances"], "duration_s": duration})
    return MatchResult(preset, match, target, rate, report)
