"""The matching engine: search, voice detection, refinement and report for a group of sounds.

:func:`match_group` matches sounds that share one window (a length in seconds); what
:func:`~matching.match.match_preset` computes for one sound is this for a group of one, and
:func:`~matching.batch.match_batch` calls it for each group of a folder.  Per sound:

1. **Search.**  Every candidate voice (all voices of the synth when none is given) is
   rendered at the window's length for its default preset, the shipped encoder's estimate
   (where one ships), :data:`~matching.options.DETECT_CANDIDATES` random presets (seeded
   by the seed, the voice and the phase only, the same draws for every sound) and, for a
   voice of 1-:data:`DETECT_GRID_MAX_PARAMS` parameters, every combination of 0, 1/2 and 1
   (:func:`detection_grid`: the knobs' ends, where a random draw rarely lands, such as a
   snare with its snappy at 0), all scored by
   :meth:`MatchObjective.pairwise` against every target of the group at once.
2. **Voice detection.**  Each sound's voices are ranked by their best candidate; optionally
   (``detect_steps > 0``) the ``detect_voices`` best are first refined briefly.  The best
   voice wins, and gets the rest of ``candidates`` random presets and, when it has few
   parameters (1-3 for ``grid_size`` 125), an exhaustive coarse grid (:func:`coarse_grid`).
3. **Refinement** (``refine``): Adam on the logits of the normalized parameters, through the
   synth, from the ``n_starts`` best candidates of each sound, on the log-spectral and
   envelope objective, with an attack term and a SCRAPL term (one random JTFS path per step
   for the whole group) where the synth's defaults or the options have them
   (:func:`~matching.objective.objective_weights`).  Rows do not interact (each row's loss
   is against its own target), so a group gives each sound what it would get alone.  Each
   start keeps the visited preset that scores best without the SCRAPL term; the start with
   the best score wins.
4. **Report**: distances of the match (log-mel, MSS, envelope, full JTFS) and of the
   baselines (default preset, best random preset), every voice's score.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

import synths
from synths.preset import Preset

from .audio import fit_length
from .models import load_pretrained
from .objective import FFT_SIZES, MatchObjective, batch_distances, objective_weights
from .options import DETECT_CANDIDATES, MatchOptions
from .targets import Target

__all__ = ["Sound", "SoundMatch", "Matcher", "match_group", "refine", "Adam",
           "window_duration", "cached_pretrained", "coarse_grid", "detection_grid"]

#: most values per parameter of the coarse grid search
GRID_AXIS_MAX = 25
#: voices with at most this many parameters get :func:`detection_grid` in the search
DETECT_GRID_MAX_PARAMS = 3
#: samples rendered per synth call when scoring many candidates (memory per call ~ 16 MB)
RENDER_SAMPLES = 2 ** 22


def window_duration(duration: float, tolerance: float, sample_rate: int,
                    min_s: float = 0.05) -> float:
    """The matching window (s) of a sound of ``duration`` seconds: ``duration`` rounded up to
    the grid ``min_s * (1 + tolerance) ** k`` (``tolerance`` 0: unchanged), and at least the
    objective's longest frame (4096 samples)."""
    floor = max(FFT_SIZES) / sample_rate
    if tolerance > 0:
        k = math.ceil(math.log(max(duration, min_s) / min_s) / math.log1p(tolerance) - 1e-9)
        duration = min_s * (1 + tolerance) ** max(0, k)
    return float(max(duration, floor))


@dataclass
class Sound:
    """One sound to match: its prepared ``target`` (at the synth's rate), its effective
    ``duration`` and matching ``window`` (both s), the ``name`` its preset gets and the
    ``file`` it came from (None for arrays)."""

    file: Optional[Path]
    name: Optional[str]
    target: Target
    duration: float
    window: float


@dataclass
class SoundMatch:
    """The match of one :class:`Sound`: the preset (physical units), the report, the rendered
    match and the target fitted to the window (both ``(n,)`` float32 on the CPU)."""

    preset: Preset
    report: Dict[str, Any]
    audio: torch.Tensor
    target: torch.Tensor


