"""Trained encoders: audio -> normalized synth parameters, saved as one safetensors file.

An :class:`EncoderModel` is the features (:class:`~matching.features.ScalogramFeatures`)
plus an encoder (:class:`~matching.encoders.Spectral2DCNN`) for one synth voice.  It is
saved as a single ``.safetensors`` file: the weights, and in the file's metadata (key
``synthmatch``) a JSON document with the synth, voice, parameter names, the feature and
encoder configurations and how it was trained.  Loading never unpickles anything.

Models shipped with the package live in ``matching/pretrained/`` and are found by
:func:`pretrained_path` / :func:`load_pretrained` (no network access).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import torch
from torch import nn

from .encoders import Spectral2DCNN
from .features import FEATURE_RATE, ScalogramFeatures

__all__ = ["EncoderModel", "save_model", "load_model", "check_metadata", "pretrained_path", "load_pretrained",
           "pretrained_models", "PRETRAINED_DIR", "FORMAT_VERSION"]

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"
FORMAT_VERSION = 1
_META_KEY = "synthmatch"


class EncoderModel(nn.Module):
    """Features + encoder for one synth voice: ``model(audio)`` -> (batch, n_params) in [0, 1].

    audio: (batch, n_samples) or (batch, 1, n_samples) at the synth's sample rate and
    length (``features.n_samples``).  ``info`` holds the metadata saved with the model.
    """

    def __init__(self, features: ScalogramFeatures, encoder: Spectral2DCNN,
                 synth: str, voice: Optional[str], param_names: List[str],
                 info: Optional[Dict[str, Any]] = None):
        super().__init__()
        if encoder.n_params != len(param_names):
            raise ValueError(f"the encoder predicts {encoder.n_params} parameters, "
                             f"param_names has {len(param_names)}")
        self.features = features
        self.encoder = encoder
        self.synth = synth
        self.voice = voice
        self.param_names = list(param_names)
        self.info: Dict[str, Any] = dict(info or {})

    @classmethod
    def for_synth(cls, synth_module, out_channels=(32, 32, 32, 32, 32), latent_dim: int = 64,
                  dropout: float = 0.0, **feature_kwargs) -> "EncoderModel":
        """A fresh (untrained) model for a synth instance (``synths.get(...)``).  The
        features analyse at 11025 Hz, or at the synth's rate if that is lower."""
        feature_kwargs.setdefault("rate", min(FEATURE_RATE, int(synth_module.sample_rate)))
        features = ScalogramFeatures(synth_module.n_samples, synth_module.sample_rate,
                                     **feature_kwargs)
        encoder = Spectral2DCNN(synth_module.n_params, out_channels=out_channels,
                                latent_dim=latent_dim, dropout=dropout)
        return cls(features, encoder, type(synth_module).name,
                   getattr(synth_module, "voice", None), list(synth_module.param_names))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():                 # features have no trainable weights
            feats = self.features(audio)
        return self.encoder(feats)

    def metadata(self) -> Dict[str, Any]:
        """The JSON document saved with the weights."""
        return {"format_version": FORMAT_VERSION, "synth": self.synth, "voice": self.voice,
                "param_names": self.param_names, "features": self.features.config(),
                "encoder": self.encoder.config(), "info": self.info}


def save_model(model: EncoderModel, path: Union[str, Path]) -> Path:
    """Write ``model`` to ``path`` (``.safetensors``), atomically."""
    from safetensors.torch import save_file
    from synths.files import atomic_output
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.encoder.state_dict().items()}
    meta = {_META_KEY: json.dumps(model.metadata())}
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_model(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu"
               ) -> EncoderModel:
    """Read a model written by :func:`save_model` (clear errors for anything else)."""
    from safetensors import SafetensorError
    from safetensors.torch import safe_open
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device=str(map_location)) as f:
            raw = (f.metadata() or {}).get(_META_KEY)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a safetensors model file ({exc})") from None
    if raw is None:
        raise ValueError(f"{path}: safetensors file without synthmatch metadata "
                         f"(not written by matching.models.save_model)")
    meta = check_metadata(raw, path)
    try:
        features = ScalogramFeatures(**meta["features"])
        enc_cfg = dict(meta["encoder"])
        enc_cfg["kernel_size"] = tuple(enc_cfg["kernel_size"])
        enc_cfg["pool_size"] = tuple(enc_cfg["pool_size"])
        encoder = Spectral2DCNN(**enc_cfg)
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise ValueError(f"{path}: bad feature or encoder configuration in the metadata "
                         f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    try:
        encoder.load_state_dict(tensors)
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not fit the stored encoder configuration: "
                         f"{str(exc).splitlines()[0]}") from None
    model = EncoderModel(features, encoder, meta["synth"], meta["voice"],
                         meta["param_names"], meta.get("info"))
    return model.eval()


