"""Gradient metrics: SF, AG, EI, Qabf, Nabf (metrics.md §3–4).

Inputs are B×C×H×W planes holding 0..255; outputs are per-plane values averaged over C, shape (B,). The three images
are stacked and differentiated in one pass.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ivifbench.metrics import filters
from ivifbench.metrics.filters import matlab_gradient, plane_mean, sobel_pair
from ivifbench.metrics.shared import shared


def spatial_frequency(fused: Tensor, *, variant: str = "canonical", scale: float = 1.0) -> Tensor:
    """SF = √(RF² + CF²) (Eskicioglu & Fisher 1995), RF² and CF² the mean squared horizontal and vertical differences.

    Args:
        variant: ``'canonical'`` (Tang, CDDFuse: means over the M(N−1) and (M−1)N differences) or ``'vifb'``: sums
            divided by MN, with a colour image laid out as one M×3N matrix (MATLAB 2-D indexing of a 3-D array),
            so the seams between channels count as differences.
        scale: multiply the data first; ``1/255`` is Tang's pre-2023 [0, 1] path (``tang-legacy``).
    """
    x = fused * scale
    if variant == "vifb":
        x = torch.cat(x.unbind(1), dim=-1)[:, None]  # B×1×M×(C·N)
        n = x.shape[-2] * x.shape[-1]
        rf = (torch.diff(x, dim=-1) ** 2).sum((-2, -1)) / n
        cf = (torch.diff(x, dim=-2) ** 2).sum((-2, -1)) / n
        return torch.sqrt(rf + cf).mean(1)
    rf = plane_mean(torch.diff(x, dim=-1) ** 2) if x.shape[-1] > 1 else x.new_zeros(x.shape[:2])
    cf = plane_mean(torch.diff(x, dim=-2) ** 2) if x.shape[-2] > 1 else x.new_zeros(x.shape[:2])
    return torch.sqrt(rf + cf).mean(1)


def average_gradient(fused: Tensor, *, denominator: str = "(M-1)(N-1)") -> Tensor:
    """AG = Σ √((Gx² + Gy²)/2) / ((M−1)(N−1)), G from MATLAB ``gradient`` (Cui et al. 2015; VIFB, Tang).

    ``denominator='MN'`` is CDDFuse's (it divides by the pixel count).
    """
    gx, gy = matlab_gradient(fused)
    s = torch.sqrt((gx * gx + gy * gy) / 2).sum((-2, -1))
    h, w = fused.shape[-2:]
    n = h * w if denominator == "MN" else max(h - 1, 1) * max(w - 1, 1)
    return (s / n).mean(1)


def edge_intensity(fused: Tensor) -> Tensor:
    """EI (VIFB) = mean √(gx² + gy²), Sobel (``fspecial('sobel')``) correlation with replicated borders."""
    gx, gy = sobel_pair(fused, mode="replicate")
    return plane_mean(torch.sqrt(gx * gx + gy * gy)).mean(1)


def _sobel_zeros(x: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`sobel_pair` with zero padding, as sums of shifted slices of one padded copy.

    Integer data (all the toolkits' inputs) give exact integer responses either way; otherwise the sums are taken in
    another order than SciPy's, i.e. agree to round-off. Several times faster than four 1-D SciPy passes.
    """
    if x.shape[-1] < 2 or x.shape[-2] < 2:
        return sobel_pair(x)
    p = torch.nn.functional.pad(x, (1, 1, 1, 1))
    rows = p[..., :-2, :] + p[..., 2:, :]  # [1 2 1] along H, then [−1 0 1] along W
    smooth_h = rows.add_(p[..., 1:-1, :], alpha=2)
    gx = smooth_h[..., 2:] - smooth_h[..., :-2]
    diff_h = p[..., 2:, :] - p[..., :-2, :]  # [−1 0 1] along H, then [1 2 1] along W
    gy = (diff_h[..., :-2] + diff_h[..., 2:]).add_(diff_h[..., 1:-1], alpha=2)
    return gx, gy


