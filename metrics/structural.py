"""Structural-similarity metrics: SSIM (and its toolkit variants), MS-SSIM, Q_Y, Q_C, Q_W (metrics.md §3–4).

Local statistics use separable direct filters ('valid' unless a variant says otherwise). Inputs are B×C×H×W planes
holding 0..255; outputs are per-plane values averaged over C, shape (B,).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ivifbench.metrics import filters
from ivifbench.metrics.filters import check_min_size, gaussian_1d, pad, plane_mean, separable_valid
from ivifbench.metrics.shared import shared

_MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _local_stats(
    x: Tensor, y: Tensor, taps: Tensor, cov_norm: float = 1.0, padding: str | None = None
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """μx, μy, σx², σy², σxy under a separable window ('valid', or 'same' with ``padding``)."""
    k = x.shape[1]
    stack = torch.cat((x, y, x * x, y * y, x * y), 1)
    if padding is not None:
        stack = pad(stack, taps.numel(), taps.numel(), padding)
    m = separable_valid(stack, taps)
    mx, my, exx, eyy, exy = m.split(k, 1)
    return mx, my, cov_norm * (exx - mx * mx), cov_norm * (eyy - my * my), cov_norm * (exy - mx * my)


def _ssim_parts(x: Tensor, y: Tensor, taps: Tensor, c1: float, c2: float, **kw: Any) -> tuple[Tensor, Tensor]:
    """Luminance map and contrast-structure map of Wang et al. 2004."""
    mx, my, sxx, syy, sxy = _local_stats(x, y, taps, **kw)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    return lum, cs


_PAIRS = ("ff", "aa", "bb", "fa", "fb", "ab")


def _window_moments(
    fused: Tensor, ir: Tensor, vis: Tensor, taps: Tensor, padding: str | None = None
) -> dict[str, Tensor]:
    """Window means ``f``, ``a``, ``b`` and population (co)variances ``ff aa bb fa fb ab`` of the three images under a
    separable window ('valid', or 'same' with ``padding``): nine planes filtered once, shared by every metric of a
    ``compute`` chunk that uses the same window (read-only)."""

    def make() -> dict[str, Tensor]:
        img = {"f": fused, "a": ir, "b": vis}
        stack = torch.cat((fused, ir, vis, *(img[p[0]] * img[p[1]] for p in _PAIRS)), 1)
        if padding is not None:
            stack = pad(stack, taps.numel(), taps.numel(), padding)
        m = dict(zip(("f", "a", "b", *_PAIRS), separable_valid(stack, taps).split(fused.shape[1], 1), strict=True))
        return {**{k: m[k] for k in "fab"}, **{p: m[p] - m[p[0]] * m[p[1]] for p in _PAIRS}}

    return shared(("window_moments", tuple(taps.tolist()), padding), (fused, ir, vis), make)


def _ssim_of(m: dict[str, Tensor], x: str, y: str, c1: float, c2: float) -> Tensor:
    """Wang's SSIM map of images ``x`` and ``y`` (two of 'f', 'a', 'b') from :func:`_window_moments`."""
    cov = m[x + y] if x + y in m else m[y + x]
    lum = (2 * m[x] * m[y] + c1) / (m[x] * m[x] + m[y] * m[y] + c1)
    return lum * ((2 * cov + c2) / (m[x + x] + m[y + y] + c2))


def _sum7_valid(t: Tensor, dim: int) -> Tensor:
    """Sum of every 7 consecutive values along ``dim`` ('valid'), as six in-place adds of shifted slices."""
    n = t.shape[dim] - 6
    out = t.narrow(dim, 0, n).clone()
    for k in range(1, 7):
        out.add_(t.narrow(dim, k, n))
    return out


def _box7_float32(x: Tensor) -> Tensor:
    """SciPy ``uniform_filter(size=7)`` on a float32 image, cropped by 3 px: exact double sums / 7, stored as float32
    after each axis (rows first), as SciPy does for float32 arrays. Returns float32.

    On a CPU a compiled kernel computes it (:func:`~ivifbench.metrics.separable.box_mean_valid_float32`); elsewhere,
    shifted-slice sums in double. Both give the bits of SciPy's own ``uniform_filter1d`` (what scikit-image calls): the
    sums are exact whatever their order (seven float32 values here span < 2^46, far inside double's 53 bits).
    """
    if filters.BACKEND == "auto" and x.device.type == "cpu" and not x.requires_grad:
        from ivifbench.metrics.separable import box_mean_valid_float32

        h, w = x.shape[-2:]
        out = box_mean_valid_float32(x.detach().reshape(-1, h, w).numpy(), 7)
        return torch.from_numpy(out).reshape(*x.shape[:-2], h - 6, w - 6)
    rows = (_sum7_valid(x.to(torch.float64), -2) / 7).to(torch.float32)
    return (_sum7_valid(rows.to(torch.float64), -1) / 7).to(torch.float32)