@dataclass
class Matcher:
    """What is matched against (``synth`` and its candidate ``voices``) and how
    (``options``); ``refine_progress`` shows a progress bar for the final refinement.  Holds
    the encoders copied to a non-CPU device between groups."""

    synth: str
    voices: List[Optional[str]]
    options: MatchOptions = field(default_factory=MatchOptions)
    refine_progress: bool = False
    models: Dict[Tuple[str, str], nn.Module] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.options.check()
        self.device = self.options.torch_device
        self.sample_rate = synths.synth_class(self.synth).default_sample_rate
        #: the objective's attack-term and SCRAPL-term weights
        #: (:func:`~matching.objective.objective_weights`)
        self.attack_weight, self.scrapl_weight = objective_weights(
            self.synth, self.options.attack_weight, self.options.scrapl_weight)

    def match(self, sounds: List[Sound]) -> List[SoundMatch]:
        """:func:`match_group` of ``sounds`` with this matcher."""
        return match_group(self, sounds)


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


def refine(synth: nn.Module,
           objective: Callable[[torch.Tensor], Tuple[torch.Tensor, torch.Tensor]],
           starts: torch.Tensor, steps: int, lr: float, progress: bool = False,
           desc: str = "") -> Tuple[torch.Tensor, torch.Tensor]:
    """Gradient refinement of normalized presets ``starts`` (rows, n_params) in [0, 1]: Adam
    on their logits for ``steps`` steps of the loss of ``objective(synth(theta))`` ->
    ``(loss, score)``, each (rows,).  Returns the preset of each row with the lowest score
    among those visited (the start among them) and that score: ((rows, n_params), (rows,)).
    The score may differ from the loss (:meth:`MatchObjective.scored`: without the SCRAPL
    term, whose random path changes each step)."""
    from tqdm.auto import tqdm
    eps = 1e-4
    logits = torch.logit(starts.clamp(eps, 1 - eps)).clone().requires_grad_(True)
    opt = Adam(logits, lr=lr)
    best_theta, best_score = starts.clone(), torch.full((len(starts),), float("inf"),
                                                    device=starts.device)
    for _ in tqdm(range(steps), desc=desc, unit="step", disable=not progress, leave=False):
        theta = torch.sigmoid(logits)
        loss, score = objective(synth(theta))
        with torch.no_grad():
            better = score < best_score
            best_score = torch.where(better, score, best_score)
            best_theta[better] = theta.detach()[better]
        opt.zero_grad()
        loss.sum().backward()
        opt.step()
    return best_theta, best_score


@functools.lru_cache(maxsize=None)
def cached_pretrained(synth: str, voice: Optional[str]) -> Optional[nn.Module]:
    """:func:`~matching.models.load_pretrained`, loaded once per process (CPU)."""
    return load_pretrained(synth, voice)