def _qabf_edges(x: Tensor) -> tuple[Tensor, Tensor]:
    """Strength g and orientation α of every pixel: true convolutions with zero padding (border edges count), atan."""
    # atan(Sy/Sx), π/2 where Sx == 0. Computed as atan2(Sy·sign(Sx), |Sx|), the same angle in (−π/2, π/2) (to 2e-16)
    # at half the cost of a division plus atan; the Sx == 0 pixels (atan2(0, 0) = 0 there) are then overwritten.
    if filters.use_cpu_kernels(x):
        from ivifbench.metrics.qabf_kernel import sobel_parts  # one compiled pass, the same arithmetic

        g2, y_part, x_part = sobel_parts(x.detach().reshape(-1, *x.shape[-2:]).numpy())
        # NumPy's SIMD loops: sqrt is correctly rounded (torch's bits), arctan2 within 1 ulp of torch's, 3× faster
        angle = np.arctan2(y_part, x_part, out=y_part)
        angle[x_part == 0] = math.pi / 2
        return torch.from_numpy(np.sqrt(g2, out=g2)).reshape(x.shape), torch.from_numpy(angle).reshape(x.shape)
    gx, gy = _sobel_zeros(x)
    sx, sy = -gx, gy  # conv2 with [−1 0 1; −2 0 2; −1 0 1] and [1 2 1; 0 0 0; −1 −2 −1]: signs matter at Sx == 0
    g = (sx * sx).add_(sy * sy).sqrt_()
    num, den = sy * sx.sign(), sx.abs()
    return g, torch.atan2(num, den).masked_fill_(den == 0, math.pi / 2)


def qabf(fused: Tensor, ir: Tensor, vis: Tensor, *, fix_equal: bool = False, scale: float = 1.0) -> Tensor:
    """Qabf (Xydeas & Petrović 2000) as circulated (VIFB, Tang, CDDFuse): edge preservation weighted by edge strength.

    Q_SF = Tg/(1+e^{kg(G−Dg)}) · Ta/(1+e^{ka(A−Da)}) with G = min/max of the Sobel strengths, A = 1 − |α_S−α_F|/(π/2),
    Tg=0.9994, kg=−15, Dg=0.5, Ta=0.9879, ka=−22, Da=0.8; Qabf = Σ(Q_AF g_A + Q_BF g_B)/Σ(g_A + g_B).

    Args:
        fix_equal: the common code sets G = g_F (not 1) where g_S == g_F; ``True`` fixes that (changes < 1e-6 on
            0..255 integer data). Kept off for parity with the published numbers.
        scale: multiply the data first; ``1/255`` is Tang's legacy [0, 1] path, where round-off flips the ``Sx == 0``
            and ``g_S == g_F`` branches (its spreadsheet agrees only to ~2e-2).
    Returns 0 for a batch item whose sources have no gradient at all (0/0).
    """
    num_map, den_map = qabf_maps(fused, ir, vis, fix_equal=fix_equal, scale=scale)
    num, den = num_map.sum((-2, -1)), den_map.sum((-2, -1))
    return torch.where(den > 0, num / torch.where(den > 0, den, 1), torch.zeros_like(num)).mean(1)


def qabf_maps(
    fused: Tensor, ir: Tensor, vis: Tensor, *, fix_equal: bool = False, scale: float = 1.0
) -> tuple[Tensor, Tensor]:
    """The per-pixel numerator Q_AF g_A + Q_BF g_B and denominator g_A + g_B of :func:`qabf` (B×C×H×W)."""
    c = fused.shape[1]
    x = torch.cat((fused, ir, vis), 1)
    g, alpha = _qabf_edges(x if scale == 1.0 else x.mul_(scale))
    g_f, g_a, g_b = g.split(c, 1)
    a_f, a_a, a_b = alpha.split(c, 1)
    # the sigmoid arguments 15(G − 0.5) and 22(A − 0.8) per source; Tg/(1 + e^{kg(G−Dg)}) = Tg·sigmoid(−kg(G−Dg))
    if filters.use_cpu_kernels(g):
        from ivifbench.metrics.qabf_kernel import sigmoid_args  # both sources in one compiled pass, same arithmetic

        b = g.shape[0]
        z = sigmoid_args(g.reshape(b, 3, -1).numpy(), alpha.reshape(b, 3, -1).numpy(), fix_equal)
        # Tg·Ta/((1 + e^{−z_g})(1 + e^{−z_a})) with NumPy's SIMD exp (5× torch's sigmoid here; equal to round-off)
        e = np.exp(np.negative(z, out=z), out=z)
        e += 1
        q_a, q_b = (torch.from_numpy(np.reciprocal(e[k] * e[k + 1])).reshape(g_f.shape) for k in (0, 2))
        q_a, q_b = q_a.mul_(0.9994 * 0.9879), q_b.mul_(0.9994 * 0.9879)
    else:
        z_ga, z_aa = _sigmoid_args(g_a, a_a, g_f, a_f, fix_equal)
        z_gb, z_ab = _sigmoid_args(g_b, a_b, g_f, a_f, fix_equal)
        # one fused op per sigmoid instead of three (same value to round-off)
        q_a = torch.sigmoid(z_ga).mul_(torch.sigmoid(z_aa)).mul_(0.9994 * 0.9879)
        q_b = torch.sigmoid(z_gb).mul_(torch.sigmoid(z_ab)).mul_(0.9994 * 0.9879)
    return q_a.mul_(g_a).add_(q_b.mul_(g_b)), g_a + g_b


