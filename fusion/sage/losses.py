"""SAGE's losses and their published weights (sage.md §4), written from the specification.

Student step (teacher frozen): 3·L_fuse + 3·L_grad + L_cs/3000 + 0.3·L_fea.
Teacher step (student frozen): MSE(T,Y) + MSE(T,IR) + 2·L_grad_src + 0.3·CE_seg + 0.1·[student image loss with T as
anchor and S as positive] + 0.01·L_fea(T, S).

[INF] "the same student loss function with the roles swapped" is read as the image part (3·L_fuse + 3·L_grad +
L_cs/3000); the feature term enters the teacher loss once, as its own 0.01·L_fea.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


@dataclass(frozen=True)
class LossWeights:
    """Every published weight, so a run records what it used."""

    fuse_y: float = 3.0
    fuse_ir: float = 2.0
    fuse_ref: float = 4.0
    grad_src: float = 9.0
    grad_ref: float = 3.0
    student_fuse: float = 3.0
    student_grad: float = 3.0
    cs_div: float = 3000.0
    student_fea: float = 0.3
    teacher_grad: float = 2.0
    teacher_seg: float = 0.3
    teacher_swapped: float = 0.1
    teacher_fea: float = 0.01
    cs_eps: float = 1e-7


def sobel_magnitude(x: Tensor) -> Tensor:
    """|gx| + |gy| with 3×3 Sobel filters (zero padding keeps the size)."""
    kx = _SOBEL_X.to(x)
    k = torch.stack((kx, kx.t()))[:, None]  # 2×1×3×3
    g = F.conv2d(x, k, padding=1)
    return g.abs().sum(1, keepdim=True)


def fusion_loss(f: Tensor, y: Tensor, ir: Tensor, ref: Tensor, w: LossWeights) -> Tensor:
    return w.fuse_y * F.mse_loss(f, y) + w.fuse_ir * F.mse_loss(f, ir) + w.fuse_ref * F.mse_loss(f, ref)


def grad_loss(f: Tensor, y: Tensor, ir: Tensor, ref: Tensor, w: LossWeights) -> Tensor:
    gf = sobel_magnitude(f)
    target = torch.maximum(sobel_magnitude(y), sobel_magnitude(ir))
    return w.grad_src * F.l1_loss(gf, target) + w.grad_ref * F.l1_loss(gf, sobel_magnitude(ref))


def source_grad_loss(f: Tensor, y: Tensor, ir: Tensor) -> Tensor:
    """L1(|∇F|, max(|∇Y|, |∇IR|)), the teacher's gradient term."""
    return F.l1_loss(sobel_magnitude(f), torch.maximum(sobel_magnitude(y), sobel_magnitude(ir)))


def feature_loss(s_taps: list[Tensor], t_taps: list[Tensor]) -> Tensor:
    """Σ over levels of (1 − batch mean of cos(flatten(s), flatten(t)))."""
    total = s_taps[0].new_zeros(())
    for s, t in zip(s_taps, t_taps, strict=True):
        total = total + (1 - F.cosine_similarity(s.flatten(1), t.flatten(1), dim=1).mean())
    return total


