"""VIF: Sheikh & Bovik's pixel-domain visual information fidelity, summed over the two sources (metrics.md §3).

Both sources and the fused image are filtered together (one stacked tensor per scale) with separable, direct Gaussian
filters: FFT filtering is avoided because its round-off flips VIF's near-zero variance thresholds.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ivifbench.metrics.filters import check_min_size, gaussian_1d, separable_valid

_EPS = 1e-10
_SIGMA_N_SQ = 2.0


def vifp_terms(ref: Tensor, dist: Tensor, *, saturate_uint8: bool = False) -> tuple[Tensor, Tensor]:
    """Numerator and denominator of ``vifp_mscale(ref, dist)`` per plane (B×C each), over 4 scales.

    ``ref`` may hold several sources stacked along C (a multiple of ``dist``'s C): ``dist`` is filtered once and shared.
    Scale s uses an N×N Gaussian window, N = 2^(5−s)+1 (17, 9, 5, 3), σ = N/5, 'valid' filtering; for s > 1 both
    images are first filtered and decimated by 2. σ_n² = 2; variances below 1e-10 are clamped as in the reference.
    Scales whose 'valid' output is empty contribute 0 (MATLAB's sum over an empty array).
    """
    reps = ref.shape[1] // dist.shape[1]
    num = ref.new_zeros(ref.shape[:2])
    den = ref.new_zeros(ref.shape[:2])
    x, f = ref, dist
    for scale in range(1, 5):
        n = 2 ** (5 - scale) + 1
        win = gaussian_1d(n, n / 5, dtype=ref.dtype, device=ref.device)
        if scale > 1:
            both = separable_valid(torch.cat((x, f), 1), win)[..., ::2, ::2]
            x, f = both[:, : x.shape[1]], both[:, x.shape[1] :]
        fr = f.repeat(1, reps, 1, 1)
        xx, ff, xf = x * x, f * f, x * fr
        if saturate_uint8 and scale == 1:  # Tang's pre-2023 code multiplied uint8 arrays: products saturate at 255
            xx, ff, xf = xx.clamp(max=255), ff.clamp(max=255), xf.clamp(max=255)
        k, m = x.shape[1], f.shape[1]
        filt = separable_valid(torch.cat((x, xx, xf, f, ff), 1), win)
        mu1, e_xx, e_xf = filt[:, :k], filt[:, k : 2 * k], filt[:, 2 * k : 3 * k]
        mu2, e_ff = filt[:, 3 * k : 3 * k + m], filt[:, 3 * k + m :]
        mu2r = mu2.repeat(1, reps, 1, 1)
        sigma1_sq = (e_xx - mu1 * mu1).clamp(min=0)
        sigma2_sq = (e_ff - mu2 * mu2).clamp(min=0).repeat(1, reps, 1, 1)
        sigma12 = e_xf - mu1 * mu2r

        g = sigma12 / (sigma1_sq + _EPS)
        sv_sq = sigma2_sq - g * sigma12
        low1 = sigma1_sq < _EPS
        g = torch.where(low1, 0, g)
        sv_sq = torch.where(low1, sigma2_sq, sv_sq)
        sigma1_sq = torch.where(low1, 0, sigma1_sq)
        low2 = sigma2_sq < _EPS
        g = torch.where(low2, 0, g)
        sv_sq = torch.where(low2, 0, sv_sq)
        neg = g < 0
        sv_sq = torch.where(neg, sigma2_sq, sv_sq)
        g = torch.where(neg, 0, g)
        sv_sq = sv_sq.clamp(min=_EPS)  # sv_sq <= 1e-10 → 1e-10

        num += torch.log10(1 + g * g * sigma1_sq / (sv_sq + _SIGMA_N_SQ)).sum((-2, -1))
        den += torch.log10(1 + sigma1_sq / _SIGMA_N_SQ).sum((-2, -1))
    return num, den


def vif(
    fused: Tensor,
    ir: Tensor,
    vis: Tensor,
    *,
    saturate_uint8: bool = False,
    flat_value: float | None = 1.0,
) -> Tensor:
    """VIF = vifp_mscale(A, F) + vifp_mscale(B, F) (Sheikh & Bovik 2006, pixel domain; Tang, CDDFuse "VIF"/"VIFF").

    Each term is Σ_s Σ log₁₀(1 + g²σ_S²/(σ_v² + σ_n²)) / Σ_s Σ log₁₀(1 + σ_S²/σ_n²); see :func:`vifp_terms`.

    Args:
        saturate_uint8: Tang's pre-2023 uint8 path (``tang-legacy``): scale-1 products saturate at 255.
        flat_value: the value of a term whose source has no variance anywhere (0/0): 1.0 as CDDFuse maps NaN;
            ``None`` keeps NaN as MATLAB does.
    Raises:
        InputError: an image smaller than 17×17 (the first window).
    """
    check_min_size(fused, 17, "VIF")
    c = fused.shape[1]
    num, den = vifp_terms(torch.cat((ir, vis), 1), fused, saturate_uint8=saturate_uint8)
    ratio = num / den
    if flat_value is not None:
        ratio = torch.where(den > 0, ratio, torch.full_like(ratio, flat_value))
    return (ratio[:, :c] + ratio[:, c:]).mean(1)
