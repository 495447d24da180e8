"""Qcb and Qcv on large images: the whole-plane CSF filtering through one half-spectrum buffer per plane, the rest in
strips (the ``whole`` rules of their :class:`~ivifbench.metrics.spec.Tiling`).

Their contrast-sensitivity filter is defined on the whole image's spectrum (its frequencies scale with the image
size), so it cannot be cut into strips. It is real and even (a function of |frequency|), so the filtered image is real
and equals ``irfft2(rfft2(x)·S)``; that is done here as a row FFT per strip into an H×(W/2+1) complex buffer (the size
of the float64 plane), a column FFT per block of columns in place, and the inverse row FFT per strip when a strip is
scored. The whole-image path (:mod:`ivifbench.metrics.perceptual`) keeps MATLAB's complex arithmetic; the imaginary
parts it carries are round-off, so the two agree to round-off.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from ivifbench.metrics.filters import separable_same, sobel_pair
from ivifbench.metrics.perceptual import _block_reduce
from ivifbench.metrics.spec import Tiling
from ivifbench.metrics.strip_rules import normalize1_with
from ivifbench.metrics.strips import Plane, PlaneSource, _ranges, _strip_rows, fold

_KEYS = "fab"


def _axis(n: int, divisor: float) -> Tensor:
    """The frequency coordinate of every unshifted FFT index (``perceptual._freq_radius``'s, bit for bit)."""
    shifted = (torch.arange(n, dtype=torch.float64) - n // 2) * (2 / n) * (n / divisor)
    return shifted[(torch.arange(n) + n // 2) % n]


def _normalised(source: PlaneSource, plane: Plane, top: int, bottom: int, c: int) -> dict[str, Tensor]:
    """Rows [top, bottom) of channel ``c`` of the three planes after ``normalize1`` (with the whole plane's min/max)."""
    planes = source.read(top, bottom)
    return {
        k: normalize1_with(x[:, c : c + 1], plane.mins[k][:, c : c + 1], plane.maxs[k][:, c : c + 1])
        for k, x in zip(_KEYS, planes, strict=True)
    }


def _filtered_buffer(
    source: PlaneSource,
    rows_of: Callable[[int, int], np.ndarray],
    response: Callable[[Tensor, Tensor], Tensor],
    pixels: int,
) -> np.ndarray:
    """The half spectrum along W of ``irfft2(rfft2(x)·S)``'s input row FFT, with the column passes done: row strips of
    the result are ``irfft(buffer[rows], n=W)``. ``rows_of(top, bottom)`` gives rows of x (B=1, C=1) as H×W."""
    from scipy import fft as sfft  # here, not at import: scipy.fft costs every `ivifbench score` ~0.3 s otherwise

    h, w = source.height, source.width
    half = w // 2 + 1
    buf = np.empty((h, half), np.complex128)
    rows = _strip_rows(pixels, w, 0, 1)
    workers = max(1, torch.get_num_threads())
    for lo, hi in _ranges(h, rows):
        buf[lo:hi] = sfft.rfft(rows_of(lo, hi), axis=-1, workers=workers)
    cols = max(1, pixels // max(h, 1))
    for c0 in range(0, half, cols):
        c1 = min(half, c0 + cols)
        spec = sfft.fft(buf[:, c0:c1], axis=0, workers=workers)
        spec *= response(torch.arange(c0, c1), torch.arange(h)).numpy()
        buf[:, c0:c1] = sfft.ifft(spec, axis=0, overwrite_x=True, workers=workers)
    return buf


def _radius(h: int, w: int, divisor: float) -> Callable[[Tensor, Tensor], Tensor]:
    u_all, v_all = _axis(w, divisor), _axis(h, divisor)

    def radius(cols: Tensor, rows: Tensor) -> Tensor:
        u, v = u_all[cols][None, :], v_all[rows][:, None]
        return torch.sqrt(u * u + v * v)

    return radius


def _rows(buf: np.ndarray, top: int, bottom: int, w: int) -> Tensor:
    from scipy import fft as sfft

    return torch.from_numpy(sfft.irfft(buf[top:bottom], n=w, axis=-1))[None, None]


def _gauss(x: Tensor, sigma: float, size: int = 31) -> Tensor:
    """``perceptual._gaussian_filter_complex`` on a real plane."""
    half = size // 2
    t = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device)
    taps = torch.exp(-(t * t) / (2 * sigma * sigma))
    return separable_same(x.contiguous(), taps) * (1 / (2 * np.pi * sigma * sigma))


def q_chen_blum_whole(source: PlaneSource, plane: Plane, *, pixels: int, drop_nan: bool = True) -> Tensor:
    """Qcb (:func:`ivifbench.metrics.perceptual.q_chen_blum`) of one image (B = 1) without whole float64 planes."""
    h, w = source.height, source.width
    radius = _radius(h, w, 30.0)

    def csf(cols: Tensor, rows: Tensor) -> Tensor:
        r = radius(cols, rows)
        return torch.exp(-((r / 15.3870) ** 2)) - 0.7622 * torch.exp(-((r / 1.3456) ** 2))

    return torch.cat(
        [_qcb_channel(source, plane, c, csf, pixels, drop_nan) for c in range(plane.sums["f"].shape[1])], 1
    ).mean(1)


def _qcb_channel(
    source: PlaneSource, plane: Plane, c: int, csf: Callable[[Tensor, Tensor], Tensor], pixels: int, drop_nan: bool
) -> Tensor:
    h, w = source.height, source.width
    halo = 15

    def rows_of(k: str) -> Callable[[int, int], np.ndarray]:
        return lambda t, b: _normalised(source, plane, t, b, c)[k][0, 0].numpy()

    bufs = {k: _filtered_buffer(source, rows_of(k), csf, pixels) for k in _KEYS}

    def one(r: tuple[int, int]) -> Tensor:
        lo, hi = r
        top, bottom = max(0, lo - halo), min(h, hi + halo)
        cp = {}
        for k in _KEYS:
            xf = _rows(bufs[k], top, bottom, w)
            contrast = (_gauss(xf, 2.0) / _gauss(xf, 4.0) - 1).abs()
            cp[k] = (contrast**3 / (contrast**2 + 1e-4))[..., lo - top : hi - top, :]
        cp_f, cp_a, cp_b = cp["f"], cp["a"], cp["b"]

        def ratio(cs: Tensor) -> Tensor:
            return torch.where(cs < cp_f, cs / cp_f, cp_f / cs)

        lam_a = cp_a**2 / (cp_a**2 + cp_b**2)
        q = lam_a * ratio(cp_a) + (1 - lam_a) * ratio(cp_b)
        ok = ~torch.isnan(q)
        return torch.stack((torch.where(ok, q, 0).sum((-2, -1)), ok.sum((-2, -1)).to(q.dtype), q.sum((-2, -1))), -1)

    (total,) = fold(lambda r: [one(r)], _ranges(h, _strip_rows(pixels, w, 2 * halo, 1)))
    bufs.clear()  # free the buffers before the next channel
    s, n, s_all = total.unbind(-1)
    if drop_nan:
        return torch.where(n > 0, s / n.clamp(min=1), 0)
    return s_all / (h * w)


def q_chen_varshney_whole(source: PlaneSource, plane: Plane, *, pixels: int) -> Tensor:
    """Qcv (:func:`ivifbench.metrics.perceptual.q_chen_varshney`) of one image (B = 1) without whole float64 planes."""
    h, w = source.height, source.width
    radius = _radius(h, w, 8.0)

    def csf(cols: Tensor, rows: Tensor) -> Tensor:
        r = radius(cols, rows)
        return 2.6 * (0.0192 + 0.144 * r) * torch.exp(-((0.144 * r) ** 1.1))

    return torch.cat([_qcv_channel(source, plane, c, csf, pixels) for c in range(plane.sums["f"].shape[1])], 1).mean(1)


def _qcv_channel(
    source: PlaneSource, plane: Plane, c: int, csf: Callable[[Tensor, Tensor], Tensor], pixels: int
) -> Tensor:
    h, w = source.height, source.width

    def diff_rows(k: str) -> Callable[[int, int], np.ndarray]:
        def rows(t: int, b: int) -> np.ndarray:
            x = _normalised(source, plane, t, b, c)
            return (x[k] - x["f"])[0, 0].numpy()

        return rows

    bufs = {k: _filtered_buffer(source, diff_rows(k), csf, pixels) for k in "ab"}

    def one(r: tuple[int, int]) -> Tensor:
        lo, hi = r
        top, bottom = max(0, lo - 1), min(h, hi + 1)
        x = _normalised(source, plane, top, bottom, c)
        gx, gy = sobel_pair(torch.cat((x["f"], x["a"], x["b"]), 1))
        g = torch.sqrt(gx * gx + gy * gy)[..., lo - top : hi - top, :]
        _, sal_a, sal_b = _block_reduce(g**5, 16, "sum").split(1, 1)
        d = {}
        for k in "ab":
            xf = _rows(bufs[k], lo, hi, w)
            d[k] = _block_reduce((xf * xf).contiguous(), 16, "mean")
        num = (sal_a * d["a"] + sal_b * d["b"]).sum((-2, -1))
        den = (sal_a + sal_b).sum((-2, -1))
        return torch.stack((num, den), -1)

    (total,) = fold(lambda r: [one(r)], _ranges(h, _strip_rows(pixels, w, 2, 16)))
    bufs.clear()  # free the buffers before the next channel
    num, den = total.unbind(-1)
    return torch.where(den > 0, num / torch.where(den > 0, den, 1), 0)


TILINGS: dict[str, Tiling] = {
    "Qcb": Tiling(whole=q_chen_blum_whole),
    "Qcv": Tiling(whole=q_chen_varshney_whole),
}
"""The ``whole`` strip rules of Qcb and Qcv."""
