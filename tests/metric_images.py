"""Seeded test images for the metric tests (imported by them; no tests here)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def smooth_image(seed: int, size: tuple[int, ...], smooth: bool = True) -> torch.Tensor:
    """Seeded float64 B×C×H×W image of integers 0..255; ``smooth`` (3×3 mean, then stretched) gives it the mix of
    edges and flat parts that SSIM/VIF windows need."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(size, generator=g, dtype=torch.float64)
    if smooth:
        x = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        x = (x - x.amin()) / (x.amax() - x.amin())
    return torch.round(x * 255)
