"""The options of a match, in one place: :class:`MatchOptions`.

:func:`~matching.match.match_preset`, :func:`~matching.batch.match_batch` and the
``synthmatch match`` command all build one; the command line derives its flags, defaults
and help from the fields' metadata (:mod:`matching.cli_options`).

>>> from matching import MatchOptions
>>> MatchOptions(steps=100).steps
100
>>> MatchOptions().replace(n_starts=4).n_starts
4
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, List, Optional, Union

import torch

__all__ = ["MatchOptions", "DETECT_CANDIDATES", "MAX_CANDIDATES", "MAX_OFFSET_S",
           "resolve_device", "check_count", "estimated_seconds"]

#: random presets per voice that decide the voice (the rest of ``candidates`` go to the
#: chosen voice, also when the voice is given, so a given voice finds what detecting it finds)
DETECT_CANDIDATES = 8
#: seeds are drawn from this range (the candidates' generators combine seed and voice)
SEED_LIMIT = 2 ** 32
#: most random candidates: the search keeps every candidate's parameters and score until it
#: ends (and each costs one render), so this bounds its memory (~100 MB) and time (minutes)
MAX_CANDIDATES = 100_000
#: the largest ``offset`` (s): one hour
MAX_OFFSET_S = 3600.0
#: rough cost on two CPU cores of one refinement step and of one candidate for a 1 s sound
#: (s), used only to warn about long runs; a GPU is several times faster
STEP_SECONDS, CANDIDATE_SECONDS = 0.05, 0.004
#: a match estimated to take longer than this (s) is warned about before it starts
LONG_RUN_S = 600.0


def estimated_seconds(steps: int, candidates: int, n_starts: int = 1) -> float:
    """Rough wall time (s) of one match of a 1 s sound on two CPU cores (for warnings)."""
    return steps * STEP_SECONDS * max(1.0, n_starts / 2) + candidates * CANDIDATE_SECONDS


def check_count(name: str, value: Any, low: int) -> None:
    """ValueError unless ``value`` is an integer (not a bool) >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def resolve_device(device: Union[str, torch.device]) -> torch.device:
    """``"auto"`` (CUDA when available, else the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a
    :class:`torch.device` -> a :class:`torch.device`; ValueError for anything else, or for
    CUDA on a machine without it."""
    if isinstance(device, torch.device):
        chosen = device
    elif device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            chosen = torch.device(device)
        except (RuntimeError, TypeError):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}") from None
    if chosen.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available on this machine")
    return chosen


def _option(default: Any, help: str, **cli: Any) -> Any:
    return field(default=default, metadata={"help": help, **cli})


@dataclass(frozen=True)
class MatchOptions:
    """How a sound is matched.  Every field has a default; ``replace(**changes)`` gives a
    copy with some changed (unknown names are a ValueError)."""

    candidates: int = _option(
        32, f"random presets searched before refinement: {DETECT_CANDIDATES} per voice for the "
            f"voice detection, the rest for the chosen voice", metavar="N")
    n_starts: int = _option(2, "refinement starts, the best presets of the search",
                            flag="--starts", metavar="N")
    steps: int = _option(40, "refinement steps (more: a closer match, slower)",
                        metavar="N")
    lr: float = _option(0.1, "refinement learning rate (Adam on the parameters' logits)",
                      metavar="LR")
    scrapl_weight: Optional[float] = _option(
        None, "weight of the SCRAPL term of the refinement objective; default: 0 for tr808 "
              "(its knobs read better without it), 0.5 for other synths", metavar="W")
    attack_weight: Optional[float] = _option(
        None, "weight of the objective's attack term (the spectrum of the first 30 ms); "
              "default: 1 for tr808, whose tone knobs act mostly there, 0 for other synths",
        metavar="W")
    grid_size: int = _option(125, "most points of the exhaustive coarse search of the chosen "
                                  "voice when it has few parameters (1-3 at 125: one 25 "
                                  "steps, two 11 x 11, three 5^3); 0: none",
                             metavar="N")
    detect_voices: int = _option(3, "voices refined before the voice is chosen (with "
                                    "--detect-steps > 0)", metavar="N")
    detect_steps: int = _option(0, "refinement steps of each finalist voice before the choice",
                                metavar="N")
    refine: bool = _option(True, "random search only, no refinement", flag="--no-refine")
    use_encoder: bool = _option(True, "leave the shipped encoder's estimate out of the "
                                      "candidates", flag="--no-encoder")
    jtfs_distance: bool = _option(True, "leave the full-JTFS distance out of the report "
                                        "(its slowest part)", flag="--no-jtfs-distance")
    seed: int = _option(0, f"random seed, 0 to {SEED_LIMIT - 1}", metavar="N")
    offset: float = _option(0.0, "seconds skipped at the start of each sound before its "
                                 "onset is searched (for long recordings)", metavar="SECONDS")
    device: str = _option("auto", "where to match: auto (CUDA when available), cpu or cuda[:N]",
                         metavar="DEVICE")
    progress: bool = _option(True, "no progress bar", flag="--quiet")

    def check(self) -> "MatchOptions":
        """Raise ValueError naming the first bad option; returns self."""
        for name in ("candidates", "steps", "detect_steps", "grid_size"):
            check_count(name, getattr(self, name), 0)
        for name in ("n_starts", "detect_voices"):
            check_count(name, getattr(self, name), 1)
        if self.candidates > MAX_CANDIDATES:
            raise ValueError(f"candidates must be at most {MAX_CANDIDATES}, got {self.candidates} "
                             f"(the search keeps every candidate in memory; more steps refine "
                             f"better than more candidates)")
        check_count("seed", self.seed, 0)
        if self.seed >= SEED_LIMIT:
            raise ValueError(f"seed must be below {SEED_LIMIT}, got {self.seed}")
        for name in ("lr", "scrapl_weight", "attack_weight"):
            value = getattr(self, name)
            if name != "lr" and value is None:          # the synth's default
                continue
            low_ok = value > 0 if name == "lr" else value >= 0
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or not low_ok:
                raise ValueError(f"{name} must be a finite number {'> 0' if name == 'lr' else '>= 0'}"
                                 f", got {value!r}")
        if isinstance(self.offset, bool) or not isinstance(self.offset, (int, float)) \
                or not 0 <= self.offset <= MAX_OFFSET_S:
            raise ValueError(f"offset must be a number of seconds from 0 to {MAX_OFFSET_S:g}, "
                             f"got {self.offset!r}")
        resolve_device(self.device)
        return self

    def warnings(self) -> List[str]:
        """One-line warnings about options that make a match very long (with the estimated
        time of a 1 s sound); empty for the usual ones.  Call after :meth:`check`."""
        steps = (self.steps if self.refine else 0) + self.detect_steps * self.detect_voices
        seconds = estimated_seconds(steps, self.candidates, self.n_starts)
        if seconds <= LONG_RUN_S:
            return []
        hours = seconds / 3600
        when = f"{hours:.1f} h" if hours >= 1 else f"{seconds / 60:.0f} min"
        return [f"steps {self.steps} and candidates {self.candidates}: a match may take about "
                f"{when} per 1 s sound on two CPU cores (the defaults: a few seconds)"]

    def replace(self, **changes: Any) -> "MatchOptions":
        """A copy with ``changes``; ValueError for a name that is not an option."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown match option{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(unknown)}; options: {', '.join(sorted(names))}")
        return dataclasses.replace(self, **changes)

    @property
    def torch_device(self) -> torch.device:
        """:attr:`device` resolved (:func:`resolve_device`)."""
        return resolve_device(self.device)
