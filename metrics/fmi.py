"""FMI: Haghighat's fast feature mutual information (metrics.md §4), on raw pixels, DCT or wavelet features.

Haghighat & Razian, "Fast-FMI: non-reference image fusion metric", AICT 2014. For every 3×3 window ('valid') of the
feature images of a source S and the fused image F:

1. each window's 9 features are min-max normalised to [0, 1] (a constant window becomes all ones) and divided by their
   sum: the marginal pdfs p_S, p_F over the 9 positions (MATLAB's column-major order), and their cdfs P_S, P_F;
2. c = Pearson correlation of the two normalised windows (0 when either is constant);
3. the joint cdf is the Nelsen/Fréchet-bound mixture: c ≥ 0: c·min(P_S, P_F) + (1−c)·P_S P_F; c < 0:
   −c·max(P_S + P_F − 1, 0) + (1+c)·P_S P_F; the joint pdf is its 2-D first difference;
4. fmi = 2·MI/(H_S + H_F) (bits); a window whose two normalised pdfs are identical scores 1, a pair of point masses
   that differ scores 0.

FMI = mean over windows of ½(fmi_AF + fmi_BF). Everything is vectorised over windows (chunked to bound memory);
it still costs ~5–7 s per 480×640 image and feature on one CPU thread (a 9×9 joint pdf per window).

Fidelity: written from the paper and the published algorithm, never run against Haghighat's MATLAB; no golden values
exist. Open points: the DCT is applied per 3×3 window (not verified against fmi.m, which may transform the whole image);
PyWavelets' 62-tap dmey differs from MATLAB's 102-tap one, so FMI_w cannot match MATLAB bit-for-bit.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ivifbench.errors import InputError

_COLUMN_MAJOR = (0, 3, 6, 1, 4, 7, 2, 5, 8)  # unfold is row-major; MATLAB's aSub(:) is column-major
_CHUNK = 1 << 15


def _windows(x: Tensor) -> Tensor:
    """B×C×H×W → (B·C)×L×9 feature windows (3×3, 'valid', column-major within a window)."""
    b, c, h, w = x.shape
    cols = F.unfold(x.reshape(b * c, 1, h, w), 3)  # (B·C)×9×L
    return cols[:, list(_COLUMN_MAJOR), :].transpose(1, 2)


def _pdf(win: Tensor) -> tuple[Tensor, Tensor]:
    """Min-max normalised window (constant → ones) and its pdf over the 9 positions."""
    lo = win.amin(-1, keepdim=True)
    hi = win.amax(-1, keepdim=True)
    span = hi - lo
    flat = span <= 0
    norm = torch.where(flat, torch.ones_like(win), (win - lo) / torch.where(flat, 1, span))
    return norm, norm / norm.sum(-1, keepdim=True)


def _entropy_bits(p: Tensor) -> Tensor:
    return -(torch.where(p > 0, p * torch.log2(torch.where(p > 0, p, 1)), 0)).sum(-1)


def _fmi_windows(ws: Tensor, wf: Tensor) -> Tensor:
    """fmi of every window pair: ws, wf N×9 → N."""
    ns, ps = _pdf(ws)
    nf, pf = _pdf(wf)
    cs, cf = ps.cumsum(-1), pf.cumsum(-1)
    # Pearson correlation of the normalised features; 0 where either is constant
    ds = ns - ns.mean(-1, keepdim=True)
    df = nf - nf.mean(-1, keepdim=True)
    den = torch.sqrt((ds * ds).sum(-1) * (df * df).sum(-1))
    c = torch.where(den > 0, (ds * df).sum(-1) / torch.where(den > 0, den, 1), 0).clamp(-1, 1)[:, None, None]
    a, f = cs[:, :, None], cf[:, None, :]
    indep = a * f
    upper = torch.minimum(a, f)
    lower = (a + f - 1).clamp(min=0)
    jcdf = torch.where(c >= 0, c * upper + (1 - c) * indep, -c * lower + (1 + c) * indep)
    jcdf = F.pad(jcdf, (1, 0, 1, 0))
    jpdf = jcdf[:, 1:, 1:] - jcdf[:, :-1, 1:] - jcdf[:, 1:, :-1] + jcdf[:, :-1, :-1]
    prod = ps[:, :, None] * pf[:, None, :]
    ok = (jpdf > 1e-15) & (prod > 0)
    mi = torch.where(ok, jpdf * torch.log2(torch.where(ok, jpdf, 1) / torch.where(ok, prod, 1)), 0).sum((-2, -1))
    h = _entropy_bits(ps) + _entropy_bits(pf)
    same = (ps == pf).all(-1)
    val = torch.where(h > 0, 2 * mi / torch.where(h > 0, h, 1), 0)
    return torch.where(same, torch.ones_like(val), val)


def _fmi_planes(fs: Tensor, ff: Tensor) -> Tensor:
    """Mean fmi over all windows, per plane: feature images B×C×H×W → B×C."""
    b, c = fs.shape[:2]
    ws, wf = _windows(fs), _windows(ff)
    n = ws.shape[1]
    out = fs.new_zeros(b * c)
    for k in range(b * c):
        total = fs.new_zeros(())
        for start in range(0, n, _CHUNK):
            total = total + _fmi_windows(ws[k, start : start + _CHUNK], wf[k, start : start + _CHUNK]).sum()
        out[k] = total / n
    return out.reshape(b, c)


def _dct_windows(x: Tensor) -> Tensor:
    """Replace every 3×3 window by its 2-D orthonormal DCT-II (MATLAB ``dct2`` = scipy ``dctn(norm='ortho')``).

    Returned as a (B·C)×L×9 window tensor in column-major order (the DCT coefficients of the window as a 3×3 matrix).
    """
    from scipy.fft import dctn

    b, c, h, w = x.shape
    cols = F.unfold(x.reshape(b * c, 1, h, w), 3).transpose(1, 2)  # (B·C)×L×9 row-major
    blocks = cols.reshape(b * c, -1, 3, 3).detach().cpu().numpy()
    coeffs = torch.from_numpy(dctn(blocks, axes=(-2, -1), norm="ortho")).to(x)
    return coeffs.reshape(b * c, -1, 9)[:, :, list(_COLUMN_MAJOR)]


def _wavelet_image(x: Tensor) -> Tensor:
    """One-level ``dwt2(x, 'dmey')`` (PyWavelets, 'symmetric' borders = MATLAB's default 'sym'), tiled [cA cH; cV cD]."""
    import pywt

    arr = x.detach().cpu().numpy()
    ca, (ch, cv, cd) = pywt.dwt2(arr, "dmey", mode="symmetric", axes=(-2, -1))
    tiled = np.concatenate((np.concatenate((ca, ch), -1), np.concatenate((cv, cd), -1)), -2)
    return torch.from_numpy(np.ascontiguousarray(tiled)).to(x)


def fmi(fused: Tensor, ir: Tensor, vis: Tensor, *, feature: str = "none") -> Tensor:
    """FMI (Haghighat & Razian 2014), mean of FMI(A, F) and FMI(B, F); range [0, 1], FMI(F, F) = 1.

    Args:
        feature: ``'none'`` (raw pixels: FMI_pixel), ``'dct'`` (per-window 2-D DCT: FMI_dct) or ``'wavelet'``
            (one-level dmey DWT of the whole image, tiled: FMI_w).
    Raises:
        InputError: images smaller than 3×3 (no window).
    """
    h, w = fused.shape[-2:]
    if h < 3 or w < 3:
        raise InputError(f"FMI needs images of at least 3×3 pixels; got {w}×{h}")
    if feature == "dct":
        wf = _dct_windows(fused)
        total = 0
        for s in (ir, vis):
            ws = _dct_windows(s)
            b, c = fused.shape[:2]
            vals = fused.new_zeros(b * c)
            for k in range(b * c):
                acc = fused.new_zeros(())
                for start in range(0, ws.shape[1], _CHUNK):
                    acc = acc + _fmi_windows(ws[k, start : start + _CHUNK], wf[k, start : start + _CHUNK]).sum()
                vals[k] = acc / ws.shape[1]
            total = total + vals.reshape(b, c)
        return (total / 2).mean(1)
    if feature == "wavelet":
        ff, fa, fb = (_wavelet_image(t) for t in (fused, ir, vis))
    elif feature == "none":
        ff, fa, fb = fused, ir, vis
    else:
        raise InputError(f"unknown FMI feature {feature!r}; use 'none', 'dct' or 'wavelet'")
    return ((_fmi_planes(fa, ff) + _fmi_planes(fb, ff)) / 2).mean(1)


__all__ = ["fmi"]