# ----------------------------------------------------------------------------- search
def _render(s: nn.Module, theta: torch.Tensor) -> torch.Tensor:
    """Renders (rows, n) of presets (rows, n_params), a bounded number of samples a call."""
    chunk = max(64, RENDER_SAMPLES // s.n_samples)
    with torch.no_grad():
        return torch.cat([s(t).reshape(len(t), -1) for t in theta.split(chunk)])


def _scores(objective: MatchObjective, s: nn.Module, theta: torch.Tensor) -> torch.Tensor:
    """(K, rows): every preset of ``theta`` against every target of ``objective``."""
    chunk = max(64, RENDER_SAMPLES // s.n_samples)
    with torch.no_grad():
        return torch.cat([objective.pairwise(a) for a in _render(s, theta).split(chunk)], dim=1)


def _estimates(matcher: Matcher, voice: Optional[str], sounds: List[Sound]
               ) -> Optional[torch.Tensor]:
    """The shipped encoder's estimates (K, n_params) for the group, or None."""
    model = cached_pretrained(matcher.synth, voice)
    if model is None:
        return None
    if matcher.device.type != "cpu":            # a copy: other matches share the cached model
        key = (str(voice), str(matcher.device))
        if key not in matcher.models:
            matcher.models[key] = copy.deepcopy(model).to(matcher.device)
        model = matcher.models[key]
    audio = torch.stack([fit_length(s.target.audio, model.features.n_samples) for s in sounds])
    with torch.no_grad():
        return model(audio.to(matcher.device)).clamp(0, 1)


def _draws(matcher: Matcher, voice: Optional[str], phase: int) -> torch.Generator:
    """The random candidates' generator of one voice and phase (0: detection, 1: the rest):
    seeded by the seed, the voice and the phase only, so a sound gets the same candidates
    whatever the other voices or sounds of its group."""
    index = synths.synth_class(matcher.synth).voices.index(voice)
    return torch.Generator().manual_seed(matcher.options.seed * 1_000_003 + 2 * index + phase)


def _targets(sounds: List[Sound], members: List[int], n: int, device: torch.device
             ) -> torch.Tensor:
    """(len(members), n): the targets of ``members`` fitted to n samples."""
    return torch.stack([fit_length(sounds[k].target.audio, n) for k in members]).to(device)


@dataclass
class _VoiceSearch:
    """One sound's candidates of one voice, best first."""

    voice: Optional[str]
    theta: torch.Tensor                 # (C, n_params)
    scores: torch.Tensor                # (C,)
    default_score: float
    encoder_score: Optional[float] = None

    @property
    def score(self) -> float:
        return float(self.scores[0])

    def merge(self, theta: torch.Tensor, scores: torch.Tensor) -> None:
        """Add candidates and keep everything sorted, best first."""
        sc = torch.cat([self.scores, scores])
        order = torch.argsort(sc)
        self.theta, self.scores = torch.cat([self.theta, theta])[order], sc[order]


def _search(matcher: Matcher, modules: Dict[str, nn.Module], sounds: List[Sound],
            count: int) -> Tuple[List[Dict[str, _VoiceSearch]], Dict[str, MatchObjective]]:
    """Per sound and voice: the default preset, the encoder's estimate and ``count`` random
    presets, scored.  Also returns the search's objective per voice (over all sounds)."""
    dev, K = matcher.device, len(sounds)
    state: List[Dict[str, _VoiceSearch]] = [{} for _ in sounds]
    objectives: Dict[str, MatchObjective] = {}
    for v in matcher.voices:
        s = modules[str(v)]
        objective = objectives[str(v)] = MatchObjective(
            _targets(sounds, list(range(K)), s.n_samples, dev), matcher.sample_rate,
            attack_weight=matcher.attack_weight).to(dev)
        drawn = torch.rand(count, s.n_params, generator=_draws(matcher, v, 0))
        shared = torch.cat([s.default_theta(1), drawn, detection_grid(s.n_params)]).to(dev)
        scores = _scores(objective, s, shared)      # (K, 1 + count + 3 ** n_params or 0)
        estimate = _estimates(matcher, v, sounds) if matcher.options.use_encoder else None
        est_scores = None
        if estimate is not None:
            with torch.no_grad():
                est_scores = objective(_render(s, estimate), torch.arange(K, device=dev))
        for k in range(K):
            if estimate is None:
                theta, sc = shared, scores[k]
            else:       # the order: default, estimate, random candidates
                theta = torch.cat([shared[:1], estimate[k:k + 1], shared[1:]])
                sc = torch.cat([scores[k, :1], est_scores[k:k + 1], scores[k, 1:]])
            order = torch.argsort(sc)
            state[k][str(v)] = _VoiceSearch(
                v, theta[order], sc[order], float(scores[k, 0]),
                None if est_scores is None else float(est_scores[k]))
    return state, objectives


def _refine_finalists(matcher: Matcher, modules: Dict[str, nn.Module], sounds: List[Sound],
                      state: List[Dict[str, _VoiceSearch]],
                      finalists: List[List[_VoiceSearch]]) -> None:
    """Voice detection with ``detect_steps``: refine the 2 best candidates of each finalist
    voice briefly (per voice, all sounds that have it among their finalists at once)."""
    opts, dev = matcher.options, matcher.device
    for v in matcher.voices:
        members = [k for k in range(len(sounds)) if any(d.voice == v for d in finalists[k])]
        if not members:
            continue
        s = modules[str(v)]
        objective = MatchObjective(_targets(sounds, members, s.n_samples, dev),
                                   matcher.sample_rate, attack_weight=matcher.attack_weight).to(dev)
        per = min(2, state[members[0]][str(v)].theta.shape[0])
        starts = torch.cat([state[k][str(v)].theta[:per] for k in members])
        index = torch.arange(len(members), device=dev).repeat_interleave(per)
        theta, scores = refine(s, objective.rows(index), starts, opts.detect_steps, opts.lr)
        for j, k in enumerate(members):
            d = state[k][str(v)]
            th, sc = theta[j * per:(j + 1) * per], scores[j * per:(j + 1) * per]
            order = torch.argsort(sc)      # the refined first (its score: their best)
            d.theta = torch.cat([th[order], d.theta[per:]])
            d.scores = torch.cat([sc[order], d.scores[per:]])


def _more_candidates(matcher: Matcher, modules: Dict[str, nn.Module],
                     objectives: Dict[str, MatchObjective], chosen: List[_VoiceSearch],
                     count: int) -> None:
    """Score ``count`` more random presets of each chosen voice (seeded by the seed and the
    voice, so a sound gets the same ones alone or in a group) for the sounds that chose it
    (``objectives``: the search's, per voice, over every sound of the group), and merge
    them into their candidates, best first."""
    for v in matcher.voices:
        members = [k for k in range(len(chosen)) if chosen[k].voice == v]
        if not members:
            continue
        s = modules[str(v)]
        theta = torch.rand(count, s.n_params, generator=_draws(matcher, v, 1)).to(matcher.device)
        scores = _scores(objectives[str(v)], s, theta)
        for k in members:
            chosen[k].merge(theta, scores[k])


def coarse_grid(n_params: int, size: int) -> Optional[torch.Tensor]:
    """The exhaustive coarse search of a voice with few parameters: every combination of
    ``g`` evenly spaced values in [0, 1] per parameter, ``g = floor(size ** (1 / n_params))``
    (at most :data:`GRID_AXIS_MAX`) -> (g ** n_params, n_params); None when ``g < 3`` (too
    many parameters for ``size``) or ``size`` is 0.  For the TR-808's voices at ``size``
    125: level only 25 steps, level and a knob 11 x 11 (every dial step), three knobs 5^3."""
    if size <= 0 or n_params <= 0:
        return None
    g = min(GRID_AXIS_MAX, int(math.floor(size ** (1.0 / n_params) + 1e-9)))
    if g < 3:
        return None
    axis = torch.linspace(0, 1, g)
    return torch.cartesian_prod(*[axis] * n_params).reshape(-1, n_params)


def detection_grid(n_params: int) -> torch.Tensor:
    """The search's grid for the voice detection: every combination of 0, 1/2 and 1 per
    parameter -> (3 ** n_params, n_params), or (0, n_params) above
    :data:`DETECT_GRID_MAX_PARAMS` parameters.  Its points are also points of every
    :func:`coarse_grid` with an odd number of values per axis, which leaves them out
    (:func:`_grid_candidates`), so a given voice scores the same candidates as before."""
    if not 0 < n_params <= DETECT_GRID_MAX_PARAMS:
        return torch.zeros(0, max(n_params, 0))
    return torch.cartesian_prod(*[torch.tensor([0.0, 0.5, 1.0])] * n_params
                                ).reshape(-1, n_params)


def _on_detection_grid(theta: torch.Tensor) -> torch.Tensor:
    """(C,) bool: rows of ``theta`` (C, n_params) that :func:`detection_grid` scored."""
    if theta.shape[1] > DETECT_GRID_MAX_PARAMS:
        return torch.zeros(theta.shape[0], dtype=torch.bool)
    return ((theta * 2 - torch.round(theta * 2)).abs() < 1e-6).all(dim=1)


def _grid_candidates(matcher: Matcher, modules: Dict[str, nn.Module],
                     objectives: Dict[str, MatchObjective], chosen: List[_VoiceSearch]) -> None:
    """Score the :func:`coarse_grid` of each chosen voice (``grid_size`` points) for the
    sounds that chose it, and merge them into their candidates."""
    for v in matcher.voices:
        members = [k for k in range(len(chosen)) if chosen[k].voice == v]
        s = modules[str(v)]
        grid = coarse_grid(s.n_params, matcher.options.grid_size) if members else None
        if grid is not None:
            grid = grid[~_on_detection_grid(grid)]      # the search scored those
        if grid is None or not len(grid):
            continue
        grid = grid.to(matcher.device)
        scores = _scores(objectives[str(v)], s, grid)
        for k in members:
            chosen[k].merge(grid, scores[k])


# ----------------------------------------------------------------------------- refinement
def _refine_chosen(matcher: Matcher, s: nn.Module, targets: torch.Tensor,
                   chosen: List[_VoiceSearch]) -> torch.Tensor:
    """The final refinement of the sounds that chose one voice: the ``n_starts`` best
    candidates of each, on the objective with its SCRAPL term (if the matcher's
    ``scrapl_weight`` is not 0).  Each start keeps the preset
    it visited that scores best without the SCRAPL term (:meth:`MatchObjective.scored`), and
    the start whose preset scores best wins.  Returns (len(chosen), n_params)."""
    opts, dev = matcher.options, matcher.device
    m = len(chosen)
    per = min(opts.n_starts, chosen[0].theta.shape[0])
    starts = torch.cat([c.theta[:per] for c in chosen])
    index = torch.arange(m, device=dev).repeat_interleave(per)
    objective = MatchObjective(targets, matcher.sample_rate, scrapl_weight=matcher.scrapl_weight,
                               seed=opts.seed, attack_weight=matcher.attack_weight).to(dev)
    refined, scores = refine(s, objective.rows(index), starts, opts.steps, opts.lr,
                             matcher.refine_progress, f"refining {matcher.synth}:{chosen[0].voice}")
    pick = torch.argmin(scores.reshape(m, per), dim=1) + torch.arange(m, device=dev) * per
    return refined[pick]


def _report(matcher: Matcher, sound: Sound, voice: Optional[str],
            search: Dict[str, _VoiceSearch], distances: Dict[str, float],
            default: Dict[str, float], best_random: Dict[str, float]) -> Dict[str, Any]:
    opts = matcher.options
    return {
        "source": sound.target.source, "synth": matcher.synth, "voice": voice,
        "duration_s": sound.duration, "window_s": sound.window,
        "onset_s": sound.target.onset_s, "refined": opts.refine, "seed": opts.seed,
        "voices": {key: round(d.score, 5) for key, d in search.items()},
        "default_scores": {key: round(d.default_score, 5) for key, d in search.items()},
        "encoder_scores": {key: round(d.encoder_score, 5) for key, d in search.items()
                           if d.encoder_score is not None},
        "distances": distances,
        "baselines": {"default_preset": default,
                      f"best_of_{opts.candidates}_random": best_random},
    }


def _finish_voice(matcher: Matcher, s: nn.Module, voice: Optional[str], sounds: List[Sound],
                  members: List[int], state: List[Dict[str, _VoiceSearch]],
                  chosen: List[_VoiceSearch]) -> List[SoundMatch]:
    """Refinement and report of the sounds ``members`` that chose ``voice``."""
    dev, m = matcher.device, len(members)
    targets = _targets(sounds, members, s.n_samples, dev)
    mine = [chosen[k] for k in members]
    best_random = torch.cat([c.theta[:1] for c in mine])
    theta = _refine_chosen(matcher, s, targets, mine) if matcher.options.refine else best_random
    with torch.no_grad():
        match = s(theta).reshape(m, -1)
        default = s(s.default_theta(1).to(dev)).reshape(1, -1).expand(m, -1)
        random_best = s(best_random).reshape(m, -1)
    # the full-JTFS distance (the slowest) for the matches only
    dist = batch_distances(match, targets, matcher.sample_rate,
                           jtfs=matcher.options.jtfs_distance)
    dist += batch_distances(torch.cat([default, random_best]), targets, matcher.sample_rate,
                            torch.arange(m).repeat(2), jtfs=False)
    out = []
    for j, k in enumerate(members):
        snd = sounds[k]
        report = _report(matcher, snd, voice, state[k], dist[j], dist[m + j], dist[2 * m + j])
        preset = Preset.from_theta(s, theta[j].cpu(), metadata={
            "matched_from": snd.target.source, "voice_scores": report["voices"],
            "distances": report["distances"], "duration_s": snd.duration,
            "window_s": snd.window, "baselines": report["baselines"]})
        out.append(SoundMatch(dataclasses.replace(preset, name=snd.name), report,
                              match[j].cpu(), targets[j].cpu()))
    return out


def match_group(matcher: Matcher, sounds: List[Sound]) -> List[SoundMatch]:
    """Match ``sounds`` that share one window (``sounds[i].window``, s): one
    :class:`SoundMatch` per sound, in order (see the module docstring).  ``report["time_s"]``
    of each is its share of the group's wall time."""
    started = time.perf_counter()
    opts, K = matcher.options, len(sounds)
    modules = {str(v): synths.get(matcher.synth, voice=v, duration=sounds[0].window,
                                  seed=opts.seed) for v in matcher.voices}
    first = min(opts.candidates, DETECT_CANDIDATES)
    state, objectives = _search(matcher, modules, sounds, first)
    finalists = [sorted(st.values(), key=lambda d: d.score)[:opts.detect_voices]
                 for st in state]
    if opts.refine and len(matcher.voices) > 1 and opts.detect_steps > 0:
        _refine_finalists(matcher, modules, sounds, state, finalists)
    chosen = [min(f, key=lambda d: d.score) for f in finalists]
    if first < opts.candidates:
        _more_candidates(matcher, modules, objectives, chosen, opts.candidates - first)
    _grid_candidates(matcher, modules, objectives, chosen)

    results: List[Optional[SoundMatch]] = [None] * K
    for v in matcher.voices:
        members = [k for k in range(K) if chosen[k].voice == v]
        if members:
            for k, result in zip(members, _finish_voice(matcher, modules[str(v)], v, sounds,
                                                        members, state, chosen)):
                results[k] = result
    share = round((time.perf_counter() - started) / K, 3)
    for result in results:
        result.report["time_s"] = share
        result.preset.metadata["time_s"] = share
    return results      # type: ignore[return-value]
