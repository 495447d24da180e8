"""MI's histograms of CPU float64 planes in one compiled pass (numba): the fused image's and both sources' 256-bin
counts and the two joint 256×256 counts, with the binning of :func:`ivifbench.metrics.information._bins` ('round':
``int(x + 0.5)`` clamped to 0..255). Counts are integers, so they are exactly the ``bincount`` ones."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np


@functools.cache
def _kernel() -> Callable[..., None]:
    import numba  # imported on first use (start-up of the CLI's other commands)

    @numba.njit(nogil=True, cache=True, boundscheck=False)
    def counts(f: Any, a: Any, b: Any, cap: int, marg: Any, joint: Any) -> None:
        for p in range(f.shape[0]):
            for k in range(f.shape[1]):
                fi = min(max(np.int64(f[p, k] + 0.5), 0), 255)
                ai = min(max(np.int64(a[p, k] + 0.5), 0), 255)
                bi = min(max(np.int64(b[p, k] + 0.5), 0), 255)
                marg[0, p, fi] += 1
                marg[1, p, ai] += 1
                marg[2, p, bi] += 1
                fj = min(fi, cap)
                joint[0, p, min(ai, cap), fj] += 1
                joint[1, p, min(bi, cap), fj] += 1

    return counts


def mi_counts(f: np.ndarray, a: np.ndarray, b: np.ndarray, tang_quirk: bool) -> tuple[np.ndarray, np.ndarray]:
    """For P×N float64 planes: the 256-bin counts 3×P×256 (F, A, B) and the joint counts 2×P×256×256 (A–F, B–F;
    source bin first), int64. ``tang_quirk``: values 254 and 255 share one joint bin (Tang's ``uint8(x)+1``)."""
    f, a, b = (np.ascontiguousarray(t, dtype=np.float64) for t in (f, a, b))
    marg = np.zeros((3, f.shape[0], 256), np.int64)
    joint = np.zeros((2, f.shape[0], 256, 256), np.int64)
    _kernel()(f, a, b, 254 if tang_quirk else 255, marg, joint)
    return marg, joint
