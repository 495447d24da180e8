"""Batched image filters on B×C×H×W tensors, shared by the classical fusion methods."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _window_sum(t: Tensor, dim: int, r: int) -> Tensor:
    """Sum over [i − r, i + r] ∩ [0, n) along ``dim``, from one cumulative sum padded so that slices do the clipping."""
    n = t.shape[dim]
    c = torch.cumsum(t, dim)
    last = c.narrow(dim, n - 1, 1)
    zeros = torch.zeros_like(last)
    # padded[j] = sum of t[: j - r - 1]: r + 1 zeros in front, r copies of the total behind
    padded = torch.cat(
        (zeros.expand_as(c.narrow(dim, 0, 1)).repeat_interleave(r + 1, dim), c, last.repeat_interleave(r, dim)), dim
    )
    return padded.narrow(dim, 2 * r + 1, n) - padded.narrow(dim, 0, n)


def box_filter(x: Tensor, r: int) -> Tensor:
    """Mean over the (2r+1)² window clipped to the image (He et al.'s normalised box filter), O(1) per pixel."""
    if r <= 0:
        return x
    h, w = x.shape[-2:]
    ones_h = torch.ones((h, 1), dtype=x.dtype, device=x.device)
    ones_w = torch.ones((1, w), dtype=x.dtype, device=x.device)
    count = _window_sum(ones_h, 0, r) * _window_sum(ones_w, 1, r)
    return _window_sum(_window_sum(x, -2, r), -1, r) / count


def guided_filter(p: Tensor, guide: Tensor, r: int, eps: float) -> Tensor:
    """He et al. (2010) guided filter of ``p`` with a grey ``guide`` (both B×C×H×W, guide broadcast over C)."""
    mean_i = box_filter(guide, r)
    mean_p = box_filter(p, r)
    cov_ip = box_filter(guide * p, r) - mean_i * mean_p
    var_i = box_filter(guide * guide, r) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_filter(a, r) * guide + box_filter(b, r)


def gaussian_kernel1d(sigma: float, radius: int | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    radius = math.ceil(3 * sigma) if radius is None else radius
    t = torch.arange(-radius, radius + 1, dtype=dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    return k / k.sum()


def separable_filter(x: Tensor, k: Tensor, padding_mode: str = "replicate") -> Tensor:
    """Filter every channel with the outer product of the 1-D kernel ``k`` by itself."""
    c = x.shape[1]
    r = (k.numel() - 1) // 2
    k = k.to(x)
    x = F.pad(x, (r, r, r, r), mode=padding_mode)
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def laplacian(x: Tensor) -> Tensor:
    """4-neighbour Laplacian with replicate borders."""
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=x.dtype, device=x.device)
    c = x.shape[1]
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k.view(1, 1, 3, 3).expand(c, 1, 3, 3), groups=c)
