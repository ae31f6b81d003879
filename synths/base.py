"""The synth plugin interface.

Every synth is a :class:`Synth`: a ``torch.nn.Module`` that declares its controls as
:class:`~synths.params.ParamSpec` data and renders a batch of sounds from normalized
parameters. Subclasses implement :meth:`Synth.synthesize`, which receives physical values
(one ``[batch]`` tensor per parameter) and returns ``[batch, n_samples]`` audio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, Optional, Union

import torch
from torch import nn

from .params import ParamSpec

ParamValue = Union[float, torch.Tensor]


class SynthError(ValueError):
    """Bad input to a synth: the message names the synth, the parameter and the allowed range."""


class Synth(nn.Module):
    """Base class of all differentiable synths.

    Class attributes a subclass sets:
        name: registry name (``"tr808"``).
        voices: the voice names this synth offers (``("BD", "SD", ...)``), or ``(None,)``
            for a synth with a single voice. For synths with named configurations (the
            granular synth) each configuration is a voice.
        default_voice: the voice used when none is given.
        default_sample_rate: in Hz.
        default_duration: in seconds (may depend on the voice, see :meth:`voice_duration`).

    Args:
        voice: one of :attr:`voices` (``None`` means :attr:`default_voice`).
        sample_rate: output sample rate in Hz.
        duration: output length in seconds.
        seed: seed of every random element (noise buffers, per-seed draws); the same
            preset and seed render bit-identically on the same device.

    Call ``synth(theta)`` with normalized parameters ``theta`` of shape
    ``[batch, n_params]`` in [0, 1] (column order = :attr:`param_names`); it returns audio
    ``[batch, 1, n_samples]`` on ``theta``'s device and in its dtype.
    """

    name: ClassVar[str] = ""
    voices: ClassVar[tuple[Optional[str], ...]] = (None,)
    default_voice: ClassVar[Optional[str]] = None
    default_sample_rate: ClassVar[int] = 44100
    default_duration: ClassVar[float] = 1.0

    def __init__(
        self,
        voice: Optional[str] = None,
        sample_rate: Optional[int] = None,
        duration: Optional[float] = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        voice = self.default_voice if voice is None else voice
        if voice not in self.voices:
            raise SynthError(
                f"synth {self.name!r} has no voice {voice!r}; voices: "
                + ", ".join(str(v) for v in self.voices)
            )
        self.voice: Optional[str] = voice
        self.sample_rate = int(sample_rate if sample_rate is not None else self.default_sample_rate)
        if self.sample_rate <= 0:
            raise SynthError(f"synth {self.name!r}: sample_rate must be > 0 Hz, got {sample_rate}")
        duration = float(duration if duration is not None else self.voice_duration(voice))
        if duration <= 0:
            raise SynthError(f"synth {self.name!r}: duration must be > 0 s, got {duration}")
        self.duration = duration
        self.n_samples = int(round(duration * self.sample_rate))
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise SynthError(f"synth {self.name!r}: seed must be an integer >= 0, got {seed!r}")
        self.seed = seed
        self.param_specs: tuple[ParamSpec, ...] = tuple(self.voice_param_specs(voice))
        self._buffer_cache: dict[tuple, torch.Tensor] = {}

    # ----------------------------------------------------------------- declarations
    @classmethod
    def voice_param_specs(cls, voice: Optional[str]) -> Sequence[ParamSpec]:
        """The parameter specs of one voice (subclasses override)."""
        raise NotImplementedError

    @classmethod
    def voice_duration(cls, voice: Optional[str]) -> float:
        """Default render length of a voice in seconds."""
        return cls.default_duration

    @classmethod
    def describe(cls) -> dict[str, object]:
        """Plain-data description: voices and each voice's parameter specs."""
        return {
            "name": cls.name,
            "doc": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
            "sample_rate": cls.default_sample_rate,
            "voices": {
                str(voice): {
                    "duration": cls.voice_duration(voice),
                    "params": [spec.to_dict() for spec in cls.voice_param_specs(voice)],
                }
                for voice in cls.voices
            },
        }

    # ----------------------------------------------------------------- parameters
    @property
    def param_names(self) -> tuple[str, ...]:
        """Parameter names in column order of ``theta``."""
        return tuple(spec.name for spec in self.param_specs)

    @property
    def n_params(self) -> int:
        """Number of parameters (columns of ``theta``)."""
        return len(self.param_specs)

    def spec(self, name: str) -> ParamSpec:
        """The spec of one parameter by name."""
        for spec in self.param_specs:
            if spec.name == name:
                return spec
        raise SynthError(
            f"synth {self.label()} has no parameter {name!r}; parameters: {', '.join(self.param_names)}"
        )

    @classmethod
    def check_calibration(cls, calibration: str) -> None:
        """Raise :class:`SynthError` unless ``calibration`` names one of this synth's
        calibrations (the base class has none; synths with calibrations override)."""
        raise SynthError(f"synth {cls.name!r} has no calibrations (got calibration {calibration!r})")

    def calibration_name(self) -> Optional[str]:
        """The name of the constants this synth renders with (a :class:`~synths.preset.Preset`
        records it); ``None`` for synths without calibrations (subclasses override)."""
        return None

    def label(self) -> str:
        """``"tr808/BD"`` or ``"ddsp808"``."""
        return f"{self.name}/{self.voice}" if self.voice is not None else self.name

    def denormalize(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """Normalized ``[batch, n_params]`` -> ``{name: [batch] physical values}``."""
        self._check_theta(theta)
        return {spec.name: spec.from_normalized(theta[:, i]) for i, spec in enumerate(self.param_specs)}

    def normalize(
        self,
        params: Mapping[str, ParamValue],
        batch_size: Optional[int] = None,
        device: Optional[torch.device] = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Physical values -> normalized ``[batch, n_params]``.

        Missing parameters take their default; floats are broadcast over the batch.
        Unknown names are an error.
        """
        unknown = set(params) - set(self.param_names)
        if unknown:
            raise SynthError(
                f"synth {self.label()} has no parameter(s) {sorted(unknown)}; "
                f"parameters: {', '.join(self.param_names)}"
            )
        if batch_size is None:
            sizes = {v.shape[0] for v in params.values() if isinstance(v, torch.Tensor) and v.dim() > 0}
            batch_size = sizes.pop() if len(sizes) == 1 else 1
        columns = []
        for spec in self.param_specs:
            value = params.get(spec.name, spec.default)
            value = torch.as_tensor(value, dtype=dtype, device=device)
            columns.append(spec.to_normalized(value).expand(batch_size) if value.dim() == 0
                           else spec.to_normalized(value).reshape(batch_size))
        return torch.stack(columns, dim=1)

    def default_theta(
        self, batch_size: int = 1, device: Optional[torch.device] = None, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor:
        """Normalized defaults, ``[batch_size, n_params]``."""
        return self.normalize({}, batch_size=batch_size, device=device, dtype=dtype)

    def random_theta(self, batch_size: int, generator: Optional[torch.Generator] = None,
                     device: Optional[torch.device] = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Uniform random normalized parameters, ``[batch_size, n_params]``."""
        theta = torch.rand(batch_size, self.n_params, generator=generator, dtype=torch.float64)
        return theta.to(device=device, dtype=dtype)

    def _check_theta(self, theta: torch.Tensor) -> None:
        if not isinstance(theta, torch.Tensor):
            raise SynthError(f"synth {self.label()}: theta must be a torch.Tensor, got {type(theta).__name__}")
        if theta.dim() != 2 or theta.shape[1] != self.n_params:
            raise SynthError(
                f"synth {self.label()}: theta must have shape [batch, {self.n_params}] "
                f"(columns {', '.join(self.param_names)}), got {list(theta.shape)}"
            )
        if not theta.is_floating_point():
            raise SynthError(f"synth {self.label()}: theta must be floating point, got {theta.dtype}")

    # ----------------------------------------------------------------- rendering
    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        """Render normalized parameters ``[batch, n_params]`` to audio ``[batch, 1, n_samples]``."""
        audio = self.synthesize(self.denormalize(theta))
        return audio.unsqueeze(1)

    def render(self, params: Mapping[str, ParamValue], batch_size: Optional[int] = None,
               device: Optional[torch.device] = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Render physical values (missing ones at their default) to ``[batch, 1, n_samples]``."""
        return self(self.normalize(params, batch_size=batch_size, device=device, dtype=dtype))

    def synthesize(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Render physical values ``{name: [batch]}`` to ``[batch, n_samples]`` (subclasses)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- shared buffers
    def time_axis(self, like: torch.Tensor) -> torch.Tensor:
        """Sample times in seconds, ``[n_samples]``, on ``like``'s device and dtype."""
        return self.cached_buffer(
            "time", like, lambda: torch.arange(self.n_samples, dtype=torch.float64) / self.sample_rate
        )

    def noise(self, like: torch.Tensor, stream: int = 0, n_samples: Optional[int] = None) -> torch.Tensor:
        """Seeded white Gaussian noise ``[n_samples]`` (the same for every batch item).

        Drawn from a private generator seeded with ``(seed, stream)``, never the global RNG,
        on the CPU in float64 and then moved, so a seed renders identically everywhere.
        """
        length = self.n_samples if n_samples is None else n_samples

        def make() -> torch.Tensor:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + stream)
            return torch.randn(length, generator=generator, dtype=torch.float64)

        return self.cached_buffer(("noise", stream, length), like, make)

    def cached_buffer(self, key: object, like: torch.Tensor, make) -> torch.Tensor:
        """A constant buffer built once by ``make()`` (float64, CPU), cached per device and dtype."""
        full_key = (key, like.device, like.dtype)
        buffer = self._buffer_cache.get(full_key)
        if buffer is None:
            buffer = make().to(device=like.device, dtype=like.dtype)
            self._buffer_cache[full_key] = buffer
        return buffer

    def extra_repr(self) -> str:
        return (f"voice={self.voice!r}, sample_rate={self.sample_rate}, duration={self.duration}, "
                f"seed={self.seed}, params={list(self.param_names)}")
