"""Metrics without published per-image values, against independent transcriptions of the original public code.

No toolkit published per-image numbers for NMI, FMI_pixel/FMI_dct/FMI_w, VIFF, MEF_SSIM, Nabf/Nabf_petrovic, MS_SSIM,
Qy, Qc and Qw (tests/test_metrics_golden.py covers the metrics that have them). Each is re-written below, deliberately
naively, from the formulas of metrics.md (§3–4, §9) and from reading the original MATLAB (named per function): 2-D
windows with ``scipy.signal.correlate2d`` (MATLAB ``filter2``), explicit Python loops where the original loops (on
centre crops, to stay fast), ``np.histogram2d``. Nothing here imports the project's metric code:
``ivifbench.metrics.compute`` (canonical convention) is called only for the values under test.

Inputs: three real triples from ../shared (TNO 08 with DenseFuse; TNO 05 with IFCNN, whose IR saturates at 255 in flat
patches; VIFB 'walking' with ADF, colour: both sides use BT.601 luma rounded half away, as the canonical convention),
skipped when ../shared is absent, and one seeded synthetic triple that always runs (see :func:`_synthetic`).

Tolerances (per metric in ``METRICS`` below):

* ``rtol 1e-10`` everywhere: the transcription and the engine do the same arithmetic in another order (2-D against
  separable filtering, other summation orders, closed-form window moments for MEF-SSIM), so only round-off differs;
  the largest relative difference observed is 1.1e-14 (VIFF).
* Qy and Qc additionally allow ``2·n/(N − n)`` (absolute) for their n of N windows whose branch is decided by round-off
  in any implementation, MATLAB's included: where two of the images are flat at a non-zero level, or (Qc) a source or F
  is, a window statistic that is 0 in exact arithmetic comes out as ±1e-12 noise and chooses Qc's sim = 0 / sim = 1
  branches or Qy's λ and SSIM(A,B) ≥ 0.75 test. Each such window moves the mean by at most 2/(N − n). Windows flat at 0
  are exact (all products are 0) and not counted. Only TNO 05 (IR saturated at 255) has such windows: 216 for Qc, where
  the engine and the transcription differ by 1.7e-5 (bound 5.8e-3); every other case is held to the rtol alone.
* MS_SSIM: Wang's msssim.m takes cs_j^{w_j} of a negative mean (a complex number); the engine clamps negative values to
  0 as pytorch_msssim does (documented in ``ms_ssim``), and so does the transcription (TNO 05's IR term, scale 5).
* FMI_w: PyWavelets' 62-tap dmey on both sides; MATLAB's dmey has 102 taps (pywt #261), so neither is MATLAB's FMI_w.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
import pywt
import torch
from PIL import Image
from scipy.fft import dctn
from scipy.ndimage import uniform_filter
from scipy.signal import correlate2d

from ivifbench.metrics import compute

EPS = np.finfo(np.float64).eps  # MATLAB eps


# ----------------------------------------------------------------------------------------------------------------------
# MATLAB building blocks
# ----------------------------------------------------------------------------------------------------------------------


def _mround(x: np.ndarray) -> np.ndarray:
    """MATLAB ``round``: halves away from zero."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _fspecial_gaussian(n: int, sigma: float) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', n, sigma)``: the 2-D window, taps below eps·max zeroed, normalised."""
    half = (n - 1) / 2
    y, x = np.mgrid[-half : half + 1, -half : half + 1]
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < EPS * h.max()] = 0
    return h / h.sum()


