"""Per-metric strip rules (:class:`~ivifbench.metrics.spec.Tiling`): which sums over a strip's owned rows each metric
needs, and how its value follows from their totals (see :mod:`ivifbench.metrics.strips`).

Each ``stats`` computes the metric's maps on the strip with the very functions the whole-image metric uses and keeps
the owned rows' sums; each ``finish`` repeats the whole-image metric's last steps on the totals. Halos: a 'valid'
k-tap window needs k − 1 rows below; a 'same' one (k − 1)/2 above and below; a map at 1/2ʲ resolution needs 2ʲ times
its own halo and strips aligned to 2ʲ rows.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ivifbench.metrics import information, structural
from ivifbench.metrics.filters import gaussian_1d, matlab_gradient, round_half_away, sobel_pair
from ivifbench.metrics.gradient import nabf_maps, qabf_maps
from ivifbench.metrics.spec import Tiling
from ivifbench.metrics.strips import Plane, Rows
from ivifbench.metrics.visual_fidelity import _VIFF_C, _VIFF_P, _VIFF_SIGMA_N_SQ, _vifp_maps, vifp_term_maps

_KEYS = "fab"


def _zero_halo(**_: Any) -> tuple[int, int]:
    return 0, 0


def _one_row(**_: Any) -> tuple[int, int]:
    return 1, 1


def normalize1_with(x: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    """:func:`~ivifbench.metrics.filters.normalize1` with the whole plane's minimum and maximum (B×C) given."""
    lo, hi = lo[..., None, None], hi[..., None, None]
    span = hi - lo
    y = torch.where(span > 0, (x - lo) / torch.where(span > 0, span, 1), torch.zeros_like(x))
    return round_half_away(y * 255)


def _bins(x: Tensor, how: str, plane: Plane, key: str) -> Tensor:
    if how == "minmax":  # as information._bins, with the whole plane's min and max
        return normalize1_with(x, plane.mins[key], plane.maxs[key]).clamp(0, 255).to(torch.int64)
    return information._bins(x, how)


# --- EN, SD, SF, AG, EI -------------------------------------------------------------------------------------------


def _en_stats(
    f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane, *, base: float = 2.0, bins: str = "round"
) -> Tensor:
    return information.histogram(rows.own(f), bins)


def _en_finish(t: Tensor, plane: Plane, *, base: float = 2.0, bins: str = "round") -> Tensor:
    return information._entropy_of_counts(t, base, (-1,)).mean(1)


def _sd_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane, *, uint8_saturating: bool = False) -> Tensor:
    d = rows.own(f) - plane.mean("f")[..., None, None]
    if uint8_saturating:
        d = round_half_away(d).clamp(0, 255)
        return (d * d).clamp(max=255).sum((-2, -1))
    return (d * d).sum((-2, -1))


def _sd_finish(t: Tensor, plane: Plane, *, uint8_saturating: bool = False) -> Tensor:
    return torch.sqrt(t / plane.n).mean(1)


def _sf_stats(
    f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane, *, variant: str = "canonical", scale: float = 1.0
) -> Tensor:
    x = f * scale
    if variant == "vifb":
        x = torch.cat(x.unbind(1), dim=-1)[:, None]
    rf = rows.sum(torch.diff(x, dim=-1) ** 2) if x.shape[-1] > 1 else x.new_zeros(x.shape[:2])
    cf = rows.sum(torch.diff(x, dim=-2) ** 2) if x.shape[-2] > 1 else x.new_zeros(x.shape[:2])
    return torch.stack((rf, cf), -1)


def _sf_finish(t: Tensor, plane: Plane, *, variant: str = "canonical", scale: float = 1.0) -> Tensor:
    h, w = plane.height, plane.width
    if variant == "vifb":
        n = h * w * plane.sums["f"].shape[1]  # M × (C·N): the channels side by side as one M×CN matrix
        return torch.sqrt(t[..., 0] / n + t[..., 1] / n).mean(1)
    rf = t[..., 0] / (h * (w - 1)) if w > 1 else t[..., 0]
    cf = t[..., 1] / ((h - 1) * w) if h > 1 else t[..., 1]
    return torch.sqrt(rf + cf).mean(1)


