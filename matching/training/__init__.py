"""Synth-in-the-loop training of an encoder (``synthmatch train``).

Every step draws a batch of presets uniformly from the synth's normalized parameter space
(seeded by the step, so a resumed run sees the same data), renders them, predicts the
parameters from the audio with an :class:`~matching.models.EncoderModel` and minimizes one
of the losses:

* ``param``: L1 distance between predicted and true normalized parameters (supervised);
* ``mss``: multi-scale spectral distance between the re-synthesized prediction and the
  target (:class:`scrapl.mss.MSSLoss`, mode ``mss_mode``);
* ``jtfs``: full JTFS distance (log1p), at 11025 Hz (:class:`scrapl.jtfs_loss.JTFSLoss`),
  or with the configuration ``jtfs`` (SCRAPLLoss arguments) at the synth's own rate;
* ``scrapl``: one random JTFS path per step (:class:`scrapl.loss.SCRAPLLoss`), with
  𝒫-Adam and 𝒫-SAGA (then the optimizer is plain SGD, as in the paper) and optional θ-IS
  warm-up before the first step.

With ``audio_dir`` the targets are the user's sounds instead (unsupervised: audio losses
only, no parameter error); any other dataset is a :class:`DataSource`.  Validation runs on
a fixed held-out set every ``val_every`` steps; with SCRAPL its loss is the mean over a
fixed set of paths, not one random path.

Outputs in ``out_dir``: ``metrics.csv`` (one row per logged train window and per
validation), ``metrics.png``, ``checkpoint.pt`` (everything needed to resume exactly:
weights, optimizer, loss state, RNG, step; loaded with ``weights_only=True``) and
``model.safetensors`` (the encoder with the best validation score, loadable by
:func:`matching.models.load_model`).

Modules: :mod:`.config` (:class:`TrainConfig`), :mod:`.data` (:class:`DataSource` and the
built-in sources), :mod:`.losses` (:class:`AudioLoss`), :mod:`.loop` (:func:`train`),
:mod:`.checkpoints`, :mod:`.warmup` (θ-IS), :mod:`.metrics`.
"""
from .checkpoints import CHECKPOINT_NAME, load_checkpoint
from .config import LOSSES, TrainConfig
from .data import (AudioFolder, DataSource, RandomPresets, SeededSource, ShardedSource,
                   default_source, step_generator)
from .losses import AudioLoss
from .loop import MODEL_NAME, train
from .metrics import METRICS_NAME, plot_metrics

__all__ = ["AudioFolder", "AudioLoss", "CHECKPOINT_NAME", "DataSource", "LOSSES",
           "METRICS_NAME", "MODEL_NAME", "RandomPresets", "SeededSource", "ShardedSource",
           "TrainConfig", "default_source", "load_checkpoint", "plot_metrics",
           "step_generator", "train"]
