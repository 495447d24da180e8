"""Separable 'valid' correlation of CPU float64 planes, compiled (numba), with SciPy ``correlate1d``'s arithmetic.

Both passes of one output row run while its inputs are in cache (the row pass into a one-row buffer, then the column
pass), only the rows and columns a decimating caller keeps are computed, and the threads of the metric engine run it
in parallel (no GIL). Each output value is computed with exactly the operations, in the order, that SciPy uses
(``NI_Correlate1D``: symmetric and anti-symmetric odd kernels pair the mirrored taps, farthest first, after the
centre tap; other kernels start with the last tap, then the others in order; no fused multiply-add), so the values are
SciPy's to the bit: VIF and the SSIM family threshold near-zero variances, which round-off of another order can flip.

The kernels are module-level functions (a closure over other compiled functions would miss numba's on-disk cache and
recompile in every process); only the metric code that runs them imports this module, so numba's import stays off
the CLI's start-up.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np


# The taps arrive as a tuple, so each window length compiles its own kernel with a constant tap loop: LLVM unrolls
# it and vectorises along the row with the sum held in a register (3x the speed of accumulating tap by tap in
# memory). Each value is still one chain of operations in SciPy's order.
@numba.njit(nogil=True, cache=True, boundscheck=False)
def _vertical(x: Any, top: int, taps: Any, kind: int, row: Any) -> None:
    """row[j] = Σ_k taps[k]·x[top + k, j] (SciPy's order)."""
    n = len(taps)
    c = n // 2
    if kind == 1:
        for j in range(row.shape[0]):
            acc = x[top + c, j] * taps[c]
            for k in range(c):
                acc += (x[top + k, j] + x[top + n - 1 - k, j]) * taps[k]
            row[j] = acc
    elif kind == -1:
        for j in range(row.shape[0]):
            acc = x[top + c, j] * taps[c]
            for k in range(c):
                acc += (x[top + k, j] - x[top + n - 1 - k, j]) * taps[k]
            row[j] = acc
    else:
        for j in range(row.shape[0]):
            acc = x[top + n - 1, j] * taps[n - 1]
            for k in range(n - 1):
                acc += x[top + k, j] * taps[k]
            row[j] = acc


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _horizontal(src: Any, taps: Any, kind: int, step: int, dst: Any) -> None:
    """dst[j] = Σ_k taps[k]·src[j·step + k] (SciPy's order)."""
    n = len(taps)
    c = n // 2
    if kind == 1 and step == 1:  # the common case, apart so that it vectorises with unit stride
        for j in range(dst.shape[0]):
            acc = src[j + c] * taps[c]
            for k in range(c):
                acc += (src[j + k] + src[j + n - 1 - k]) * taps[k]
            dst[j] = acc
    elif kind == 1:
        for j in range(dst.shape[0]):
            b = j * step
            acc = src[b + c] * taps[c]
            for k in range(c):
                acc += (src[b + k] + src[b + n - 1 - k]) * taps[k]
            dst[j] = acc
    elif kind == -1:
        for j in range(dst.shape[0]):
            b = j * step
            acc = src[b + c] * taps[c]
            for k in range(c):
                acc += (src[b + k] - src[b + n - 1 - k]) * taps[k]
            dst[j] = acc
    else:
        for j in range(dst.shape[0]):
            b = j * step
            acc = src[b + n - 1] * taps[n - 1]
            for k in range(n - 1):
                acc += src[b + k] * taps[k]
            dst[j] = acc


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _vertical_pair(x: Any, top: int, step: int, taps: Any, row0: Any, row1: Any) -> None:
    """:func:`_vertical` of a symmetric kernel for the rows at ``top`` and ``top + step`` at once: the input rows the
    two windows share are loaded once (the row pass is bound by those loads; ~15 % faster)."""
    n = len(taps)
    c = n // 2
    for j in range(row0.shape[0]):
        a0 = x[top + c, j] * taps[c]
        a1 = x[top + step + c, j] * taps[c]
        for k in range(c):
            a0 += (x[top + k, j] + x[top + n - 1 - k, j]) * taps[k]
            a1 += (x[top + step + k, j] + x[top + step + n - 1 - k, j]) * taps[k]
        row0[j] = a0
        row1[j] = a1


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _separable(x: Any, rows: Any, kr: int, cols: Any, kc: int, step: int, out: Any) -> None:
    row0 = np.empty(x.shape[2])
    row1 = np.empty(x.shape[2])
    for p in range(out.shape[0]):
        plane = x[p]
        i = 0
        if kr == 1:
            while i + 1 < out.shape[1]:
                _vertical_pair(plane, i * step, step, rows, row0, row1)
                _horizontal(row0, cols, kc, step, out[p, i])
                _horizontal(row1, cols, kc, step, out[p, i + 1])
                i += 2
        while i < out.shape[1]:
            _vertical(plane, i * step, rows, kr, row0)
            _horizontal(row0, cols, kc, step, out[p, i])
            i += 1


@numba.njit(nogil=True, cache=True, boundscheck=False)
def _box(x: Any, window: Any, out: Any) -> None:
    """'valid' mean over ``len(window)`` values along axis 1, then axis 2 (a tuple, so each size compiles with a
    constant loop, unrolled and vectorised as in :func:`_vertical`): double sums, divided, stored as float32."""
    n = len(window)
    row = np.empty(x.shape[2], np.float32)
    for p in range(out.shape[0]):
        plane = x[p]
        for i in range(out.shape[1]):
            for j in range(row.shape[0]):
                acc = np.float64(plane[i, j])
                for k in range(1, n):
                    acc += np.float64(plane[i + k, j])
                row[j] = np.float32(acc / n)
            o = out[p, i]
            for j in range(o.shape[0]):
                acc = np.float64(row[j])
                for k in range(1, n):
                    acc += np.float64(row[j + k])
                o[j] = np.float32(acc / n)


def box_mean_valid_float32(x: np.ndarray, size: int) -> np.ndarray:
    """SciPy ``uniform_filter1d(·, size)`` along axis 1 then axis 2 of an N×H×W float32 array (H, W ≥ ``size``),
    keeping the 'valid' part, as SciPy computes it for float32: each axis sums in double, divides by ``size`` and
    stores float32. The double sums are exact for the metric engine's data (sums of ``size`` float32 values that span
    far less than double's 53 bits), so SciPy's running sum and these direct sums are the same number, and so are the
    results, to the bit."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, h, w = x.shape
    out = np.empty((n, h - size + 1, w - size + 1), np.float32)
    _box(x, (0,) * size, out)
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
    _separable(x, tuple(rows.tolist()), _kind(rows), tuple(cols.tolist()), _kind(cols), step, out)
    return out