def _ag_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane, *, denominator: str = "(M-1)(N-1)") -> Tensor:
    gx, gy = matlab_gradient(f)
    return rows.sum(torch.sqrt((gx * gx + gy * gy) / 2))


def _ag_finish(t: Tensor, plane: Plane, *, denominator: str = "(M-1)(N-1)") -> Tensor:
    h, w = plane.height, plane.width
    n = h * w if denominator == "MN" else max(h - 1, 1) * max(w - 1, 1)
    return (t / n).mean(1)


def _ei_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane) -> Tensor:
    gx, gy = sobel_pair(f, mode="replicate")
    return rows.sum(torch.sqrt(gx * gx + gy * gy))


def _ei_finish(t: Tensor, plane: Plane) -> Tensor:
    return (t / plane.n).mean(1)


# --- MI, NMI, CE ----------------------------------------------------------------------------------------------------


def _mi_stats(
    f: Tensor,
    a: Tensor,
    b: Tensor,
    rows: Rows,
    plane: Plane,
    *,
    base: float = 2.0,
    minmax: bool = False,
    tang_quirk: bool = False,
) -> Tensor:
    how = "minmax" if minmax else "round"
    fi = _bins(rows.own(f), how, plane, "f")
    parts = [information._counts_of_bins(fi)]
    for key, s in (("a", a), ("b", b)):
        si = _bins(rows.own(s), how, plane, key)
        parts += [information._counts_of_bins(si), information._joint_counts_of_bins(si, fi, tang_quirk).flatten(-2)]
    return torch.cat(parts, -1)


def _split_mi(t: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
    j = 65536
    c_f = t[..., :256]
    first = (t[..., 256:512], t[..., 512 : 512 + j].unflatten(-1, (256, 256)))
    o = 512 + j
    second = (t[..., o : o + 256], t[..., o + 256 : o + 256 + j].unflatten(-1, (256, 256)))
    return c_f, [first, second]


def _mi_finish(t: Tensor, plane: Plane, *, base: float = 2.0, minmax: bool = False, tang_quirk: bool = False) -> Tensor:
    c_f, sources = _split_mi(t)
    h_f = information._entropy_of_counts(c_f, base, (-1,))
    total: Any = 0
    for c_s, joint in sources:
        h_s = information._entropy_of_counts(c_s, base, (-1,))
        total = total + (h_s + h_f - information._entropy_of_counts(joint, base, (-2, -1)))
    return total.mean(1)


def _nmi_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane) -> Tensor:
    return _mi_stats(f, a, b, rows, plane, minmax=True)


def _nmi_finish(t: Tensor, plane: Plane) -> Tensor:
    c_f, sources = _split_mi(t)
    total: Any = 0
    for c_s, joint in sources:
        h_s = information._entropy_of_counts(c_s, 2.0, (-1,))
        h_f = information._entropy_of_counts(c_f, 2.0, (-1,))
        h_sf = information._entropy_of_counts(joint, 2.0, (-2, -1))
        den = h_s + h_f
        total = total + torch.where(den > 0, (h_s + h_f - h_sf) / torch.where(den > 0, den, 1), torch.zeros_like(den))
    return (2 * total).mean(1)


def _ce_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane) -> Tensor:
    return torch.stack([information.histogram(rows.own(x)) for x in (f, a, b)], -2)


def _ce_finish(t: Tensor, plane: Plane) -> Tensor:
    p_f = t[..., 0, :]
    p_f = p_f / p_f.sum(-1, keepdim=True)
    total: Any = 0
    for k in (1, 2):
        p_s = t[..., k, :]
        p_s = p_s / p_s.sum(-1, keepdim=True)
        ok = (p_s > 0) & (p_f > 0)
        ratio = torch.where(ok, p_s / torch.where(ok, p_f, 1), torch.ones_like(p_s))
        total = total + (torch.where(ok, p_s, torch.zeros_like(p_s)) * torch.log2(ratio)).sum(-1)
    return (total / 2).mean(1)


# --- MSE, RMSE, PSNR, CC, SCD ---------------------------------------------------------------------------------------


def _sq_err_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane, **_: Any) -> Tensor:
    f = rows.own(f)
    return torch.stack((((f - rows.own(a)) ** 2).sum((-2, -1)), ((f - rows.own(b)) ** 2).sum((-2, -1))), -1)