def contrastive_loss(
    encoder: Callable[[Tensor], list[Tensor]],
    anchor: Tensor,
    positive: Tensor,
    y: Tensor,
    ir: Tensor,
    vi_patches: Tensor,
    ir_patches: Tensor,
    eps: float = 1e-7,
) -> Tensor:
    """L_cs: Σ_k D(A⊙M, P⊙M) / (D(A⊙M, S⊙M) + eps) over the K VIS patches (S = Y) and the K IR patches (S = IR).

    D(a, b) = Σ over the encoder's outputs of ‖IN(Φ(a)) − IN(Φ(b))‖₂, a Frobenius norm over the whole batch tensor;
    IN is instance norm without affine. ⊙ multiplies by the intensity patch (not a binary mask), as released.
    All 3·2K encoder inputs go through the encoder in one batch.
    """
    b, k = vi_patches.shape[:2]
    # (2K, B, 1, H, W): VIS patches then IR patches
    masks = torch.cat((vi_patches, ir_patches), 1).transpose(0, 1).unsqueeze(2)
    sources = torch.cat((y.expand(-1, k, -1, -1), ir.expand(-1, k, -1, -1)), 1).transpose(0, 1).unsqueeze(2)
    a = anchor.unsqueeze(0) * masks
    p = positive.unsqueeze(0) * masks
    s = sources * masks
    batch = torch.cat((a, p, s)).flatten(0, 1)  # (3·2K·B, 1, H, W)
    feats = encoder(batch)
    num = anchor.new_zeros(2 * k)
    den = anchor.new_zeros(2 * k)
    for feat in feats:
        fa, fp, fs = F.instance_norm(feat).unflatten(0, (3, 2 * k, b)).unbind(0)
        num = num + (fa - fp).flatten(1).norm(dim=1)
        den = den + (fa - fs).flatten(1).norm(dim=1)
    return (num / (den + eps)).sum()


def image_loss(
    encoder: Callable[[Tensor], list[Tensor]] | None,
    f: Tensor,
    ref: Tensor,
    y: Tensor,
    ir: Tensor,
    vi_patches: Tensor,
    ir_patches: Tensor,
    w: LossWeights,
) -> dict[str, Tensor]:
    """The student's image terms for anchor ``f`` and reference/positive ``ref``; ``total`` = the weighted sum."""
    parts = {"fuse": fusion_loss(f, y, ir, ref, w), "grad": grad_loss(f, y, ir, ref, w)}
    parts["cs"] = (
        contrastive_loss(encoder, f, ref, y, ir, vi_patches, ir_patches, w.cs_eps) if encoder else f.new_zeros(())
    )
    parts["total"] = w.student_fuse * parts["fuse"] + w.student_grad * parts["grad"] + parts["cs"] / w.cs_div
    return parts


def student_loss(
    encoder: Callable[[Tensor], list[Tensor]] | None,
    s: Tensor,
    s_taps: list[Tensor],
    t: Tensor,
    t_taps: list[Tensor],
    y: Tensor,
    ir: Tensor,
    vi_patches: Tensor,
    ir_patches: Tensor,
    w: LossWeights,
) -> dict[str, Tensor]:
    parts = image_loss(encoder, s, t, y, ir, vi_patches, ir_patches, w)
    parts["fea"] = feature_loss(s_taps, t_taps)
    parts["total"] = parts["total"] + w.student_fea * parts["fea"]
    return parts


def teacher_loss(
    encoder: Callable[[Tensor], list[Tensor]] | None,
    t: Tensor,
    t_taps: list[Tensor],
    y: Tensor,
    ir: Tensor,
    vi_patches: Tensor,
    ir_patches: Tensor,
    w: LossWeights,
    s: Tensor | None = None,
    s_taps: list[Tensor] | None = None,
    seg_ce: Tensor | None = None,
) -> dict[str, Tensor]:
    """Teacher terms; the distillation terms only when a student output is given (not in teacher pre-training)."""
    parts = {"mse": F.mse_loss(t, y) + F.mse_loss(t, ir), "grad_src": source_grad_loss(t, y, ir)}
    total = parts["mse"] + w.teacher_grad * parts["grad_src"]
    if seg_ce is not None:
        parts["seg"] = seg_ce
        total = total + w.teacher_seg * seg_ce
    if s is not None and s_taps is not None:
        swapped = image_loss(encoder, t, s, y, ir, vi_patches, ir_patches, w)
        parts["swapped"] = swapped["total"]
        parts["fea"] = feature_loss(t_taps, s_taps)
        total = total + w.teacher_swapped * swapped["total"] + w.teacher_fea * parts["fea"]
    parts["total"] = total
    return parts
