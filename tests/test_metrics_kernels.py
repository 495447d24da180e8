"""The compiled filtering kernels against SciPy, to the bit: VIF and the SSIM family threshold near-zero variances, so
the kernels promise SciPy's exact arithmetic, not only its values to a tolerance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import correlate1d, uniform_filter1d

from ivifbench.metrics.separable import box_mean_valid_float32, separable_valid_cpu

TAPS = {
    "gaussian17": np.exp(-((np.arange(17) - 8.0) ** 2) / (2 * 3.4**2)),
    "gaussian3": np.array([0.25, 0.5, 0.25]),
    "antisymmetric": np.array([-1.0, 0.0, 1.0]),
    "odd-general": np.array([0.1, 0.7, 0.3, -0.2, 0.05]),
    "even": np.array([0.4, 0.3, 0.2, 0.1]),
}


def _scipy_valid(x: np.ndarray, rows: np.ndarray, cols: np.ndarray, step: int) -> np.ndarray:
    full = correlate1d(correlate1d(x, rows, axis=1), cols, axis=2)
    h, w = x.shape[1:]
    top, left = rows.size // 2, cols.size // 2  # correlate1d centres an n-tap window at n // 2
    valid = full[:, top : top + h - rows.size + 1, left : left + w - cols.size + 1]
    return valid[:, ::step, ::step]


@pytest.mark.parametrize("step", [1, 2])
@pytest.mark.parametrize("cols", sorted(TAPS))
@pytest.mark.parametrize("rows", ["gaussian17", "antisymmetric", "even"])
def test_separable_valid_is_scipy_to_the_bit(rows: str, cols: str, step: int) -> None:
    x = np.random.default_rng(3).random((2, 41, 37)) * 255
    x[1, 10:20] = 17.0  # a flat patch, where round-off decides whether a variance is zero
    got = separable_valid_cpu(x, TAPS[rows], TAPS[cols], step)
    want = _scipy_valid(x, TAPS[rows], TAPS[cols], step)
    assert got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("size", [7, 3])
def test_box_mean_valid_float32_is_scipy_to_the_bit(size: int) -> None:
    x = (np.random.default_rng(4).random((2, 30, 33)) * 255).astype(np.float32)
    full = uniform_filter1d(uniform_filter1d(x, size, axis=1), size, axis=2)
    c = size // 2
    assert np.array_equal(box_mean_valid_float32(x, size), full[:, c : c + 30 - size + 1, c : c + 33 - size + 1])
