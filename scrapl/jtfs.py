"""Torch reference implementation of the joint time-frequency scattering (JTFS).

Reproduces the JTFS of the kymatio 0.4.0.dev0 copy vendored by ``scrapl-loss``
0.1.0 (``TimeFrequencyScatteringTorch(..., format='joint')`` for the full
transform, ``TimeFrequencyScraplTorch.scattering_singlepath`` for one path),
with only local averaging (``T``/``F`` integers or None; no 'global', no
``T=0``).  Filters come from :mod:`scrapl.filter_bank`; the FFTs are ``torch.fft``
and the work between them goes through the kernels dispatcher (:mod:`kernels.dispatch`,
imported as ``K``): ``K.band_modulus_rfft`` (first order), ``K.band_fold`` (second
order and first-order averaging), ``K.modulus_average`` (frequential stage of a path),
``K.modulus`` (frequential stage of the first-order channels).

What runs where: the dispatcher picks per call from the tensors' device
(``SYNTHMATCH_KERNELS`` / :mod:`kernels.dispatch` to force one): on the CPU the fused
torch ops of :mod:`kernels.cpu_ops` for ``K.band_modulus_rfft`` and ``K.modulus_average``
and the plain torch definitions of :mod:`kernels.reference` for the other ops (the numba
modulus only when asked for, ``SYNTHMATCH_KERNELS=numba``); on CUDA the Triton kernels
(float32; the reference in float64); with ``SYNTHMATCH_KERNELS=reference`` the plain torch
definitions everywhere (slow; the check for the others).  Results agree to float rounding
(``tests/test_jtfs_backends.py``).

Shapes (B = product of the leading axes of the input):

* input ``x``: real ``(..., N)``, N samples;
* first order, temporal: ``U1 = |x * psi1_n1|`` subsampled by ``2**k1``,
  ``k1 = min(j1, log2_stride)``; kept as its one-sided spectrum in a
  :class:`Scalogram` (``(n1, B, M // 2 + 1)`` tensors, n1 first);
* second order, temporal: ``Y2 = U1 * psi2_n2`` for the n1 with ``j1 < j2``,
  subsampled to ``2**j2`` -> ``(n1_max, B, N_padded / 2**j2)`` complex;
* frequential: convolution over n1 (zero-padded to ``N_padded_fr``) with
  ``psis_fr[n_fr]``, subsampled by ``2**min(j_fr, log2_stride_fr)``, modulus,
  then temporal averaging by ``phi`` to stride ``2**log2_stride`` and (spin != 0)
  frequential averaging by ``phi_fr`` to stride ``2**log2_stride_fr``.

Outputs are real ``(..., freq, time)`` per path with
``freq = N_padded_fr / 2**log2_stride_fr`` and time either padded
(``N_padded / 2**log2_stride``) or unpadded
(``ind_end[log2_stride] - ind_start[log2_stride]``).  The frequency axis is
never unpadded (like the peer's 'joint' array output).

How the work is kept small (same results as the direct computation up to float
rounding; ``tests/test_jtfs_parity.py``, ``tests/test_jtfs_paths.py``):

* temporal filters are band-limited: each is applied by reading only the blocks of
  the spectrum that hold its band (blocks of the subsampled output length; a block
  is skipped when all its values are below ``band_threshold`` times the filter's
  peak: 1e-12 in float32, 1e-17 in float64) and folding them, which is the
  periodization of the subsampling (:func:`kernels.band_fold`,
  :func:`kernels.band_modulus_rfft`);
* U1 is real: kept as a one-sided spectrum (``rfft``); the first order runs a few
  filters at a time (small temporaries; on the CPU with a hand-written backward);
* the frequential convolution, modulus and temporal averaging of a second-order path
  run fused (:func:`kernels.modulus_average`; on the CPU chunked over time, in real
  arithmetic, the averaging restricted to each chunk's band of output frames: an
  :class:`kernels.AveragePlan` per input resolution and chunk length, built once; the
  Gaussian's weights below 1e-9 of its peak dropped in float32, none in float64);
* filter values below ``eps(dtype)**2`` of a filter's peak are stored as exact zeros
  (in float32 they would be denormal numbers, which slow CPU arithmetic down ~10x);
* the modulus is ``sqrt(|z|**2 + 1e-24)`` (:func:`kernels.reference.stable_abs`), within
  1e-12 of the peer's ``|z| + 1e-12`` (identical at 0 and to rounding for
  ``|z| >> 1e-12``), which avoids the slow path of the vectorised square root at exact
  zeros.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F_
from torch import nn

from kernels import dispatch as K

from .filter_bank import band_blocks, band_window, filter_operator, jtfs_filterbank

__all__ = ["JTFS", "Scalogram"]

# relative magnitude below which a block of a Fourier filter is not read, per dtype
BAND_THRESHOLD = {torch.float32: 1e-12, torch.float64: 1e-17}
# relative magnitude below which temporal-averaging weights are dropped, per dtype
AVERAGE_THRESHOLD = {torch.float32: 1e-9, torch.float64: 0.0}
# bytes of one chunk of filters (complex, batch x length) in the first order
FIRST_ORDER_CHUNK_BYTES = 2 ** 23


def _pad(x: torch.Tensor, pad_left: int, pad_right: int) -> torch.Tensor:
    """Reflect-pad real x (B, N) along the last axis -> (B, N + pad_left + pad_right)."""
    if pad_left >= x.shape[-1] or pad_right >= x.shape[-1]:
        raise ValueError("Indefinite padding size (larger than tensor).")
    return F_.pad(x.unsqueeze(1), (pad_left, pad_right), mode="reflect").squeeze(1)


def _flush_tiny(a, dtype: torch.dtype, amax: Optional[float] = None) -> np.ndarray:
    """Zero the entries of a filter array below ``eps(dtype)**2 * max|a|`` (default max
    over a): far below rounding, and in float32 they would be denormal numbers, which
    make CPU arithmetic (matmuls, products with the filter) many times slower."""
    a = np.array(a)
    amax = np.abs(a).max() if amax is None else amax
    parts = (a.real, a.imag) if np.iscomplexobj(a) else (a,)
    for part in parts:                # real and imaginary parts separately
        part[np.abs(part) < torch.finfo(dtype).eps ** 2 * amax] = 0
    return a


@dataclass
class Scalogram:
    """First-order scalogram of a batch of real signals, as the paths need it.

    ``groups``: entries ``(k1, n1_start, n1_stop, U1_hat)`` for consecutive runs of
    first-order filters with the same subsampling ``2**k1`` (a run of equal k1 may be
    split over several entries), in n1 order, where ``U1_hat`` is
    complex ``(n1_stop - n1_start, B, M // 2 + 1)`` (filters first): the one-sided
    spectrum (``rfft``) of ``U1 = |x * psi1_n1|`` subsampled by ``2**k1``
    (``M = N_padded / 2**k1``).
    ``batch_shape``: the leading axes of the input (B is their product).
    Covers n1 < ``n1_max``.  Differentiable w.r.t. the input it was computed from.
    """

    groups: List[Tuple[int, int, int, torch.Tensor]]
    batch_shape: torch.Size

    @property
    def n1_max(self) -> int:
        """Number of first-order filters covered (n1 = 0 .. n1_max - 1)."""
        return self.groups[-1][2] if self.groups else 0

    def tensors(self) -> List[torch.Tensor]:
        """The spectra, one per group."""
        return [g[3] for g in self.groups]

    def detach(self) -> "Scalogram":
        """A copy cut from the autograd graph (e.g. a cached target)."""
        return Scalogram([(k, a, b, U.detach()) for k, a, b, U in self.groups],
                         self.batch_shape)

    def detach_(self) -> "Scalogram":
        """Detach in place; returns self."""
        self.groups = self.detach().groups
        return self

    def requires_grad_(self, flag: bool = True) -> "Scalogram":
        for U in self.tensors():
            U.requires_grad_(flag)
        return self


class JTFS(nn.Module):
    """Joint time-frequency scattering with filters held as buffers.

    Parameters
    ----------
    N : int         input length (samples)
    J : int         octaves of the temporal wavelets (max scale 2**J samples)
    Q : (int, int)  wavelets per octave at orders 1 and 2
    J_fr : int      octaves of the frequential wavelets (in first-order filters)
    Q_fr : int      frequential wavelets per octave
    T : int|None    temporal averaging support, samples (default 2**J)
    F : int|None    frequential averaging support, first-order filters (default 2**J_fr)
    dtype           real dtype of filters and computation (float32 like the peer)

    Attributes: ``scrapl_keys`` (list of (n2, n_fr), the peer's path order),
    ``first_order_keys`` (list of (n_fr,)), ``meta`` (filter metadata dicts
    without the arrays), plus the scalar fields of the filter bank
    (``N_padded``, ``pad_left``, ``log2_stride``, ...).

    Main methods: :meth:`single_path` / :meth:`single_paths` (SCRAPL paths, optionally
    from a precomputed :meth:`scalogram`), :meth:`full` (all channels), :meth:`first_order`.
    """

    def __init__(self, N: int, J: int, Q: Union[int, Tuple[int, int]], J_fr: int,
                 Q_fr: int = 1, T: Optional[int] = None, F: Optional[int] = None,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        if dtype not in BAND_THRESHOLD:
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        fb = jtfs_filterbank(N, J, Q, J_fr, Q_fr, T, F)
        for key in ("N", "J", "Q", "J_fr", "Q_fr", "T", "F", "log2_stride",
                    "log2_stride_fr", "N_padded", "N_padded_fr", "pad_left",
                    "pad_right", "ind_start", "ind_end"):
            setattr(self, key, fb[key])
        self.scrapl_keys: List[Tuple[int, int]] = fb["scrapl_keys"]
        self.first_order_keys: List[Tuple[int]] = fb["first_order_keys"]
        strip = lambda d: {k: v for k, v in d.items() if k != "levels"}
        self.meta = {"phi": strip(fb["phi"]), "psi1": [strip(p) for p in fb["psi1"]],
                     "psi2": [strip(p) for p in fb["psi2"]],
                     "phi_fr": strip(fb["phi_fr"]),
                     "psis_fr": [strip(p) for p in fb["psis_fr"]]}
        self.j1 = [p["j"] for p in fb["psi1"]]
        self.j2 = [p["j"] for p in fb["psi2"]]
        self.j_fr = [p["j"] for p in fb["psis_fr"]]
        self.spin = [int(np.sign(p["xi"])) for p in fb["psis_fr"]]
        self.log2_F = fb["phi_fr"]["j"]
        if any(np.diff(self.j1) < 0):
            raise ValueError("first-order j must be non-decreasing in n1")
        self.band_threshold = BAND_THRESHOLD[dtype]
        self.average_threshold = AVERAGE_THRESHOLD[dtype]

        t = lambda a: torch.as_tensor(_flush_tiny(a, dtype), dtype=dtype)
        Np, ls = self.N_padded, self.log2_stride
        n_out = Np >> ls

        def band(name: str, filters: Sequence[np.ndarray], M: int, scale: float) -> None:
            """Buffers ``{name}_index`` (K, m * M) and ``{name}_window`` (K, m * M, 2)."""
            m = max(len(band_blocks(h, M, self.band_threshold)) for h in filters)
            iw = [band_window(h, band_blocks(h, M, self.band_threshold, m), M, scale)
                  for h in filters]
            self.register_buffer(f"{name}_index",
                                 torch.as_tensor(np.stack([i for i, _ in iw])),
                                 persistent=False)
            self.register_buffer(f"{name}_window", t(np.stack([w for _, w in iw])),
                                 persistent=False)

        # first order: psi1 of a k1 group, subsampled by 2**k1 (mean), from the full
        # spectrum of the padded x: blocks (K, m) and window (K, m, M, 2) of
        # kernels.band_modulus_rfft; and the first-order low-pass phi from
        # resolution k1 to the output stride
        for k1, a, b in self._groups(len(self.j1)):
            M, hs = Np >> k1, [p["levels"][0] for p in fb["psi1"][a:b]]
            m = max(len(band_blocks(h, M, self.band_threshold)) for h in hs)
            blocks = np.stack([band_blocks(h, M, self.band_threshold, m) for h in hs])
            win = np.stack([h.reshape(-1, M)[bl] for h, bl in zip(hs, blocks)]) * 2.0 ** -k1
            self.register_buffer(f"psi1_{k1}_blocks", torch.as_tensor(blocks, dtype=torch.long),
                                 persistent=False)
            self.register_buffer(f"psi1_{k1}_window", t(np.stack([win, win], axis=-1)),
                                 persistent=False)
            band(f"phi_{k1}", [fb["phi"]["levels"][k1]], n_out, 2.0 ** -(ls - k1))
        # second order: psi2_{n2} at resolution k1, subsampled to 2**j2 (mean)
        for n2, p in enumerate(fb["psi2"]):
            j2 = p["j"]
            for k1 in sorted({self._k1(n1) for n1 in range(self.n1_max(n2))}):
                k2 = min(j2 - k1, ls)
                if k1 + k2 != j2:
                    raise NotImplementedError("unequal second-order resolutions")
                band(f"psi2_{n2}_{k1}", [p["levels"][k1]], Np >> j2, 2.0 ** -k2)

        # Dense operators on the short axes (see filter_bank.filter_operator):
        # frequential wavelet n_fr + subsampling, (N_fr / 2**k_fr, N_fr) complex
        ctype = torch.complex64 if dtype == torch.float32 else torch.complex128
        for n_fr, p in enumerate(fb["psis_fr"]):
            k_fr = min(p["j"], self.log2_stride_fr)
            op = filter_operator(p["levels"][0], 2 ** k_fr)
            self.register_buffer(f"op_psi_fr_{n_fr}",
                                 torch.as_tensor(_flush_tiny(op, dtype), dtype=ctype),
                                 persistent=False)
        # frequential averaging from resolution k, (N_fr / 2**log2_stride_fr, N_fr / 2**k)
        for k, lv in enumerate(fb["phi_fr"]["levels"]):
            if k <= self.log2_stride_fr:
                op = filter_operator(lv, 2 ** (self.log2_stride_fr - k)).real
                self.register_buffer(f"op_phi_fr_{k}", t(op), persistent=False)
        # temporal averaging operators (L, M) are built lazily (large for small k), kept
        # as kernels.AveragePlan (banded time chunks)
        self._phi_levels_np = [np.asarray(lv) for lv in fb["phi"]["levels"]]
        self._phi_ops: Dict[tuple, K.AveragePlan] = {}

    # ------------------------------------------------------------------ helpers
    @property
    def _dtype(self) -> torch.dtype:
        return self.psi1_0_window.dtype

    def _k1(self, n1: int) -> int:
        return min(self.j1[n1], self.log2_stride)

    def _groups(self, n1_max: int) -> List[Tuple[int, int, int]]:
        """Contiguous n1 ranges [a, b) of equal k1 among n1 < n1_max: (k1, a, b)."""
        groups, a = [], 0
        while a < n1_max:
            k, b = self._k1(a), a
            while b < n1_max and self._k1(b) == k:
                b += 1
            groups.append((k, a, b))
            a = b
        return groups

    def n1_max(self, n2: int) -> int:
        """Number of first-order filters a path with second-order filter n2 uses
        (those with j1 < j2; they are n1 = 0 .. n1_max - 1)."""
        return sum(1 for j1 in self.j1 if j1 < self.j2[n2])

    _n1_max = n1_max

    def _prepare(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Size]:
        """x (..., N) -> full spectrum of the padded x (B, N_padded) complex, batch shape."""
        if x.shape[-1] != self.N:
            raise ValueError(f"expected last axis of size {self.N}, got {x.shape[-1]}")
        batch_shape = x.shape[:-1]
        x = x.reshape(-1, self.N).to(self._dtype)
        return torch.fft.fft(_pad(x, self.pad_left, self.pad_right), dim=-1), batch_shape

    def _Y2(self, scalogram: Scalogram, n2: int) -> torch.Tensor:
        """Second-order temporal wavelet transform, (n1_max, B, N_padded / 2**j2) complex."""
        n1_max, L, ys = self.n1_max(n2), self.N_padded >> self.j2[n2], []
        for k1, a, b, U1_hat in scalogram.groups:
            if a >= n1_max:
                break
            U1_hat = U1_hat[: n1_max - a]
            ys.append(torch.fft.ifft(K.band_fold(
                U1_hat, getattr(self, f"psi2_{n2}_{k1}_index")[0],
                getattr(self, f"psi2_{n2}_{k1}_window")[0], L), dim=-1))
        return torch.cat(ys, dim=0) if len(ys) > 1 else ys[0]

    def _freq_scatter(self, X: torch.Tensor, n_fr: int, k_in: int,
                      time_average: bool) -> torch.Tensor:
        """Frequential wavelet n_fr, modulus, averaging.

        X: at temporal resolution 2**k_in, complex (n1, B, L) if ``time_average`` (the
        layout of :meth:`_Y2`), else (B, n1, L) complex or real
        -> real (B, N_padded_fr / 2**log2_stride_fr, N_padded / 2**log2_stride).
        The frequential convolutions (zero-padded n1 axis, length N_padded_fr)
        and the temporal average are dense operators (matmuls); see
        ``filter_bank.filter_operator``.  With ``time_average`` the modulus and the
        temporal average run fused (``K.modulus_average`` with the plan of
        :meth:`_time_avg_plan`).
        """
        j_fr = self.j_fr[n_fr]
        k_fr = min(j_fr, self.log2_stride_fr)
        if time_average:
            G = getattr(self, f"op_psi_fr_{n_fr}")[:, : X.shape[0]]    # (fr, n1)
            plan = self._time_avg_plan(k_in, X.shape[1] * 2 * G.shape[0])
            U = K.modulus_average(X.transpose(0, 1), G, plan=plan)     # (B, fr, T)
        else:
            G = getattr(self, f"op_psi_fr_{n_fr}")[:, : X.shape[-2]]   # (fr, n1)
            if not X.is_complex():
                X = X.to(G.dtype)
            U = K.modulus(torch.matmul(G, X))                          # (B, fr, L)
        if self.spin[n_fr] != 0:
            k = min(j_fr, self.log2_F)
            if k != k_fr:
                raise NotImplementedError("stride_fr other than 2**log2_F")
            U = torch.matmul(getattr(self, f"op_phi_fr_{k}"), U)
        return U

    def _time_avg_op(self, k_in: int) -> np.ndarray:
        """Temporal averaging from resolution 2**k_in to 2**log2_stride as a dense
        real matrix (N_padded / 2**k_in, N_padded / 2**log2_stride), float64."""
        op = filter_operator(self._phi_levels_np[k_in], 2 ** (self.log2_stride - k_in))
        return np.ascontiguousarray(op.real.T)

    def _time_avg_plan(self, k_in: int, rows: int) -> K.AveragePlan:
        """The averaging operator of :meth:`_time_avg_op` as a ``K.AveragePlan`` (banded
        time chunks of ``K.chunk_length(L, rows)`` steps, weights below
        ``average_threshold`` of the peak dropped) for ``K.modulus_average``, cached per
        (k_in, chunk length, device, dtype)."""
        L = self.N_padded >> k_in
        chunk = K.chunk_length(L, rows)
        ref = self.psi1_0_window
        key = (k_in, chunk, ref.device, ref.dtype)
        if key not in self._phi_ops:
            A = torch.as_tensor(_flush_tiny(self._time_avg_op(k_in), ref.dtype),
                                dtype=ref.dtype, device=ref.device)
            self._phi_ops[key] = K.average_plan(A, chunk, self.average_threshold)
        return self._phi_ops[key]

    def _unpad(self, S: torch.Tensor) -> torch.Tensor:
        r = self.log2_stride
        return S[..., self.ind_start[r]:self.ind_end[r]]

    def _path_from(self, scalogram: Scalogram, n2: int, n_fr: int, unpad: bool,
                   Y2: Optional[torch.Tensor] = None) -> torch.Tensor:
        if Y2 is None:
            Y2 = self._Y2(scalogram, n2)
        S = self._freq_scatter(Y2, n_fr, self.j2[n2], time_average=True)
        if unpad:
            S = self._unpad(S)
        return S.reshape(scalogram.batch_shape + S.shape[-2:])

    def _check_scalogram(self, scalogram: Scalogram, n1_needed: int) -> None:
        if not isinstance(scalogram, Scalogram):
            raise TypeError("scalogram must be a Scalogram (from JTFS.scalogram)")
        if scalogram.n1_max < n1_needed:
            raise ValueError(f"the scalogram covers n1 < {scalogram.n1_max}, "
                             f"the path(s) need n1 < {n1_needed}")

    # ------------------------------------------------------------------ public
    def scalogram(self, x: torch.Tensor, n1_max: Optional[int] = None) -> Scalogram:
        """First-order scalogram of x (..., N) for the filters n1 < ``n1_max``
        (all of them if None), as the one-sided spectra the paths read.

        Compute it once to share the first order between several paths (see
        :meth:`single_paths`) or calls (a target that does not change).  Differentiable
        w.r.t. x."""
        n1_max = len(self.j1) if n1_max is None else int(n1_max)
        if not 0 <= n1_max <= len(self.j1):
            raise ValueError(f"n1_max must be in [0, {len(self.j1)}], got {n1_max}")
        x_hat, batch_shape = self._prepare(x)
        B, groups = x_hat.shape[0], []
        chunks, spans = [], []
        for k1, a, b in self._groups(n1_max):
            M = self.N_padded >> k1
            blocks = getattr(self, f"psi1_{k1}_blocks")
            window = getattr(self, f"psi1_{k1}_window")
            # a few filters at a time (small temporaries); one entry per chunk
            chunk = max(1, FIRST_ORDER_CHUNK_BYTES // (B * M * x_hat.element_size()))
            for c0 in range(a, b, chunk):
                c1 = min(b, c0 + chunk)
                chunks.append((blocks[c0 - a:c1 - a], window[c0 - a:c1 - a]))
                spans.append((k1, c0, c1))
        outs = K.band_modulus_rfft(x_hat, chunks) if chunks else ()
        groups = [(k1, c0, c1, U1_hat) for (k1, c0, c1), U1_hat in zip(spans, outs)]
        return Scalogram(groups, batch_shape)

    def single_path(self, x: Optional[torch.Tensor], n2: int, n_fr: int, unpad: bool = True,
                    scalogram: Optional[Scalogram] = None) -> torch.Tensor:
        """One second-order JTFS path (n2, n_fr).

        x: real (..., N).  Returns real (..., freq, time) with
        freq = N_padded_fr / 2**log2_stride_fr and time = N_padded / 2**log2_stride
        if ``unpad=False`` (the peer's ``scattering_singlepath`` output, which is
        not unpadded) or the unpadded length if ``unpad=True`` (equal to the
        corresponding channel of :meth:`full`).  Only the first-order filters with
        j1 < j2 are computed.  If ``scalogram`` (from :meth:`scalogram`) is given, the
        first order is read from it and x is not used (may be None); it must cover
        n1 < ``n1_max(n2)`` (ValueError otherwise).
        """
        n1 = self.n1_max(n2)
        if scalogram is None:
            scalogram = self.scalogram(x, n1)
        else:
            self._check_scalogram(scalogram, n1)
        return self._path_from(scalogram, n2, n_fr, unpad)

    def single_paths(self, x: Optional[torch.Tensor], keys: Sequence[Tuple[int, int]],
                     unpad: bool = True, scalogram: Optional[Scalogram] = None
                     ) -> List[torch.Tensor]:
        """Several paths ``[(n2, n_fr), ...]`` of the same x, as a list of
        :meth:`single_path` outputs: one first order (the largest ``n1_max`` of the keys,
        or ``scalogram`` if given, x then unused) and one second-order temporal
        transform per distinct n2."""
        keys = [(int(n2), int(n_fr)) for n2, n_fr in keys]
        if not keys:
            return []
        n1 = max(self.n1_max(n2) for n2, _ in keys)
        if scalogram is None:
            scalogram = self.scalogram(x, n1)
        else:
            self._check_scalogram(scalogram, n1)
        Y2: Dict[int, torch.Tensor] = {}
        out = []
        for n2, n_fr in keys:
            if n2 not in Y2:
                Y2[n2] = self._Y2(scalogram, n2)
            out.append(self._path_from(scalogram, n2, n_fr, unpad, Y2[n2]))
        return out

    def path(self, x: torch.Tensor, path_idx: int, unpad: bool = True,
             scalogram: Optional[Scalogram] = None) -> torch.Tensor:
        """:meth:`single_path` for ``scrapl_keys[path_idx]``."""
        n2, n_fr = self.scrapl_keys[path_idx]
        return self.single_path(x, n2, n_fr, unpad=unpad, scalogram=scalogram)

    def first_order(self, x: torch.Tensor, unpad: bool = True) -> torch.Tensor:
        """First-order JTFS channels, real (..., len(first_order_keys), freq, time)."""
        return self._first_order(self.scalogram(x), unpad)

    def time_scattering(self, x: Optional[torch.Tensor], unpad: bool = True,
                        scalogram: Optional[Scalogram] = None) -> torch.Tensor:
        """First-order time scattering ``|x * psi1_n1| * phi`` (the scalogram averaged over
        ``T``), real (..., n1, time) for all first-order filters (highest frequency
        first), unpadded like :meth:`full` if ``unpad``; from ``scalogram`` if given (it
        must cover every n1).  The input of the first-order JTFS channels."""
        if scalogram is None:
            scalogram = self.scalogram(x)
        else:
            self._check_scalogram(scalogram, len(self.j1))
        S1 = self._time_scattering(scalogram)
        if unpad:
            S1 = self._unpad(S1)
        return S1.reshape(scalogram.batch_shape + S1.shape[-2:])

    def _time_scattering(self, scalogram: Scalogram) -> torch.Tensor:
        """(B, n1, N_padded / 2**log2_stride) first-order time scattering, padded."""
        n_out = self.N_padded >> self.log2_stride
        S1 = torch.cat([torch.fft.ifft(K.band_fold(U1_hat, getattr(self, f"phi_{k1}_index")[0],
                                                   getattr(self, f"phi_{k1}_window")[0],
                                                   n_out), dim=-1).real
                        for k1, a, b, U1_hat in scalogram.groups], dim=0)
        return S1.permute(1, 0, 2)                                      # (B, n1, T)

    def _first_order(self, scalogram: Scalogram, unpad: bool) -> torch.Tensor:
        S1 = self._time_scattering(scalogram)
        out = []
        for (n_fr,) in self.first_order_keys:
            S = self._freq_scatter(S1, n_fr, self.log2_stride, time_average=False)
            out.append(self._unpad(S) if unpad else S)
        S = torch.stack(out, dim=1)
        return S.reshape(scalogram.batch_shape + S.shape[1:])

    def full(self, x: torch.Tensor, paths: Optional[Sequence[int]] = None,
             first_order: bool = True, unpad: bool = True) -> torch.Tensor:
        """Full JTFS in the peer's 'joint' layout.

        x: real (..., N).  Returns real (..., C, freq, time), channels = the
        first-order channels (``first_order_keys``, if ``first_order``) followed
        by the second-order paths ``scrapl_keys[i]`` for i in ``paths`` (default:
        all, i.e. C = len(first_order_keys) + len(scrapl_keys) like the peer).
        The first-order scalogram is computed once and shared by all paths.
        """
        paths = range(len(self.scrapl_keys)) if paths is None else paths
        n1_needed = max([len(self.j1) if first_order else 0] +
                        [self.n1_max(self.scrapl_keys[i][0]) for i in paths])
        scalogram = self.scalogram(x, n1_needed)
        out = []
        if first_order:
            out.append(self._first_order(scalogram, unpad).reshape(
                (-1, len(self.first_order_keys)) + self._out_shape(unpad)))
        Y2_cache: Dict[int, torch.Tensor] = {}
        for i in paths:
            n2, n_fr = self.scrapl_keys[i]
            if n2 not in Y2_cache:
                Y2_cache = {n2: self._Y2(scalogram, n2)}
            S = self._freq_scatter(Y2_cache[n2], n_fr, self.j2[n2], time_average=True)
            out.append((self._unpad(S) if unpad else S).unsqueeze(1))
        S = torch.cat(out, dim=1)
        return S.reshape(scalogram.batch_shape + S.shape[1:])

    def _out_shape(self, unpad: bool) -> Tuple[int, int]:
        r = self.log2_stride
        T = self.ind_end[r] - self.ind_start[r] if unpad else self.N_padded >> r
        return (self.N_padded_fr >> self.log2_stride_fr, T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Alias of :meth:`full` (all channels, unpadded)."""
        return self.full(x)
