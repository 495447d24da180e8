"""VIF's per-pixel terms and their sums in one compiled pass (numba) over the eight filtered planes of a scale.

The torch formulation (:func:`ivifbench.metrics.visual_fidelity.vifp_term_maps`) makes a dozen passes over memory per
scale (moments, gain, clamps, two logarithms, sums); this kernel reads each filtered value once and computes each
factor 1 + g²σ_S²/(σ_v² + σ_n²) and 1 + σ_S²/σ_n² with the same operations in the same order. It then takes one
logarithm per 16 factors (log₁₀ of their product: all are ≥ 1, so 16 of them stay finite; a block whose product
exceeds 1e300 takes one logarithm each). The sums therefore differ from the torch path's by round-off only (relative
differences near 1e-15), at a sixteenth of the scalar logarithms. Only :func:`vifp_terms` imports this module, so
numba's import is not paid at start-up.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np

_BLOCK = 16


@numba.njit(nogil=True, cache=True, inline="always")
def _factors(
    mu1: float, mu2: float, e_ss: float, e_ff: float, e_sf: float, below_eps: float, eps: float, sigma_n_sq: float
) -> tuple[float, float]:
    """1 + g²σ_S²/(σ_v² + σ_n²) and 1 + σ_S²/σ_n² of one pixel, as :func:`vifp_term_maps` computes them."""
    sigma1_sq = e_ss - mu1 * mu1
    if not sigma1_sq > below_eps:  # σ_S² < 1e-10 counts as 0 (torch's threshold_)
        sigma1_sq = 0.0
    sigma2_sq = max(e_ff - mu2 * mu2, 0.0)
    sigma12 = e_sf - mu1 * mu2
    g = max(sigma12 / (sigma1_sq + eps), 0.0)
    if sigma2_sq < eps:
        g = 0.0
    sv_sq = max(sigma2_sq - sigma12 * g, eps)
    return g * g * sigma1_sq / (sv_sq + sigma_n_sq) + 1.0, sigma1_sq / sigma_n_sq + 1.0


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _sums(m: Any, below_eps: float, eps: float, sigma_n_sq: float, num: Any, den: Any) -> None:
    """m: B×8×C×P (μ_ir, μ_vis, μ_f, E[ir²], E[vis²], E[f²], E[ir·f], E[vis·f]); num, den: B×2×C (added to)."""
    n = m.shape[3]
    for b in range(m.shape[0]):
        for c in range(m.shape[2]):
            mu_f, e_ff = m[b, 2, c], m[b, 5, c]
            for s in range(2):
                mu_s, e_ss, e_sf = m[b, s, c], m[b, 3 + s, c], m[b, 6 + s, c]
                total_num = 0.0
                total_den = 0.0
                for start in range(0, n, _BLOCK):
                    stop = min(start + _BLOCK, n)
                    prod_num = 1.0
                    prod_den = 1.0
                    for k in range(start, stop):
                        fn, fd = _factors(mu_s[k], mu_f[k], e_ss[k], e_ff[k], e_sf[k], below_eps, eps, sigma_n_sq)
                        prod_num *= fn
                        prod_den *= fd
                    if prod_num < 1e300 and prod_den < 1e300:
                        total_num += math.log10(prod_num)
                        total_den += math.log10(prod_den)
                        continue
                    for k in range(start, stop):  # huge factors (or NaN): one logarithm each
                        fn, fd = _factors(mu_s[k], mu_f[k], e_ss[k], e_ff[k], e_sf[k], below_eps, eps, sigma_n_sq)
                        total_num += math.log10(fn)
                        total_den += math.log10(fd)
                num[b, s, c] += total_num
                den[b, s, c] += total_den


def add_vif_sums(
    m: np.ndarray, below_eps: float, eps: float, sigma_n_sq: float, num: np.ndarray, den: np.ndarray
) -> None:
    """Add one scale's Σ log₁₀(1 + g²σ_S²/(σ_v² + σ_n²)) to ``num`` and Σ log₁₀(1 + σ_S²/σ_n²) to ``den`` (B×2×C),
    from its eight filtered planes ``m`` (B×8×C×h×w float64, in the order of
    :func:`ivifbench.metrics.visual_fidelity._vifp_filtered`)."""
    if m.size == 0:  # a scale whose 'valid' output is empty adds nothing (MATLAB's sum over an empty array)
        return
    b, _, c = m.shape[:3]
    _sums(np.ascontiguousarray(m).reshape(b, 8, c, -1), below_eps, eps, sigma_n_sq, num, den)
