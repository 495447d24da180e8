"""OpenCV-exact 8-bit colour conversion, as the official SAGE test reads its inputs (sage.md §3 "Colour handling", §6).

The release reads the visible image with ``cv2.imread`` and converts it with ``cv2.cvtColor(BGR2YCrCb)`` on uint8 data,
which OpenCV computes in 14-bit fixed point with integer rounding: Y, Cr and Cb are each quantised to 8 bits, and Cr/Cb
are computed from the *rounded* Y. The float BT.601 formulas of :mod:`ivifbench.color` differ from that by up to 0.5
grey level in Y and up to 1.35 grey levels in Cr/Cb, which the student and the inverse transform turn into differences
of up to 3 grey levels in the fused RGB. To reproduce the official outputs to ±1 we redo OpenCV's integer arithmetic
here, batched in torch (checked bit-exact against ``cv2.cvtColor(RGB2YCrCb)`` on all 2^24 colours).
"""

from __future__ import annotations

import torch
from torch import Tensor

# OpenCV's fixed-point coefficients for RGB→YCrCb (imgproc/src/color_yuv.simd.hpp), scale 2^14.
_SHIFT = 14
_HALF = 1 << (_SHIFT - 1)
_R2Y, _G2Y, _B2Y = 4899, 9617, 1868
_CR, _CB = 11682, 9241
_DELTA = 128 << _SHIFT


def on_8bit_grid(x: Tensor, tol: float = 1e-3) -> bool:
    """True when every value of ``x`` (in [0, 1]) is k/255 for an integer k, i.e. it came from an 8-bit file."""
    return bool(((x * 255 - torch.round(x * 255)).abs() <= tol).all())


def rgb_to_ycrcb_opencv8(rgb: Tensor) -> Tensor:
    """B×3×H×W RGB on the 8-bit grid in [0, 1] → (Y, Cr, Cb) in [0, 1], each quantised exactly as OpenCV does."""
    q = torch.round(rgb.clamp(0, 1) * 255).to(torch.int32)
    r, g, b = q.unbind(1)
    y = (r * _R2Y + g * _G2Y + b * _B2Y + _HALF) >> _SHIFT
    cr = (((r - y) * _CR + _DELTA + _HALF) >> _SHIFT).clamp(0, 255)
    cb = (((b - y) * _CB + _DELTA + _HALF) >> _SHIFT).clamp(0, 255)
    return torch.stack((y, cr, cb), 1).to(rgb.dtype) / 255


def ycrcb_to_rgb_unclamped_y(y: Tensor, crcb: Tensor) -> Tensor:
    """The release's inverse transform (sage.md §3), applied to the *unclamped* network output, then clamped.

    The official test does not clamp Y before the conversion (only ``save_image`` clamps the RGB), so where the Tanh
    output leaves [0, 1] the chroma still shifts the channels; clamping Y first, as the shared utility does, differs there.
    """
    cr, cb = crcb[:, :1] - 0.5, crcb[:, 1:2] - 0.5
    r = y + 1.403 * cr
    g = y - 0.714 * cr - 0.344 * cb
    b = y + 1.773 * cb
    return torch.cat((r, g, b), 1).clamp(0, 1)
