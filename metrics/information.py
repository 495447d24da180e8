"""Histogram metrics: EN, MI, NMI, CE (metrics.md §3–4).

Histograms are integer counts made with one ``bincount`` over the whole batch (every plane gets its own block of
bins), so there is no Python loop over images or pixels. All functions take B×C×H×W planes holding 0..255 values and
return per-plane values averaged over C, shape (B,).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ivifbench.metrics.filters import normalize1


def _bins(x: Tensor, how: str = "round") -> Tensor:
    """Integer bin 0..255 of each value: ``round`` (half away), ``floor`` (VIFB's EN), or ``int16`` after min-max.

    ``round`` and ``floor`` cast directly: for x ≥ 0 truncation is the floor, and anything below 0 is clamped to bin 0
    either way, so ``int(x + 0.5)`` and ``int(x)`` clamped equal ``floor(x + 0.5)`` and ``floor(x)`` clamped (one pass
    instead of three over the planes).
    """
    if how == "minmax":  # VIFB's MI: min-max each plane to [0, 1], then int16(x·255) (rounds half away)
        return normalize1(x).clamp(0, 255).to(torch.int64)
    v = x if how == "floor" else x + 0.5  # MATLAB rounding (half away from zero); the values are ≥ 0 here
    return v.to(torch.int64).clamp_(0, 255)


def _counts_of_bins(idx: Tensor) -> Tensor:
    """256-bin counts per plane of integer bins B×C×H×W → B×C×256 (float64)."""
    b, c = idx.shape[:2]
    offs = torch.arange(b * c, device=idx.device)[:, None] * 256
    counts = torch.bincount((idx.reshape(b * c, -1) + offs).reshape(-1), minlength=b * c * 256)
    return counts.reshape(b, c, 256).to(torch.float64)


def histogram(x: Tensor, how: str = "round") -> Tensor:
    """256-bin counts per plane: B×C×H×W → B×C×256 (float64)."""
    return _counts_of_bins(_bins(x, how))


def _entropy_of_counts(counts: Tensor, base: float, dims: tuple[int, ...]) -> Tensor:
    total = counts.sum(dims, keepdim=True)
    p = counts / total
    logp = torch.where(p > 0, torch.log(torch.where(p > 0, p, 1)), torch.zeros_like(p))
    return -(p * logp).sum(dims) / math.log(base)


def entropy(fused: Tensor, *, base: float = 2.0, bins: str = "round") -> Tensor:
    """EN = −Σₖ pₖ log₂ pₖ over the 256-bin histogram of the integer grey value (Shannon 1948; Roberts et al. 2008).

    Args:
        fused: B×C×H×W, 0..255.
        base: logarithm base (2 everywhere in the field).
        bins: ``"round"`` (the integer value) or ``"floor"`` (VIFB's ``floor(v)`` bins); equal on integer data.
    """
    return _entropy_of_counts(histogram(fused, bins), base, (-1,)).mean(1)


def _joint_counts_of_bins(si: Tensor, fi: Tensor, tang_quirk: bool) -> Tensor:
    """Joint 256×256 counts per plane of integer bins: B×C×256×256 (float64)."""
    b, c = si.shape[:2]
    if tang_quirk:  # Tang's Hab.m indexes with uint8(x)+1, which saturates: 254 and 255 share one joint bin
        si, fi = si.clamp(max=254), fi.clamp(max=254)
    idx = (si * 256 + fi).reshape(b * c, -1)
    offs = torch.arange(b * c, device=si.device)[:, None] * 65536
    counts = torch.bincount((idx + offs).reshape(-1), minlength=b * c * 65536)
    return counts.reshape(b, c, 256, 256).to(torch.float64)


def _joint_counts(s: Tensor, f: Tensor, how: str, tang_quirk: bool) -> Tensor:
    """Joint 256×256 counts per plane: B×C×256×256."""
    return _joint_counts_of_bins(_bins(s, how), _bins(f, how), tang_quirk)


def _mi_terms(s: Tensor, f: Tensor, base: float, how: str, tang_quirk: bool) -> tuple[Tensor, Tensor, Tensor]:
    """H(S), H(F), H(S,F) per plane (B×C each)."""
    return _mi_terms_of_bins(_bins(s, how), _bins(f, how), base, tang_quirk)


def _mi_terms_of_bins(si: Tensor, fi: Tensor, base: float, tang_quirk: bool) -> tuple[Tensor, Tensor, Tensor]:
    h_s = _entropy_of_counts(_counts_of_bins(si), base, (-1,))
    h_f = _entropy_of_counts(_counts_of_bins(fi), base, (-1,))
    h_sf = _entropy_of_counts(_joint_counts_of_bins(si, fi, tang_quirk), base, (-2, -1))
    return h_s, h_f, h_sf


def mutual_information(
    fused: Tensor,
    ir: Tensor,
    vis: Tensor,
    *,
    base: float = 2.0,
    minmax: bool = False,
    tang_quirk: bool = False,
) -> Tensor:
    """MI = Σ_{S∈{A,B}} H(S) + H(F) − H(S,F) over 256-bin (joint) histograms (Qu et al. 2002).

    Args:
        base: 2 gives bits (canonical, Tang); e gives nats (VIFB, CDDFuse).
        minmax: VIFB's binning: each plane min-max normalised, then ``int16(x·255)``; a constant plane bins to 0.
        tang_quirk: Tang's joint histogram where values 254 and 255 share a bin (marginals unaffected).
    """
    how = "minmax" if minmax else "round"
    if how == "round" and fused.device.type == "cpu" and fused.dtype == torch.float64 and not fused.requires_grad:
        from ivifbench.metrics.histogram_kernel import mi_counts  # every histogram in one compiled pass

        b, c = fused.shape[:2]
        planes = [t.detach().reshape(b * c, -1).numpy() for t in (fused, ir, vis)]
        marg, joint = mi_counts(planes[0], planes[1], planes[2], tang_quirk)
        # one entropy call per histogram, shaped as below: the same reductions, so the same bits
        h_f, h_a, h_b = (_entropy_of_counts(torch.from_numpy(m).reshape(b, c, 256).double(), base, (-1,)) for m in marg)
        h_af, h_bf = (
            _entropy_of_counts(torch.from_numpy(j).reshape(b, c, 256, 256).double(), base, (-2, -1)) for j in joint
        )
        return ((h_a + h_f - h_af) + (h_b + h_f - h_bf)).mean(1)
    fi = _bins(fused, how)  # binned once, shared by both sources
    h_f = _entropy_of_counts(_counts_of_bins(fi), base, (-1,))
    total: Any = 0
    for s in (ir, vis):
        si = _bins(s, how)
        h_s = _entropy_of_counts(_counts_of_bins(si), base, (-1,))
        h_sf = _entropy_of_counts(_joint_counts_of_bins(si, fi, tang_quirk), base, (-2, -1))
        total = total + (h_s + h_f - h_sf)
    return total.mean(1)


def normalized_mutual_information(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """NMI (Hossny et al. 2008) = 2[MI(A,F)/(H(A)+H(F)) + MI(B,F)/(H(B)+H(F))], on ``normalize1``-ed planes.

    The base of the logarithm cancels. A pair of constant planes (H(S)+H(F)=0) contributes 0, not 0/0.
    """
    total: Any = 0
    for s in (ir, vis):
        h_s, h_f, h_sf = _mi_terms(s, fused, 2.0, "minmax", False)
        den = h_s + h_f
        total = total + torch.where(den > 0, (h_s + h_f - h_sf) / torch.where(den > 0, den, 1), torch.zeros_like(den))
    return (2 * total).mean(1)


def cross_entropy(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """CE (VIFB) = ½ Σ_S Σₖ p_S(k) log₂(p_S(k)/p_F(k)), over the bins where both are non-zero (a KL divergence).

    Lower is better; 0 when F has the histogram of both sources.
    """
    p_f = histogram(fused)
    p_f = p_f / p_f.sum(-1, keepdim=True)
    total: Any = 0
    for s in (ir, vis):
        p_s = histogram(s)
        p_s = p_s / p_s.sum(-1, keepdim=True)
        ok = (p_s > 0) & (p_f > 0)
        ratio = torch.where(ok, p_s / torch.where(ok, p_f, 1), torch.ones_like(p_s))
        total = total + (torch.where(ok, p_s, torch.zeros_like(p_s)) * torch.log2(ratio)).sum(-1)
    return (total / 2).mean(1)
