"""Where the training data come from: the :class:`DataSource` protocol :func:`~matching.
training.train` reads, and the built-in sources.

* :class:`RandomPresets`: presets drawn uniformly from the synth's normalized parameter
  space, rendered on the fly (supervised: the true parameters are known);
* :class:`AudioFolder`: the sounds of a folder (unsupervised: no parameters);
* :class:`ShardedSource`: either of them for one rank of a distributed run.

Every draw is seeded by the step (:func:`step_generator`), so a resumed run sees the data
the uninterrupted one saw.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Optional, Protocol, Tuple, runtime_checkable

import torch
from torch import nn

from .config import TrainConfig

__all__ = ["AUDIO_SUFFIXES", "AudioFolder", "Batch", "DataSource", "RandomPresets",
           "SeededSource", "ShardedSource", "default_source", "load_audio_dir",
           "step_generator"]

#: a batch: audio (B, n), normalized parameters (B, n_params) or None, the synth rendering it
Batch = Tuple[torch.Tensor, Optional[torch.Tensor], nn.Module]
AUDIO_SUFFIXES = (".wav", ".flac", ".aif", ".aiff", ".ogg", ".mp3")


@runtime_checkable
class DataSource(Protocol):
    """The data of a training run; implement it for your own dataset and pass it as
    ``train(cfg, out_dir, data=...)``.

    A batch is ``(audio, theta, synth)``:

    * ``audio``: float tensor (B, n), mono, at ``synth.sample_rate`` Hz, ``n`` =
      ``synth.n_samples`` (the encoder reads it; the audio losses compare to it);
    * ``theta``: float tensor (B, n_params), the true normalized parameters in [0, 1] (the
      synth's parameter order), or None when unknown (then only the audio losses apply,
      and no parameter error is reported);
    * ``synth``: the synth module that renders the predicted parameters of this batch, e.g.
      the run's synth, or one with this batch's noise seed: ``synth(theta)`` -> (B, 1, n).

    ``batch(step)`` must depend on ``step`` only (e.g. draw with
    :func:`step_generator`), so that a resumed run continues exactly; ``validation`` must
    yield the same batches at every call.  Distributed runs use the object as given on
    every rank: give each rank its slice of the global batch (see :class:`ShardedSource`);
    the θ-IS warm-up then calls ``full_batch(step)``, the global batch, when the object has
    it (else ``batch``).
    """

    def batch(self, step: int) -> Batch:
        """The training batch of ``step`` (0-based; the θ-IS warm-up asks for steps < 0)."""
        ...

    def validation(self, batch_size: int) -> Iterable[Batch]:
        """The fixed held-out set, in batches of at most ``batch_size``."""
        ...


def step_generator(seed: int, step: int) -> torch.Generator:
    """The CPU generator of one step's draw: a function of ``(seed, step)`` only."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step)) % (2 ** 63))


def load_audio_dir(folder: str, synth_module: nn.Module) -> torch.Tensor:
    """All sounds of a folder (any format soundfile reads, :data:`AUDIO_SUFFIXES`), prepared
    like match targets (mono, the synth's rate, onset-aligned): (n_files, n_samples)."""
    from ..targets import load_target
    paths = sorted(p for p in Path(folder).iterdir() if p.is_file()
                   and p.suffix.lower() in AUDIO_SUFFIXES)
    if not paths:
        raise ValueError(f"audio_dir {folder}: no audio files (.wav .flac .aiff .ogg .mp3)")
    clips = [load_target(p, synth_module.sample_rate, synth_module.n_samples).audio
             for p in paths]
    return torch.stack([c[: synth_module.n_samples] for c in clips])


class SeededSource:
    """A source whose batch of a step is drawn from the step's seed, then rendered:
    ``batch(step) = render(draw(step, batch_size))``; subclasses set ``val_audio`` (V, n)
    and ``val_theta`` (V, n_params) or None, and define :meth:`draw` and :meth:`render`."""

    val_audio: torch.Tensor
    val_theta: Optional[torch.Tensor]

    def __init__(self, cfg: TrainConfig, synth_module: nn.Module):
        self.cfg, self.synth = cfg, synth_module

    def draw(self, step: int, n: int) -> torch.Tensor:
        """The random part of ``n`` items of ``step`` (e.g. parameters or file indices)."""
        raise NotImplementedError

    def render(self, drawn: torch.Tensor) -> Batch:
        """The batch of drawn items."""
        raise NotImplementedError

    def batch(self, step: int) -> Batch:
        return self.render(self.draw(step, self.cfg.batch_size))

    def validation(self, batch_size: int) -> Iterator[Batch]:
        for i in range(0, len(self.val_audio), batch_size):
            theta = None if self.val_theta is None else self.val_theta[i:i + batch_size]
            yield self.val_audio[i:i + batch_size], theta, self.synth


