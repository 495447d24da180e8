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


def _vif_sums_reference(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The per-pixel VIF terms with NumPy, one logarithm per pixel (B×2×C sums)."""
    mu, e_ss, e_sf = m[:, :2], m[:, 3:5], m[:, 6:8]
    mu_f, e_ff = m[:, 2:3], m[:, 5:6]
    s1 = e_ss - mu * mu
    s1 = np.where(s1 > np.nextafter(1e-10, 0), s1, 0.0)
    s2 = np.maximum(e_ff - mu_f * mu_f, 0.0)
    s12 = e_sf - mu * mu_f
    g = np.maximum(s12 / (s1 + 1e-10), 0.0)
    g = np.where(s2 < 1e-10, 0.0, g)
    sv = np.maximum(s2 - s12 * g, 1e-10)
    num = np.log10(g * g * s1 / (sv + 2.0) + 1.0).sum((-2, -1))
    return num, np.log10(s1 / 2.0 + 1.0).sum((-2, -1))


def test_vif_sums_kernel_matches_one_logarithm_per_pixel() -> None:
    from ivifbench.metrics.vif_kernel import add_vif_sums

    rng = np.random.default_rng(5)
    mu = rng.random((2, 3, 1, 9, 13)) * 255
    spread = rng.random((2, 3, 1, 9, 13)) * 400
    m = np.concatenate([mu, mu**2 + spread, mu[:, :2] * mu[:, 2:3] + rng.normal(0, 50, (2, 2, 1, 9, 13))], 1)
    m[0, 3, 0, :2] = m[0, 0, 0, :2] ** 2  # flat windows: σ_S² = 0
    m[1, 3, 0, 4] += 1e305  # a factor so large that its block's product overflows: one logarithm each there
    num, den = np.zeros((2, 2, 1)), np.zeros((2, 2, 1))
    add_vif_sums(m, np.nextafter(1e-10, 0), 1e-10, 2.0, num, den)
    want_num, want_den = _vif_sums_reference(m)
    np.testing.assert_allclose(num, want_num, rtol=1e-12)
    np.testing.assert_allclose(den, want_den, rtol=1e-12)


def test_a_second_process_loads_every_kernel_from_numbas_cache(tmp_path) -> None:
    """Kernels that miss numba's on-disk cache recompile in every process (seconds per `score`): the second of two
    identical runs must compile nothing."""
    import os
    import subprocess
    import sys

    from PIL import Image

    rng = np.random.default_rng(6)
    for folder in ("ir", "vi", "fu"):
        (tmp_path / folder).mkdir()
        Image.fromarray((rng.random((48, 40)) * 255).astype(np.uint8)).save(tmp_path / folder / "a.png")
    cmd = [sys.executable, "-m", "ivifbench.cli", "score", "--convention", "cddfuse", "--out", str(tmp_path / "s.csv")]
    cmd += [f"--{k}={tmp_path / d}" for k, d in (("ir", "ir"), ("vis", "vi"), ("fused", "fu"))]
    env = {**os.environ, "NUMBA_DEBUG_CACHE": "1"}
    runs = [subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=True) for _ in range(2)]
    assert "index loaded" in runs[1].stdout + runs[1].stderr  # the kernels ran and numba reported on its cache
    assert "data saved" not in runs[1].stdout + runs[1].stderr, "a kernel was compiled again in the second process"
