"""Intensity statistics and their differences: SD, CC, SCD, MSE, RMSE, PSNR (metrics.md §3).

Inputs are B×C×H×W planes holding 0..255; outputs are per-plane values averaged over C, shape (B,).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ivifbench.metrics.filters import plane_mean, round_half_away


def standard_deviation(fused: Tensor, *, uint8_saturating: bool = False) -> Tensor:
    """SD = √(mean((F − μ)²)), the population standard deviation (Rao 1997).

    Args:
        uint8_saturating: Tang's pre-2023 path (``tang-legacy``): ``uint8(F − μ)`` clips negatives to 0 and ``.^2``
            saturates at 255, so SD ≈ 8–11 instead of ≈ 30–50. Reproduces the published TNO spreadsheet only.
    """
    mu = plane_mean(fused)[..., None, None]
    if uint8_saturating:
        d = round_half_away(fused - mu).clamp(0, 255)
        return torch.sqrt(plane_mean((d * d).clamp(max=255))).mean(1)
    d = fused - mu
    return torch.sqrt(plane_mean(d * d)).mean(1)


def _pearson(x: Tensor, y: Tensor, nan_on_flat: bool) -> Tensor:
    """Pearson r per plane (MATLAB ``corr2``); a constant plane gives 0/0: NaN if ``nan_on_flat`` else 0."""
    xc = x - plane_mean(x)[..., None, None]
    yc = y - plane_mean(y)[..., None, None]
    num = (xc * yc).sum((-2, -1))
    den = torch.sqrt((xc * xc).sum((-2, -1)) * (yc * yc).sum((-2, -1)))
    if nan_on_flat:
        return num / den
    return torch.where(den > 0, num / torch.where(den > 0, den, 1), torch.zeros_like(num))


def correlation_coefficient(fused: Tensor, ir: Tensor, vis: Tensor, *, nan_on_flat: bool = False) -> Tensor:
    """CC = ½ (r(A,F) + r(B,F)), Pearson correlation of each source with the fused image.

    A constant plane has no defined correlation: canonical scores it 0; the MATLAB/numpy toolkits return NaN
    (``nan_on_flat=True``).
    """
    return ((_pearson(ir, fused, nan_on_flat) + _pearson(vis, fused, nan_on_flat)) / 2).mean(1)


def scd(fused: Tensor, ir: Tensor, vis: Tensor, *, nan_on_flat: bool = False) -> Tensor:
    """SCD = r(F − B, A) + r(F − A, B), the sum of the correlations of differences (Aslantas & Bendes 2015).

    Constant planes as in :func:`correlation_coefficient`.
    """
    return (_pearson(fused - vis, ir, nan_on_flat) + _pearson(fused - ir, vis, nan_on_flat)).mean(1)


def _mse_planes(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """½ Σ_S mean((F − S)²) per plane, B×C."""
    return (plane_mean((fused - ir) ** 2) + plane_mean((fused - vis) ** 2)) / 2


def _vifb_mes(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """VIFB's "MES": ½ Σ_S ‖S − F‖ / (MN), the Euclidean (Frobenius) norm of the difference, not squared; B×C.

    (Checked against VIFB's stored values: the Frobenius norm matches, the spectral norm does not.)
    """
    h, w = fused.shape[-2:]
    n_a = torch.linalg.matrix_norm(ir - fused, ord="fro")
    n_b = torch.linalg.matrix_norm(vis - fused, ord="fro")
    return (n_a + n_b) / 2 / (h * w)


def mse(fused: Tensor, ir: Tensor, vis: Tensor, *, scale: float = 1.0) -> Tensor:
    """MSE = ½ Σ_S mean((F − S)²) on 0..255 values; ``scale=1/255²`` gives Tang's [0,1] MSE."""
    return (_mse_planes(fused, ir, vis) * scale).mean(1)


def rmse(fused: Tensor, ir: Tensor, vis: Tensor, *, variant: str = "canonical") -> Tensor:
    """RMSE = √MSE. ``variant='vifb'``: VIFB's value, ½ Σ_S ‖S − F‖/(MN) with the Euclidean norm un-squared (its bug, kept)."""
    if variant == "vifb":
        return _vifb_mes(fused, ir, vis).mean(1)
    return torch.sqrt(_mse_planes(fused, ir, vis)).mean(1)


def psnr(fused: Tensor, ir: Tensor, vis: Tensor, *, variant: str = "canonical") -> Tensor:
    """PSNR = 10 log₁₀(255² / MSE) with MSE = ½ Σ_S mean((F − S)²) on 0..255 (canonical).

    Variants (metrics.md §3): ``'tang'`` 20 log₁₀(255/√MSE₀₁) (= canonical + 48.13 dB); ``'cddfuse'``
    10 log₁₀(max(F)²/MSE); ``'vifb'`` 20 log₁₀(255/√MES) with VIFB's un-squared-norm "MES".
    MSE = 0 (fused equals both sources) gives +inf, the known extreme.
    """
    if variant == "vifb":
        return (20 * torch.log10(255 / torch.sqrt(_vifb_mes(fused, ir, vis)))).mean(1)
    m = _mse_planes(fused, ir, vis)
    if variant == "tang":
        return (20 * torch.log10(255 / torch.sqrt(m / 255**2))).mean(1)
    if variant == "cddfuse":
        peak = fused.amax((-2, -1))
        return (10 * torch.log10(peak * peak / m)).mean(1)
    return (10 * torch.log10(255**2 / m)).mean(1)


__all__ = [
    "correlation_coefficient",
    "mse",
    "psnr",
    "rmse",
    "scd",
    "standard_deviation",
]
