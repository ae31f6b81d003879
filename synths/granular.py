"""A differentiable granular synth, with the SCRAPL paper's texture and chirplet tasks as voices.

Every voice renders the whole batch and all grains at once: a ``[batch, n_grains,
grain_len]`` tensor of windowed chirp grains is built in one go and overlap-added at fixed
per-seed onsets with a single ``index_add`` (no Python loop over grains or batch items).

Voices (named configurations):

``"cloud"`` (default)
    A general granular cloud, 22.05 kHz, 2 s. Parameters: ``density`` (grains/s),
    ``grain_dur`` (s), ``pitch`` (centre frequency, Hz), ``spread`` (octaves of random
    per-grain transposition around ``pitch``), ``slope`` (chirp rate of every grain, oct/s,
    signed: positive rises), ``attack`` and ``decay`` (s) of the cloud's overall envelope.
    The cloud holds ``ceil(40 grains/s * duration) + 1`` grain slots with per-seed random
    onsets and transpositions; ``density`` switches slots on smoothly through a sigmoid gate
    over the slot index (``gate_k = sigmoid(2 (density * duration - k - 0.5))``), so it stays
    differentiable. Grains have a Hann window of length ``grain_dur`` and the output is
    scaled by ``1 / sqrt(1 + density * grain_dur)`` (about constant loudness as grains overlap).

``"texture"``
    The paper's chirp-texture task (``ChirpTextureSynth``): 8192 Hz, 4 s (32768 samples),
    64 grains of 0.5 s (4096 samples) with a Hann window ``sin^2(pi n / N)``. Per seed (from a
    private generator, never the global RNG) each grain gets an integer onset drawn uniformly
    in ``[0, n_samples - grain_len)`` and an f0 log-uniform in 256-2048 Hz; a grain's
    frequency is ``f0 * 2^(slope * t)`` with ``t`` the time from the grain's centre, and its
    amplitude is ``gain_k / sqrt(f0)``. The output has unit energy (divided by its L2 norm).
    Exactly two parameters, in the paper's parametrization:

    * ``density`` in [0, 1]: the paper's gate ``a_k = 1 - sigmoid(2 (1 - d) G (k / G - o))``
      with ``o = 0.25 d + 0.75 d^2``, normalized by ``a_0`` (its largest value): about one
      grain sounds at 0, all 64 at full amplitude at 1.
    * ``slope``: the chirp's angle in the paper's CQT image, in degrees, -85.5 to 85.5
      (``theta_slope * 0.95 * 90``, linear, so normalized 0.5 is no chirp exactly as in the
      paper). The chirp rate is ``tan(angle) * 2/3`` oct/s (the paper's
      ``sr / (Q hop) / 4`` with sr 8192, Q 12, hop 256), i.e. up to +-8.47 oct/s; positive
      rises.

``"chirplet"``
    The paper's chirplet task (``ChirpletSynth``): 8192 Hz, 4 s, one Gaussian-windowed
    exponential chirp at f0 = 512 Hz centred in the signal (shifted by a per-seed integer
    delay, uniform in +-n_samples/16, i.e. +-2048 samples at 4 s, zero-filled), with a sine
    amplitude modulation. Two parameters, both log-scaled:

    * ``am`` (Hz), 0.9899 to 7.9196: rate of the amplitude envelope ``sin(2 pi (am/2) t)``;
      the union of the paper's "lo" (0.9899-1.9799) and "hi" (3.9598-7.9196) ranges.
    * ``fm`` (oct/s), 0.5 to 16: chirp rate, frequency ``f0 * 2^(fm t)``; the union of the
      paper's "lo" (0.5-1), "med" (2-4) and "hi" (8-16) ranges. As in the paper the Gaussian
      window's standard deviation is ``0.2 / fm`` s (``sigma0 = 0.1`` times a 2-s bandwidth
      support) and the chirp is scaled by ``fm``.

Per-seed draws (onsets, f0s, transpositions, the chirplet's delay) come from private
generators seeded with the synth's ``seed`` and are shared by every item of a batch; the
paper instead passes one seed per item. To render items with different draws, use one synth
per seed.

All phases are integrated in closed form (``f0 * t * expm1(x) / x`` with ``x = slope ln2 t``,
evaluated by its series near ``x = 0``), so gradients are exact and finite at every
parameter value, including zero slope.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch

from .base import Synth
from .params import ParamSpec

LN2 = math.log(2.0)

# texture task constants (paper: ChirpTextureSynth, configs/synths/chirp_texture_8khz.yml)
TEXTURE_GRAINS = 64
TEXTURE_GRAIN_S = 0.5
TEXTURE_F0_MIN, TEXTURE_F0_MAX = 256.0, 2048.0
TEXTURE_MAX_ANGLE_DEG = 0.95 * 90.0
TEXTURE_OCT_PER_TAN = 8192.0 / (12 * 256) / 4  # sr / (Q * hop) / 4 = 2/3 oct/s

# chirplet task constants (paper: ChirpletSynth, configs/synths/chirplet_8khz_2_*.yml)
CHIRPLET_F0 = 512.0
CHIRPLET_SIGMA_S = 0.1 * 2.0  # sigma0 * bw (2 s of support): window std = 0.2 s / fm

# cloud slot budget
CLOUD_MAX_DENSITY = 40.0
CLOUD_MAX_GRAIN_S = 0.2
CLOUD_GATE_SHARPNESS = 2.0


def expm1_ratio(x: torch.Tensor) -> torch.Tensor:
    """``expm1(x) / x`` with the removable singularity at 0 filled in (finite gradients everywhere)."""
    small = x.abs() < 1e-4
    safe = torch.where(small, torch.ones_like(x), x)
    series = 1 + x / 2 + x * x / 6
    return torch.where(small, series, torch.expm1(safe) / safe)


def chirp_cycles(t: torch.Tensor, slope: torch.Tensor) -> torch.Tensor:
    """Phase in cycles per Hz of f0 of an exponential chirp ``2^(slope t)``, zero at ``t = 0``.

    ``int_0^t 2^(slope u) du = t * expm1(slope ln2 t) / (slope ln2 t)``; broadcasts.
    """
    return t * expm1_ratio(slope * LN2 * t)


def overlap_add(grains: torch.Tensor, onsets: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Sum grains ``[batch, G, L]`` starting at integer ``onsets [G]`` into ``[batch, n_samples]``.

    ``onsets`` must lie in ``[0, n_samples)``; grains running past the end are cropped. One
    ``index_add`` over the flattened grains.
    """
    batch, n_grains, length = grains.shape
    index = (onsets.unsqueeze(1) + torch.arange(length, device=onsets.device)).reshape(-1)
    # onsets lie in [0, n_samples), so every grain fits in n_samples + length (no device sync)
    out = grains.new_zeros(batch, n_samples + length)
    out = out.index_add(1, index, grains.reshape(batch, n_grains * length))
    return out[:, :n_samples]


