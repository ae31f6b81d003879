"""Torch reference implementation of the joint time-frequency scattering (JTFS).

Reproduces the JTFS of the kymatio 0.4.0.dev0 copy vendored by ``scrapl-loss``
0.1.0 (``TimeFrequencyScatteringTorch(..., format='joint')`` for the full
transform, ``TimeFrequencyScraplTorch.scattering_singlepath`` for one path),
with only local averaging (``T``/``F`` integers or None; no 'global', no
``T=0``).  Filters come from :mod:`scrapl.filter_bank`; all array work goes
through the narrow primitives of :mod:`scrapl.primitives`.

Shapes (B = product of the leading axes of the input):

* input ``x``: real ``(..., N)``, N samples;
* first order, temporal: ``U1 = |x * psi1_n1|`` subsampled by ``2**k1``,
  ``k1 = min(j1, log2_stride)``;
* second order, temporal: ``Y2 = U1 * psi2_n2`` for the n1 with ``j1 < j2``,
  subsampled to ``2**j2`` -> ``(B, n1_max, N_padded / 2**j2)`` complex;
* frequential: convolution over n1 (zero-padded to ``N_padded_fr``) with
  ``psis_fr[n_fr]``, subsampled by ``2**min(j_fr, log2_stride_fr)``, modulus,
  then temporal averaging by ``phi`` to stride ``2**log2_stride`` and (spin != 0)
  frequential averaging by ``phi_fr`` to stride ``2**log2_stride_fr``.

Outputs are real ``(..., freq, time)`` per path with
``freq = N_padded_fr / 2**log2_stride_fr`` and time either padded
(``N_padded / 2**log2_stride``) or unpadded
(``ind_end[log2_stride] - ind_start[log2_stride]``).  The frequency axis is
never unpadded (like the peer's 'joint' array output).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from . import primitives as P
from .filter_bank import filter_operator, jtfs_filterbank

__all__ = ["JTFS"]


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
    """

    def __init__(self, N: int, J: int, Q: Union[int, Tuple[int, int]], J_fr: int,
                 Q_fr: int = 1, T: Optional[int] = None, F: Optional[int] = None,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
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

        t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype)
        # psi1 at full resolution, stacked (n1, N_padded)
        self.register_buffer("psi1", t(np.stack([p["levels"][0] for p in fb["psi1"]])),
                             persistent=False)
        # psi2 levels: psi2_{n2}_{k} of length N_padded / 2**k
        for n2, p in enumerate(fb["psi2"]):
            for k, lv in enumerate(p["levels"]):
                self.register_buffer(f"psi2_{n2}_{k}", t(lv), persistent=False)
        for k, lv in enumerate(fb["phi"]["levels"]):
            self.register_buffer(f"phi_{k}", t(lv), persistent=False)
        # frequential filters at full resolution, stacked (n_fr, N_padded_fr)
        self.register_buffer("psis_fr", t(np.stack([p["levels"][0] for p in fb["psis_fr"]])),
                             persistent=False)
        for k, lv in enumerate(fb["phi_fr"]["levels"]):
            self.register_buffer(f"phi_fr_{k}", t(lv), persistent=False)

        # Dense operators on the short axes (see filter_bank.filter_operator):
        # frequential wavelet n_fr + subsampling, (N_fr / 2**k_fr, N_fr) complex
        ctype = torch.complex64 if dtype == torch.float32 else torch.complex128
        for n_fr, p in enumerate(fb["psis_fr"]):
            k_fr = min(p["j"], self.log2_stride_fr)
            op = filter_operator(p["levels"][0], 2 ** k_fr)
            self.register_buffer(f"op_psi_fr_{n_fr}", torch.as_tensor(op, dtype=ctype),
                                 persistent=False)
        # frequential averaging from resolution k, (N_fr / 2**log2_stride_fr, N_fr / 2**k)
        for k, lv in enumerate(fb["phi_fr"]["levels"]):
            if k <= self.log2_stride_fr:
                op = filter_operator(lv, 2 ** (self.log2_stride_fr - k)).real
                self.register_buffer(f"op_phi_fr_{k}", t(op), persistent=False)
        # temporal averaging operators (L, M) are built lazily (large for small k)
        self._phi_levels_np = [np.asarray(lv) for lv in fb["phi"]["levels"]]
        self._phi_ops: Dict[tuple, torch.Tensor] = {}

    # ------------------------------------------------------------------ helpers
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

    def _n1_max(self, n2: int) -> int:
        return sum(1 for j1 in self.j1 if j1 < self.j2[n2])

    def _prepare(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Size]:
        """x (..., N) -> padded spectrum U0_hat (B, N_padded) complex, batch shape."""
        if x.shape[-1] != self.N:
            raise ValueError(f"expected last axis of size {self.N}, got {x.shape[-1]}")
        batch_shape = x.shape[:-1]
        x = x.reshape(-1, self.N).to(self.psi1.dtype)
        U0 = P.pad(x, self.pad_left, self.pad_right)
        return P.fft(U0), batch_shape

    def _U1_hats(self, U0_hat: torch.Tensor, n1_max: int
                 ) -> List[Tuple[int, torch.Tensor]]:
        """First-order scalogram spectra, one batched op per k1 group.

        Returns [(k1, U1_hat (B, b - a, N_padded / 2**k1) complex)] in n1 order.
        """
        out = []
        for k1, a, b in self._groups(n1_max):
            U1 = P.modulus(P.ifft(P.subsample_fourier(
                P.cdgmm(U0_hat, self.psi1[a:b]), 2 ** k1)))
            out.append((k1, P.fft(U1)))
        return out

    def _Y2(self, U1_hats: List[Tuple[int, torch.Tensor]], n2: int) -> torch.Tensor:
        """Second-order temporal wavelet transform, (B, n1_max, N_padded / 2**j2) complex."""
        j2, n1_max, ys, n = self.j2[n2], self._n1_max(n2), [], 0
        for k1, U1_hat in U1_hats:
            if n >= n1_max:
                break
            U1_hat = U1_hat[:, : n1_max - n]
            n += U1_hat.shape[1]
            k2 = min(j2 - k1, self.log2_stride)
            if k1 + k2 != j2:
                raise NotImplementedError("unequal second-order resolutions")
            ys.append(P.ifft(P.subsample_fourier(
                P.cdgmm(U1_hat, getattr(self, f"psi2_{n2}_{k1}")), 2 ** k2)))
        return torch.cat(ys, dim=1) if len(ys) > 1 else ys[0]

    def _freq_scatter(self, X: torch.Tensor, n_fr: int, k_in: int,
                      time_average: bool) -> torch.Tensor:
        """Frequential wavelet n_fr, modulus, averaging.

        X: (B, n1, L) complex or real, at temporal resolution 2**k_in
        -> real (B, N_padded_fr / 2**log2_stride_fr, N_padded / 2**log2_stride).
        The frequential convolutions (zero-padded n1 axis, length N_padded_fr)
        and the temporal average are dense operators (matmuls); see
        ``filter_bank.filter_operator``.
        """
        j_fr = self.j_fr[n_fr]
        k_fr = min(j_fr, self.log2_stride_fr)
        G = getattr(self, f"op_psi_fr_{n_fr}")[:, : X.shape[-2]]       # (fr, n1)
        if not X.is_complex():
            X = X.to(G.dtype)
        U = P.modulus(P.apply_left(G, X))                               # (B, fr, L)
        if time_average:
            U = P.apply_right(U, self._time_avg_op(k_in))              # (B, fr, T)
        if self.spin[n_fr] != 0:
            k = min(j_fr, self.log2_F)
            if k != k_fr:
                raise NotImplementedError("stride_fr other than 2**log2_F")
            U = P.apply_left(getattr(self, f"op_phi_fr_{k}"), U)
        return U

    def _time_avg_op(self, k_in: int) -> torch.Tensor:
        """Temporal averaging from resolution 2**k_in to 2**log2_stride as a dense
        real matrix (N_padded / 2**k_in, N_padded / 2**log2_stride), cached."""
        ref = self.phi_0
        key = (k_in, ref.device, ref.dtype)
        if key not in self._phi_ops:
            op = filter_operator(self._phi_levels_np[k_in], 2 ** (self.log2_stride - k_in))
            self._phi_ops[key] = torch.as_tensor(op.real.T.copy(), dtype=ref.dtype,
                                                 device=ref.device)
        return self._phi_ops[key]

    def _unpad(self, S: torch.Tensor) -> torch.Tensor:
        r = self.log2_stride
        return P.unpad(S, self.ind_start[r], self.ind_end[r])

    # ------------------------------------------------------------------ public
    def single_path(self, x: torch.Tensor, n2: int, n_fr: int, unpad: bool = True
                    ) -> torch.Tensor:
        """One second-order JTFS path (n2, n_fr).

        x: real (..., N).  Returns real (..., freq, time) with
        freq = N_padded_fr / 2**log2_stride_fr and time = N_padded / 2**log2_stride
        if ``unpad=False`` (the peer's ``scattering_singlepath`` output, which is
        not unpadded) or the unpadded length if ``unpad=True`` (equal to the
        corresponding channel of :meth:`full`).  Only the first-order filters with
        j1 < j2 are computed.
        """
        U0_hat, batch_shape = self._prepare(x)
        Y2 = self._Y2(self._U1_hats(U0_hat, self._n1_max(n2)), n2)
        S = self._freq_scatter(Y2, n_fr, self.j2[n2], time_average=True)
        if unpad:
            S = self._unpad(S)
        return S.reshape(batch_shape + S.shape[-2:])

    def path(self, x: torch.Tensor, path_idx: int, unpad: bool = True) -> torch.Tensor:
        """:meth:`single_path` for ``scrapl_keys[path_idx]``."""
        n2, n_fr = self.scrapl_keys[path_idx]
        return self.single_path(x, n2, n_fr, unpad=unpad)

    def first_order(self, x: torch.Tensor, unpad: bool = True) -> torch.Tensor:
        """First-order JTFS channels, real (..., len(first_order_keys), freq, time)."""
        U0_hat, batch_shape = self._prepare(x)
        return self._first_order(self._U1_hats(U0_hat, len(self.j1)), batch_shape, unpad)

    def _first_order(self, U1_hats, batch_shape, unpad):
        S1 = torch.cat([P.ifft(P.subsample_fourier(
            P.cdgmm(U1_hat, getattr(self, f"phi_{k1}")),
            2 ** (self.log2_stride - k1))).real for k1, U1_hat in U1_hats], dim=1)
        out = []
        for (n_fr,) in self.first_order_keys:
            S = self._freq_scatter(S1, n_fr, self.log2_stride, time_average=False)
            out.append(self._unpad(S) if unpad else S)
        S = torch.stack(out, dim=1)
        return S.reshape(batch_shape + S.shape[1:])

    def full(self, x: torch.Tensor, paths: Optional[Sequence[int]] = None,
             first_order: bool = True, unpad: bool = True) -> torch.Tensor:
        """Full JTFS in the peer's 'joint' layout.

        x: real (..., N).  Returns real (..., C, freq, time), channels = the
        first-order channels (``first_order_keys``, if ``first_order``) followed
        by the second-order paths ``scrapl_keys[i]`` for i in ``paths`` (default:
        all, i.e. C = len(first_order_keys) + len(scrapl_keys) like the peer).
        The first-order scalogram is computed once and shared by all paths.
        """
        U0_hat, batch_shape = self._prepare(x)
        paths = range(len(self.scrapl_keys)) if paths is None else paths
        n1_needed = max([len(self.j1) if first_order else 0] +
                        [self._n1_max(self.scrapl_keys[i][0]) for i in paths])
        U1_hats = self._U1_hats(U0_hat, n1_needed)
        out = []
        if first_order:
            out.append(self._first_order(U1_hats, torch.Size([U0_hat.shape[0]]), unpad))
        Y2_cache: Dict[int, torch.Tensor] = {}
        for i in paths:
            n2, n_fr = self.scrapl_keys[i]
            if n2 not in Y2_cache:
                Y2_cache = {n2: self._Y2(U1_hats, n2)}
            S = self._freq_scatter(Y2_cache[n2], n_fr, self.j2[n2], time_average=True)
            out.append((self._unpad(S) if unpad else S).unsqueeze(1))
        S = torch.cat(out, dim=1)
        return S.reshape(batch_shape + S.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Alias of :meth:`full` (all channels, unpadded)."""
        return self.full(x)
