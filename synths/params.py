"""Parameter specifications: the data that describes a synth's controls.

A :class:`ParamSpec` holds one control's name, unit, range, default, and the curve
(``scale``) that maps it to the normalized interval [0, 1] that encoders and optimizers
work in. The conversions live here, not in the DSP: a synth's ``synthesize`` only ever
sees physical values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Union

import torch

Scale = Literal["linear", "log", "knob"]
Number = Union[float, torch.Tensor]

SCALES: tuple[str, ...] = ("linear", "log", "knob")


@dataclass(frozen=True)
class ParamSpec:
    """One synth control.

    Args:
        name: identifier used in presets (``"decay"``).
        unit: physical unit (``"Hz"``, ``"ms"``, ``"dB"``, ``"oct/s"``, ``"knob"`` for a
            panel knob on the 0-10 scale).
        min: smallest physical value.
        max: largest physical value.
        default: physical value used when a preset leaves the control out.
        scale: ``"linear"`` (normalized value maps linearly), ``"log"`` (geometric; needs
            ``min > 0``) or ``"knob"`` (a front-panel knob, linear over ``[min, max]``,
            conventionally 0-10).
        description: one line saying what the control does.
    """

    name: str
    unit: str
    min: float
    max: float
    default: float
    scale: Scale = "linear"
    description: str = ""

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"parameter {self.name!r}: scale must be one of {SCALES}, got {self.scale!r}")
        if not self.min < self.max:
            raise ValueError(f"parameter {self.name!r}: min ({self.min}) must be < max ({self.max})")
        if self.scale == "log" and self.min <= 0:
            raise ValueError(f"parameter {self.name!r}: log scale needs min > 0, got {self.min}")
        if not self.min <= self.default <= self.max:
            raise ValueError(
                f"parameter {self.name!r}: default {self.default} outside [{self.min}, {self.max}]"
            )

    def from_normalized(self, value: Number) -> Number:
        """Map a normalized value in [0, 1] to physical units (tensor or float)."""
        if self.scale == "log":
            log_min, log_max = math.log(self.min), math.log(self.max)
            if isinstance(value, torch.Tensor):
                return torch.exp(log_min + value * (log_max - log_min))
            return math.exp(log_min + value * (log_max - log_min))
        return self.min + value * (self.max - self.min)

    def to_normalized(self, value: Number) -> Number:
        """Map a physical value to the normalized interval [0, 1] (tensor or float)."""
        if self.scale == "log":
            log_min, log_max = math.log(self.min), math.log(self.max)
            if isinstance(value, torch.Tensor):
                return (torch.log(value) - log_min) / (log_max - log_min)
            return (math.log(value) - log_min) / (log_max - log_min)
        return (value - self.min) / (self.max - self.min)

    def contains(self, value: float, tolerance: float = 1e-9) -> bool:
        """Whether a physical value lies in ``[min, max]`` (with a relative tolerance)."""
        slack = tolerance * (self.max - self.min)
        return self.min - slack <= value <= self.max + slack

    def range_text(self) -> str:
        """Human-readable range, e.g. ``"20 to 2000 Hz (log)"``, ``"0 to 10 (knob)"`` (a unit
        that only repeats the scale is left out)."""
        unit = f" {self.unit}" if self.unit and self.unit != self.scale else ""
        return f"{self.min:g} to {self.max:g}{unit} ({self.scale})"

    def to_dict(self) -> dict[str, object]:
        """Plain-data view of the spec (for listings and JSON)."""
        return {
            "name": self.name,
            "unit": self.unit,
            "min": self.min,
            "max": self.max,
            "default": self.default,
            "scale": self.scale,
            "description": self.description,
        }


def knob(name: str, description: str, default: float = 5.0) -> ParamSpec:
    """A front-panel knob on the 0-10 scale."""
    return ParamSpec(name, "knob", 0.0, 10.0, default, "knob", description)
