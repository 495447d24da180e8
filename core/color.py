"""Colour handling shared by every fusion method: fuse the visible luminance, keep its chroma.

BT.601 full-range YCbCr with OpenCV's ``COLOR_RGB2YCrCb`` constants (delta 0.5 for [0, 1] data):
Y = 0.299R + 0.587G + 0.114B, Cr = 0.713(R − Y) + 0.5, Cb = 0.564(B − Y) + 0.5, and the inverse
R = Y + 1.403(Cr − 0.5), G = Y − 0.714(Cr − 0.5) − 0.344(Cb − 0.5), B = Y + 1.773(Cb − 0.5).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


def rgb_to_ycrcb(rgb: Tensor) -> Tensor:
    """B×3×H×W RGB in [0, 1] → B×3×H×W (Y, Cr, Cb)."""
    r, g, b = rgb.unbind(1)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cr = (r - y) * 0.713 + 0.5
    cb = (b - y) * 0.564 + 0.5
    return torch.stack((y, cr, cb), 1)


def ycrcb_to_rgb(ycrcb: Tensor) -> Tensor:
    """B×3×H×W (Y, Cr, Cb) → RGB, clamped to [0, 1]."""
    y, cr, cb = ycrcb.unbind(1)
    r = y + 1.403 * (cr - 0.5)
    g = y - 0.714 * (cr - 0.5) - 0.344 * (cb - 0.5)
    b = y + 1.773 * (cb - 0.5)
    return torch.stack((r, g, b), 1).clamp(0, 1)


def fuse_luminance(fuse_grey: Callable[[Tensor, Tensor], Tensor], ir: Tensor, vis: Tensor) -> Tensor:
    """Apply a grey fusion rule to IR and the visible Y channel, then restore the visible chroma.

    Args:
        fuse_grey: (ir B×1×H×W, y B×1×H×W) → fused Y B×1×H×W, all in [0, 1].
        ir: B×1×H×W.
        vis: B×1×H×W or B×3×H×W.
    Returns:
        Fused batch with the visible image's channel count, in [0, 1].
    """
    if vis.shape[1] == 1:
        return fuse_grey(ir, vis).clamp(0, 1)
    ycrcb = rgb_to_ycrcb(vis)
    y = fuse_grey(ir, ycrcb[:, :1]).clamp(0, 1)
    return ycrcb_to_rgb(torch.cat((y, ycrcb[:, 1:]), 1))