class RandomPresets(SeededSource):
    """Presets drawn uniformly from the synth's normalized parameter space and rendered on
    the fly; validation: ``cfg.val_size`` presets drawn from a seed disjoint from training."""

    def __init__(self, cfg: TrainConfig, synth_module: nn.Module):
        super().__init__(cfg, synth_module)
        gen = step_generator(cfg.seed + 7919, -1)   # disjoint from the training draws
        self.val_theta = torch.rand(cfg.val_size, synth_module.n_params, generator=gen)
        with torch.no_grad():
            self.val_audio = torch.cat([synth_module(t).reshape(len(t), -1)
                                        for t in self.val_theta.split(64)])

    def draw(self, step: int, n: int) -> torch.Tensor:
        return torch.rand(n, self.synth.n_params, generator=step_generator(self.cfg.seed, step))

    def render(self, drawn: torch.Tensor) -> Batch:
        with torch.no_grad():
            audio = self.synth(drawn).reshape(len(drawn), -1)
        return audio, drawn, self.synth


class AudioFolder(SeededSource):
    """The sounds of ``cfg.audio_dir`` (:func:`load_audio_dir`), no parameters: a fixed
    random fifth (at most ``cfg.val_size``, at least one) is held out for validation, and
    each batch draws ``batch_size`` of the others with replacement."""

    def __init__(self, cfg: TrainConfig, synth_module: nn.Module):
        super().__init__(cfg, synth_module)
        if cfg.audio_dir is None:
            raise ValueError("audio_dir must name a folder of sounds for AudioFolder")
        self.files = load_audio_dir(cfg.audio_dir, synth_module)
        n_val = max(1, min(cfg.val_size, len(self.files) // 5))
        perm = torch.randperm(len(self.files), generator=step_generator(cfg.seed, -1))
        self.val_audio, self.val_theta = self.files[perm[:n_val]], None
        self.train_files = self.files[perm[n_val:]] if len(self.files) > n_val else self.files

    def draw(self, step: int, n: int) -> torch.Tensor:
        return torch.randint(0, len(self.train_files), (n,),
                             generator=step_generator(self.cfg.seed, step))

    def render(self, drawn: torch.Tensor) -> Batch:
        return self.train_files[drawn], None, self.synth


class ShardedSource:
    """A :class:`SeededSource` for one rank of a distributed run (``torchrun``): the global
    batch of ``world_size * batch_size`` is drawn from the step's seed exactly as one process
    with that batch size draws it, and each rank renders its own contiguous slice, so N ranks
    see the batch of one process with N times the batch size.  :meth:`full_batch` renders
    the whole global batch (the θ-IS warm-up measures curvature on it).  Validation is the
    source's (:func:`~matching.training.train` deals its batches over the ranks)."""

    def __init__(self, source: SeededSource, rank: int, world_size: int):
        self.source, self.rank, self.world_size = source, rank, world_size

    def _global_draw(self, step: int) -> torch.Tensor:
        return self.source.draw(step, self.source.cfg.batch_size * self.world_size)

    def batch(self, step: int) -> Batch:
        b = self.source.cfg.batch_size
        return self.source.render(self._global_draw(step)[self.rank * b:(self.rank + 1) * b])

    def full_batch(self, step: int) -> Batch:
        return self.source.render(self._global_draw(step))

    def validation(self, batch_size: int) -> Iterator[Batch]:
        return self.source.validation(batch_size)


def default_source(cfg: TrainConfig, synth_module: nn.Module, rank: int = 0,
                   world_size: int = 1) -> DataSource:
    """The source of ``cfg``: :class:`AudioFolder` with ``audio_dir``, else
    :class:`RandomPresets`; sharded over ``world_size`` > 1 ranks."""
    source: SeededSource = AudioFolder(cfg, synth_module) if cfg.audio_dir is not None \
        else RandomPresets(cfg, synth_module)
    return source if world_size <= 1 else ShardedSource(source, rank, world_size)