def _mse_planes(t: Tensor, plane: Plane) -> Tensor:
    return (t[..., 0] / plane.n + t[..., 1] / plane.n) / 2


def _mse_finish(t: Tensor, plane: Plane, *, scale: float = 1.0) -> Tensor:
    return (_mse_planes(t, plane) * scale).mean(1)


def _vifb_mes(t: Tensor, plane: Plane) -> Tensor:
    return (torch.sqrt(t[..., 0]) + torch.sqrt(t[..., 1])) / 2 / plane.n


def _rmse_finish(t: Tensor, plane: Plane, *, variant: str = "canonical") -> Tensor:
    if variant == "vifb":
        return _vifb_mes(t, plane).mean(1)
    return torch.sqrt(_mse_planes(t, plane)).mean(1)


def _psnr_finish(t: Tensor, plane: Plane, *, variant: str = "canonical") -> Tensor:
    if variant == "vifb":
        return (20 * torch.log10(255 / torch.sqrt(_vifb_mes(t, plane)))).mean(1)
    m = _mse_planes(t, plane)
    if variant == "tang":
        return (20 * torch.log10(255 / torch.sqrt(m / 255**2))).mean(1)
    if variant == "cddfuse":
        peak = plane.maxs["f"]
        return (10 * torch.log10(peak * peak / m)).mean(1)
    return (10 * torch.log10(255**2 / m)).mean(1)


def _centred_products(x: Tensor, mx: Tensor, y: Tensor, my: Tensor) -> Tensor:
    xc, yc = x - mx[..., None, None], y - my[..., None, None]
    return torch.stack(((xc * yc).sum((-2, -1)), (xc * xc).sum((-2, -1)), (yc * yc).sum((-2, -1))), -1)


def _pearson(t: Tensor, nan_on_flat: bool) -> Tensor:
    num, den = t[..., 0], torch.sqrt(t[..., 1] * t[..., 2])
    if nan_on_flat:
        return num / den
    return torch.where(den > 0, num / torch.where(den > 0, den, 1), torch.zeros_like(num))


def _cc_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane, *, nan_on_flat: bool = False) -> Tensor:
    f, a, b = rows.own(f), rows.own(a), rows.own(b)
    mf = plane.mean("f")
    return torch.stack((_centred_products(a, plane.mean("a"), f, mf), _centred_products(b, plane.mean("b"), f, mf)))


def _cc_finish(t: Tensor, plane: Plane, *, nan_on_flat: bool = False) -> Tensor:
    return ((_pearson(t[0], nan_on_flat) + _pearson(t[1], nan_on_flat)) / 2).mean(1)


def _scd_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane, *, nan_on_flat: bool = False) -> Tensor:
    f, a, b = rows.own(f), rows.own(a), rows.own(b)
    first = _centred_products(f - b, plane.mean_diff("f", "b"), a, plane.mean("a"))
    return torch.stack((first, _centred_products(f - a, plane.mean_diff("f", "a"), b, plane.mean("b"))))


def _scd_finish(t: Tensor, plane: Plane, *, nan_on_flat: bool = False) -> Tensor:
    return (_pearson(t[0], nan_on_flat) + _pearson(t[1], nan_on_flat)).mean(1)


# --- VIF, VIFF ------------------------------------------------------------------------------------------------------

_VIF_HALO = 48  # scale 4 (1/8 resolution) reaches 40 rows below its window's first row; a multiple of 8


def _vif_halo(**_: Any) -> tuple[int, int]:
    return 0, _VIF_HALO


def _vif_stats(
    f: Tensor,
    a: Tensor,
    b: Tensor,
    rows: Rows,
    plane: Plane,
    *,
    saturate_uint8: bool = False,
    flat_value: float | None = 1.0,
) -> Tensor:
    num: Any = 0
    den: Any = 0
    for s, (num_map, den_map) in enumerate(vifp_term_maps(f, a, b, saturate_uint8=saturate_uint8)):
        num = num + rows.sum(num_map, 2**s)
        den = den + rows.sum(den_map, 2**s)
    return torch.stack((num, den))


