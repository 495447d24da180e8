"""VIF: Sheikh & Bovik's pixel-domain visual information fidelity, summed over the two sources (metrics.md §3).

Both sources and the fused image are filtered together (one stacked tensor per scale) with separable, direct Gaussian
filters: FFT filtering is avoided because its round-off flips VIF's near-zero variance thresholds.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ivifbench.metrics.filters import check_min_size, correlate1d_valid, gaussian_1d, separable_valid

_EPS = 1e-10
_SIGMA_N_SQ = 2.0


def vifp_terms(ref: Tensor, dist: Tensor, *, saturate_uint8: bool = False) -> tuple[Tensor, Tensor]:
    """Numerator and denominator of ``vifp_mscale(ref, dist)`` per plane, over 4 scales.

    ``ref`` is B×S×C×H×W (S sources scored against one ``dist`` B×C×H×W, which is filtered once and broadcast);
    returns B×S×C numerator and denominator.
    Scale s uses an N×N Gaussian window, N = 2^(5−s)+1 (17, 9, 5, 3), σ = N/5, 'valid' filtering; for s > 1 both
    images are first filtered and decimated by 2. σ_n² = 2; variances below 1e-10 are clamped as in the reference.
    Scales whose 'valid' output is empty contribute 0 (MATLAB's sum over an empty array).
    """
    num = ref.new_zeros(ref.shape[:3])
    den = ref.new_zeros(ref.shape[:3])
    x, f = ref, dist[:, None]
    for scale in range(1, 5):
        n = 2 ** (5 - scale) + 1
        win = gaussian_1d(n, n / 5, dtype=ref.dtype, device=ref.device)
        if scale > 1:  # filter then keep every other row and column; rows are dropped before the column pass
            x = correlate1d_valid(correlate1d_valid(x, win, -2)[..., ::2, :], win, -1)[..., ::2]
            f = correlate1d_valid(correlate1d_valid(f, win, -2)[..., ::2, :], win, -1)[..., ::2]
        xx, ff, xf = x * x, f * f, x * f
        if saturate_uint8 and scale == 1:  # Tang's pre-2023 code multiplied uint8 arrays: products saturate at 255
            xx, ff, xf = xx.clamp(max=255), ff.clamp(max=255), xf.clamp(max=255)
        mu1, mu2 = separable_valid(x, win), separable_valid(f, win)
        sigma1_sq = (separable_valid(xx, win) - mu1 * mu1).clamp_(min=0)
        sigma2_sq = (separable_valid(ff, win) - mu2 * mu2).clamp_(min=0)
        sigma12 = separable_valid(xf, win) - mu1 * mu2
        # The reference's cascade of clamps, folded: a pixel adds to the numerator only where σ1² ≥ 1e-10,
        # σ2² ≥ 1e-10 and g ≥ 0 (elsewhere g = 0); there sv² = max(σ2² − g·σ12, 1e-10). σ1² < 1e-10 counts as 0.
        sigma1_sq = torch.where(sigma1_sq < _EPS, 0, sigma1_sq)
        g = sigma12 / (sigma1_sq + _EPS)
        keep = (sigma1_sq > 0) & (sigma2_sq >= _EPS) & (g >= 0)
        sv_sq = (sigma2_sq - g * sigma12).clamp_(min=_EPS)
        term = torch.log10(1 + g * g * sigma1_sq / (sv_sq + _SIGMA_N_SQ))
        num += torch.where(keep, term, 0).sum((-2, -1))
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
    num, den = vifp_terms(torch.stack((ir, vis), 1), fused, saturate_uint8=saturate_uint8)
    ratio = num / den
    if flat_value is not None:
        ratio = torch.where(den > 0, ratio, torch.full_like(ratio, flat_value))
    return ratio.sum(1).mean(1)
