"""VIF: Sheikh & Bovik's pixel-domain visual information fidelity, summed over the two sources (metrics.md §3).

Both sources and the fused image are filtered together (one stacked tensor per scale) with separable, direct Gaussian
filters: FFT filtering is avoided because its round-off flips VIF's near-zero variance thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ivifbench.metrics import filters
from ivifbench.metrics.filters import check_min_size, gaussian_1d, separable_valid
from ivifbench.metrics.shared import shared

_EPS = 1e-10
_BELOW_EPS = math.nextafter(_EPS, 0.0)
_SIGMA_N_SQ = 2.0


def _vifp_filtered(fused: Tensor, ir: Tensor, vis: Tensor, saturate_uint8: bool) -> list[Tensor]:
    """Per scale (1..4): the window means of the eight planes ``vifp_mscale`` filters, B×8×C×h×w: μ of IR, VIS and
    the fused image, E[IR²], E[VIS²], E[F²], E[IR·F], E[VIS·F]. Shared read-only by VIF and VIFF.

    Scale s uses an N×N Gaussian window, N = 2^(5−s)+1 (17, 9, 5, 3), σ = N/5, 'valid' filtering; for s > 1 the
    images are first filtered and decimated by 2 (rows are dropped before the column pass). The fused image's
    statistics are computed once for both sources.
    """

    def make() -> list[Tensor]:
        out: list[Tensor] = []
        # one filtering call per scale for all eight planes: x, f; x², f²; x·f (μ, E[x²], E[f²], E[x·f] after
        # filtering); the first three are the two sources and the fused image, decimated by 2 after scale 1
        planes = fused.new_empty((fused.shape[0], 8, *fused.shape[1:]))
        for k, x in enumerate((ir, vis, fused)):
            planes[:, k] = x
        for scale in range(1, 5):
            n = 2 ** (5 - scale) + 1
            win = gaussian_1d(n, n / 5, dtype=fused.dtype, device=fused.device)
            if scale > 1:
                p = separable_valid(planes[:, :3], win, step=2)
                planes = p.new_empty((p.shape[0], 8, *p.shape[2:]))
                planes[:, :3] = p
            p = planes[:, :3]
            torch.mul(p, p, out=planes[:, 3:6])
            torch.mul(p[:, :2], p[:, 2:], out=planes[:, 6:])
            if saturate_uint8 and scale == 1:  # Tang's pre-2023 code multiplied uint8 arrays: products saturate
                planes[:, 3:].clamp_(max=255)
            out.append(separable_valid(planes, win))
        return out

    return shared(("vifp_filtered", saturate_uint8), (fused, ir, vis), make)


def _vifp_moments(
    fused: Tensor, ir: Tensor, vis: Tensor, saturate_uint8: bool
) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """Per scale: σ_S² of both sources (B×2×C×h×w; below 1e-10 set to 0), σ_F² (B×1×C×h×w; negatives set to 0)
    and σ_SF (B×2×C×h×w), from :func:`_vifp_filtered` (left unchanged)."""
    for m in _vifp_filtered(fused, ir, vis, saturate_uint8):
        mu1, mu2, exx, eff, exf = m[:, :2], m[:, 2:3], m[:, 3:5], m[:, 5:6], m[:, 6:]
        # σ_S² < 1e-10 (negatives included) counts as 0: threshold_ keeps values > the double just below 1e-10
        sigma1_sq = F.threshold_(exx - mu1 * mu1, _BELOW_EPS, 0.0)  # type: ignore[attr-defined]
        sigma2_sq = (eff - mu2 * mu2).clamp_(min=0)
        yield sigma1_sq, sigma2_sq, exf - mu1 * mu2


def vifp_terms(fused: Tensor, ir: Tensor, vis: Tensor, *, saturate_uint8: bool = False) -> tuple[Tensor, Tensor]:
    """Numerator and denominator of ``vifp_mscale(S, F)`` for S = IR and VIS (B×2×C each), over 4 scales.

    σ_n² = 2; the reference's cascade of clamps, folded: g = σ_SF/(σ_S² + 1e-10), set to 0 where g < 0 or
    σ_F² < 1e-10, and there σ_v² = max(σ_F² − g·σ_SF, 1e-10). Every pixel the reference drops then has g²σ_S² = 0
    (g = 0 or σ_S² = 0), a term of exactly log10(1) = 0, so no mask is needed; elsewhere the operations are the
    reference's. Scales whose 'valid' output is empty contribute 0 (MATLAB's sum over an empty array). CPU float64
    tensors take one compiled pass per scale (:mod:`ivifbench.metrics.vif_kernel`), others the torch maps.
    """
    num = fused.new_zeros((fused.shape[0], 2, fused.shape[1]))
    den = torch.zeros_like(num)
    if filters.use_cpu_kernels(fused):
        from ivifbench.metrics.vif_kernel import add_vif_sums

        for m in _vifp_filtered(fused, ir, vis, saturate_uint8):
            add_vif_sums(m.detach().numpy(), _BELOW_EPS, _EPS, _SIGMA_N_SQ, num.numpy(), den.numpy())
        return num, den
    for num_map, den_map in vifp_term_maps(fused, ir, vis, saturate_uint8=saturate_uint8):
        num += num_map.sum((-2, -1))
        den += den_map.sum((-2, -1))
    return num, den


def vifp_term_maps(
    fused: Tensor, ir: Tensor, vis: Tensor, *, saturate_uint8: bool = False
) -> Iterator[tuple[Tensor, Tensor]]:
    """Per scale (1..4): the maps :func:`vifp_terms` sums, log₁₀(1 + g²σ_S²/(σ_v² + σ_n²)) and log₁₀(1 + σ_S²/σ_n²)
    (B×2×C×h×w; the scale-s map is at 1/2^(s−1) resolution, row i covering input rows from 2^(s−1)·i)."""
    for sigma1_sq, sigma2_sq, sigma12 in _vifp_moments(fused, ir, vis, saturate_uint8):
        g = torch.div(sigma12, sigma1_sq + _EPS).clamp_(min=0).masked_fill_(sigma2_sq < _EPS, 0)
        sv_sq = torch.sub(sigma2_sq, sigma12 * g).clamp_(min=_EPS)  # σ_F² − g·σ_SF
        num = g.mul_(g).mul_(sigma1_sq).div_(sv_sq.add_(_SIGMA_N_SQ)).add_(1).log10_()
        yield num, torch.div(sigma1_sq, _SIGMA_N_SQ).add_(1).log10_()


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
    num, den = vifp_terms(fused, ir, vis, saturate_uint8=saturate_uint8)
    ratio = num / den
    if flat_value is not None:
        ratio = torch.where(den > 0, ratio, torch.full_like(ratio, flat_value))
    return ratio.sum(1).mean(1)


_VIFF_SIGMA_N_SQ = 0.005 * 255 * 255
_VIFF_C = 1e-7
_VIFF_P = (1 / 2.15, 0.0, 0.15 / 2.15, 1 / 2.15)


def _vifp_maps(fused: Tensor, ir: Tensor, vis: Tensor, sigma_n_sq: float) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """Per scale (1..4): g, VID and VIND maps of vifp for both sources (B×2×C×h×w), from :func:`_vifp_moments`,
    with the reference's clamps; g is 0 wherever they zero it (it chooses the source in VIFF)."""
    for sigma1_sq, sigma2_sq, sigma12 in _vifp_moments(fused, ir, vis, False):
        g = sigma12 / (sigma1_sq + _EPS)
        keep = (sigma1_sq > 0) & (sigma2_sq >= _EPS) & (g >= 0)
        sv_sq = torch.where(keep, (sigma2_sq - g * sigma12).clamp(min=_EPS), sigma2_sq.expand_as(g))
        g = torch.where(keep, g, 0)
        sv_sq = torch.where(sigma2_sq < _EPS, 0, sv_sq).clamp(min=_EPS)
        vid = torch.log10(1 + g * g * sigma1_sq / (sv_sq + sigma_n_sq))
        vind = torch.log10(1 + sigma1_sq / sigma_n_sq)
        yield g, vid, vind