def _sigmoid_args(g_s: Tensor, a_s: Tensor, g_f: Tensor, a_f: Tensor, fix_equal: bool) -> tuple[Tensor, Tensor]:
    """15(G − 0.5) and 22(A − 0.8) of :func:`qabf`: G = g_F where g_S == g_F (1 with ``fix_equal``), else min/max;
    A = 1 − |α_S − α_F|/(π/2)."""
    tie = g_f if not fix_equal else torch.ones_like(g_f)
    ratio = torch.where(g_s == g_f, tie, torch.minimum(g_s, g_f).div_(torch.maximum(g_s, g_f)))
    ang = (a_s - a_f).abs_().div_(-math.pi / 2).add_(1)
    return ratio.sub_(0.5).mul_(15), ang.sub_(0.8).mul_(22)


def _nabf_maps(fused: Tensor, ir: Tensor, vis: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Q_AF, Q_BF, w_A, w_B and the artefact mask na of :func:`nabf` (shared by its two variants)."""
    c = fused.shape[1]
    x = torch.cat((fused, ir, vis), 1)
    gv, gh = sobel_pair(x, mode="reflect")  # Kumar's sobel_fn: gv along W, gh along H (the angle is atan(gv/gh))
    gv, gh = gv / 8, gh / 8
    g = torch.sqrt(gh * gh + gv * gv)
    both0 = (gh == 0) & (gv == 0)
    alpha = torch.where(both0, torch.zeros_like(gh), torch.atan(gv / torch.where(both0, 1, gh)))
    g_f, g_a, g_b = g.split(c, 1)
    a_f, a_a, a_b = alpha.split(c, 1)

    def q(g_s: Tensor, a_s: Tensor) -> Tensor:
        nz = (g_s != 0) & (g_f != 0)
        rel = torch.where(nz, torch.minimum(g_s, g_f) / torch.where(nz, torch.maximum(g_s, g_f), 1), 0)
        ang = ((a_s - a_f).abs() - math.pi / 2).abs() * 2 / math.pi
        qg = 0.9999 / (1 + torch.exp(-19 * (rel - 0.5)))
        qa = 0.9995 / (1 + torch.exp(-22 * (ang - 0.5)))
        return torch.sqrt(qg * qa)

    q_a, q_b = q(g_a, a_a), q(g_b, a_b)
    w_a = torch.where(g_a >= 2, g_a**1.5, 0.001)
    w_b = torch.where(g_b >= 2, g_b**1.5, 0.001)
    na = ((g_f > g_a) & (g_f > g_b)).to(fused.dtype)
    return q_a, q_b, w_a, w_b, na


def nabf(fused: Tensor, ir: Tensor, vis: Tensor, *, variant: str = "modified") -> Tensor:
    """Nabf, the fusion-artefact (noise) measure (Shreyamsha Kumar 2013; Petrović & Xydeas 2005). Lower is better.

    Sobel/8 correlation with reflect padding; α = atan(gv/gh) (0 where both vanish), in Kumar's names: gv is the
    response to [−1 0 1; −2 0 2; −1 0 1]/8 (a derivative along W) and gh to [−1 −2 −1; 0 0 0; 1 2 1]/8 (along H);
    gSF = min/max (0 if either is 0);
    aSF = |(|αS−αF|−π/2)|·2/π; Q = √(Nrg/(1+e^{−kg(gSF−σg)}) · Nra/(1+e^{−ka(aSF−σa)})) with Nrg=.9999, kg=19,
    σg=.5, Nra=.9995, ka=22, σa=.5; weights w = g^1.5 where g ≥ 2, else 0.001; artefacts where g_F > g_A and g_F > g_B.

    Args:
        variant: ``'modified'`` (Kumar's NABF, the one papers report as Nabf):
            Σ na((1−Q_AF)w_A + (1−Q_BF)w_B)/Σ(w_A+w_B); ``'petrovic'`` (NABF1): Σ na(2−Q_AF−Q_BF)(w_A+w_B)/Σ(w_A+w_B).
    """
    num_map, den_map = nabf_maps(fused, ir, vis, variant=variant)
    return (num_map.sum((-2, -1)) / den_map.sum((-2, -1))).mean(1)


def nabf_maps(fused: Tensor, ir: Tensor, vis: Tensor, *, variant: str = "modified") -> tuple[Tensor, Tensor]:
    """The per-pixel numerator and denominator (w_A + w_B) of :func:`nabf` (B×C×H×W)."""
    q_a, q_b, w_a, w_b, na = shared(("nabf_maps",), (fused, ir, vis), lambda: _nabf_maps(fused, ir, vis))
    if variant == "petrovic":
        return na * (2 - q_a - q_b) * (w_a + w_b), w_a + w_b
    return na * ((1 - q_a) * w_a + (1 - q_b) * w_b), w_a + w_b