#: bounds on a model's metadata: samples analysed, sample rate (Hz), encoder sizes
MAX_MODEL_SAMPLES = 44100 * 60
MAX_MODEL_RATE = 384_000
MAX_ENCODER_WIDTH = 4096


def check_metadata(raw: str, path: Union[str, Path]) -> Dict[str, Any]:
    """The parsed metadata of model file ``path``, checked: format version, a known synth
    and voice, the voice's parameter names, sizes and rates within bounds; ValueError
    naming the file and the field otherwise."""
    import synths
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: the synthmatch metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: the synthmatch metadata must be a JSON object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: model format version {meta.get('format_version')!r}, "
                         f"this version reads {FORMAT_VERSION}")
    missing = [k for k in ("synth", "voice", "param_names", "features", "encoder") if k not in meta]
    if missing:
        raise ValueError(f"{path}: the metadata lacks {', '.join(missing)}")
    synth, voice = meta["synth"], meta["voice"]
    if not isinstance(synth, str) or synth not in synths.available():
        raise ValueError(f"{path}: unknown synth {synth!r}; synths: {', '.join(synths.available())}")
    cls = synths.synth_class(synth)
    if voice not in cls.voices:
        raise ValueError(f"{path}: synth {synth!r} has no voice {voice!r}; voices: "
                         f"{', '.join(str(v) for v in cls.voices)}")
    expected = [spec.name for spec in cls.voice_param_specs(voice)]
    if meta["param_names"] != expected:
        raise ValueError(f"{path}: param_names {meta['param_names']!r} are not those of "
                         f"{synth} {voice or ''} ({', '.join(expected)})")
    if not isinstance(meta["features"], dict) or not isinstance(meta["encoder"], dict):
        raise ValueError(f"{path}: features and encoder must be JSON objects")
    bounds = {"n_samples": MAX_MODEL_SAMPLES, "sample_rate": MAX_MODEL_RATE, "rate": MAX_MODEL_RATE}
    for key, value in meta["features"].items():
        if key in bounds and (isinstance(value, bool) or not isinstance(value, int)
                              or not 1 <= value <= bounds[key]):
            raise ValueError(f"{path}: features.{key} must be an integer from 1 to {bounds[key]}, "
                             f"got {value!r}")
    for key, value in meta["encoder"].items():
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) > MAX_ENCODER_WIDTH
               for v in values):
            raise ValueError(f"{path}: encoder.{key} = {value!r} is beyond {MAX_ENCODER_WIDTH}")
    return meta


def _file_name(synth: str, voice: Optional[str]) -> str:
    return f"{synth}.safetensors" if voice is None else f"{synth}-{voice}.safetensors"


def pretrained_path(synth: str, voice: Optional[str] = None) -> Optional[Path]:
    """The shipped model file for a synth voice, or None if none ships."""
    path = PRETRAINED_DIR / _file_name(synth, voice)
    return path if path.is_file() else None


def load_pretrained(synth: str, voice: Optional[str] = None) -> Optional[EncoderModel]:
    """The shipped model for a synth voice (in eval mode), or None if none ships."""
    path = pretrained_path(synth, voice)
    return None if path is None else load_model(path)


def pretrained_models() -> List[str]:
    """Names (``synth`` or ``synth-voice``) of the shipped models."""
    return sorted(p.stem for p in PRETRAINED_DIR.glob("*.safetensors"))
