"""scikit-image SSIM's map in float32 (the ``cddfuse`` SSIM) from its window means, in one compiled pass (numba), with
the float32 arithmetic of :func:`ivifbench.metrics.structural._ssim_skimage_float32` operation for operation (the
constants rounded to float32 as torch rounds Python scalars for float32 tensors; no fused multiply-add), so the map
has the same bits."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np


@functools.cache
def _kernel() -> Callable[..., None]:
    import numba  # imported on first use (start-up of the CLI's other commands)

    @numba.njit(nogil=True, cache=True, boundscheck=False)
    def ssim_map(boxed: Any, cov: Any, c1: Any, c2: Any, out: Any) -> None:
        s = out.shape[0]
        two = np.float32(2.0)
        ux, uxx = boxed[0], boxed[1]
        for k in range(s):
            uy, uyy, uxy, o = boxed[2 + k], boxed[2 + s + k], boxed[2 + 2 * s + k], out[k]
            for j in range(o.shape[0]):
                vx = cov * (uxx[j] - ux[j] * ux[j])
                vy = cov * (uyy[j] - uy[j] * uy[j])
                vxy = cov * (uxy[j] - ux[j] * uy[j])
                a1 = two * ux[j] * uy[j] + c1
                a2 = two * vxy + c2
                b1 = ux[j] * ux[j] + uy[j] * uy[j] + c1
                b2 = vx + vy + c2
                o[j] = (a1 * a2) / (b1 * b2)

    return ssim_map


def ssim_map_float32(boxed: np.ndarray, sources: int, cov_norm: float, c1: float, c2: float) -> np.ndarray:
    """The SSIM map (S×N float32) from the window means ``boxed`` ((2 + 3S)×N float32: x, x², then y, y², xy for each
    of the S sources), sample-covariance factor ``cov_norm`` and constants ``c1``, ``c2``."""
    out = np.empty((sources, boxed.shape[1]), np.float32)
    f32 = np.float32
    _kernel()(np.ascontiguousarray(boxed, dtype=np.float32), f32(cov_norm), f32(c1), f32(c2), out)
    return out