def _ssim_skimage_float32(x: Tensor, y: Tensor) -> Tensor:
    """The mean of :func:`ssim_skimage_map` per plane, in float64."""
    return ssim_skimage_map(x, y).to(torch.float64).mean((-2, -1))


def ssim_skimage_map(x: Tensor, y: Tensor) -> Tensor:
    """scikit-image 0.19's ``structural_similarity`` as CDDFuse calls it: float32 images, 7×7 uniform window, sample
    covariance (49/48), data_range 2 (its default for floats), mean over the map cropped by 3 px.

    It runs in float32 on purpose: with data_range 2 the constants (C2 = 3.6e-3) are below float32's resolution of
    E[x²] ≈ 6.5e4, so the published values carry float32 round-off in flat regions that float64 does not reproduce
    (up to 2e-4 relative on TNO). ``y`` may hold several sources along a leading axis (S×B×C×H×W) against one
    ``x`` (B×C×H×W), whose window statistics are then computed once. Returns the float32 map, cropped by 3 px (row i
    is the window starting at input row i).
    """
    x32, y32 = x.to(torch.float32), y.to(torch.float32)
    if y32.ndim == x32.ndim:
        y32 = y32[None]
    s = y32.shape[0]
    # one filtering call for every window statistic: x, x², then y, y², xy for each source (written in place)
    stack = x32.new_empty((2 + 3 * s, *x32.shape))
    stack[0] = x32
    torch.mul(x32, x32, out=stack[1])
    stack[2 : 2 + s] = y32
    torch.mul(y32, y32, out=stack[2 + s : 2 + 2 * s])
    torch.mul(x32, y32, out=stack[2 + 2 * s :])
    boxed = _box7_float32(stack)
    cov_norm = 49 / 48
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    if filters.BACKEND == "auto" and boxed.device.type == "cpu" and not boxed.requires_grad:
        from ivifbench.metrics.ssim_kernel import ssim_map_float32  # one compiled pass, the same float32 arithmetic

        flat = boxed.detach().reshape(boxed.shape[0], -1).numpy()
        m = torch.from_numpy(ssim_map_float32(flat, s, cov_norm, c1, c2)).reshape(s, *boxed.shape[1:])
    else:
        ux, uxx = boxed[0], boxed[1]
        uy, uyy, uxy = boxed[2 : 2 + s], boxed[2 + s : 2 + 2 * s], boxed[2 + 2 * s :]
        vx = cov_norm * (uxx - ux * ux)
        vy = cov_norm * (uyy - uy * uy)
        vxy = cov_norm * (uxy - ux * uy)
        a1, a2 = 2 * ux * uy + c1, 2 * vxy + c2
        b1, b2 = ux**2 + uy**2 + c1, vx + vy + c2
        m = (a1 * a2) / (b1 * b2)
    return m if y.ndim == x.ndim + 1 else m[0]


