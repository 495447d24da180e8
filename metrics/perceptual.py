"""Human-perception-based metrics: Qcb (Chen–Blum) and Qcv (Chen–Varshney), as in VIFB/LIU (metrics.md §4).

Both filter with a contrast-sensitivity function in the Fourier domain (MATLAB ``freqspace`` coordinates, fftshift),
exactly as the toolkits do; these are the published definitions, so FFT filtering is the reference here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ivifbench.metrics.filters import normalize1, separable_same, sobel_pair


def _freq_radius(h: int, w: int, divisor: float, dtype: torch.dtype, device: torch.device | str | None) -> Tensor:
    """r = √(u² + v²) on MATLAB ``freqspace([h w], 'meshgrid')`` coordinates scaled by (w/divisor, h/divisor)."""

    def axis(n: int) -> Tensor:
        return (torch.arange(n, dtype=dtype, device=device) - n // 2) * (2 / n)

    u = axis(w)[None, :] * (w / divisor)
    v = axis(h)[:, None] * (h / divisor)
    return torch.sqrt(u * u + v * v)


def _csf_filter(x: Tensor, response: Tensor) -> Tensor:
    """``ifft2(ifftshift(fftshift(fft2(x)) .* S))`` per plane; the result is complex, as in MATLAB."""
    spec = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1)) * response
    return torch.fft.ifft2(torch.fft.ifftshift(spec, dim=(-2, -1)))


def _gaussian_filter_complex(x: Tensor, sigma: float, size: int = 31) -> Tensor:
    """``filter2(G, x, 'same')`` (zero padding) with the unnormalised size×size Gaussian e^{−r²/2σ²}/(2πσ²), which
    is separable: the 1-D factor e^{−t²/2σ²} on both axes, times 1/(2πσ²)."""
    half = size // 2
    t = torch.arange(-half, half + 1, dtype=x.real.dtype, device=x.device)
    taps = torch.exp(-(t * t) / (2 * sigma * sigma))
    scale = 1 / (2 * math.pi * sigma * sigma)
    re = separable_same(x.real.contiguous(), taps) * scale
    im = separable_same(x.imag.contiguous(), taps) * scale
    return torch.complex(re, im)


def q_chen_blum(fused: Tensor, ir: Tensor, vis: Tensor, *, drop_nan: bool = True) -> Tensor:
    """Qcb (Chen & Blum 2009), as in VIFB and LIU.

    Each plane is ``normalize1``-ed and filtered by the CSF S(r) = e^{−(r/15.3870)²} − 0.7622 e^{−(r/1.3456)²}
    (r scaled by (N/30, M/30)); local contrast C = |G₂∗x / G₄∗x − 1| with unnormalised 31×31 Gaussians (σ 2 and 4),
    zero-padded 'same'; C' = C³/(C² + 1e-4); Q_SF = min/max(C'_S, C'_F); λ_S = C'_S²/(C'_A² + C'_B²);
    Qcb = mean(λ_A Q_AF + λ_B Q_BF).

    Args:
        drop_nan: 0/0 pixels (no contrast anywhere) are dropped from the mean; ``False`` keeps MATLAB's NaN.
    """
    c = fused.shape[1]
    x = normalize1(torch.cat((fused, ir, vis), 1))
    h, w = x.shape[-2:]
    r = _freq_radius(h, w, 30.0, x.dtype, x.device)
    csf = torch.exp(-((r / 15.3870) ** 2)) - 0.7622 * torch.exp(-((r / 1.3456) ** 2))
    xf = _csf_filter(x, csf)
    contrast = (_gaussian_filter_complex(xf, 2.0) / _gaussian_filter_complex(xf, 4.0) - 1).abs()
    cp = contrast**3 / (contrast**2 + 1e-4)
    cp_f, cp_a, cp_b = cp.split(c, 1)

    def ratio(cs: Tensor) -> Tensor:
        return torch.where(cs < cp_f, cs / cp_f, cp_f / cs)

    lam_a = cp_a**2 / (cp_a**2 + cp_b**2)
    q = lam_a * ratio(cp_a) + (1 - lam_a) * ratio(cp_b)
    if drop_nan:
        ok = ~torch.isnan(q)
        n = ok.sum((-2, -1))
        return torch.where(n > 0, torch.where(ok, q, 0).sum((-2, -1)) / n.clamp(min=1), 0).mean(1)
    return q.mean((-2, -1)).mean(1)


def _block_reduce(x: Tensor, block: int, op: str) -> Tensor:
    """MATLAB ``blkproc`` over block×block tiles, partial tiles zero-padded; ``op`` is 'sum' or 'mean'."""
    h, w = x.shape[-2:]
    x = F.pad(x, (0, (-w) % block, 0, (-h) % block))
    b, c, hh, ww = x.shape
    tiles = x.reshape(b, c, hh // block, block, ww // block, block)
    s = tiles.sum((3, 5))
    return s / (block * block) if op == "mean" else s


def q_chen_varshney(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """Qcv (Chen & Varshney 2007), as in VIFB. **Lower is better** (unbounded above).

    ``normalize1`` planes; Sobel magnitude g ('same', zero padding); saliency λ = Σ g⁵ over 16×16 blocks; distortion
    D = block mean of (CSF-filtered (S − F))², with the Mannos–Sakrison CSF 2.6(0.0192 + 0.144r)e^{−(0.144r)^1.1}
    (r scaled by (N/8, M/8)); Qcv = Re Σ(λ_A D_A + λ_B D_B) / Σ(λ_A + λ_B).
    """
    c = fused.shape[1]
    x = normalize1(torch.cat((fused, ir, vis), 1))
    gx, gy = sobel_pair(x)
    g = torch.sqrt(gx * gx + gy * gy)
    sal = _block_reduce(g**5, 16, "sum")
    _, sal_a, sal_b = sal.split(c, 1)
    f, a, b = x.split(c, 1)
    h, w = x.shape[-2:]
    r = _freq_radius(h, w, 8.0, x.dtype, x.device)
    theta = 2.6 * (0.0192 + 0.144 * r) * torch.exp(-((0.144 * r) ** 1.1))
    diff = _csf_filter(torch.cat((a - f, b - f), 1), theta) ** 2
    d_re = _block_reduce(diff.real.contiguous(), 16, "mean")
    d_a, d_b = d_re.split(c, 1)
    num = (sal_a * d_a + sal_b * d_b).sum((-2, -1))
    den = (sal_a + sal_b).sum((-2, -1))
    return torch.where(den > 0, num / torch.where(den > 0, den, 1), 0).mean(1)
