"""Qabf's per-pixel quantities of CPU float64 planes in compiled passes (numba), with the arithmetic of
:mod:`ivifbench.metrics.gradient` operation for operation (so the same bits): the Sobel parts (zero padding, the
[1 2 1] smoothing summed as (a + b) + 2c, differences of the smoothed rows) and the arguments of Qabf's two
sigmoids; no fused multiply-add. Transcendental functions stay outside: sqrt and atan2 with NumPy's SIMD loops
(see ``gradient._qabf_edges``), the sigmoids with torch."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np


@functools.cache
def _kernel() -> tuple[Callable[..., None], Callable[..., None]]:
    import numba  # imported on first use (start-up of the CLI's other commands)

    @numba.njit(nogil=True, cache=True, boundscheck=False)
    def parts(x: Any, g: Any, num: Any, den: Any) -> None:
        n, h, w = x.shape
        up = np.empty(w + 2)
        mid = np.empty(w + 2)
        down = np.empty(w + 2)
        smooth = np.empty(w + 2)
        diff = np.empty(w + 2)
        for p in range(n):
            for i in range(h):
                # rows i−1, i, i+1 of the zero-padded plane (padded by one column on each side)
                up[:] = 0.0
                mid[:] = 0.0
                down[:] = 0.0
                if i > 0:
                    up[1 : w + 1] = x[p, i - 1]
                mid[1 : w + 1] = x[p, i]
                if i < h - 1:
                    down[1 : w + 1] = x[p, i + 1]
                for j in range(w + 2):
                    smooth[j] = (up[j] + down[j]) + 2.0 * mid[j]  # [1 2 1] along H
                    diff[j] = down[j] - up[j]  # [−1 0 1] along H
                gp, np_, dp = g[p, i], num[p, i], den[p, i]
                for j in range(w):
                    sx = -(smooth[j + 2] - smooth[j])  # conv2 with [−1 0 1; −2 0 2; −1 0 1]: −gx
                    sy = (diff[j] + diff[j + 2]) + 2.0 * diff[j + 1]
                    gp[j] = sx * sx + sy * sy  # torch takes the root: its sqrt is not always numpy's
                    np_[j] = sy * np.sign(sx)
                    dp[j] = abs(sx)

    @numba.njit(nogil=True, cache=True, boundscheck=False)
    def sigmoid_args(g: Any, alpha: Any, fix_equal: bool, out: Any) -> None:
        half_pi = -np.pi / 2
        for bi in range(g.shape[0]):
            for s in range(2):
                z_g, z_a = out[2 * s, bi], out[2 * s + 1, bi]
                g_s, a_s, g_f, a_f = g[bi, s + 1], alpha[bi, s + 1], g[bi, 0], alpha[bi, 0]
                for k in range(g.shape[2]):
                    gs, gf = g_s[k], g_f[k]
                    if gs == gf:
                        r = 1.0 if fix_equal else gf
                    else:
                        r = min(gs, gf) / max(gs, gf)
                    z_g[k] = (r - 0.5) * 15.0
                    z_a[k] = (((abs(a_s[k] - a_f[k]) / half_pi) + 1.0) - 0.8) * 22.0

    return parts, sigmoid_args


def sigmoid_args(g: np.ndarray, alpha: np.ndarray, fix_equal: bool) -> np.ndarray:
    """Qabf's sigmoid arguments 15(G − 0.5) and 22(A − 0.8) for A–F and B–F: 4×B×N (G_AF, A_AF, G_BF, A_BF), from the
    strengths and orientations of F, A and B (B×3×N each, in that order); G = g_F where g_S = g_F (1 with
    ``fix_equal``), else min/max; A = 1 − |α_S − α_F|/(π/2)."""
    out = np.empty((4, g.shape[0], g.shape[2]))
    _kernel()[1](np.ascontiguousarray(g), np.ascontiguousarray(alpha), fix_equal, out)
    return out


def sobel_parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For an N×H×W float64 array: the squared Sobel strength Sx² + Sy², and Sy·sign(Sx) and |Sx| (whose atan2 is Qabf's
    orientation), Sx and Sy MATLAB's ``conv2`` responses with zero padding (Sx the negated ``gx`` of
    :func:`~ivifbench.metrics.filters.sobel_pair`)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    g, num, den = (np.empty_like(x) for _ in range(3))
    _kernel()[0](x, g, num, den)
    return g, num, den