def _vif_finish(t: Tensor, plane: Plane, *, saturate_uint8: bool = False, flat_value: float | None = 1.0) -> Tensor:
    num, den = t[0], t[1]
    ratio = num / den
    if flat_value is not None:
        ratio = torch.where(den > 0, ratio, torch.full_like(ratio, flat_value))
    return ratio.sum(1).mean(1)


def _viff_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane) -> Tensor:
    out = []
    for s, (p, (g, vid, vind)) in enumerate(zip(_VIFF_P, _vifp_maps(f, a, b, _VIFF_SIGMA_N_SQ), strict=True)):
        if p == 0:
            continue
        first = g[:, 0] < g[:, 1]
        z = torch.where(first, vid[:, 0], vid[:, 1])
        m = torch.where(first, vind[:, 0], vind[:, 1])
        out.append(torch.stack((rows.sum(z + _VIFF_C, 2**s), rows.sum(m + _VIFF_C, 2**s)), -1))
    return torch.stack(out)


def _viff_finish(t: Tensor, plane: Plane) -> Tensor:
    total: Any = 0
    for k, p in enumerate(p for p in _VIFF_P if p != 0):
        total = total + p * t[k, ..., 0] / t[k, ..., 1]
    return total.mean(1)


# --- Qabf, Nabf -----------------------------------------------------------------------------------------------------


def _qabf_stats(
    f: Tensor,
    a: Tensor,
    b: Tensor,
    rows: Rows,
    plane: Plane,
    *,
    fix_equal: bool = False,
    scale: float = 1.0,
) -> Tensor:
    num_map, den_map = qabf_maps(f, a, b, fix_equal=fix_equal, scale=scale)
    return torch.stack((rows.sum(num_map), rows.sum(den_map)), -1)


def _qabf_finish(t: Tensor, plane: Plane, *, fix_equal: bool = False, scale: float = 1.0) -> Tensor:
    num, den = t[..., 0], t[..., 1]
    return torch.where(den > 0, num / torch.where(den > 0, den, 1), torch.zeros_like(num)).mean(1)


def _nabf_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane, *, variant: str = "modified") -> Tensor:
    num_map, den_map = nabf_maps(f, a, b, variant=variant)
    return torch.stack((rows.sum(num_map), rows.sum(den_map)), -1)


def _nabf_finish(t: Tensor, plane: Plane, *, variant: str = "modified") -> Tensor:
    return (t[..., 0] / t[..., 1]).mean(1)


# --- SSIM, MS-SSIM, Qy, Qc, Qw, MEF-SSIM --------------------------------------------------------------------------


def _ssim_halo(*, variant: str = "canonical") -> tuple[int, int]:
    if variant == "tang":  # replicate-padded 'same' 11×11
        return 5, 5
    return (0, 6) if variant == "cddfuse" else (0, 10)


def _ssim_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane, *, variant: str = "canonical") -> Tensor:
    if variant == "cddfuse":
        sk = structural.ssim_skimage_map(f, torch.stack((a, b))).to(torch.float64)
        return torch.stack((rows.sum(sk[0]), rows.sum(sk[1]), rows.count(sk[0])), -1)
    taps = gaussian_1d(11, 1.5, dtype=f.dtype, device=f.device)
    if variant == "tang":
        m, c1, c2 = structural._window_moments(f, a, b, taps, "replicate"), 0.01**2, 0.03**2
    else:
        m, c1, c2 = structural._window_moments(f, a, b, taps), (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s_a, s_b = structural._ssim_of(m, "f", "a", c1, c2), structural._ssim_of(m, "f", "b", c1, c2)
    return torch.stack((rows.sum(s_a), rows.sum(s_b), rows.count(s_a)), -1)


def _ssim_finish(t: Tensor, plane: Plane, *, variant: str = "canonical") -> Tensor:
    s = t[..., 0] / t[..., 2] + t[..., 1] / t[..., 2]
    if variant in ("canonical", "tang"):
        s = s / 2
    return s.mean(1)


def _down2(x: Tensor) -> Tensor:
    return F.avg_pool2d(F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2), mode="replicate"), 2)


