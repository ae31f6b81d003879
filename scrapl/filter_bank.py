"""NumPy filter design for the joint time-frequency scattering (JTFS) transform.

Pure functions returning NumPy arrays and plain dict metadata, in the style of
``kymatio.scattering1d.filter_bank``.  They reproduce the filter bank of the
kymatio 0.4.0.dev0 copy vendored by the peer package ``scrapl-loss`` 0.1.0
(``TimeFrequencyScatteringBase``), built on top of the 1-D design functions of
PyPI kymatio 0.3.0 (``morlet_1d``, ``gauss_1d``, ``compute_params_filterbank``,
``periodize_filter_fourier``, ``compute_temporal_support``).

Differences from kymatio 0.3.0 that are handled here:

* subsampled filter "levels" are periodizations with a **sum** over periods
  (the dev copy's ``_reduction=np.sum``, fixing kymatio bug #984), whereas
  0.3.0's ``periodize_filter_fourier`` takes a mean;
* the maximal dyadic subsampling ``j`` uses ``|xi|`` (needed for the negative
  spin frequential filters);
* the number of levels per filter follows the dev copy
  (``min(max_j_previous_layer, j, 1 + log2_T)`` for wavelets,
  ``max(max_j, 1 + log2_T)`` for the low-pass);
* the frequential filter bank of JTFS (spinned Morlets + low-pass) does not
  exist in 0.3.0 at all.

Units: all frequencies (``xi``, ``sigma``) are normalised, 0.5 = Nyquist of the
signal the filter is applied to; filters are sampled at ``np.fft.fftfreq(N)``
(standard FFT order), real-valued (float64).  ``j`` is the log2 of the maximal
subsampling factor allowed after filtering.
"""
from __future__ import annotations

import copy
import functools
import math
from typing import Dict, List, Optional, Tuple

import numpy as np
from kymatio.scattering1d.filter_bank import (
    compute_params_filterbank,
    compute_temporal_support,
    gauss_1d,
    morlet_1d,
    periodize_filter_fourier,
)

SIGMA0 = 0.1
ALPHA = 5.0
R_PSI = math.sqrt(0.5)

__all__ = [
    "SIGMA0", "ALPHA", "R_PSI",
    "max_dyadic_subsampling", "periodize_sum", "wavelet_params",
    "spinned_wavelet_params", "compute_padding", "compute_border_indices",
    "time_padding", "frequency_padding", "time_filters", "frequency_filters",
    "filter_operator", "band_blocks", "band_window",
    "scrapl_keys", "first_order_keys", "jtfs_filterbank",
]


def max_dyadic_subsampling(xi: float, sigma: float, alpha: float = ALPHA) -> int:
    """Largest j such that a filter (xi, sigma) may be subsampled by 2**j.

    Same as kymatio's ``get_max_dyadic_subsampling`` but with ``|xi|``
    (valid for negative, "spin -1", center frequencies).
    """
    upper_bound = min(abs(xi) + alpha * sigma, 0.5)
    return int(math.floor(-math.log2(upper_bound)) - 1)


def periodize_sum(h_f: np.ndarray, level: int) -> np.ndarray:
    """Filter for a signal subsampled by 2**level: periodization (sum).

    h_f: (N,) Fourier filter.  Returns (N // 2**level,) with
    ``out[k] = sum_i h_f[i * N / 2**level + k]``.
    """
    n = 2 ** level
    return periodize_filter_fourier(h_f, nperiods=n) * n


def wavelet_params(J: int, Q: int, sigma0: float = SIGMA0, alpha: float = ALPHA,
                   r_psi: float = R_PSI) -> List[Dict]:
    """Center frequencies/bandwidths of a Morlet bank (dev ``anden_generator``).

    Returns a list of dicts ``{'xi', 'sigma', 'j'}`` (high to low frequency);
    sigma_min = sigma0 / 2**J.
    """
    xis, sigmas, _ = compute_params_filterbank(sigma0 / 2 ** J, Q, alpha, r_psi)
    return [{"xi": xi, "sigma": s, "j": max_dyadic_subsampling(xi, s, alpha)}
            for xi, s in zip(xis, sigmas)]