class Granular(Synth):
    """Differentiable granular synth: a general cloud plus the SCRAPL paper's texture and chirplet tasks.

    See the module docstring for each voice's model and parameters.
    """

    name = "granular"
    voices = ("cloud", "texture", "chirplet")
    default_voice = "cloud"
    default_sample_rate = 22050
    default_duration = 2.0

    _VOICE_RATES = {"cloud": 22050, "texture": 8192, "chirplet": 8192}
    _VOICE_DURATIONS = {"cloud": 2.0, "texture": 4.0, "chirplet": 4.0}

    def __init__(self, voice: Optional[str] = None, sample_rate: Optional[int] = None,
                 duration: Optional[float] = None, seed: int = 0) -> None:
        voice_name = self.default_voice if voice is None else voice
        if sample_rate is None and voice_name in self._VOICE_RATES:
            sample_rate = self._VOICE_RATES[voice_name]
        super().__init__(voice=voice, sample_rate=sample_rate, duration=duration, seed=seed)
        self._index_cache: dict = {}
        if self.voice == "texture":
            self.n_grains = TEXTURE_GRAINS
            self.grain_len = int(round(TEXTURE_GRAIN_S * self.sample_rate))
        elif self.voice == "cloud":
            self.n_grains = int(math.ceil(CLOUD_MAX_DENSITY * self.duration)) + 1
            self.grain_len = int(round(CLOUD_MAX_GRAIN_S * self.sample_rate))
        else:
            self.n_grains = 1
            self.grain_len = self.n_samples

    # ----------------------------------------------------------------- declarations
    @classmethod
    def voice_param_specs(cls, voice: Optional[str]) -> Sequence[ParamSpec]:
        if voice == "texture":
            return (
                ParamSpec("density", "fraction", 0.0, 1.0, 0.5, "linear",
                          "how many of the 64 grains sound (0: about one, 1: all)"),
                ParamSpec("slope", "deg", -TEXTURE_MAX_ANGLE_DEG, TEXTURE_MAX_ANGLE_DEG, 0.0, "linear",
                          "chirp angle; rate tan(angle) * 2/3 oct/s (up to +-8.47), positive rises"),
            )
        if voice == "chirplet":
            return (
                ParamSpec("am", "Hz", 0.9899, 7.9196, 2.8, "log", "amplitude-modulation rate"),
                ParamSpec("fm", "oct/s", 0.5, 16.0, 2.83, "log",
                          "chirp rate (frequency 512 Hz * 2^(fm t)); window std 0.2 s / fm"),
            )
        if voice == "cloud":
            return (
                ParamSpec("density", "grains/s", 1.0, CLOUD_MAX_DENSITY, 10.0, "log",
                          "average number of grains per second"),
                ParamSpec("grain_dur", "s", 0.01, CLOUD_MAX_GRAIN_S, 0.08, "log",
                          "length of each grain's Hann window"),
                ParamSpec("pitch", "Hz", 55.0, 3520.0, 440.0, "log", "centre frequency of the grains"),
                ParamSpec("spread", "oct", 0.0, 3.0, 0.5, "linear",
                          "width of the random per-grain transposition around the centre"),
                ParamSpec("slope", "oct/s", -8.0, 8.0, 0.0, "linear",
                          "chirp rate within each grain; positive rises"),
                ParamSpec("attack", "s", 0.001, 1.0, 0.05, "log", "rise time of the cloud's envelope"),
                ParamSpec("decay", "s", 0.05, 10.0, 4.0, "log", "time for the cloud to fall by 60 dB"),
            )
        raise ValueError(f"granular has no voice {voice!r}")

    @classmethod
    def voice_duration(cls, voice: Optional[str]) -> float:
        return cls._VOICE_DURATIONS.get(voice, cls.default_duration)

    # ----------------------------------------------------------------- per-seed draws
    def _generator(self, stream: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + 7_919 * (stream + 1))

    def _onsets(self, like: torch.Tensor) -> torch.Tensor:
        """Integer grain onsets ``[G]`` (long) on ``like``'s device, fixed per seed."""
        key = ("onsets", like.device)
        onsets = self._index_cache.get(key)
        if onsets is None:
            generator = self._generator(0)
            if self.voice == "texture":
                span = max(self.n_samples - self.grain_len, 0)  # paper: grains fit in the signal
            else:
                span = self.n_samples
            u = torch.rand(self.n_grains, generator=generator, dtype=torch.float64)
            onsets = (u * span).long().clamp(max=max(span - 1, 0)) if span > 0 else torch.zeros(
                self.n_grains, dtype=torch.long)
            onsets = onsets.to(like.device)
            self._index_cache[key] = onsets
        return onsets

    def _unit_draws(self, like: torch.Tensor) -> torch.Tensor:
        """Per-grain uniform draws in [0, 1) ``[G]`` (f0 positions), fixed per seed."""
        def make() -> torch.Tensor:
            return torch.rand(self.n_grains, generator=self._generator(1), dtype=torch.float64)
        return self.cached_buffer("grain_u", like, make)

    def chirplet_delay(self) -> int:
        """The per-seed delay (samples) of the chirplet voice."""
        limit = self.n_samples // 16
        return int(torch.randint(-limit, limit + 1, (1,), generator=self._generator(2)).item())

    def texture_f0s(self, like: torch.Tensor) -> torch.Tensor:
        """The texture voice's per-grain f0 in Hz ``[G]`` (log-uniform in 256-2048 Hz)."""
        u = self._unit_draws(like)
        return TEXTURE_F0_MIN * torch.pow(TEXTURE_F0_MAX / TEXTURE_F0_MIN, u)

    # ----------------------------------------------------------------- gates
    def grain_gains(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-grain amplitude gates ``[batch, G]`` set by ``density`` (before any pitch scaling)."""
        density = params["density"].unsqueeze(-1)
        k = torch.arange(self.n_grains, device=density.device, dtype=density.dtype)
        if self.voice == "texture":
            g = float(self.n_grains)
            offset = 0.25 * density + 0.75 * density**2
            gates = 1 - torch.sigmoid(2 * (1 - density) * g * (k / g - offset))
            return gates / gates[:, :1]  # a_0 is the largest gate
        if self.voice == "cloud":
            count = density * self.duration
            return torch.sigmoid(CLOUD_GATE_SHARPNESS * (count - k - 0.5))
        raise ValueError("grain_gains: the chirplet voice has a single grain")

    # ----------------------------------------------------------------- rendering
    def synthesize(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.voice == "texture":
            return self._texture(params)
        if self.voice == "chirplet":
            return self._chirplet(params)
        return self._cloud(params)

    def _grain_time(self, like: torch.Tensor) -> torch.Tensor:
        return self.cached_buffer(
            "grain_time", like, lambda: torch.arange(self.grain_len, dtype=torch.float64) / self.sample_rate
        )

    def _texture(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        density, angle = params["density"], params["slope"]
        like = angle
        rate = torch.tan(angle * (math.pi / 180.0)) * TEXTURE_OCT_PER_TAN  # [B] oct/s
        f0 = self.texture_f0s(like)  # [G]
        window = self.cached_buffer(
            "hann", like,
            lambda: torch.sin(math.pi * torch.arange(self.grain_len, dtype=torch.float64) / self.grain_len) ** 2,
        )
        t_local = self._grain_time(like) - self.grain_len / (2.0 * self.sample_rate)  # centred
        cycles = chirp_cycles(t_local.unsqueeze(0), rate.unsqueeze(-1))  # [B, L]
        phase = (2 * math.pi) * f0.view(1, -1, 1) * cycles.unsqueeze(1)  # [B, G, L]
        amplitude = self.grain_gains(params) / torch.sqrt(f0)  # [B, G]
        grains = torch.sin(phase) * window * amplitude.unsqueeze(-1)
        audio = overlap_add(grains, self._onsets(like), self.n_samples)
        return audio / torch.sqrt(audio.pow(2).sum(-1, keepdim=True) + 1e-12)

    def _cloud(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        density, grain_dur, pitch = params["density"], params["grain_dur"], params["pitch"]
        spread, slope = params["spread"], params["slope"]
        like = pitch
        sr = self.sample_rate
        t = self._grain_time(like).unsqueeze(0)  # [1, L]
        dur = grain_dur.unsqueeze(-1)  # [B, 1]
        u = torch.clamp(t / dur, max=1.0)
        window = torch.sin(math.pi * u) ** 2  # [B, L]; zero after the grain's end
        cycles = chirp_cycles(t - dur / 2, slope.unsqueeze(-1))  # [B, L], centred on the grain
        offsets = self._unit_draws(like) - 0.5  # [G] in [-0.5, 0.5)
        freqs = pitch.unsqueeze(-1) * torch.exp2(spread.unsqueeze(-1) * offsets)  # [B, G]
        phase = (2 * math.pi) * freqs.unsqueeze(-1) * cycles.unsqueeze(1)  # [B, G, L]
        gates = self.grain_gains(params)  # [B, G]
        grains = torch.sin(phase) * (window.unsqueeze(1) * gates.unsqueeze(-1))
        audio = overlap_add(grains, self._onsets(like), self.n_samples)
        time = self.time_axis(like).unsqueeze(0)
        # 1 - exp (not -expm1: expm1's backward, exp(x) = result + 1, rounds to 0 at large x)
        envelope = (1 - torch.exp(-3.0 * time / params["attack"].unsqueeze(-1))) * torch.exp(
            -math.log(1000.0) * time / params["decay"].unsqueeze(-1))
        return audio * envelope / torch.sqrt(1 + density * grain_dur).unsqueeze(-1)

    def _chirplet(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        am, fm = params["am"], params["fm"]
        like = fm
        n = self.n_samples
        delay = self.chirplet_delay()

        def make_support() -> torch.Tensor:
            return (torch.arange(n, dtype=torch.float64) - n // 2 - delay) / self.sample_rate

        def make_mask() -> torch.Tensor:
            mask = torch.ones(n, dtype=torch.float64)
            if delay > 0:
                mask[:delay] = 0.0
            elif delay < 0:
                mask[delay:] = 0.0
            return mask

        t = self.cached_buffer(("chirplet_t", delay), like, make_support).unsqueeze(0)  # [1, n]
        mask = self.cached_buffer(("chirplet_mask", delay), like, make_mask)
        fm_ = fm.unsqueeze(-1)
        carrier = torch.sin((2 * math.pi * CHIRPLET_F0) * chirp_cycles(t, fm_))
        std = CHIRPLET_SIGMA_S / fm_
        window = torch.exp(-0.5 * (t / std) ** 2)
        modulator = torch.sin(math.pi * am.unsqueeze(-1) * t)  # sin(2 pi (am / 2) t)
        return carrier * fm_ * window * modulator * mask