def ssim(fused: Tensor, ir: Tensor, vis: Tensor, *, variant: str = "canonical") -> Tensor:
    """SSIM (Wang et al. 2004) of the fused image with each source, combined.

    Canonical: Wang's ``ssim_index`` (Gaussian 11/1.5, K = 0.01/0.03, L = 255, 'valid', mean of the map) and the
    **mean** of the two sources, so the range is [−1, 1] and SSIM(F=A=B) = 1.
    Variants: ``'vifb'`` the **sum** of the two ``ssim_index`` values; ``'cddfuse'`` the sum of scikit-image 0.19's
    values (7×7 uniform window, sample covariance, data_range 2, computed in float32 as CDDFuse's run was); ``'tang'`` ½(S_A + S_B) with
    MATLAB's ``ssim`` (replicate-padded Gaussian, DynamicRange 1: not checked against MATLAB, no published values).
    Raises InputError below 11×11 (7×7 for ``'cddfuse'``).
    """
    check_min_size(fused, 7 if variant == "cddfuse" else 11, "SSIM")
    if variant == "cddfuse":  # the fused image's window statistics are shared by the two sources
        both = _ssim_skimage_float32(fused, torch.stack((ir, vis)))
        return (both[0] + both[1]).mean(1)
    taps = gaussian_1d(11, 1.5, dtype=fused.dtype, device=fused.device)
    if variant == "tang":  # MATLAB ssim(): replicate padding, DynamicRange 1 for doubles
        m, c1, c2 = _window_moments(fused, ir, vis, taps, "replicate"), 0.01**2, 0.03**2
    else:
        m, c1, c2 = _window_moments(fused, ir, vis, taps), (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = plane_mean(_ssim_of(m, "f", "a", c1, c2)) + plane_mean(_ssim_of(m, "f", "b", c1, c2))
    if variant in ("canonical", "tang"):
        s = s / 2
    return s.mean(1)


def ms_ssim(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """MS-SSIM (Wang, Simoncelli & Bovik 2003) with each source, mean of the two.

    5 scales, weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), ``ssim_index`` windows, 2×2 mean downsampling;
    MS-SSIM = l₅^{w₅} Π_j cs_j^{w_j}, with negative cs clamped to 0 (as pytorch_msssim) so the power stays real.
    Raises InputError below 176×176 (the coarsest scale needs 11×11).
    """
    check_min_size(fused, 176, "MS_SSIM")
    taps = gaussian_1d(11, 1.5, dtype=fused.dtype, device=fused.device)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    total: Any = 0
    for src in (ir, vis):
        x, y = fused, src
        value = torch.ones(fused.shape[:2], dtype=fused.dtype, device=fused.device)
        for j, w in enumerate(_MS_WEIGHTS):
            lum, cs = _ssim_parts(x, y, taps, c1, c2)
            cs_mean = plane_mean(cs).clamp(min=0)
            if j == len(_MS_WEIGHTS) - 1:
                value = value * (plane_mean(lum * cs).clamp(min=0) ** w)
            else:
                value = value * cs_mean**w
                # Wang's code: 2×2 mean ('symmetric' border for odd sizes), keep every other pixel
                x = F.avg_pool2d(F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2), mode="replicate"), 2)
                y = F.avg_pool2d(F.pad(y, (0, y.shape[-1] % 2, 0, y.shape[-2] % 2), mode="replicate"), 2)
        total = total + value
    return (total / 2).mean(1)


def _nanmean_or(q: Tensor, fallback: Tensor) -> Tensor:
    """Mean over H×W ignoring NaN pixels (MEFB); a plane with no valid pixel takes ``fallback``'s mean."""
    ok = ~torch.isnan(q)
    n = ok.sum((-2, -1))
    s = torch.where(ok, q, 0).sum((-2, -1))
    return torch.where(n > 0, s / n.clamp(min=1), plane_mean(fallback))