def _filter2_valid(win: np.ndarray, x: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(win, x, 'valid')``: 2-D correlation."""
    return correlate2d(x, win, mode="valid")


def _ssim_maps(x: np.ndarray, y: np.ndarray, win: np.ndarray, c1: float, c2: float) -> tuple[np.ndarray, ...]:
    """Wang's ``ssim_index`` arithmetic (also ``ssim_index_new``, LIU's ``ssim_yang``): SSIM map, cs map, σx², σy², σxy."""
    mu1, mu2 = _filter2_valid(win, x), _filter2_valid(win, y)
    sigma1_sq = _filter2_valid(win, x * x) - mu1 * mu1
    sigma2_sq = _filter2_valid(win, y * y) - mu2 * mu2
    sigma12 = _filter2_valid(win, x * y) - mu1 * mu2
    cs_map = (2 * sigma12 + c2) / (sigma1_sq + sigma2_sq + c2)
    ssim_map = ((2 * mu1 * mu2 + c1) * (2 * sigma12 + c2)) / (
        (mu1 * mu1 + mu2 * mu2 + c1) * (sigma1_sq + sigma2_sq + c2)
    )
    return ssim_map, cs_map, sigma1_sq, sigma2_sq, sigma12


def _halve(x: np.ndarray) -> np.ndarray:
    """``imfilter(x, ones(2)/4, 'symmetric', 'same')`` then ``(1:2:end, 1:2:end)`` (Wang's msssim.m, Ma's mef_ms_ssim.m).

    A 2×2 kernel's centre is its (1,1) element, so each output averages the pixel and its right/lower neighbours; the
    'symmetric' border repeats the last row/column.
    """
    padded = np.pad(x, ((0, 1), (0, 1)), mode="symmetric")
    return _filter2_valid(np.ones((2, 2)) / 4, padded)[::2, ::2]


def _flat(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per 'valid' n×n window: whether it is constant, and whether it is constant at a non-zero level."""
    win = np.lib.stride_tricks.sliding_window_view(x, (n, n))
    flat = win.max((-2, -1)) == win.min((-2, -1))
    return flat, flat & (win[..., 0, 0] != 0)


# ----------------------------------------------------------------------------------------------------------------------
# NMI: LIU metricMI.m / MEFB metricsNMI.m (Hossny), normalize1.m, mutual_info.m
# ----------------------------------------------------------------------------------------------------------------------


def _normalize1(x: np.ndarray) -> np.ndarray:
    hi, lo = x.max(), x.min()
    if hi == 0 and lo == 0:
        return x.copy()
    return _mround((x - lo) / (hi - lo) * 255)