def spinned_wavelet_params(J: int, Q: int, **kw) -> List[Dict]:
    """Spin +1 filters (xi > 0) followed by their spin -1 mirrors (xi < 0)."""
    pos = wavelet_params(J, Q, **kw)
    return pos + [{**p, "xi": -p["xi"]} for p in pos]


def compute_padding(N_padded: int, N_input: int) -> Tuple[int, int]:
    """(pad_left, pad_right) centering a length-N_input signal in N_padded."""
    if N_padded < N_input:
        raise ValueError("padded size smaller than input size")
    to_add = N_padded - N_input
    pad_left = to_add // 2
    pad_right = to_add - pad_left
    if max(pad_left, pad_right) >= N_input:
        raise ValueError("Too large padding value, will lead to NaN errors")
    return pad_left, pad_right


def compute_border_indices(log2_T: int, J: int, i0: int, i1: int
                           ) -> Tuple[Dict[int, int], Dict[int, int]]:
    """Indices of the unpadded signal at every dyadic resolution 0..max(log2_T, J).

    ``padded[..., ind_start[j]:ind_end[j]]`` is the original support after
    subsampling by 2**j (conservative rounding up).
    """
    ind_start, ind_end = {0: i0}, {0: i1}
    for j in range(1, max(log2_T, J) + 1):
        ind_start[j] = ind_start[j - 1] // 2 + ind_start[j - 1] % 2
        ind_end[j] = ind_end[j - 1] // 2 + ind_end[j - 1] % 2
    return ind_start, ind_end


def time_padding(N: int, J: int, T: int, sigma0: float = SIGMA0) -> Dict:
    """Temporal padding of the dev kymatio ``ScatteringBase1D.build``.

    N: input length (samples); T: averaging support (samples).
    Returns N_padded (power of two), pad_left, pad_right (samples, reflect
    padding) and ind_start/ind_end (dict resolution -> index).
    """
    phi_f = gauss_1d(N, sigma0 / T)
    min_to_pad = 3 * compute_temporal_support(phi_f.reshape(1, -1),
                                              criterion_amplitude=1e-3)
    J_max_support = int(np.floor(np.log2(3 * N - 2)))
    J_pad = min(int(np.ceil(np.log2(N + 2 * min_to_pad))), J_max_support)
    N_padded = 2 ** J_pad
    pad_left, pad_right = compute_padding(N_padded, N)
    log2_T = int(math.floor(math.log2(T)))
    ind_start, ind_end = compute_border_indices(log2_T, J, pad_left, pad_left + N)
    return {"N_padded": N_padded, "pad_left": pad_left, "pad_right": pad_right,
            "ind_start": ind_start, "ind_end": ind_end}


