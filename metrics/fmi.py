"""FMI: Haghighat's fast feature mutual information (metrics.md §4), on raw pixels, DCT or wavelet features.

Haghighat & Razian, "Fast-FMI: non-reference image fusion metric", AICT 2014, as Haghighat's ``fmi.m`` computes it
(the copies in Tang's toolkit and MEFB are identical). For every 3×3 window ('valid') of the feature images of a source
S and the fused image F:

1. raw windows that are equal score 1; otherwise each window's 9 features are min-max normalised to [0, 1] (a constant
   window becomes all ones) and divided by their sum: the marginal pdfs p_S, p_F over the 9 positions (MATLAB's
   column-major order), and their cdfs P_S, P_F;
2. c = Pearson correlation of p_S and p_F (0 when its numerator is 0); σ_S, σ_F = the standard deviations of the
   positions 1..9 under p_S, p_F;
3. the joint pdf is a Nelsen mixture of a Fréchet bound and independence, φ·ΔΔB + (1−φ)·p_F p_Sᵀ: for c ≥ 0 the upper
   bound B = min(P_F, P_S) and φ = c/ρ⁺ with ρ⁺ = Σᵢⱼ(min(P_F,i, P_S,j) − P_F,i P_S,j)/(σ_F σ_S) (φ = 0 when c = 0 or a
   σ is 0); for c < 0 the lower bound B = max(P_F + P_S − 1, 0) and φ = c/ρ⁻ likewise. φ may exceed 1, so joint
   entries may be negative: the joint entropy sums −p·log₂|p| over the non-zero entries (MATLAB's ``real``);
4. fmi = 2·MI/(H_S + H_F) with MI = H_S + H_F − H_SF (bits), 0 when MI is exactly 0.

Constant windows (saturated areas). A constant window normalises to all ones, so its pdf is exactly uniform and
fmi.m's Pearson term is 0/0: its deviations from the mean are 0 in exact arithmetic, and only the round-off of a mean
of nine ninths (which depends on summation order, memory layout and device) made them ±1 ulp, scoring the window 0 or
1. We take the exact-arithmetic reading: a constant window has zero deviations, so c = 0, φ = 0, the joint pdf is the
product of the marginals and the term is 0; raw windows that are equal still score 1 by the explicit test of step 1.
Why: it is what the formula says, it is the only reading that does not depend on the machine, and a featureless
window carries no feature information to share. Every decision (equal windows, constant windows, c = 0, φ = 0) is
taken on exact comparisons, not on round-off, and each window's reductions run on a contiguous row, so one triplet
gives the same bits alone, inside a batch or as a strided view. FMI is not transpose-invariant: the cdfs run over
column-major positions, so a window and its transpose bound the joint pdf differently (fmi.m does the same).

FMI = mean over windows of ½(fmi_AF + fmi_BF). One quirk of ``fmi.m`` is kept: it leaves F's window min-max
normalised after the A term, so the B term's "equal windows" test compares B's raw window with F's normalised one.
Everything is vectorised over windows (in cache-sized chunks); it costs about 2 s per 480×640 image and feature on
one CPU thread (a 9×9 joint pdf per window).

Features: 'none' (raw pixels, the canonical FMI_pixel; ``fmi.m``'s own default is 'edge'), 'dct' (``dct2`` of the whole
image = scipy ``dctn(norm='ortho')``), 'wavelet' (``dwt2(x, 'dmey')`` tiled [cA cH; cV cD], then ``rerange``: min-max
of the whole tiled image). PyWavelets' 62-tap dmey differs from MATLAB's 102-tap one (pywt #261), so FMI_w cannot
match MATLAB bit-for-bit. Checked against a window-by-window NumPy transcription of ``fmi.m`` (tests); never run
against MATLAB, and no golden values exist.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ivifbench.errors import InputError

_COLUMN_MAJOR = (0, 3, 6, 1, 4, 7, 2, 5, 8)  # unfold is row-major; MATLAB's aSub(:) is column-major
_CHUNK = 1 << 13  # windows per step: 8192 × 81 doubles (5 MB) per temporary stays in cache; 4× this was 26 % slower


def _windows(x: Tensor) -> Tensor:
    """B×C×H×W → (B·C)×L×9 feature windows (3×3, 'valid', column-major within a window)."""
    b, c, h, w = x.shape
    cols = F.unfold(x.reshape(b * c, 1, h, w), 3)  # (B·C)×9×L
    return cols[:, list(_COLUMN_MAJOR), :].transpose(1, 2)


def _normalise(win: Tensor) -> Tensor:
    """Min-max normalised windows; a constant window becomes all ones."""
    lo = win.amin(-1, keepdim=True)
    hi = win.amax(-1, keepdim=True)
    span = hi - lo
    flat = span == 0
    return torch.where(flat, torch.ones_like(win), (win - lo) / torch.where(flat, 1, span))


def _entropy_bits(p: Tensor) -> Tensor:
    return -(torch.where(p != 0, p * torch.log2(torch.where(p != 0, p, 1).abs()), 0)).sum(-1)


def _fmi_windows(ns: Tensor, nf: Tensor, same: Tensor) -> Tensor:
    """fmi of every window pair from their normalised windows ns, nf (N×9); ``same`` marks equal raw windows (→ 1)."""
    ns, nf = ns.contiguous(), nf.contiguous()  # every row reduced in one order, whatever the caller's layout
    ps = ns / ns.sum(-1, keepdim=True)
    pf = nf / nf.sum(-1, keepdim=True)
    cs, cf = ps.cumsum(-1), pf.cumsum(-1)
    # A constant window's pdf is exactly uniform: its deviations are 0, not the round-off of a mean of nine ninths
    # (which decided c = 0 or ±1 by summation order). Exact arithmetic, as fmi.m means it: c = 0, so MI = 0 below.
    flat_s = (ns == 1).all(-1, keepdim=True)
    flat_f = (nf == 1).all(-1, keepdim=True)
    ds = torch.where(flat_s, 0, ps - ps.mean(-1, keepdim=True))
    df = torch.where(flat_f, 0, pf - pf.mean(-1, keepdim=True))
    num = (ds * df).sum(-1)
    den = torch.sqrt((ds * ds).sum(-1) * (df * df).sum(-1))
    c = torch.where(num != 0, num / torch.where(num != 0, den, 1), 0)
    pos = torch.arange(1, 10, dtype=ps.dtype, device=ps.device)
    sd_s = torch.sqrt(((pos * pos * ps).sum(-1) - (pos * ps).sum(-1) ** 2).clamp(min=0))  # 0 for a point mass
    sd_f = torch.sqrt(((pos * pos * pf).sum(-1) - (pos * pf).sum(-1) ** 2).clamp(min=0))
    fi, sj = cf[:, :, None], cs[:, None, :]  # rows: F's positions, columns: S's
    indep = fi * sj
    upper = c[:, None, None] >= 0
    bound = torch.where(upper, torch.minimum(fi, sj), (fi + sj - 1).clamp(min=0))  # Fréchet upper / lower bound cdf
    rho = (bound - indep).sum((-2, -1)) / (sd_f * sd_s)  # correlation of the positions under the bound
    degenerate = (sd_s == 0) | (sd_f == 0) | (c == 0)
    phi = torch.where(degenerate, 0, c / torch.where(degenerate, 1, rho))[:, None, None]
    bound = F.pad(bound, (1, 0, 1, 0))
    bound_pdf = bound[:, 1:, 1:] - bound[:, :-1, 1:] - bound[:, 1:, :-1] + bound[:, :-1, :-1]
    jpdf = phi * bound_pdf + (1 - phi) * (pf[:, :, None] * ps[:, None, :])
    h_s, h_f = _entropy_bits(ps), _entropy_bits(pf)
    mi = h_s + h_f - _entropy_bits(jpdf.flatten(1))
    val = torch.where(mi != 0, 2 * mi / torch.where(mi != 0, h_s + h_f, 1), 0)
    # φ = 0 makes the joint pdf the product of the marginals: MI is 0 exactly, not its round-off
    val = torch.where(degenerate, 0, val)
    return torch.where(same, torch.ones_like(val), val)


def _fmi_planes(fa: Tensor, fb: Tensor, ff: Tensor) -> Tensor:
    """Mean over all windows of ½(fmi_AF + fmi_BF), per plane: feature images B×C×H×W → B×C."""
    b, c = ff.shape[:2]
    wa, wb, wf = _windows(fa), _windows(fb), _windows(ff)
    n = wf.shape[1]
    out = ff.new_zeros(b * c)
    for k in range(b * c):
        total = ff.new_zeros(())
        for start in range(0, n, _CHUNK):
            a, bb, f = (w[k, start : start + _CHUNK] for w in (wa, wb, wf))
            same_a = (a == f).all(-1)
            nf = _normalise(f)
            # fmi.m normalises fSub in place in the A term (unless aSub == fSub): the B term's test sees that window
            same_b = (bb == torch.where(same_a[:, None], f, nf)).all(-1)
            total = total + _fmi_windows(_normalise(a), nf, same_a).sum()
            total = total + _fmi_windows(_normalise(bb), nf, same_b).sum()
        out[k] = total / (2 * n)
    return out.reshape(b, c)


def _dct_image(x: Tensor) -> Tensor:
    """MATLAB ``dct2`` of every plane: the orthonormal 2-D DCT-II of the whole image (scipy ``dctn(norm='ortho')``)."""
    from scipy.fft import dctn

    return torch.from_numpy(dctn(x.detach().cpu().numpy(), axes=(-2, -1), norm="ortho")).to(x)


def _wavelet_image(x: Tensor) -> Tensor:
    """One-level ``dwt2(x, 'dmey')`` (PyWavelets, 'symmetric' borders = MATLAB's default 'sym'), tiled [cA cH; cV cD],
    then ``rerange``: min-max normalised over the whole tiled plane (a constant plane becomes all ones)."""
    import pywt

    arr = x.detach().cpu().numpy()
    ca, (ch, cv, cd) = pywt.dwt2(arr, "dmey", mode="symmetric", axes=(-2, -1))
    tiled = np.concatenate((np.concatenate((ca, ch), -1), np.concatenate((cv, cd), -1)), -2)
    t = torch.from_numpy(np.ascontiguousarray(tiled)).to(x)
    lo, hi = t.amin((-2, -1), keepdim=True), t.amax((-2, -1), keepdim=True)
    flat = hi == lo
    return torch.where(flat, torch.ones_like(t), (t - lo) / torch.where(flat, 1, hi - lo))


def fmi(fused: Tensor, ir: Tensor, vis: Tensor, *, feature: str = "none") -> Tensor:
    """FMI (Haghighat & Razian 2014; ``fmi.m``): mean over 3×3 windows of ½(fmi_AF + fmi_BF); FMI(F=A=B) = 1.

    Args:
        feature: ``'none'`` (raw pixels: FMI_pixel), ``'dct'`` (``dct2`` of the whole image: FMI_dct) or
            ``'wavelet'`` (one-level dmey DWT of the whole image, tiled and re-ranged: FMI_w).
    Raises:
        InputError: images smaller than 3×3 (no window).
    """
    h, w = fused.shape[-2:]
    if h < 3 or w < 3:
        raise InputError(f"FMI needs images of at least 3×3 pixels; got {w}×{h}")
    if feature == "dct":
        ff, fa, fb = (_dct_image(t) for t in (fused, ir, vis))
    elif feature == "wavelet":
        ff, fa, fb = (_wavelet_image(t) for t in (fused, ir, vis))
    elif feature == "none":
        ff, fa, fb = fused, ir, vis
    else:
        raise InputError(f"unknown FMI feature {feature!r}; use 'none', 'dct' or 'wavelet'")
    return _fmi_planes(fa, fb, ff).mean(1)


__all__ = ["fmi"]
