"""Windows and filters shared by the metrics, written to reproduce MATLAB's arithmetic where the toolkits rely on it.

Everything works on B×C×H×W tensors and keeps their dtype and device. Gaussian filtering is separable and direct
(shifted sums), never FFT: VIF and SSIM threshold near-zero local variances, and FFT round-off flips those tests.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_1d(size: int, sigma: float, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """The 1-D factor of MATLAB ``fspecial('gaussian', size, sigma)`` (normalised to sum 1).

    ``fspecial`` zeroes taps below ``eps·max`` of the 2-D window; for every window used here (σ ≥ size/8) no tap is that
    small, so the 2-D window is exactly the outer product of this vector with itself.
    """
    half = (size - 1) / 2
    x = torch.arange(size, dtype=torch.float64, device=device) - half
    g = torch.exp(-(x * x) / (2 * sigma * sigma))
    return (g / g.sum()).to(dtype)


def gaussian_2d(size: int, sigma: float, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """MATLAB ``fspecial('gaussian', size, sigma)`` as a size×size tensor (with its eps·max truncation)."""
    half = (size - 1) / 2
    x = torch.arange(size, dtype=torch.float64, device=device) - half
    g = torch.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma * sigma))
    g[g < torch.finfo(torch.float64).eps * g.max()] = 0
    return (g / g.sum()).to(dtype)


def _filter_axis(x: Tensor, taps: Tensor, dim: int) -> Tensor:
    """'valid' correlation of ``x`` with a 1-D kernel along ``dim`` as a sum of shifted slices.

    Shifted sums keep the arithmetic identical on every device and are faster than float64 ``conv2d`` on a CPU (which
    has no vectorised double-precision convolution); symmetric kernels pair taps to halve the multiplications.
    """
    n = taps.numel()
    length = x.shape[dim] - n + 1
    if length <= 0:
        shape = list(x.shape)
        shape[dim] = 0
        return x.new_zeros(shape)
    w = taps.tolist()
    symmetric = all(w[k] == w[n - 1 - k] for k in range(n // 2))
    if symmetric:
        out = x.narrow(dim, n // 2, length) * w[n // 2] if n % 2 else None
        for k in range(n // 2):
            pair = x.narrow(dim, k, length) + x.narrow(dim, n - 1 - k, length)
            out = pair.mul_(w[k]) if out is None else out.add_(pair, alpha=w[k])
        return out
    out = x.narrow(dim, 0, length) * w[0]
    for k in range(1, n):
        out.add_(x.narrow(dim, k, length), alpha=w[k])
    return out


def separable_valid(x: Tensor, taps_rows: Tensor, taps_cols: Tensor | None = None) -> Tensor:
    """MATLAB ``filter2(u·vᵀ, x, 'valid')`` for a separable window: rows kernel ``u`` (along H), columns ``v`` (along W)."""
    taps_cols = taps_rows if taps_cols is None else taps_cols
    return _filter_axis(_filter_axis(x, taps_rows, -2), taps_cols, -1)


def separable_same(x: Tensor, taps_rows: Tensor, taps_cols: Tensor | None = None, mode: str = "zeros") -> Tensor:
    """``filter2(u·vᵀ, x, 'same')``: zero padding by default; ``mode='replicate'``/``'reflect'`` pad as torch does."""
    taps_cols = taps_rows if taps_cols is None else taps_cols
    return separable_valid(pad(x, taps_rows.numel(), taps_cols.numel(), mode), taps_rows, taps_cols)


def pad(x: Tensor, kh: int, kw: int, mode: str = "zeros") -> Tensor:
    """Pad H and W so that a kh×kw 'valid' correlation returns the input size (MATLAB's 'same' centring)."""
    top, left = (kh - 1) // 2, (kw - 1) // 2
    bottom, right = kh - 1 - top, kw - 1 - left
    if mode == "zeros":
        return F.pad(x, (left, right, top, bottom))
    return F.pad(x, (left, right, top, bottom), mode=mode)


def correlate_same(x: Tensor, kernel: Tensor, mode: str = "zeros") -> Tensor:
    """2-D correlation (``filter2``/``imfilter``) with a small kernel, output the input size."""
    kh, kw = kernel.shape
    b, c, h, w = x.shape
    xp = pad(x, kh, kw, mode).reshape(b * c, 1, h + kh - 1, w + kw - 1)
    out = F.conv2d(xp, kernel.to(x)[None, None])
    return out.reshape(b, c, h, w)


def convolve_same(x: Tensor, kernel: Tensor) -> Tensor:
    """MATLAB ``conv2(x, k, 'same')``: true convolution (kernel flipped), zero padding."""
    return correlate_same(x, torch.flip(kernel, (0, 1)))


def matlab_gradient(x: Tensor) -> tuple[Tensor, Tensor]:
    """MATLAB ``gradient``: central differences inside, one-sided at the borders. Returns (d/dx along W, d/dy along H)."""

    def along(t: Tensor, dim: int) -> Tensor:
        n = t.shape[dim]
        if n < 2:
            return torch.zeros_like(t)
        g = torch.empty_like(t)
        g.narrow(dim, 0, 1).copy_(t.narrow(dim, 1, 1) - t.narrow(dim, 0, 1))
        g.narrow(dim, n - 1, 1).copy_(t.narrow(dim, n - 1, 1) - t.narrow(dim, n - 2, 1))
        if n > 2:
            g.narrow(dim, 1, n - 2).copy_((t.narrow(dim, 2, n - 2) - t.narrow(dim, 0, n - 2)) / 2)
        return g

    return along(x, -1), along(x, -2)


SOBEL_Y = torch.tensor([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]], dtype=torch.float64)
"""MATLAB ``fspecial('sobel')`` (emphasises horizontal edges, i.e. the vertical derivative)."""


def round_half_away(x: Tensor) -> Tensor:
    """MATLAB ``round`` (and integer casts): halves go away from zero."""
    return torch.sign(x) * torch.floor(x.abs() + 0.5)


def normalize1(x: Tensor) -> Tensor:
    """LIU/VIFB ``normalize1``: per plane min-max to [0, 1], then ``round(·255)``; a constant plane becomes 0."""
    lo = x.amin((-2, -1), keepdim=True)
    hi = x.amax((-2, -1), keepdim=True)
    span = hi - lo
    y = torch.where(span > 0, (x - lo) / torch.where(span > 0, span, 1), torch.zeros_like(x))
    return round_half_away(y * 255)


def check_min_size(x: Tensor, size: int, metric: str) -> None:
    """Raise a clear error when an image is smaller than a metric's window."""
    from ivifbench.errors import InputError

    h, w = x.shape[-2:]
    if h < size or w < size:
        raise InputError(f"{metric} needs images of at least {size}×{size} pixels; got {w}×{h}")


def plane_mean(x: Tensor) -> Tensor:
    """Mean over H and W, keeping B×C."""
    return x.mean((-2, -1))


def log_base(x: Tensor, base: float) -> Tensor:
    return torch.log(x) / math.log(base) if base != math.e else torch.log(x)