def _mutual_info(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """MI, H(x), H(y) in bits from the 256×256 joint histogram of two 0..255 integer images."""
    h, _, _ = np.histogram2d(x.ravel(), y.ravel(), bins=256, range=[[-0.5, 255.5], [-0.5, 255.5]])
    h = h / h.sum()

    def entropy(p: np.ndarray) -> float:
        p = p[p > 0]
        return float(-np.sum(p * np.log2(p)))

    h_x, h_y = entropy(h.sum(1)), entropy(h.sum(0))
    return h_x + h_y - entropy(h.ravel()), h_x, h_y


def nmi(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    a, b, f = _normalize1(a), _normalize1(b), _normalize1(f)
    i_af, h_a, h_f = _mutual_info(a, f)
    i_bf, h_b, _ = _mutual_info(b, f)
    return 2 * (i_af / (h_f + h_a) + i_bf / (h_f + h_b))


# ----------------------------------------------------------------------------------------------------------------------
# FMI: Haghighat's fmi.m (identical copies in Tang's toolkit, analysis_fmi.m, and MEFB, metricsFMI.m)
# ----------------------------------------------------------------------------------------------------------------------


def _fmi_term(s_sub: np.ndarray, f_sub: np.ndarray) -> tuple[float, np.ndarray]:
    """One ``fmi_af`` (or ``fmi_bf``) of fmi.m's window loop, line by line. Returns the value and F's window as fmi.m
    leaves it (it normalises fSub in place unless the raw windows are equal)."""
    if np.array_equal(s_sub, f_sub):  # if aSub == fSub
        return 1.0, f_sub
    w = s_sub.shape[0]
    s_sub = np.ones((w, w)) if s_sub.max() == s_sub.min() else (s_sub - s_sub.min()) / (s_sub.max() - s_sub.min())
    f_sub = np.ones((w, w)) if f_sub.max() == f_sub.min() else (f_sub - f_sub.min()) / (f_sub.max() - f_sub.min())
    s_pdf = (s_sub.flatten(order="F") / s_sub.sum()).tolist()  # aSub(:)./sum(sum(aSub)): column-major
    f_pdf = (f_sub.flatten(order="F") / f_sub.sum()).tolist()
    n = len(s_pdf)
    s_cdf, f_cdf = [s_pdf[0]], [f_pdf[0]]
    for i in range(1, n):
        s_cdf.append(s_pdf[i] + s_cdf[i - 1])
        f_cdf.append(f_pdf[i] + f_cdf[i - 1])
    s_mean, f_mean = sum(s_pdf) / n, sum(f_pdf) / n
    s_tmp, f_tmp = [v - s_mean for v in s_pdf], [v - f_mean for v in f_pdf]
    # a constant window's pdf is exactly uniform: fmi.m's deviations from its mean are 0 in exact arithmetic (the
    # round-off of a mean of nine ninths is not part of the definition; see ivifbench.metrics.fmi)
    if s_sub.min() == s_sub.max() == 1:
        s_tmp = [0.0] * n
    if f_sub.min() == f_sub.max() == 1:
        f_tmp = [0.0] * n
    num = sum(u * v for u, v in zip(s_tmp, f_tmp, strict=True))
    c = 0.0 if num == 0 else num / math.sqrt(sum(u * u for u in s_tmp) * sum(v * v for v in f_tmp))
    e_s = e2_s = e_f = e2_f = 0.0
    for i in range(n):
        e_s += (i + 1) * s_pdf[i]
        e2_s += (i + 1) ** 2 * s_pdf[i]
        e_f += (i + 1) * f_pdf[i]
        e2_f += (i + 1) ** 2 * f_pdf[i]
    s_sd, f_sd = math.sqrt(e2_s - e_s**2), math.sqrt(e2_f - e_f**2)

    def upper(x: float, y: float) -> float:  # Fréchet upper bound
        return 0.5 * (x + y - abs(x - y))

    def lower(x: float, y: float) -> float:  # Fréchet lower bound
        return 0.5 * (x + y - 1 + abs(x + y - 1))

    bound = upper if c >= 0 else lower
    if c == 0 or s_sd == 0 or f_sd == 0:  # (fmi.m tests c == 0 in its c ≥ 0 branch only: the same)
        mix = 0.0  # phi (c ≥ 0) or theta (c < 0)
    else:
        cov = 0.0
        for i in range(n):
            for j in range(n):
                cov += bound(f_cdf[i], s_cdf[j]) - f_cdf[i] * s_cdf[j]
        mix = c / (cov / (f_sd * s_sd))
    joint = 0.0
    for i in range(n):  # i over F, j over the source, as fmi.m
        for j in range(n):
            b = bound(f_cdf[i], s_cdf[j])
            if i > 0:
                b -= bound(f_cdf[i - 1], s_cdf[j])
            if j > 0:
                b -= bound(f_cdf[i], s_cdf[j - 1])
            if i > 0 and j > 0:
                b += bound(f_cdf[i - 1], s_cdf[j - 1])
            p = mix * b + (1 - mix) * f_pdf[i] * s_pdf[j]
            if p != 0:
                joint += -p * math.log2(abs(p))  # real(-jpdf.*log2(jpdf)): negative entries count as −p·log2|p|
    h_s = sum(-p * math.log2(p) for p in s_pdf if p != 0)
    h_f = sum(-p * math.log2(p) for p in f_pdf if p != 0)
    mi = h_s + h_f - joint
    return (0.0 if mi == 0 else 2 * mi / (h_s + h_f)), f_sub


def _rerange(x: np.ndarray) -> np.ndarray:
    return np.ones_like(x) if x.max() == x.min() else (x - x.min()) / (x.max() - x.min())


def _dmey_tiled(x: np.ndarray) -> np.ndarray:
    """``[cA,cH,cV,cD] = dwt2(x,'dmey')`` (MATLAB's default 'sym' border = pywt 'symmetric'), ``rerange([cA,cH;cV,cD])``."""
    ca, (ch, cv, cd) = pywt.dwt2(x, "dmey", mode="symmetric")
    return _rerange(np.block([[ca, ch], [cv, cd]]))


def fmi(a: np.ndarray, b: np.ndarray, f: np.ndarray, feature: str = "none", w: int = 3) -> float:
    if feature == "dct":  # dct2 of the whole image
        a, b, f = (dctn(x, norm="ortho") for x in (a, b, f))
    elif feature == "wavelet":
        a, b, f = (_dmey_tiled(x) for x in (a, b, f))
    m, n = a.shape
    h = w // 2
    fmi_map = np.ones((m - 2 * h, n - 2 * h))
    for p in range(h, m - h):
        for q in range(h, n - h):
            a_sub = a[p - h : p + h + 1, q - h : q + h + 1]
            b_sub = b[p - h : p + h + 1, q - h : q + h + 1]
            f_sub = f[p - h : p + h + 1, q - h : q + h + 1]
            fmi_af, f_sub = _fmi_term(a_sub, f_sub)
            fmi_bf, _ = _fmi_term(b_sub, f_sub)  # sees F's window as the A term left it
            fmi_map[p - h, q - h] = (fmi_af + fmi_bf) / 2
    return float(fmi_map.mean())


# ----------------------------------------------------------------------------------------------------------------------
# VIFF: Han's VIFF_Public.m (MEFB): ComVidVindG is Sheikh & Bovik's vifp with σ_n² = 0.005·255²
# ----------------------------------------------------------------------------------------------------------------------


def _com_vid_vind_g(ref: np.ndarray, dist: np.ndarray, sigma_nsq: float) -> list[tuple[np.ndarray, ...]]:
    out = []
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        win = _fspecial_gaussian(n, n / 5)
        if scale > 1:
            ref = _filter2_valid(win, ref)[::2, ::2]
            dist = _filter2_valid(win, dist)[::2, ::2]
        mu1, mu2 = _filter2_valid(win, ref), _filter2_valid(win, dist)
        sigma1_sq = _filter2_valid(win, ref * ref) - mu1 * mu1
        sigma2_sq = _filter2_valid(win, dist * dist) - mu2 * mu2
        sigma12 = _filter2_valid(win, ref * dist) - mu1 * mu2
        sigma1_sq[sigma1_sq < 0] = 0
        sigma2_sq[sigma2_sq < 0] = 0
        g = sigma12 / (sigma1_sq + 1e-10)
        sv_sq = sigma2_sq - g * sigma12
        low = sigma1_sq < 1e-10
        g[low] = 0
        sv_sq[low] = sigma2_sq[low]
        sigma1_sq[low] = 0
        low = sigma2_sq < 1e-10
        g[low] = 0
        sv_sq[low] = 0
        neg = g < 0
        sv_sq[neg] = sigma2_sq[neg]
        g[neg] = 0
        sv_sq[sv_sq <= 1e-10] = 1e-10
        vid = np.log10(1 + g**2 * sigma1_sq / (sv_sq + sigma_nsq))
        vind = np.log10(1 + sigma1_sq / sigma_nsq)
        out.append((vid, vind, g))
    return out


def viff(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    sq, c = 0.005 * 255 * 255, 1e-7
    p = np.array([1, 0, 0.15, 1]) / 2.15
    values = []
    for (z1, m1, g1), (z2, m2, g2) in zip(_com_vid_vind_g(a, f, sq), _com_vid_vind_g(b, f, sq), strict=True):
        take1 = g1 < g2  # the source with the smaller g; ties → source 2
        values.append(np.sum(np.where(take1, z1, z2) + c) / np.sum(np.where(take1, m1, m2) + c))
    return float(np.sum(np.array(values) * p))


# ----------------------------------------------------------------------------------------------------------------------
# MEF-SSIM: Ma, Zeng & Wang's mef_ssim.m and mef_ms_ssim.m (MEFB copies), the two sources as the exposure stack
# ----------------------------------------------------------------------------------------------------------------------


def _mef_ssim_level(seq: np.ndarray, f: np.ndarray, k: float = 0.03) -> float:
    window = _fspecial_gaussian(11, 1.5)
    s1, s2, s3 = seq.shape
    ws = window.shape[0]
    box = np.ones((ws, ws)) / ws**2
    bd = ws // 2
    mu = np.zeros((s1 - 2 * bd, s2 - 2 * bd, s3))
    ed = np.zeros_like(mu)
    for i in range(s3):
        img = seq[:, :, i]
        mu[:, :, i] = _filter2_valid(box, img)
        sigma_sq = _filter2_valid(box, img * img) - mu[:, :, i] ** 2
        ed[:, :, i] = np.sqrt(np.maximum(ws**2 * sigma_sq, 0)) + 0.001
    r = np.zeros((s1 - 2 * bd, s2 - 2 * bd))
    for i in range(bd, s1 - bd):
        for j in range(bd, s2 - bd):
            vecs = seq[i - bd : i + bd + 1, j - bd : j + bd + 1, :].reshape(ws * ws, s3, order="F")
            den = sum(np.linalg.norm(vecs[:, kk] - mu[i - bd, j - bd, kk]) for kk in range(s3))
            total = vecs.sum(1)
            r[i - bd, j - bd] = (np.linalg.norm(total - total.mean()) + EPS) / (den + EPS)
    r[r > 1] = 1 - EPS
    r[r < 0] = 0 + EPS
    p = np.minimum(np.tan(np.pi / 2 * r), 10)
    w_map = (ed / ws) ** p[:, :, None] + EPS
    w_map = w_map / w_map.sum(2, keepdims=True)
    max_ed = ed.max(2)
    cc = (k * 255) ** 2
    q_map = np.zeros_like(r)
    wv = window.flatten(order="F")
    for i in range(bd, s1 - bd):
        for j in range(bd, s2 - bd):
            blocks = seq[i - bd : i + bd + 1, j - bd : j + bd + 1, :]
            r_block = np.zeros((ws, ws))
            for kk in range(s3):
                d = (blocks[:, :, kk] - mu[i - bd, j - bd, kk]) / ed[i - bd, j - bd, kk]
                r_block = r_block + w_map[i - bd, j - bd, kk] * d
            norm = np.linalg.norm(r_block.ravel())
            if norm > 0:
                r_block = r_block / norm * max_ed[i - bd, j - bd]
            rv = r_block.flatten(order="F")
            fv = f[i - bd : i + bd + 1, j - bd : j + bd + 1].flatten(order="F")
            mu1, mu2 = np.sum(wv * rv), np.sum(wv * fv)
            sigma1_sq = np.sum(wv * (rv - mu1) ** 2)
            sigma2_sq = np.sum(wv * (fv - mu2) ** 2)
            sigma12 = np.sum(wv * (rv - mu1) * (fv - mu2))
            q_map[i - bd, j - bd] = (2 * sigma12 + cc) / (sigma1_sq + sigma2_sq + cc)
    return float(q_map.mean())


def mef_ssim(a: np.ndarray, b: np.ndarray, f: np.ndarray, level: int = 3) -> float:
    weight = np.array([0.0448, 0.2856, 0.3001])
    weight = weight / weight.sum()
    seq = np.stack((a, b), 2)
    q = []
    for lv in range(level):
        q.append(_mef_ssim_level(seq, f))
        if lv < level - 1:
            seq = np.stack([_halve(seq[:, :, i]) for i in range(seq.shape[2])], 2)
            f = _halve(f)
    return float(np.prod(np.array(q) ** weight))


# ----------------------------------------------------------------------------------------------------------------------
# Nabf: Shreyamsha Kumar's objective_fusion_perform_fn.m, sobel_fn.m, per_extn_im_fn.m (VIFB methods/CBF)
# ----------------------------------------------------------------------------------------------------------------------


def _sobel_fn(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vtemp = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8
    htemp = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]) / 8
    x_ext = np.pad(x, 1, mode="reflect")  # per_extn_im_fn: mirrored without repeating the edge
    p, q = x_ext.shape
    gv, gh = np.zeros((p - 2, q - 2)), np.zeros((p - 2, q - 2))
    for ii in range(1, p - 1):
        for jj in range(1, q - 1):
            win = x_ext[ii - 1 : ii + 2, jj - 1 : jj + 2]
            gv[ii - 1, jj - 1] = np.sum(win * vtemp)
            gh[ii - 1, jj - 1] = np.sum(win * htemp)
    return gv, gh


@functools.lru_cache(maxsize=8)
def _nabf_cached(case: str, crop: tuple[int, int]) -> tuple[float, float]:
    return nabf(*(_grey(x) for x in _crop_all(_triple_arrays(case), crop)))


def nabf(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(NABF, NABF1): Kumar's modified fusion-artefact measure and Petrović's."""
    td, wt_min, lg = 2, 0.001, 1.5
    nrg, kg, sigmag, nra, ka, sigmaa = 0.9999, 19, 0.5, 0.9995, 22, 0.5
    gv_a, gh_a = _sobel_fn(a)
    gv_b, gh_b = _sobel_fn(b)
    gv_f, gh_f = _sobel_fn(f)
    g_a, g_b, g_f = np.sqrt(gh_a**2 + gv_a**2), np.sqrt(gh_b**2 + gv_b**2), np.sqrt(gh_f**2 + gv_f**2)
    p, q = f.shape
    g_af, g_bf = np.zeros((p, q)), np.zeros((p, q))
    a_a, a_b, a_f = np.zeros((p, q)), np.zeros((p, q)), np.zeros((p, q))
    for ii in range(p):
        for jj in range(q):
            for g_s, out in ((g_a, g_af), (g_b, g_bf)):
                if g_s[ii, jj] == 0 or g_f[ii, jj] == 0:
                    out[ii, jj] = 0
                elif g_s[ii, jj] > g_f[ii, jj]:
                    out[ii, jj] = g_f[ii, jj] / g_s[ii, jj]
                else:
                    out[ii, jj] = g_s[ii, jj] / g_f[ii, jj]
            for gv, gh, out in ((gv_a, gh_a, a_a), (gv_b, gh_b, a_b), (gv_f, gh_f, a_f)):
                if gv[ii, jj] == 0 and gh[ii, jj] == 0:
                    out[ii, jj] = 0
                elif gh[ii, jj] == 0:  # MATLAB: atan(±x/0) = atan(±Inf) = ±π/2
                    out[ii, jj] = math.copysign(math.pi / 2, gv[ii, jj])
                else:
                    out[ii, jj] = math.atan(gv[ii, jj] / gh[ii, jj])
    a_af = np.abs(np.abs(a_a - a_f) - np.pi / 2) * 2 / np.pi
    a_bf = np.abs(np.abs(a_b - a_f) - np.pi / 2) * 2 / np.pi
    q_af = np.sqrt(nrg / (1 + np.exp(-kg * (g_af - sigmag))) * nra / (1 + np.exp(-ka * (a_af - sigmaa))))
    q_bf = np.sqrt(nrg / (1 + np.exp(-kg * (g_bf - sigmag))) * nra / (1 + np.exp(-ka * (a_bf - sigmaa))))
    wt_a = np.where(g_a >= td, g_a**lg, wt_min)
    wt_b = np.where(g_b >= td, g_b**lg, wt_min)
    wt_sum = np.sum(wt_a + wt_b)
    na = (g_f > g_a) & (g_f > g_b)
    nabf1 = np.sum(np.where(na, 2 - q_af - q_bf, 0) * (wt_a + wt_b)) / wt_sum
    nabf_modified = np.sum(na * ((1 - q_af) * wt_a + (1 - q_bf) * wt_b)) / wt_sum
    return float(nabf_modified), float(nabf1)


# ----------------------------------------------------------------------------------------------------------------------
# MS-SSIM: Wang's msssim.m with ssim_index_new (5 scales), mean of the two sources
# ----------------------------------------------------------------------------------------------------------------------


def _ssim_index_new(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    ssim_map, cs_map, *_ = _ssim_maps(x, y, _fspecial_gaussian(11, 1.5), (0.01 * 255) ** 2, (0.03 * 255) ** 2)
    return float(ssim_map.mean()), float(cs_map.mean())


def _msssim(x: np.ndarray, y: np.ndarray) -> float:
    weight = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
    mssim, mcs = [], []
    for _ in range(5):
        s, c = _ssim_index_new(x, y)
        mssim.append(s)
        mcs.append(c)
        x, y = _halve(x), _halve(y)
    # negative means clamped to 0 before the powers (pytorch_msssim's relu; MATLAB returns a complex number)
    value = mssim[4] ** weight[4] if mssim[4] > 0 else 0.0
    for j in range(4):
        value *= mcs[j] ** weight[j] if mcs[j] > 0 else 0.0
    return value


def ms_ssim(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    return (_msssim(f, a) + _msssim(f, b)) / 2


# ----------------------------------------------------------------------------------------------------------------------
# Qy, Qc: LIU metricYang.m / metricCvejic.m (sw = 2) with ssim_yang, NaN windows dropped as MEFB's metricsQy/metricsQc
# Qw: LIU metricPeilla.m (sw = 2) with Wang's ssim_index.m
# ----------------------------------------------------------------------------------------------------------------------


def _ssim_yang(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """SSIM map, σx², σy², σxy with a 7×7 Gaussian (σ 1.5) and C1 = C2 = 2e-16."""
    ssim_map, _, sigma1_sq, sigma2_sq, sigma12 = _ssim_maps(x, y, _fspecial_gaussian(7, 1.5), 2e-16, 2e-16)
    return ssim_map, sigma1_sq, sigma2_sq, sigma12


def qy(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> tuple[float, int, int]:
    """Q_Y, and the number of windows whose branch round-off decides (two images flat, one at a non-zero level)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ssim_ab, sigma_a, sigma_b, _ = _ssim_yang(a, b)
        ssim_af, *_ = _ssim_yang(a, f)
        ssim_bf, *_ = _ssim_yang(b, f)
        bin_map = ssim_ab >= 0.75
        ramda = sigma_a / (sigma_a + sigma_b)
        q = (ramda * ssim_af + (1 - ramda) * ssim_bf) * bin_map + np.maximum(ssim_af, ssim_bf) * ~bin_map
    (fa, na), (fb, nb), (ff, nf) = _flat(a, 7), _flat(b, 7), _flat(f, 7)
    ambiguous = ((fa & fb) & (na | nb)) | ((fa & ff) & (na | nf)) | ((fb & ff) & (nb | nf))
    return float(np.mean(q[~np.isnan(q)])), int(ambiguous.sum()), q.size


def qc(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> tuple[float, int, int]:
    """Q_C, and the number of windows whose branch round-off decides (σ_AF or σ_BF is 0 up to round-off: the source
    or F flat at a non-zero level)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ssim_af, _, _, sigma_af = _ssim_yang(a, f)
        ssim_bf, _, _, sigma_bf = _ssim_yang(b, f)
        sim_xyf = sigma_af / (sigma_af + sigma_bf)
        sim = sim_xyf * ssim_af + (1 - sim_xyf) * ssim_bf
        sim[sim_xyf < 0] = 0
        sim[sim_xyf > 1] = 1
    (fa, na), (fb, nb), (ff, nf) = _flat(a, 7), _flat(b, 7), _flat(f, 7)
    exact_a = (fa & ~na) | (ff & ~nf)  # a factor of the covariance is exactly 0 in every product
    exact_b = (fb & ~nb) | (ff & ~nf)
    ambiguous = ((fa | ff) & ~exact_a) | ((fb | ff) & ~exact_b)
    return float(np.mean(sim[~np.isnan(sim)])), int(ambiguous.sum()), sim.size


def _ssim_index(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wang's ``ssim_index(img1, img2)`` defaults (Gaussian 11/1.5, K = 0.01/0.03, L = 255): map, σ1², σ2²."""
    ssim_map, _, sigma1_sq, sigma2_sq, _ = _ssim_maps(
        x, y, _fspecial_gaussian(11, 1.5), (0.01 * 255) ** 2, (0.03 * 255) ** 2
    )
    return ssim_map, sigma1_sq, sigma2_sq


def qw(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    _, sigma1_sq, sigma2_sq = _ssim_index(a, b)
    test = (sigma1_sq + sigma2_sq == 0) * 0.5
    sigma1_sq, sigma2_sq = sigma1_sq + test, sigma2_sq + test
    ramda = sigma1_sq / (sigma1_sq + sigma2_sq)
    ssim_map1, _, _ = _ssim_index(f, a)
    ssim_map2, _, _ = _ssim_index(f, b)
    cw = np.maximum(sigma1_sq, sigma2_sq)
    cw = cw / cw.sum()
    return float(np.sum(cw * (ramda * ssim_map1 + (1 - ramda) * ssim_map2)))


# ----------------------------------------------------------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------------------------------------------------------

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL = {  # case → (dataset, image, fusion method)
    "tno08-DenseFuse": ("tno", "08", "DenseFuse"),
    "tno05-IFCNN": ("tno", "05", "IFCNN"),
    "walking-ADF": ("vifb", "walking", "ADF"),
}
CASES = ["synthetic", *REAL]


def _synthetic() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F, A, B), 192×208, seeded: smooth random textures, F their mean plus noise (so F has artefacts for Nabf), a
    24×24 black patch shared by all three (exact-zero windows: Qw's σ_A²+σ_B² = 0 branch, Qy/Qc's dropped 0/0 windows,
    FMI's equal raw windows), and a sparse 0/1 patch in B that F echoes as 3 + 7·B (F's normalised window then equals
    B's raw one: fmi.m's in-place normalisation quirk). The FMI, MEF-SSIM and Nabf centre crops include both patches."""
    rng = np.random.default_rng(20250607)
    h, w = 192, 208

    def texture() -> np.ndarray:
        x = uniform_filter(rng.random((h, w)), 5)
        return np.round((x - x.min()) / (x.max() - x.min()) * 255)

    a, b = texture(), texture()
    f = np.clip(np.round(0.5 * a + 0.5 * b + rng.normal(0, 6, (h, w))), 0, 255)
    for x in (a, b, f):
        x[84:108, 78:102] = 0
    sparse = (rng.random((16, 16)) < 0.25).astype(np.float64)
    b[84:100, 106:122] = sparse
    f[84:100, 106:122] = 3 + 7 * sparse
    return f[..., None], a[..., None], b[..., None]


def _read(path: Path) -> np.ndarray:
    arr = np.asarray(Image.open(path), dtype=np.float64)
    return arr[..., None] if arr.ndim == 2 else arr[..., :3]


@functools.lru_cache(maxsize=8)
def _triple_arrays(case: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F, A, B) as H×W×C raw 0..255 float64 arrays (C = 1 or 3)."""
    if case == "synthetic":
        return _synthetic()
    kind, stem, method = REAL[case]
    if kind == "tno":
        paths = (f"fused/{method}/tno/{stem}.png", f"tno/ir/{stem}.png", f"tno/vi/{stem}.png")
    else:
        paths = (f"fused/{method}/vifb/{stem}.jpg", f"vifb/input/IR/{stem}.jpg", f"vifb/input/VI/{stem}.jpg")
    return tuple(_read(SHARED / p) for p in paths)  # type: ignore[return-value]


def _crop_all(arrays: tuple[np.ndarray, ...], crop: tuple[int, int] | None) -> tuple[np.ndarray, ...]:
    if crop is None:
        return arrays
    h, w = crop
    top, left = (arrays[0].shape[0] - h) // 2, (arrays[0].shape[1] - w) // 2
    return tuple(x[top : top + h, left : left + w] for x in arrays)


def _grey(x: np.ndarray) -> np.ndarray:
    """The canonical convention's grey: BT.601 luma rounded half away (colour), the plane itself (grey)."""
    if x.shape[2] == 1:
        return x[:, :, 0]
    return np.floor(0.299 * x[:, :, 0] + 0.587 * x[:, :, 1] + 0.114 * x[:, :, 2] + 0.5)


def _tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))


# ----------------------------------------------------------------------------------------------------------------------
# The comparisons
# ----------------------------------------------------------------------------------------------------------------------

RTOL = 1e-10  # round-off only (see the module docstring)


def _fmi_feature(feature: str):
    return lambda a, b, f: fmi(a, b, f, feature)


# name → (transcription taking the grey planes (A, B, F) or None for Nabf (cached per case), centre crop or None)
METRICS = {
    "NMI": (nmi, None),
    "FMI_pixel": (_fmi_feature("none"), (48, 64)),
    "FMI_dct": (_fmi_feature("dct"), (48, 64)),
    "FMI_w": (_fmi_feature("wavelet"), (16, 24)),  # the 62-tap dmey pads it to 76×84 features
    "VIFF": (viff, None),
    "MEF_SSIM": (mef_ssim, (96, 128)),
    "Nabf": (None, (96, 128)),
    "Nabf_petrovic": (None, (96, 128)),
    "MS_SSIM": (ms_ssim, None),
    "Qy": (qy, None),
    "Qc": (qc, None),
    "Qw": (qw, None),
}
ROUNDOFF_BRANCHES = {"Qy", "Qc"}  # transcriptions that also count their round-off-decided windows


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", list(METRICS))
def test_engine_matches_transcription(name: str, case: str, request: pytest.FixtureRequest) -> None:
    if case != "synthetic":
        request.getfixturevalue("shared_data")  # skips with a reason when ../shared is absent
    transcription, crop = METRICS[name]
    f, a, b = _crop_all(_triple_arrays(case), crop)
    got = float(compute(_tensor(f), _tensor(a), _tensor(b), [name], "canonical")[name][0])
    if transcription is None:
        expected = _nabf_cached(case, crop)[0 if name == "Nabf" else 1]
        ambiguous, windows = 0, 1
    else:
        out = transcription(_grey(a), _grey(b), _grey(f))
        expected, ambiguous, windows = out if name in ROUNDOFF_BRANCHES else (out, 0, 1)
    atol = 2 * ambiguous / (windows - ambiguous) if ambiguous else 0.0
    assert math.isfinite(expected), f"{name} on {case}: transcription gave {expected}"
    assert abs(got - expected) <= RTOL * abs(expected) + atol, (
        f"{name} on {case} (crop {crop}): engine {got!r}, transcription {expected!r}, "
        f"rel. diff {abs(got - expected) / abs(expected):.2e}; round-off-decided windows {ambiguous}"
    )


def test_synthetic_triple_exercises_the_edge_cases() -> None:
    """The synthetic triple reaches the branches it is built for, and no window's branch is left to round-off."""
    f, a, b = (_grey(x) for x in _triple_arrays("synthetic"))
    _, sigma1_sq, sigma2_sq = _ssim_index(a, b)
    assert (sigma1_sq + sigma2_sq == 0).any()  # Qw's +0.5 branch
    assert qy(a, b, f)[1] == 0 and qc(a, b, f)[1] == 0
    fc, ac, bc = (_grey(x) for x in _crop_all(_triple_arrays("synthetic"), METRICS["FMI_pixel"][1]))
    quirk = 0
    for p in range(1, fc.shape[0] - 1):
        for q in range(1, fc.shape[1] - 1):
            a_sub, b_sub, f_sub = (x[p - 1 : p + 2, q - 1 : q + 2] for x in (ac, bc, fc))
            _, f_seen = _fmi_term(a_sub, f_sub)
            quirk += (not np.array_equal(b_sub, f_sub)) and np.array_equal(b_sub, f_seen)
    assert quirk > 0  # B's raw window equals F's normalised one in some windows
