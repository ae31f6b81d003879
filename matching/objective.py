"""What a match minimizes and how a match is scored.

:class:`MatchObjective` compares candidate renders with one or several targets of one length,
per candidate (each row against its own target):

* a log-spectral term: the "MSS revisited" distance (L2 distance of log1p-compressed
  magnitude spectra at three power-of-two scales, Hann windows, hop n/4; the magnitudes
  divided first by a floor :data:`SPECTRAL_FLOOR_DB` below each target's peak, the same
  depth at every scale and level), divided by its value for silence, so 1 means "no better
  than silence" whatever the target's level;
* an envelope term: mean absolute difference of the frame RMS levels in dB (floored at
  -80 dB) in two bands, below and above :data:`ENVELOPE_SPLIT_HZ`, divided by 20 dB, which
  is what pins down decays (a drum's tonal body and its noise, each in its band);
* an attack term (weight :data:`ATTACK_WEIGHT`): the L2 distance of ``log1p(|X| / a)`` of
  the first :data:`ATTACK_S` seconds (one FFT, ``a`` :data:`ATTACK_FLOOR_DB` below the
  target's loudest bin), divided by its value for silence.  The STFT terms weigh a drum's
  first milliseconds by their share of the frames; the TR-808's tone knobs (the BD click's
  low-pass, the snare's resonators, the cymbal's burst) act mostly there;
* optionally a SCRAPL term (one random JTFS path per call, log1p-compressed, computed at
  11025 Hz to stay cheap: a :class:`~matching.audio_loss.AudioLoss`), divided by its value
  for silence on the same path.  The targets' first order is computed once, at construction.

:func:`match_distances` / :func:`batch_distances` give the distances of the match report
(log-mel, MSS, JTFS); :class:`Distances` does the same keeping its transforms between calls.
``JTFS_RATE`` and ``jtfs_config`` are those of :mod:`matching.audio_loss`, re-exported.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from scrapl.loss import SCRAPLLoss
from scrapl.mss import make_window, stft_magnitude

from .audio_loss import JTFS_RATE, AudioLoss, jtfs_config

__all__ = ["MatchObjective", "Distances", "match_distances", "batch_distances",
           "objective_weights", "envelope_db", "band_envelopes_db", "jtfs_config", "JTFS_RATE",
           "FFT_SIZES", "HOP_SIZES"]

#: the STFT scales of the objective's log-spectral term
FFT_SIZES, HOP_SIZES = (256, 1024, 4096), (64, 256, 1024)
#: how far below a target's loudest STFT bin the log-spectral term still tells levels
#: apart (dB): its spectra are ``log1p(|X| / a)`` with ``a`` this far below the target's
#: peak bin, per scale and target (a candidate compared with a target takes its floor).
#: Plain ``log1p(|X|)`` is linear, so blind, below ~1: how far down that is depends on the
#: FFT size and the level (36 dB below a full-scale peak at 256 points, 60 at 4096, less for
#: quiet sounds). 40 read the real TR-808 recordings best of none, 40 and 60
#: (benchmarks/RESULTS.md, issue 14).
SPECTRAL_FLOOR_DB: Optional[float] = 40.0   # None: plain log1p(|X|) (before issue 14)
#: weight of the attack term: the log spectrum of the first :data:`ATTACK_S` seconds (0: none,
#: as before session 23). The STFT terms weigh the attack by its share of the frames (a few
#: of hundreds), but the tone knobs of BD, SD and CY act mostly there: with it (and the BD
#: click refitted) the knob readings of the real TR-808 recordings went from 0.98 to 0.82
#: dial steps cross-validated (benchmarks/RESULTS.md, session 23).
ATTACK_WEIGHT: float = 1.0
#: synths whose objective has the attack term by default (:func:`objective_weights`): on
#: ddsp808 it made the matches of examples/sounds worse on 4-5 of 5 distances (tom log-mel
#: 0.74 -> 5.3, benchmarks/RESULTS.md, session 26)
ATTACK_TERM_SYNTHS = frozenset({"tr808"})
#: the refinement's SCRAPL-term weight (:func:`objective_weights`)
SCRAPL_WEIGHT: float = 0.5
#: synths whose refinement has no SCRAPL term by default: on the real TR-808 recordings one
#: path turned the refinement's gradient the wrong way more often (right for 0.87 of
#: (start, knob) pairs with it, 0.92 without), and the knobs read 0.59 dial steps off with it,
#: 0.51 without (cross-validated 0.76 and 0.77: a wash; benchmarks/RESULTS.md, session 26)
NO_SCRAPL_TERM_SYNTHS = frozenset({"tr808"})
#: the attack term's window (s): flat from the start (targets are onset-aligned), tapered
#: by a half Hann window over its second half
ATTACK_S = 0.03
#: the attack term's spectra are ``log1p(|X| / a)``, ``a`` this far below the target's
#: loudest attack bin (dB): the BD click at tone 0-5 lies 45-70 dB below the body's peak;
#: 60 read the toms' tuning worse (the recordings' hiss), 40 the BD tone (RESULTS.md)
ATTACK_FLOOR_DB = 50.0
#: the envelope term's two bands meet here (Hz); None: one broadband envelope (before
#: session 27).  With one envelope, a snare's noise (above 1.2 kHz) and its resonators
#: (172 and 340 Hz) are summed: where the noise is loud, a mismatch of the noise's decay
#: moved the reading of the TONE knob, whose resonators decay at different rates
#: (benchmarks/RESULTS.md, session 27).
ENVELOPE_SPLIT_HZ: Optional[float] = 1000.0


def objective_weights(synth: str, attack_weight: Optional[float] = None,
                      scrapl_weight: Optional[float] = None) -> Tuple[float, float]:
    """``(attack_weight, scrapl_weight)`` of a match with ``synth``: each as given, or by
    default :data:`ATTACK_WEIGHT` for the synths in :data:`ATTACK_TERM_SYNTHS` (0 for others)
    and :data:`SCRAPL_WEIGHT` except for the synths in :data:`NO_SCRAPL_TERM_SYNTHS` (0)."""
    if attack_weight is None:
        attack_weight = ATTACK_WEIGHT if synth in ATTACK_TERM_SYNTHS else 0.0
    if scrapl_weight is None:
        scrapl_weight = 0.0 if synth in NO_SCRAPL_TERM_SYNTHS else SCRAPL_WEIGHT
    return float(attack_weight), float(scrapl_weight)


def envelope_db(x: torch.Tensor, frame: int = 512, hop: int = 256, floor_db: float = -80.0
                ) -> torch.Tensor:
    """Frame RMS level in dB, (batch, frames), of x (batch, n)."""
    x = nn.functional.pad(x, (frame // 2, frame // 2))
    frames = x.unfold(-1, frame, hop)
    rms = frames.square().mean(dim=-1).clamp_min(10 ** (floor_db / 10)).sqrt()
    return 20 * torch.log10(rms)


def band_envelopes_db(x: torch.Tensor, sample_rate: int, split_hz: float, frame: int = 512,
                      hop: int = 256, floor_db: float = -80.0,
                      window: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Frame RMS levels in dB below and above ``split_hz`` (Hz), (batch, 2 * frames): the
    two bands' :func:`envelope_db` one after the other, from a Hann-windowed STFT with the
    same frames (``frame`` samples every ``hop``, zero-padded by ``frame // 2``); by Parseval
    the two bands' mean squares add up to the frame's (``window``: a periodic Hann window
    of ``frame`` samples, made if not given)."""
    if window is None:
        window = make_window("hann", frame, dtype=x.dtype, device=x.device)
    spec = torch.stft(x, frame, hop, window=window, center=True, pad_mode="constant",
                      return_complex=True)
    power = spec.real.square() + spec.imag.square()             # (batch, bins, frames)
    weight = torch.full((power.shape[1], 1), 2.0, dtype=power.dtype, device=power.device)
    weight[0] = weight[-1] = 1.0                                 # DC and Nyquist: once
    power = power * weight / (frame * window.square().sum())
    k = int(round(split_hz * frame / sample_rate))
    bands = torch.cat([power[:, :k].sum(dim=1), power[:, k:].sum(dim=1)], dim=-1)
    return 10 * torch.log10(bands.clamp_min(10 ** (floor_db / 10)))