def _ms_ssim_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane) -> Tensor:
    taps = gaussian_1d(11, 1.5, dtype=f.dtype, device=f.device)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = []
    for src in (a, b):
        x, y = f, src
        for j in range(len(structural._MS_WEIGHTS)):
            lum, cs = structural._ssim_parts(rows.needed(x, 2**j, 10), rows.needed(y, 2**j, 10), taps, c1, c2)
            last = j == len(structural._MS_WEIGHTS) - 1
            out.append(torch.stack((rows.sum(lum * cs if last else cs, 2**j), rows.count(cs, 2**j)), -1))
            if not last:
                x, y = _down2(x), _down2(y)
    return torch.stack(out)


def _ms_ssim_finish(t: Tensor, plane: Plane) -> Tensor:
    total: Any = 0
    n = len(structural._MS_WEIGHTS)
    for k in range(2):
        value = torch.ones(t.shape[1:-1], dtype=t.dtype, device=t.device)
        for j, w in enumerate(structural._MS_WEIGHTS):
            mean = (t[k * n + j, ..., 0] / t[k * n + j, ..., 1]).clamp(min=0)
            value = value * mean**w
        total = total + value
    return (total / 2).mean(1)


def _q7_halo(**_: Any) -> tuple[int, int]:
    return 0, 6


def _nan_stats(q: Tensor, fallback: Tensor, rows: Rows) -> Tensor:
    q, fallback = rows.own(q), rows.own(fallback)
    ok = ~torch.isnan(q)
    n = ok.sum((-2, -1)).to(torch.float64)
    s = torch.where(ok, q, 0).sum((-2, -1))
    return torch.stack((s, n, fallback.sum((-2, -1)), rows.count(fallback)), -1)


def _nan_finish(t: Tensor, plane: Plane) -> Tensor:
    s, n, fb, count = t.unbind(-1)
    return torch.where(n > 0, s / n.clamp(min=1), fb / count).mean(1)


def _qy_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane) -> Tensor:
    m = structural._window_moments(f, a, b, gaussian_1d(7, 1.5, dtype=f.dtype, device=f.device))
    c = 2e-16
    sa, sb = m["aa"], m["bb"]
    s_ab = structural._ssim_of(m, "a", "b", c, c)
    s_af, s_bf = structural._ssim_of(m, "a", "f", c, c), structural._ssim_of(m, "b", "f", c, c)
    bb = (s_ab >= 0.75).to(f.dtype)

    def combine(lam: Tensor) -> Tensor:
        return bb * (lam * s_af + (1 - lam) * s_bf) + (1 - bb) * torch.maximum(s_af, s_bf)

    lam = sa / (sa + sb)
    return _nan_stats(combine(lam), combine(torch.full_like(lam, 0.5)), rows)


def _qc_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane) -> Tensor:
    m = structural._window_moments(f, a, b, gaussian_1d(7, 1.5, dtype=f.dtype, device=f.device))
    c = 2e-16
    s_af, s_bf = structural._ssim_of(m, "a", "f", c, c), structural._ssim_of(m, "b", "f", c, c)

    def combine(lam: Tensor) -> Tensor:
        sim = lam * s_af + (1 - lam) * s_bf
        sim = torch.where(lam < 0, 0, sim)
        return torch.where(lam > 1, 1, sim)

    lam = m["fa"] / (m["fa"] + m["fb"])
    return _nan_stats(combine(lam), combine(torch.full_like(lam, 0.5)), rows)


def _qw_stats(f: Tensor, a: Tensor, b: Tensor, rows: Rows, plane: Plane) -> Tensor:
    m = structural._window_moments(f, a, b, gaussian_1d(11, 1.5, dtype=f.dtype, device=f.device))
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    sa, sb = m["aa"], m["bb"]
    s_fa, s_fb = structural._ssim_of(m, "f", "a", c1, c2), structural._ssim_of(m, "f", "b", c1, c2)
    both0 = (sa + sb) == 0
    sa, sb = torch.where(both0, sa + 0.5, sa), torch.where(both0, sb + 0.5, sb)
    lam = sa / (sa + sb)
    q = lam * s_fa + (1 - lam) * s_fb
    cw = torch.maximum(sa, sb)
    return torch.stack((rows.sum(cw * q), rows.sum(cw), rows.sum(q), rows.count(q)), -1)