def frequency_padding(J: int, Q1: int, J_fr: int, F: int) -> int:
    """Padded length of the log-frequency (n1) axis (zero padding on the right).

    Smallest multiple of 2**J_fr not above (J+1)*Q1 + 8*min(F, 2**J_fr).
    """
    N_input_fr = (J + 1) * Q1
    min_to_pad_fr = 8 * min(F, 2 ** J_fr)
    K_fr = max(J_fr, 0)
    return ((N_input_fr + min_to_pad_fr) // 2 ** K_fr) * 2 ** K_fr


def _lowpass(N: int, sigma: float, j: int, n_levels: int) -> Dict:
    level0 = gauss_1d(N, sigma)
    levels = [level0] + [periodize_sum(level0, lv) for lv in range(1, n_levels)]
    return {"levels": levels, "xi": 0, "sigma": sigma, "j": j, "N": N}


def _wavelet_bank(N: int, params: List[Dict], previous_J: int, log2_T: int
                  ) -> List[Dict]:
    bank = []
    for p in params:
        level0 = morlet_1d(N, p["xi"], p["sigma"])
        n_levels = max(1, min(previous_J, p["j"], 1 + log2_T))
        levels = [level0] + [periodize_sum(level0, lv) for lv in range(1, n_levels)]
        bank.append({"levels": levels, **p})
    return bank


def time_filters(N_padded: int, J: int, Q: Tuple[int, int], T: int,
                 sigma0: float = SIGMA0, alpha: float = ALPHA, r_psi: float = R_PSI
                 ) -> Tuple[Dict, List[Dict], List[Dict]]:
    """Temporal filters (phi, psi1, psi2) on the padded length N_padded.

    Each filter is ``{'levels': [array (N_padded // 2**k,) for k], 'xi', 'sigma', 'j'}``;
    ``levels[k]`` is the filter for an input already subsampled by 2**k.
    phi: Gaussian, sigma = sigma0 / T, j = floor(log2 T).
    """
    log2_T = int(math.floor(math.log2(T)))
    p1 = wavelet_params(J, Q[0], sigma0, alpha, r_psi)
    p2 = wavelet_params(J, Q[1], sigma0, alpha, r_psi)
    psi1 = _wavelet_bank(N_padded, p1, 0, log2_T)
    max_j1 = max(p["j"] for p in p1)
    psi2 = _wavelet_bank(N_padded, p2, max_j1, log2_T)
    max_j = max(max_j1, max(p["j"] for p in p2))
    phi = _lowpass(N_padded, sigma0 / T, log2_T, max(max_j, 1 + log2_T))
    return phi, psi1, psi2


def frequency_filters(N_fr: int, J_fr: int, Q_fr: int, F: int,
                      sigma0: float = SIGMA0, alpha: float = ALPHA,
                      r_psi: float = R_PSI) -> Tuple[Dict, List[Dict]]:
    """Frequential filters on the padded log-frequency axis (length N_fr).

    Returns (phi_fr, psis_fr): phi_fr is the averaging low-pass of width F
    (sigma0 / F, j = floor(log2 F)); psis_fr[0] is the low-pass of width
    2**J_fr (n_fr = 0, spin 0), followed by the spin +1 Morlets (xi > 0) and
    the spin -1 Morlets (xi < 0).
    """
    log2_F = int(math.floor(math.log2(F)))
    phi_fr = _lowpass(N_fr, sigma0 / F, log2_F, max(0, 1 + log2_F))
    params = spinned_wavelet_params(J_fr, Q_fr, sigma0=sigma0, alpha=alpha, r_psi=r_psi)
    psis = _wavelet_bank(N_fr, params, 0, J_fr)
    max_j = max(p["j"] for p in params)
    phi_J = _lowpass(N_fr, sigma0 / 2 ** J_fr, J_fr, max(max_j, 1 + J_fr))
    assert all(abs(p["xi"]) < 0.5 / 2 ** p["j"] for p in psis)
    return phi_fr, [phi_J] + psis


def filter_operator(h_f: np.ndarray, k: int = 1, n_in: Optional[int] = None
                    ) -> np.ndarray:
    """Dense matrix of "filter in Fourier by h_f, then subsample by k" on a short axis.

    For x of length N (zero-padded from its first n_in entries),
    ``ifft(subsample_fourier(fft(x) * h_f, k)) == A @ x[:n_in]`` with
    ``A[r, n] = h[(r * k - n) mod N]``, ``h = ifft(h_f)`` (circular
    convolution by the filter's impulse response, one output every k samples).

    h_f: (N,) Fourier filter; returns complex128 A of shape (N // k, n_in).
    Used where the axis is short (log-frequency axis, or the few output
    samples of a temporal average), so that a matmul replaces FFT/multiply/IFFT.
    """
    N = h_f.shape[0]
    n_in = N if n_in is None else n_in
    h = np.fft.ifft(h_f)
    idx = (np.arange(N // k)[:, None] * k - np.arange(n_in)[None, :]) % N
    return h[idx]


def band_blocks(h_f: np.ndarray, M: int, threshold: float, m: Optional[int] = None
                ) -> np.ndarray:
    """Blocks of M consecutive bins of a Fourier filter that hold its band.

    h_f: (N,) Fourier filter, M divides N.  The spectrum is cut into the N / M blocks
    [b M, (b + 1) M); a block is kept if its largest |h_f| exceeds
    ``threshold * max |h_f|``.  If m is given, exactly the m blocks of largest
    magnitude are kept instead (m must be at least the thresholded count to lose
    nothing).  Returns the kept block indices, sorted.
    """
    mags = np.abs(h_f).reshape(-1, M).max(axis=1)
    if m is None:
        return np.nonzero(mags > threshold * mags.max())[0]
    return np.sort(np.argsort(-mags, kind="stable")[:m])


def band_window(h_f: np.ndarray, blocks: np.ndarray, M: int, scale: float = 1.0
                ) -> Tuple[np.ndarray, np.ndarray]:
    """Gather indices and window of :func:`kernels.band_fold` for one filter.

    h_f: (N,) Fourier filter; blocks: indices of its blocks of length M (see
    :func:`band_blocks`).  Bin f of the full spectrum of a real signal is read from the
    one-sided spectrum (length N//2 + 1) at f if f <= N/2, else conjugated at N - f.
    Returns ``index`` (m * M,) int64 and ``window`` (m * M, 2) float64 with rows
    (h, h) or (h, -h) (conjugated bins), times ``scale`` (1/k for a mean over k periods).
    """
    N = h_f.shape[0]
    f = (np.asarray(blocks)[:, None] * M + np.arange(M)[None, :]).reshape(-1)
    neg = f > N // 2
    index = np.where(neg, N - f, f).astype(np.int64)
    h = h_f[f] * scale
    window = np.stack([h, np.where(neg, -h, h)], axis=-1)
    return index, window


def scrapl_keys(psi1: List[Dict], psi2: List[Dict], psis_fr: List[Dict]
                ) -> List[Tuple[int, int]]:
    """Second-order path keys (n2, n_fr) in the peer's order (n2 outer, n_fr inner).

    n2 is kept iff at least one first-order filter has j1 < j2.
    """
    j1s = [p["j"] for p in psi1]
    return [(n2, n_fr) for n2, p2 in enumerate(psi2) if any(j1 < p2["j"] for j1 in j1s)
            for n_fr in range(len(psis_fr))]


def first_order_keys(psis_fr: List[Dict]) -> List[Tuple[int]]:
    """First-order channel keys (n_fr,): the spin-0 low-pass and spin +1 filters."""
    return [(n,) for n in range(sum(1 for p in psis_fr if p["xi"] >= 0))]


def jtfs_filterbank(N: int, J: int, Q: Tuple[int, int], J_fr: int, Q_fr: int,
                    T: Optional[int] = None, F: Optional[int] = None,
                    sigma0: float = SIGMA0, alpha: float = ALPHA,
                    r_psi: float = R_PSI) -> Dict:
    """Everything the JTFS needs: filters, paddings, strides and path keys.

    N: input length (samples).  T (samples, default 2**J) and F (first-order
    filters, default 2**J_fr) are the temporal / frequential averaging
    supports; strides are 2**floor(log2 T) and 2**floor(log2 F).

    The design (~0.2 s for a 1 s signal) is kept for the last few configurations; each
    call returns its own copy.
    """
    if isinstance(Q, int):
        Q = (Q, 1)
    return copy.deepcopy(_designed_filterbank(int(N), int(J), tuple(int(q) for q in Q),
                                              int(J_fr), int(Q_fr), T, F, sigma0, alpha,
                                              r_psi))


@functools.lru_cache(maxsize=8)
def _designed_filterbank(N: int, J: int, Q: Tuple[int, int], J_fr: int, Q_fr: int,
                         T: Optional[int], F: Optional[int], sigma0: float, alpha: float,
                         r_psi: float) -> Dict:
    T = 2 ** J if T is None else T
    F = 2 ** J_fr if F is None else F
    if T > N or F > (J + 1) * Q[0]:
        raise ValueError("T or F exceeds the input size")
    pad = time_padding(N, J, T, sigma0)
    N_fr = frequency_padding(J, Q[0], J_fr, F)
    phi, psi1, psi2 = time_filters(pad["N_padded"], J, Q, T, sigma0, alpha, r_psi)
    phi_fr, psis_fr = frequency_filters(N_fr, J_fr, Q_fr, F, sigma0, alpha, r_psi)
    return {
        "N": N, "J": J, "Q": tuple(Q), "J_fr": J_fr, "Q_fr": Q_fr, "T": T, "F": F,
        "sigma0": sigma0, "alpha": alpha, "r_psi": r_psi,
        "log2_stride": int(math.floor(math.log2(T))),
        "log2_stride_fr": int(math.floor(math.log2(F))),
        "N_padded_fr": N_fr, **pad,
        "phi": phi, "psi1": psi1, "psi2": psi2, "phi_fr": phi_fr, "psis_fr": psis_fr,
        "scrapl_keys": scrapl_keys(psi1, psi2, psis_fr),
        "first_order_keys": first_order_keys(psis_fr),
    }