def viff(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """VIFF (Han, Cai, Cao & Xu, Inf. Fusion 2013), the multi-resolution VIF for fusion, as metrics.md §4 gives it.

    The vifp machinery of :func:`vifp_terms` (4 scales, Gaussian N = 17, 9, 5, 3, σ = N/5, 'valid', decimation by 2)
    with σ_n² = 0.005·255²; per pixel the source whose gain g is smaller supplies VID and VIND (ties: the visible
    image, as Han's code takes source 2 unless g₁ < g₂); F_s = Σ(VID + 1e-7)/Σ(VIND + 1e-7) over the pixels;
    VIFF = Σ_s p_s F_s, p = [1, 0, 0.15, 1]/2.15.
    Han's public code (``VIFF_Public.m``, as MEFB ships it) applies no contrast-sensitivity pre-filter, and neither does
    this function. Not applied: its sRGB→Lab L conversion of colour input (the convention's grey is used).
    Raises InputError below 65×65, the smallest size at which all four scales have pixels (an empty scale would make
    F_s = 0/0).
    """
    check_min_size(fused, 65, "VIFF")
    total: Any = 0
    for p, (g, vid, vind) in zip(_VIFF_P, _vifp_maps(fused, ir, vis, _VIFF_SIGMA_N_SQ), strict=True):
        if p == 0:
            continue
        first = g[:, 0] < g[:, 1]
        z = torch.where(first, vid[:, 0], vid[:, 1])
        m = torch.where(first, vind[:, 0], vind[:, 1])
        total = total + p * (z + _VIFF_C).sum((-2, -1)) / (m + _VIFF_C).sum((-2, -1))
    return total.mean(1)