def _qw_finish(t: Tensor, plane: Plane) -> Tensor:
    s_cwq, z, s_q, n = t.unbind(-1)
    return torch.where(z > 0, s_cwq / torch.where(z > 0, z, 1), s_q / n).mean(1)


def _mef_halo(*, size: int = 11, sigma: float = 1.5, k: float = 0.03) -> tuple[int, int]:
    return 0, 4 * (size - 1) + 4  # level 3 is at 1/4 resolution


def _mef_stats(
    f: Tensor,
    a: Tensor,
    b: Tensor,
    rows: Rows,
    plane: Plane,
    *,
    size: int = 11,
    sigma: float = 1.5,
    k: float = 0.03,
) -> Tensor:
    x: tuple[Tensor, ...] = (f, a, b)
    out = []
    for j in range(len(structural._MEF_WEIGHTS)):
        fj, aj, bj = (rows.needed(t, 2**j, size - 1) for t in x)
        q = structural.mef_ssim_map(fj, aj, bj, size, sigma, k)
        out.append(torch.stack((rows.sum(q, 2**j), rows.count(q, 2**j)), -1))
        if j < len(structural._MEF_WEIGHTS) - 1:
            x = tuple(_down2(t) for t in x)
    return torch.stack(out)


def _mef_finish(t: Tensor, plane: Plane, *, size: int = 11, sigma: float = 1.5, k: float = 0.03) -> Tensor:
    wsum = sum(structural._MEF_WEIGHTS)
    value = torch.ones(t.shape[1:-1], dtype=t.dtype, device=t.device)
    for j, w in enumerate(structural._MEF_WEIGHTS):
        q = (t[j, ..., 0] / t[j, ..., 1]).clamp(min=0)
        value = value * q ** (w / wsum)
    return value.mean(1)


def _tiling(stats: Any, finish: Any, halo: Any = _zero_halo, align: int = 1, work_halo: int | None = None) -> Tiling:
    return Tiling(stats=stats, finish=finish, halo=halo, align=align, work_halo=work_halo)


def _mse_like(finish: Any) -> Tiling:
    return _tiling(_sq_err_stats, finish)


TILINGS: dict[str, Tiling] = {
    "EN": _tiling(_en_stats, _en_finish),
    "SD": _tiling(_sd_stats, _sd_finish),
    "SF": _tiling(_sf_stats, _sf_finish, lambda **_: (0, 1)),
    "AG": _tiling(_ag_stats, _ag_finish, _one_row),
    "EI": _tiling(_ei_stats, _ei_finish, _one_row),
    "MI": _tiling(_mi_stats, _mi_finish),
    "NMI": _tiling(_nmi_stats, _nmi_finish),
    "CE": _tiling(_ce_stats, _ce_finish),
    "MSE": _mse_like(_mse_finish),
    "RMSE": _mse_like(_rmse_finish),
    "PSNR": _mse_like(_psnr_finish),
    "CC": _tiling(_cc_stats, _cc_finish),
    "SCD": _tiling(_scd_stats, _scd_finish),
    "VIF": _tiling(_vif_stats, _vif_finish, _vif_halo, align=8),
    "VIFF": _tiling(_viff_stats, _viff_finish, _vif_halo, align=8),
    "Qabf": _tiling(_qabf_stats, _qabf_finish, _one_row),
    "Nabf": _tiling(_nabf_stats, _nabf_finish, _one_row),
    "Nabf_petrovic": _tiling(_nabf_stats, _nabf_finish, _one_row),
    "SSIM": _tiling(_ssim_stats, _ssim_finish, _ssim_halo),
    # only the coarsest scale needs the whole halo; each scale filters its owned rows plus 10 (Rows.needed)
    "MS_SSIM": _tiling(_ms_ssim_stats, _ms_ssim_finish, lambda **_: (0, 160), align=16, work_halo=10),
    "Qy": _tiling(_qy_stats, _nan_finish, _q7_halo),
    "Qc": _tiling(_qc_stats, _nan_finish, _q7_halo),
    "Qw": _tiling(_qw_stats, _qw_finish, lambda **_: (0, 10)),
    "MEF_SSIM": _tiling(_mef_stats, _mef_finish, _mef_halo, align=4, work_halo=10),
}
"""Strip rules of the built-in metrics that decompose over rows."""