class MatchObjective(nn.Module):
    """Per-candidate matching loss (see the module docstring).

    ``targets``: (n,) or (K, n) at ``sample_rate``.  ``forward(x, index=None)``: x (rows, n)
    or (rows, 1, n) and ``index`` (rows,) the target of each row (default: target 0 for
    every row) -> (rows,) losses, differentiable; the rows do not interact.  With
    ``scrapl_weight`` one path is drawn per call for all rows, from a sampler seeded with
    ``seed``.  ``attack_weight``: the attack term's weight (None: :data:`ATTACK_WEIGHT`).
    ``pairwise(x)`` -> (K, rows): every row against every target (no SCRAPL term; spectra
    computed once).
    """

    def __init__(self, targets: torch.Tensor, sample_rate: int, envelope_weight: float = 1.0,
                 scrapl_weight: float = 0.0, seed: int = 0,
                 attack_weight: Optional[float] = None):
        super().__init__()
        targets = targets.detach().reshape(-1, targets.shape[-1]).float()
        n = targets.shape[-1]
        if n <= max(FFT_SIZES) // 2:
            raise ValueError(f"targets of {n} samples are too short for the objective's "
                             f"{max(FFT_SIZES)}-sample frame (more than "
                             f"{max(FFT_SIZES) // 2} needed)")
        self.sample_rate = sample_rate
        self.envelope_weight = envelope_weight
        #: the envelope term's split (Hz; None: broadband), :data:`ENVELOPE_SPLIT_HZ`
        self.envelope_split_hz = ENVELOPE_SPLIT_HZ
        self.register_buffer("envelope_window", make_window("hann", 512).to(targets.device),
                             persistent=False)
        self.scrapl_weight = scrapl_weight
        for k, size in enumerate(FFT_SIZES):
            self.register_buffer(f"window_{k}", make_window("hann", size).to(targets.device),
                                 persistent=False)
        self.register_buffer("targets", targets)
        with torch.no_grad():
            magnitudes = self._magnitudes(targets)
            #: per scale, (K, 1): the magnitude each target's log1p divides by (SPECTRAL_FLOOR_DB)
            self.spectral_floor = [torch.ones_like(m[:, :1]) if SPECTRAL_FLOOR_DB is None else
                                   m.amax(dim=-1, keepdim=True).clamp_min(1e-8) * 10 ** (-SPECTRAL_FLOOR_DB / 20)
                                   for m in magnitudes]
            self.target_spectra = self._compressed(magnitudes, self.spectral_floor)
            # the MSS distance of silence: log1p(|STFT(0)| / a) = 0
            self.silence = sum(torch.linalg.vector_norm(s, dim=-1) for s in self.target_spectra)
            self.target_env = self._envelope(targets)
            self.attack_weight = ATTACK_WEIGHT if attack_weight is None else attack_weight
            if self.attack_weight:
                m = min(int(ATTACK_S * sample_rate), n)
                window = torch.ones(m, dtype=torch.float64)
                window[m // 2:] = torch.hann_window(2 * (m - m // 2), periodic=False,
                                                    dtype=torch.float64)[m - m // 2:]
                self.register_buffer("attack_window", window.to(targets), persistent=False)
                attack = self._attack_magnitude(targets)
                self.attack_floor = (attack.amax(dim=-1, keepdim=True).clamp_min(1e-8)
                                     * 10 ** (-ATTACK_FLOOR_DB / 20))
                self.target_attack = torch.log1p(attack / self.attack_floor)
                self.attack_silence = torch.linalg.vector_norm(self.target_attack,
                                                               dim=-1).clamp_min(1e-12)
        #: the SCRAPL term's loss (at 11025 Hz), or None
        self.scrapl_term: Optional[AudioLoss] = None
        if scrapl_weight > 0:
            self.scrapl_term = AudioLoss("scrapl", n, sample_rate, use_p_adam=False,
                                         use_p_saga=False, seed=seed).to(targets.device)
            with torch.no_grad():       # the targets' first order, once
                self.target_scalogram = self.scrapl_term.scalogram(targets)

    @property
    def scrapl(self) -> Optional[SCRAPLLoss]:
        """The SCRAPL term's :class:`scrapl.loss.SCRAPLLoss` (path sampler and distance),
        or None without a SCRAPL term."""
        return None if self.scrapl_term is None else self.scrapl_term.scrapl

    def _magnitudes(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``|STFT|`` per scale, flattened: [(rows, bins * frames)]."""
        return [stft_magnitude(x, size, hop, getattr(self, f"window_{k}")).flatten(1)
                for k, (size, hop) in enumerate(zip(FFT_SIZES, HOP_SIZES))]

    def _envelope(self, x: torch.Tensor) -> torch.Tensor:
        """The envelope term's frame levels (dB) of x (rows, n): (rows, frames) broadband or
        (rows, 2 * frames) in two bands (:func:`band_envelopes_db`)."""
        if self.envelope_split_hz is None:
            return envelope_db(x)
        return band_envelopes_db(x, self.sample_rate, self.envelope_split_hz,
                                 window=self.envelope_window)

    def _attack_magnitude(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, bins): |rfft| of the first :data:`ATTACK_S` seconds of x (rows, n), the
        window flat from the start and tapered by a half Hann window over its second half."""
        m = self.attack_window.shape[0]
        return torch.fft.rfft(x[:, :m] * self.attack_window, n=1 << (m - 1).bit_length()).abs()

    def _attack_term(self, magnitude: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """(rows,): the attack term of each row (its :meth:`_attack_magnitude`, (rows, bins))
        against its target ``index`` (rows,)."""
        spectrum = torch.log1p(magnitude / self.attack_floor[index])
        return (torch.linalg.vector_norm(self.target_attack[index] - spectrum, dim=-1)
                / self.attack_silence[index])

    @staticmethod
    def _compressed(magnitudes: List[torch.Tensor], floors: List[torch.Tensor]) -> List[torch.Tensor]:
        """``log1p(|STFT| / a)`` per scale, ``a`` (rows, 1) per row."""
        return [torch.log1p(m / a) for m, a in zip(magnitudes, floors)]

    def forward(self, x: torch.Tensor, index: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.scored(x, index)[0]

    def scored(self, x: torch.Tensor, index: Optional[torch.Tensor] = None
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(forward(x, index), score)``: the loss (rows,), differentiable, and the same loss
        without the SCRAPL term (rows,), detached.  The score compares presets across steps;
        the SCRAPL term cannot, its path changes every call."""
        x = x.reshape(x.shape[0], -1)
        if index is None:
            index = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        index = torch.as_tensor(index, device=x.device).long()
        spectra = self._compressed(self._magnitudes(x), [a[index] for a in self.spectral_floor])
        loss = sum(torch.linalg.vector_norm(t[index] - s, dim=-1)
                   for s, t in zip(spectra, self.target_spectra)) / self.silence[index]
        if self.envelope_weight:
            env = (self._envelope(x) - self.target_env[index]).abs().mean(dim=-1) / 20.0
            loss = loss + self.envelope_weight * env
        if self.attack_weight:
            loss = loss + self.attack_weight * self._attack_term(self._attack_magnitude(x), index)
        score = loss.detach()
        if self.scrapl_term is not None:
            path = self.scrapl.sample_path()
            S_t = self.scrapl_term.path_coefficients(None, path, scalogram=self.target_scalogram)
            S_x = self.scrapl_term.path_coefficients(x, path)
            d = self.scrapl.distance(S_x, S_t[index], "none")
            # the scale of this path's distances: that of silence (coefficients ~0)
            silence = self.scrapl.distance(torch.zeros_like(S_t), S_t, "none")
            loss = loss + self.scrapl_weight * d / silence[index].clamp_min(1e-12)
        return loss, score

    def rows(self, index: torch.Tensor):
        """:meth:`scored` with ``index`` fixed: a callable ``x -> (loss, score)``, each
        (rows,) (what :func:`matching.engine.refine` takes)."""
        index = torch.as_tensor(index).long()
        return lambda x: self.scored(x, index.to(x.device))

    def pairwise(self, x: torch.Tensor) -> torch.Tensor:
        """(K, rows): the loss of every row of x against every target (without SCRAPL)."""
        if self.scrapl is not None:
            raise ValueError("pairwise scores have no SCRAPL term (scrapl_weight must be 0)")
        x = x.reshape(x.shape[0], -1)
        mode = "donot_use_mm_for_euclid_dist"
        magnitudes = self._magnitudes(x)
        loss = torch.stack([  # each target compresses the rows with its own floor
            sum(torch.cdist(t[k:k + 1], torch.log1p(m / a[k]), compute_mode=mode)[0]
                for m, t, a in zip(magnitudes, self.target_spectra, self.spectral_floor))
            for k in range(self.targets.shape[0])])
        loss = loss / self.silence[:, None]
        if self.envelope_weight:
            env = self._envelope(x)
            env = torch.cdist(self.target_env, env, p=1) / env.shape[-1] / 20.0
            loss = loss + self.envelope_weight * env
        if self.attack_weight:
            attack = self._attack_magnitude(x)
            rows = torch.ones(x.shape[0], dtype=torch.long, device=x.device)
            loss = loss + self.attack_weight * torch.stack([
                self._attack_term(attack, rows * k) for k in range(self.targets.shape[0])])
        return loss


# ----------------------------------------------------------------------------- distances
class Distances:
    """:func:`match_distances` for many rows at once, keeping its transforms (mel
    filter bank; MSS and JTFS :class:`~matching.audio_loss.AudioLoss`) per length and
    sample rate between calls.  ``jtfs=False`` leaves the full-JTFS distance out."""

    def __init__(self, jtfs: bool = True):
        self.with_jtfs = jtfs
        self._losses: Dict[tuple, Dict[str, AudioLoss]] = {}  # by (length, rate, device)
        self._mel: Dict[tuple, nn.Module] = {}                # by (sample rate, device)

    def _audio_losses(self, n: int, sample_rate: int, device: torch.device
                      ) -> Dict[str, AudioLoss]:
        """The MSS distances (and the JTFS one, if ``with_jtfs``) of signals of n samples
        at ``sample_rate``, ``reduction='none'``, built once."""
        key = (n, sample_rate, device)
        if key not in self._losses:
            losses = {name: AudioLoss("mss", n, sample_rate, mss_mode=mode, reduction="none")
                      for name, mode in (("mss", "log"), ("mss_revisited", "revisited"))}
            if self.with_jtfs:
                losses["jtfs"] = AudioLoss("jtfs", n, sample_rate, reduction="none")
            self._losses[key] = {k: v.to(device) for k, v in losses.items()}
        return self._losses[key]

    def __call__(self, x: torch.Tensor, target: torch.Tensor, sample_rate: int,
                 index: Optional[torch.Tensor] = None, chunk: int = 8
                 ) -> List[Dict[str, float]]:
        """Distances of row i of ``x`` (M, n) against row ``index[i]`` of ``target``
        (default: row i); each target's transforms are computed once."""
        index = torch.arange(x.shape[0]) if index is None else torch.as_tensor(index).long()
        if target.shape[0] > chunk:       # a few targets (and their rows) at a time
            out: List[Optional[Dict[str, float]]] = [None] * x.shape[0]
            for lo in range(0, target.shape[0], chunk):
                rows = torch.nonzero((index >= lo) & (index < lo + chunk)).flatten()
                part = self(x[rows], target[lo:lo + chunk], sample_rate, index[rows] - lo, chunk)
                for r, d in zip(rows.tolist(), part):
                    out[r] = d
            return out                      # type: ignore[return-value]
        import torchaudio
        x = x.reshape(x.shape[0], -1).float()
        target = target.reshape(target.shape[0], -1).float()
        mel_key = (sample_rate, x.device)
        if mel_key not in self._mel:
            self._mel[mel_key] = torchaudio.transforms.MelSpectrogram(
                sample_rate, n_fft=2048, hop_length=256, n_mels=128).to(x.device)
        mel, losses = self._mel[mel_key], self._audio_losses(x.shape[-1], sample_rate, x.device)
        index = index.to(x.device)
        with torch.no_grad():
            lm = lambda s: torch.log(mel(s) + 1e-6)
            values = {
                "log_mel": (lm(x) - lm(target)[index]).abs().mean(dim=(-2, -1)),
                "mss": losses["mss"](x, target[index]),
                "mss_revisited": losses["mss_revisited"](x, target[index]),
                "envelope_db": (envelope_db(x) - envelope_db(target)[index]).abs().mean(dim=-1),
            }
            if "jtfs" in losses:        # the JTFS loss with reduction 'none', each target once
                jtfs = losses["jtfs"]
                both = jtfs.coefficients(torch.cat([target, x]))  # one call: targets, then rows
                d = jtfs.coefficient_distances(both[len(target):], both[:len(target)][index])
                values["jtfs"] = d.mean(dim=-1)
        return [{k: float(v[i]) for k, v in values.items()} for i in range(x.shape[0])]


def batch_distances(x: torch.Tensor, target: torch.Tensor, sample_rate: int,
                    index: Optional[torch.Tensor] = None, jtfs: bool = True
                    ) -> List[Dict[str, float]]:
    """:func:`match_distances` of each row of ``x`` (M, n) against row ``index[i]`` of
    ``target`` (default: the same row); ``jtfs=False`` leaves out the full-JTFS distance
    (the slowest)."""
    return _SHARED_DISTANCES[jtfs](x, target, sample_rate, index)


_SHARED_DISTANCES = {True: Distances(), False: Distances(jtfs=False)}


def match_distances(x: torch.Tensor, target: torch.Tensor, sample_rate: int) -> Dict[str, float]:
    """Distances reported for a match (lower is better): ``log_mel`` (mean |Δ| of log-mel
    energies, 128 bands), ``mss`` (MSS log + lin.), ``mss_revisited``, ``envelope_db`` (mean
    |Δ| of frame levels, dB) and ``jtfs`` (full JTFS distance, log1p, at 11025 Hz)."""
    return batch_distances(x.reshape(1, -1), target.reshape(1, -1), sample_rate)[0]
