"""Separable 'valid' correlation of CPU float64 planes, compiled (numba), with SciPy ``correlate1d``'s arithmetic.

Both passes of one output row run while its inputs are in cache (the row pass into a one-row buffer, then the column
pass), only the rows and columns a decimating caller keeps are computed, and the threads of the metric engine run it
in parallel (no GIL). Each output value is computed with exactly the operations, in the order, that SciPy uses
(``NI_Correlate1D``: symmetric and anti-symmetric odd kernels pair the mirrored taps, farthest first, after the
centre tap; other kernels start with the last tap, then the others in order; no fused multiply-add), so the values are
SciPy's to the bit: VIF and the SSIM family threshold near-zero variances, which round-off of another order can flip.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np


@functools.cache
def _kernel() -> Callable[..., None]:
    import numba  # imported on first use: a second of start-up the CLI's other commands should not pay

    @numba.njit(nogil=True, cache=True, boundscheck=False)
    def line(src: Any, taps: Any, kind: int, step: int, count: int, dst: Any) -> None:
        """dst[j] = Σ_k taps[k]·src[j·step + k] for j < count (SciPy's order)."""
        n = taps.shape[0]
        c = n // 2
        if kind == 1 or kind == -1:  # (anti-)symmetric odd kernel
            wc = taps[c]
            for j in range(count):
                dst[j] = src[j * step + c] * wc
            for k in range(c):
                wk = taps[k]
                m = n - 1 - k
                if kind == 1:
                    for j in range(count):
                        b = j * step
                        dst[j] += (src[b + k] + src[b + m]) * wk
                else:
                    for j in range(count):
                        b = j * step
                        dst[j] += (src[b + k] - src[b + m]) * wk
        else:
            wl = taps[n - 1]
            for j in range(count):
                dst[j] = src[j * step + n - 1] * wl
            for k in range(n - 1):
                wk = taps[k]
                for j in range(count):
                    dst[j] += src[j * step + k] * wk

    @numba.njit(nogil=True, cache=True, boundscheck=False)
    def rows_pass(x: Any, p: int, top: int, taps: Any, kind: int, row: Any) -> None:
        """row[:] = Σ_k taps[k]·x[p, top + k, :] (SciPy's order; the vectorised loop runs along the row)."""
        n = taps.shape[0]
        c = n // 2
        w = row.shape[0]
        if kind == 1 or kind == -1:
            a = x[p, top + c]
            wc = taps[c]
            for j in range(w):
                row[j] = a[j] * wc
            for k in range(c):
                a = x[p, top + k]
                b = x[p, top + n - 1 - k]
                wk = taps[k]
                if kind == 1:
                    for j in range(w):
                        row[j] += (a[j] + b[j]) * wk
                else:
                    for j in range(w):
                        row[j] += (a[j] - b[j]) * wk
        else:
            a = x[p, top + n - 1]
            wl = taps[n - 1]
            for j in range(w):
                row[j] = a[j] * wl
            for k in range(n - 1):
                a = x[p, top + k]
                wk = taps[k]
                for j in range(w):
                    row[j] += a[j] * wk

    @numba.njit(nogil=True, cache=True, boundscheck=False)
    def separable(x: Any, rows: Any, kr: int, cols: Any, kc: int, step: int, out: Any) -> None:
        row = np.empty(x.shape[2])
        for p in range(out.shape[0]):
            for i in range(out.shape[1]):
                rows_pass(x, p, i * step, rows, kr, row)
                line(row, cols, kc, step, out.shape[2], out[p, i])

    return separable


@functools.cache
def _box_kernel() -> Callable[..., None]:
    import numba

    @numba.njit(nogil=True, cache=True, boundscheck=False)
    def box(x: Any, size: int, out: Any) -> None:
        w = x.shape[2]
        acc = np.empty(w)
        row = np.empty(w, np.float32)
        for p in range(out.shape[0]):
            for i in range(out.shape[1]):
                a = x[p, i]
                for j in range(w):
                    acc[j] = np.float64(a[j])
                for k in range(1, size):
                    a = x[p, i + k]
                    for j in range(w):
                        acc[j] += np.float64(a[j])
                for j in range(w):
                    row[j] = np.float32(acc[j] / size)
                o = out[p, i]
                for j in range(o.shape[0]):
                    acc[j] = np.float64(row[j])
                for k in range(1, size):
                    for j in range(o.shape[0]):
                        acc[j] += np.float64(row[j + k])
                for j in range(o.shape[0]):
                    o[j] = np.float32(acc[j] / size)

    return box


def box_mean_valid_float32(x: np.ndarray, size: int) -> np.ndarray:
    """SciPy ``uniform_filter1d(·, size)`` along axis 1 then axis 2 of an N×H×W float32 array (H, W ≥ ``size``),
    keeping the 'valid' part, as SciPy computes it for float32: each axis sums in double, divides by ``size`` and
    stores float32. The double sums are exact for the metric engine's data (sums of ``size`` float32 values that span
    far less than double's 53 bits), so SciPy's running sum and these direct sums are the same number, and so are the
    results, to the bit."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, h, w = x.shape
    out = np.empty((n, h - size + 1, w - size + 1), np.float32)
    _box_kernel()(x, size, out)
    return out


def _kind(taps: np.ndarray) -> int:
    """SciPy's classification (to DBL_EPSILON, as it tests): 1 symmetric, −1 anti-symmetric (odd lengths), else 0."""
    n = taps.size
    if n % 2 == 0:
        return 0
    c, eps = n // 2, np.finfo(np.float64).eps
    if all(abs(taps[c + k] - taps[c - k]) <= eps for k in range(1, c + 1)):
        return 1
    if all(abs(taps[c + k] + taps[c - k]) <= eps for k in range(1, c + 1)):
        return -1
    return 0


def separable_valid_cpu(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, step: int = 1) -> np.ndarray:
    """``correlate1d`` 'valid' along axis 1 with ``rows``, then along axis 2 with ``cols``, keeping every ``step``-th
    row and column, of an N×H×W float64 array (H ≥ len(rows), W ≥ len(cols)). Returns a new N×Ho×Wo array."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    rows, cols = (np.ascontiguousarray(t, dtype=np.float64) for t in (rows, cols))
    n, h, w = x.shape
    out = np.empty((n, (h - rows.size) // step + 1, (w - cols.size) // step + 1))
    _kernel()(x, rows, _kind(rows), cols, _kind(cols), step, out)
    return out
