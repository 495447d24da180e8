"""Colour handling shared by every fusion method: fuse the visible luminance, keep its chroma.

BT.601 full-range YCrCb with OpenCV's ``COLOR_RGB2YCrCb`` constants (delta 0.5 for [0, 1] data):
Y = 0.299R + 0.587G + 0.114B, Cr = 0.713(R − Y) + 0.5, Cb = 0.564(B − Y) + 0.5, and the inverse used by the
published fusion code (SAGE, SeAFusion, ...): R = Y + 1.403(Cr − 0.5), G = Y − 0.714(Cr − 0.5) − 0.344(Cb − 0.5),
B = Y + 1.773(Cb − 0.5).

Images read from 8-bit files are converted exactly as ``cv2.cvtColor`` converts uint8 data (14-bit fixed point, Y, Cr
and Cb each rounded to 8 bits, Cr/Cb from the rounded Y), because that is what published methods were fed: the float
formulas differ by up to 0.5 grey level in Y and 1.35 in Cr/Cb, enough to move a network's output by 3 grey levels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import Tensor

# OpenCV's fixed-point RGB→YCrCb coefficients (imgproc color_yuv), scale 2^14.
_SHIFT = 14
_HALF = 1 << (_SHIFT - 1)
_R2Y, _G2Y, _B2Y = 4899, 9617, 1868
_CR, _CB = 11682, 9241
_DELTA = 128 << _SHIFT
# OpenCV's RGB→GRAY uses other constants (scale 2^15), so its grey differs from the YCrCb Y by one level on ~0.03 %
# of pixels; releases that feed ``cvtColor(BGR2GRAY)`` (TarDAL) need this one.
_GRAY_SHIFT = 15
_R2G, _G2G, _B2G = 9798, 19235, 3735
# ... and OpenCV's fixed-point YCrCb→RGB coefficients (1.403, −0.714, −0.344, 1.773 at scale 2^14).
_CR2R, _CR2G, _CB2G, _CB2B = 22987, -11698, -5636, 29049


# Set while one image is fused tile by tile: the whole image's answer, so that every tile converts colour alike.
_GRID: ContextVar[bool | None] = ContextVar("ivifbench_8bit_grid", default=None)


def on_8bit_grid(x: Tensor, tol: float = 1e-3) -> bool:
    """True when every value of ``x`` (in [0, 1]) is k/255 for an integer k, i.e. it came from an 8-bit file.

    Inside :func:`assume_8bit_grid`, its flag instead (a tile of a 16-bit image may happen to lie on the grid).
    """
    forced = _GRID.get()
    if forced is not None:
        return forced
    return bool(((x * 255 - torch.round(x * 255)).abs() <= tol).all())


@contextmanager
def assume_8bit_grid(flag: bool) -> Iterator[None]:
    """Make :func:`on_8bit_grid` answer ``flag`` in this context (the answer for the whole image being tiled)."""
    token = _GRID.set(flag)
    try:
        yield
    finally:
        _GRID.reset(token)


def rgb_to_ycrcb(rgb: Tensor) -> Tensor:
    """B×3×H×W RGB in [0, 1] → B×3×H×W (Y, Cr, Cb), float BT.601."""
    r, g, b = rgb.unbind(1)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cr = (r - y) * 0.713 + 0.5
    cb = (b - y) * 0.564 + 0.5
    return torch.stack((y, cr, cb), 1)


def rgb_to_ycrcb_8bit(rgb: Tensor) -> Tensor:
    """B×3×H×W RGB on the 8-bit grid → (Y, Cr, Cb) in [0, 1], bit-exact with ``cv2.cvtColor(RGB2YCrCb)`` on uint8.

    On the CPU it is that call (one SIMD pass instead of a dozen int32 planes); elsewhere the same integer arithmetic.
    """
    if rgb.device.type == "cpu" and rgb.ndim == 4 and rgb.shape[1] == 3:
        import cv2
        import numpy as np

        q = torch.round(rgb.clamp(0, 1) * 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
        out = np.stack([cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb) for img in q])
        return torch.from_numpy(out).permute(0, 3, 1, 2).to(rgb.dtype) / 255
    return _rgb_to_ycrcb_8bit_int(rgb)


def _rgb_to_ycrcb_8bit_int(rgb: Tensor) -> Tensor:
    """:func:`rgb_to_ycrcb_8bit` in torch integer arithmetic (OpenCV's fixed-point constants), for any device."""
    q = torch.round(rgb.clamp(0, 1) * 255).to(torch.int32)
    r, g, b = q.unbind(1)
    y = (r * _R2Y + g * _G2Y + b * _B2Y + _HALF) >> _SHIFT
    cr = (((r - y) * _CR + _DELTA + _HALF) >> _SHIFT).clamp(0, 255)
    cb = (((b - y) * _CB + _DELTA + _HALF) >> _SHIFT).clamp(0, 255)
    return torch.stack((y, cr, cb), 1).to(rgb.dtype) / 255


def ycrcb_to_rgb(ycrcb: Tensor) -> Tensor:
    """B×3×H×W (Y, Cr, Cb) → RGB, clamped to [0, 1] (Y itself is not clamped first, as in the published code)."""
    y, cr, cb = ycrcb.unbind(1)
    r = y + 1.403 * (cr - 0.5)
    g = y - 0.714 * (cr - 0.5) - 0.344 * (cb - 0.5)
    b = y + 1.773 * (cb - 0.5)
    return torch.stack((r, g, b), 1).clamp(0, 1)


def rgb_to_grey_8bit(rgb: Tensor) -> Tensor:
    """B×3×H×W RGB on the 8-bit grid → B×1×H×W grey in [0, 1], bit-exact with ``cv2.cvtColor(RGB2GRAY)`` on uint8."""
    q = torch.round(rgb.clamp(0, 1) * 255).to(torch.int32)
    r, g, b = q.unbind(1)
    grey = (r * _R2G + g * _G2G + b * _B2G + (1 << (_GRAY_SHIFT - 1))) >> _GRAY_SHIFT
    return grey.unsqueeze(1).to(rgb.dtype) / 255


def ycrcb_to_rgb_8bit(ycrcb: Tensor) -> Tensor:
    """(Y, Cr, Cb) on the 8-bit grid → RGB in [0, 1], bit-exact with ``cv2.cvtColor(YCrCb2RGB)`` on uint8.

    For releases that write ``cvtColor(uint8 YCrCb → BGR)`` themselves (CAF): the float inverse differs by one grey
    level on some pixels.
    """
    q = torch.round(ycrcb.clamp(0, 1) * 255).to(torch.int32)
    y, cr, cb = q[:, 0], q[:, 1] - 128, q[:, 2] - 128
    r = y + ((cr * _CR2R + _HALF) >> _SHIFT)
    g = y + ((cb * _CB2G + cr * _CR2G + _HALF) >> _SHIFT)
    b = y + ((cb * _CB2B + _HALF) >> _SHIFT)
    return torch.stack((r, g, b), 1).clamp(0, 255).to(ycrcb.dtype) / 255


def luminance_and_chroma(vis: Tensor) -> tuple[Tensor, Tensor]:
    """Split a B×3×H×W visible batch into Y (B×1) and CrCb (B×2): OpenCV-exact on 8-bit data, float BT.601 otherwise."""
    ycrcb = (rgb_to_ycrcb_8bit if on_8bit_grid(vis) else rgb_to_ycrcb)(vis)
    return ycrcb[:, :1], ycrcb[:, 1:]


def fuse_luminance(fuse_grey: Callable[[Tensor, Tensor], Tensor], ir: Tensor, vis: Tensor) -> Tensor:
    """Apply a grey fusion rule to IR and the visible Y channel, then restore the visible chroma.

    Args:
        fuse_grey: (ir B×1×H×W, y B×1×H×W) → fused Y B×1×H×W, nominally in [0, 1] (not clamped before recombining).
        ir: B×1×H×W.
        vis: B×1×H×W or B×3×H×W.
    Returns:
        Fused batch with the visible image's channel count, in [0, 1].
    """
    if vis.shape[1] == 1:
        return fuse_grey(ir, vis).clamp(0, 1)
    y, chroma = luminance_and_chroma(vis)
    return ycrcb_to_rgb(torch.cat((fuse_grey(ir, y), chroma), 1))