def q_yang(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """Q_Y (Yang et al. 2008): SSIM-based, switching on the sources' own similarity.

    SSIM maps with a 7×7 Gaussian (σ 1.5), 'valid', C1 = C2 = 2e-16; b = [SSIM(A,B) ≥ 0.75], λ = σ_A²/(σ_A²+σ_B²);
    Q_Y = mean(b(λS_AF + (1−λ)S_BF) + (1−b)max(S_AF, S_BF)), NaN pixels (flat in both sources) dropped as in MEFB
    (a wholly flat pair uses λ = ½).
    """
    check_min_size(fused, 7, "Qy")
    m = _window_moments(fused, ir, vis, gaussian_1d(7, 1.5, dtype=fused.dtype, device=fused.device))
    c = 2e-16
    sa, sb = m["aa"], m["bb"]
    s_ab, s_af, s_bf = _ssim_of(m, "a", "b", c, c), _ssim_of(m, "a", "f", c, c), _ssim_of(m, "b", "f", c, c)
    b = (s_ab >= 0.75).to(fused.dtype)

    def combine(lam: Tensor) -> Tensor:
        return b * (lam * s_af + (1 - lam) * s_bf) + (1 - b) * torch.maximum(s_af, s_bf)

    lam = sa / (sa + sb)
    return _nanmean_or(combine(lam), combine(torch.full_like(lam, 0.5))).mean(1)


def q_cvejic(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """Q_C (Cvejic et al. 2006): SSIM maps (as :func:`q_yang`) weighted by λ = σ_AF/(σ_AF + σ_BF).

    sim = λS_AF + (1−λ)S_BF, set to 0 where λ < 0 and to 1 where λ > 1 (LIU/MEFB); NaN pixels dropped.
    """
    check_min_size(fused, 7, "Qc")
    m = _window_moments(fused, ir, vis, gaussian_1d(7, 1.5, dtype=fused.dtype, device=fused.device))
    c = 2e-16
    s_af, s_bf = _ssim_of(m, "a", "f", c, c), _ssim_of(m, "b", "f", c, c)
    s_af_cov, s_bf_cov = m["fa"], m["fb"]

    def combine(lam: Tensor) -> Tensor:
        sim = lam * s_af + (1 - lam) * s_bf
        sim = torch.where(lam < 0, 0, sim)
        return torch.where(lam > 1, 1, sim)

    lam = s_af_cov / (s_af_cov + s_bf_cov)
    return _nanmean_or(combine(lam), combine(torch.full_like(lam, 0.5))).mean(1)


def q_piella_weighted(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """Q_W (Piella & Heijmans 2003, LIU ``metricPeilla``): saliency-weighted fusion quality index.

    ``ssim_index`` maps S_FA, S_FB (11/1.5, L = 255, 'valid'); where σ_A² + σ_B² = 0, 0.5 is added to both (as LIU
    does, so such windows get λ = ½ and weight 0.5); λ = σ_A²/(σ_A²+σ_B²); c_w = max(σ_A², σ_B²)/Σ max;
    Q_W = Σ c_w (λS_FA + (1−λ)S_FB). A wholly flat pair weights windows equally.
    """
    check_min_size(fused, 11, "Qw")
    m = _window_moments(fused, ir, vis, gaussian_1d(11, 1.5, dtype=fused.dtype, device=fused.device))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    sa, sb = m["aa"], m["bb"]
    s_fa, s_fb = _ssim_of(m, "f", "a", c1, c2), _ssim_of(m, "f", "b", c1, c2)
    both0 = (sa + sb) == 0
    sa, sb = torch.where(both0, sa + 0.5, sa), torch.where(both0, sb + 0.5, sb)
    lam = sa / (sa + sb)  # never 0/0 now
    q = lam * s_fa + (1 - lam) * s_fb
    cw = torch.maximum(sa, sb)
    z = cw.sum((-2, -1), keepdim=True)
    cw = torch.where(z > 0, cw / torch.where(z > 0, z, 1), 1 / cw[0, 0].numel())
    return (cw * q).sum((-2, -1)).mean(1)


_MEF_WEIGHTS = (0.0448, 0.2856, 0.3001)
_MEF_EPS = 2.220446049250313e-16  # MATLAB eps


def _box_valid(x: Tensor, size: int) -> Tensor:
    """Mean over every size×size 'valid' window."""
    ones = torch.ones(size, dtype=x.dtype, device=x.device) / size
    return separable_valid(x, ones)


def mef_ssim_map(fused: Tensor, ir: Tensor, vis: Tensor, size: int, sigma: float, k: float) -> Tensor:
    """Ma et al.'s single-scale MEF-SSIM (``mef_ssim.m``) map of F against the pseudo-reference of {A, B} ('valid').

    In every size×size window ('valid'), with the uniform window's population statistics: signal strengths
    ed_k = √(max(N σ_k², 0)) + 0.001 (N = size²); consistency R = (‖d_A + d_B‖ + eps)/(‖d_A‖ + ‖d_B‖ + eps) (d the
    patches minus their mean), set to 1 − eps above 1 and eps below 0; p = min(tan(πR/2), 10); weights
    w_k = (ed_k/size)^p + eps, normalised; the pseudo-reference patch r = Σ w_k d_k/ed_k, rescaled to norm max(ed_k)
    when its norm is > 0. Then q = (2σ_rF + C)/(σ_r² + σ_F² + C), C = (K·255)², with the statistics of r and F weighted
    by the size×size Gaussian window (σ ``sigma``, ``fspecial``). Every patch statistic is closed-form in the window
    moments (r is a combination of d_A and d_B), so no patch is materialised.
    """
    n = size * size
    c = ir.shape[1]
    taps = gaussian_1d(size, sigma, dtype=fused.dtype, device=fused.device)
    pairs = (ir * ir, vis * vis, fused * fused, ir * vis, ir * fused, vis * fused)
    box = _box_valid(torch.cat((ir, vis, *pairs[:2], pairs[3]), 1), size)
    ma, mb, eaa, ebb, eab = box.split(c, 1)
    va = (eaa - ma * ma).clamp(min=0)
    vb = (ebb - mb * mb).clamp(min=0)
    cab = eab - ma * mb
    gau = separable_valid(torch.cat((ir, vis, fused, *pairs), 1), taps)
    ga, gb, gf, gaa, gbb, gff, gab, gaf, gbf = gau.split(c, 1)
    vga, vgb, vgf = gaa - ga * ga, gbb - gb * gb, (gff - gf * gf).clamp(min=0)
    cga, cgb, cgab = gaf - ga * gf, gbf - gb * gf, gab - ga * gb
    ed_a, ed_b = torch.sqrt(n * va) + 0.001, torch.sqrt(n * vb) + 0.001
    num = torch.sqrt((n * (va + vb + 2 * cab)).clamp(min=0))
    den = torch.sqrt(n * va) + torch.sqrt(n * vb)
    r = (num + _MEF_EPS) / (den + _MEF_EPS)
    r = torch.where(r > 1, 1 - _MEF_EPS, r)
    r = torch.where(r < 0, _MEF_EPS, r)
    p = torch.tan(math.pi / 2 * r).clamp(max=10)
    w_a = (ed_a / size) ** p + _MEF_EPS
    w_b = (ed_b / size) ** p + _MEF_EPS
    s = w_a + w_b
    ca, cb = w_a / s / ed_a, w_b / s / ed_b  # r = ca·d_A + cb·d_B
    r_norm = torch.sqrt((n * (ca * ca * va + cb * cb * vb + 2 * ca * cb * cab)).clamp(min=0))  # ‖r‖
    pos = r_norm > 0
    scale = torch.where(pos, torch.maximum(ed_a, ed_b) / torch.where(pos, r_norm, 1), 0)  # ‖r‖ = 0: r is 0
    sigma_r = scale * scale * (ca * ca * vga + cb * cb * vgb + 2 * ca * cb * cgab).clamp(min=0)
    sigma_rf = scale * (ca * cga + cb * cgb)
    cc = (k * 255) ** 2
    return (2 * sigma_rf + cc) / (sigma_r + vgf + cc)


def mef_ssim(fused: Tensor, ir: Tensor, vis: Tensor, *, size: int = 11, sigma: float = 1.5, k: float = 0.03) -> Tensor:
    """MEF-SSIM (Ma, Zeng & Wang, IEEE TIP 2015; ``mef_ms_ssim.m``), multi-scale, with the two sources as the stack.

    3 levels with weights [0.0448, 0.2856, 0.3001]/Σ; each level scores F against the consistency-weighted
    pseudo-reference (:func:`mef_ssim_map`: 11×11 uniform window for the patch strengths and consistency, Gaussian
    11/1.5 window for the SSIM statistics, K = 0.03); between levels all images are filtered with a 2×2 mean
    ('symmetric' border) and decimated by 2. MEF-SSIM = Π_l Q_l^{w_l}, negative Q_l clamped to 0 (as MS_SSIM here;
    MATLAB would return a complex number) so the power stays real. MEF-SSIM(F = A = B) = 1.
    Raises InputError below 44×44 (the coarsest level needs one 11×11 window, as ``mef_ms_ssim.m`` requires).
    """
    check_min_size(fused, 4 * size, "MEF_SSIM")
    wsum = sum(_MEF_WEIGHTS)
    x: tuple[Tensor, ...] = (fused, ir, vis)
    value = torch.ones(fused.shape[:2], dtype=fused.dtype, device=fused.device)
    for j, w in enumerate(_MEF_WEIGHTS):
        q = plane_mean(mef_ssim_map(x[0], x[1], x[2], size, sigma, k)).clamp(min=0)
        value = value * q ** (w / wsum)
        if j < len(_MEF_WEIGHTS) - 1:
            x = tuple(F.avg_pool2d(F.pad(t, (0, t.shape[-1] % 2, 0, t.shape[-2] % 2), mode="replicate"), 2) for t in x)
    return value.mean(1)
