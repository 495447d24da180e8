"""Windows and filters shared by the metrics, written to reproduce MATLAB's arithmetic where the toolkits rely on it.

Everything works on B×C×H×W (or B×S×C×H×W) tensors and keeps their dtype and device. Gaussian filtering is separable
and direct (for CPU float64: a compiled kernel with SciPy's arithmetic for 'valid' windows, SciPy's C loops for the
others; torch shifted sums elsewhere), never FFT: VIF and SSIM threshold near-zero local variances, and FFT round-off
flips those tests.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_1d(
    size: int, sigma: float, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> Tensor:
    """The 1-D factor of MATLAB ``fspecial('gaussian', size, sigma)`` (normalised to sum 1).

    ``fspecial`` zeroes taps below ``eps·max`` of the 2-D window; for every window used here (σ ≥ size/8) no tap is that
    small, so the 2-D window is exactly the outer product of this vector with itself.
    """
    return _gaussian_1d(size, sigma, dtype, None if device is None else torch.device(device))


@functools.lru_cache(maxsize=64)
def _gaussian_1d(size: int, sigma: float, dtype: torch.dtype, device: torch.device | None) -> Tensor:
    # cached: made per call, these few tiny torch ops cost ~1.5 % of scoring a 480×640 image (callers never write to it)
    half = (size - 1) / 2
    x = torch.arange(size, dtype=torch.float64, device=device) - half
    g = torch.exp(-(x * x) / (2 * sigma * sigma))
    return (g / g.sum()).to(dtype)


_SCIPY_MODES = {"zeros": "constant", "replicate": "nearest", "reflect": "mirror"}
BACKEND = "auto"
"""'auto': SciPy for CPU float64 tensors, torch elsewhere; 'torch': torch shifted sums everywhere (tests use it)."""


def use_cpu_kernels(x: Tensor) -> bool:
    """Whether ``x`` takes the CPU paths: CPU float64 tensors (no autograd) are filtered by SciPy's C loops and the
    compiled kernels (direct sums, several times faster than torch's double ``conv2d`` on a CPU); other devices, and
    ``BACKEND = 'torch'``, use the torch formulas. Both paths agree to round-off."""
    return BACKEND == "auto" and x.device.type == "cpu" and x.dtype == torch.float64 and not x.requires_grad


def _scipy_corr1d(x: Tensor, taps: Tensor, dim: int, mode: str) -> Tensor:
    from scipy.ndimage import correlate1d

    arr = x.detach().numpy()  # strided views are fine: SciPy walks the strides
    out = np.empty(arr.shape, arr.dtype)  # SciPy would allocate with np.zeros: a wasted pass over the plane
    w = taps.detach().cpu().numpy().astype(arr.dtype)
    return torch.from_numpy(correlate1d(arr, w, axis=dim % x.ndim, output=out, mode=mode, cval=0.0))


def _torch_corr1d_valid(x: Tensor, taps: Tensor, dim: int) -> Tensor:
    """'valid' correlation along ``dim`` as a sum of shifted slices (symmetric kernels pair their taps)."""
    n = taps.numel()
    length = x.shape[dim] - n + 1
    w = taps.tolist()
    if n % 2 and all(w[k] == w[n - 1 - k] for k in range(n // 2)):
        out = x.narrow(dim, n // 2, length) * w[n // 2]
        for k in range(n // 2):
            out.add_(x.narrow(dim, k, length) + x.narrow(dim, n - 1 - k, length), alpha=w[k])
        return out
    out = x.narrow(dim, 0, length) * w[0]
    for k in range(1, n):
        out.add_(x.narrow(dim, k, length), alpha=w[k])
    return out


def correlate1d_valid(x: Tensor, taps: Tensor, dim: int) -> Tensor:
    """MATLAB ``filter2(taps, x, 'valid')`` along one axis (odd-length kernels)."""
    n = taps.numel()
    length = x.shape[dim] - n + 1
    if length <= 0:
        shape = list(x.shape)
        shape[dim] = 0
        return x.new_zeros(shape)
    if use_cpu_kernels(x):
        return _scipy_corr1d(x, taps, dim, "constant").narrow(dim, n // 2, length)
    return _torch_corr1d_valid(x, taps.to(x), dim)


def correlate1d_same(x: Tensor, taps: Tensor, dim: int, mode: str = "zeros") -> Tensor:
    """Correlation along one axis keeping the size, borders padded by ``mode`` ('zeros', 'replicate', 'reflect')."""
    if use_cpu_kernels(x):
        return _scipy_corr1d(x, taps, dim, _SCIPY_MODES[mode])
    n = taps.numel()
    lo, hi = (n - 1) // 2, n - 1 - (n - 1) // 2
    padding = (lo, hi, 0, 0) if dim % x.ndim == x.ndim - 1 else (0, 0, lo, hi)
    flat = x.reshape(-1, 1, *x.shape[-2:])  # torch pads H and W of 4-D tensors in every mode
    xp = F.pad(flat, padding) if mode == "zeros" else F.pad(flat, padding, mode=mode)
    out = _torch_corr1d_valid(xp, taps.to(x), -1 if padding[0] or padding[1] else -2)
    return out.reshape(x.shape)


def separable_valid(x: Tensor, taps_rows: Tensor, taps_cols: Tensor | None = None, *, step: int = 1) -> Tensor:
    """MATLAB ``filter2(u·vᵀ, x, 'valid')`` for a separable window: ``u`` along H, ``v`` along W; with ``step`` > 1,
    only every ``step``-th row and column of the result (``[..., ::step, ::step]``), which is all that is computed."""
    taps_cols = taps_rows if taps_cols is None else taps_cols
    h, w = x.shape[-2:]
    if use_cpu_kernels(x) and h >= taps_rows.numel() and w >= taps_cols.numel():
        from ivifbench.metrics.separable import separable_valid_cpu

        flat = x.detach().reshape(-1, h, w).numpy()
        arr = separable_valid_cpu(flat, taps_rows.cpu().numpy(), taps_cols.cpu().numpy(), step)
        return torch.from_numpy(arr).reshape(*x.shape[:-2], *arr.shape[-2:])
    out = correlate1d_valid(x, taps_rows, -2)
    if step > 1:
        out = out[..., ::step, :]
    out = correlate1d_valid(out, taps_cols, -1)
    return out[..., ::step] if step > 1 else out


def separable_same(x: Tensor, taps_rows: Tensor, taps_cols: Tensor | None = None, mode: str = "zeros") -> Tensor:
    """``filter2(u·vᵀ, x, 'same')`` (zero padding) or ``imfilter`` with 'replicate'/'reflect' borders."""
    taps_cols = taps_rows if taps_cols is None else taps_cols
    return correlate1d_same(correlate1d_same(x, taps_rows, -2, mode), taps_cols, -1, mode)


def pad(x: Tensor, kh: int, kw: int, mode: str = "zeros") -> Tensor:
    """Pad H and W so that a kh×kw 'valid' correlation returns the input size (MATLAB's 'same' centring)."""
    top, left = (kh - 1) // 2, (kw - 1) // 2
    bottom, right = kh - 1 - top, kw - 1 - left
    if mode == "zeros":
        return F.pad(x, (left, right, top, bottom))
    return F.pad(x, (left, right, top, bottom), mode=mode)


def _as_taps(values: list[float], like: Tensor) -> Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device)


def sobel_pair(x: Tensor, mode: str = "zeros") -> tuple[Tensor, Tensor]:
    """Correlations with [−1 0 1; −2 0 2; −1 0 1] (gx) and [−1 −2 −1; 0 0 0; 1 2 1] (gy), separably, input size.

    MATLAB ``conv2(x, [−1 0 1; −2 0 2; −1 0 1])`` is −gx and ``conv2(x, [1 2 1; 0 0 0; −1 −2 −1])`` is gy.
    Integer data give exact integer responses.
    """
    smooth, diff = _as_taps([1.0, 2.0, 1.0], x), _as_taps([-1.0, 0.0, 1.0], x)
    gx = correlate1d_same(correlate1d_same(x, smooth, -2, mode), diff, -1, mode)
    gy = correlate1d_same(correlate1d_same(x, diff, -2, mode), smooth, -1, mode)
    return gx, gy


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
