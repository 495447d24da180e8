"""The SAGE teacher ("main network") with the SPA module and its persistent repository (sage.md §2), from the spec.

Where sage.md leaves a detail open, the choice made here is marked [INF] in a comment. Checks against the release's
figures: FLOPs (2×MAC, attention included) 224.5 G at 192×256, the release's "about 225 G"; each SpatialTransformer
91,456 parameters, as released. Parameter count: the spec's layers give 2,787,025 (147,520 of them in the unused
``compress_and_upsample``, a 3×3 conv 256→64 by that count); the release reports 2,787,043. The remaining 18
parameters are not described by sage.md (e.g. a last 3×3 conv reading 18 channels instead of 16 would account for
them), so they cannot be placed from the spec alone; the official teacher weights were never released, so no
checkpoint depends on them.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SLOPE = 0.01  # LeakyReLU slope everywhere (sage.md §2)
KV = tuple[Tensor, Tensor]  # a persistent repository: projected keys and values, each B×N×64


def lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, SLOPE)


def conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class Attention(nn.Module):
    """Stable-Diffusion ``CrossAttention``: bias-free q/k/v projections, linear output with bias.

    ``fused`` selects PyTorch's fused scaled-dot-product attention (memory-efficient; same result); the explicit
    softmax(QKᵀ/√d)V path is kept because ``torch.utils.flop_counter`` does not count the fused CPU kernel.
    """

    fused: ClassVar[bool] = True

    def __init__(self, dim: int = 64, heads: int = 2, dim_head: int = 32) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0))

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Multi-head scaled dot-product attention of already-projected q (B×Nq×C) over k, v (B×Nk×C)."""
        b, nq, c = q.shape
        h = self.heads

        def split(t: Tensor) -> Tensor:
            return t.reshape(b, t.shape[1], h, c // h).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            out = torch.softmax(q @ k.transpose(-2, -1) * (c // h) ** -0.5, dim=-1) @ v
        return self.to_out(out.transpose(1, 2).reshape(b, nq, c))


class GEGLUFeedForward(nn.Module):
    """GEGLU feed-forward 64 → 2×256 (value, gate) → 64."""

    def __init__(self, dim: int = 64, mult: int = 4) -> None:
        super().__init__()
        inner = dim * mult
        self.proj = nn.Linear(dim, inner * 2)
        self.out = nn.Linear(inner, dim)

    def forward(self, x: Tensor) -> Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return self.out(value * F.gelu(gate))


class SpatialTransformer(nn.Module):
    """SD-style SpatialTransformer (GroupNorm(4) → 1×1 conv → one transformer block → zero-init 1×1 conv + residual).

    The cross-attention's keys/values depend on ``mode``:

    * ``"self"`` (T_img1): attend to itself; the projected image keys/values are returned as the persistent
      repository PR.
    * ``"given"`` (T_vi1, T_ir1, T_img2): use the repository's keys/values as they are.
    * ``"reproject"`` (T_mask2): pass the repository through this block's k/v layers; the result (PR2) is returned.

    91,456 parameters.
    """

    def __init__(self, dim: int = 64, heads: int = 2, dim_head: int = 32) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(4, dim, eps=1e-6)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, dim_head)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, dim_head)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = GEGLUFeedForward(dim)
        self.proj_out = nn.Conv2d(dim, dim, 1)
        nn.init.zeros_(self.proj_out.weight)  # zero-initialised output, as in SD: the block starts as the identity
        nn.init.zeros_(self.proj_out.bias)  # type: ignore[arg-type]  # Conv2d has a bias here

    def forward(self, x: Tensor, pr: KV | None = None, mode: str = "self") -> tuple[Tensor, KV]:
        b, c, h, w = x.shape
        t = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)  # B×N×C
        n = self.norm1(t)
        t = t + self.attn1.attend(self.attn1.to_q(n), self.attn1.to_k(n), self.attn1.to_v(n))
        n = self.norm2(t)
        if mode == "self":
            kv = (self.attn2.to_k(n), self.attn2.to_v(n))
        elif mode == "given" and pr is not None:
            kv = pr
        elif mode == "reproject" and pr is not None:
            kv = (self.attn2.to_k(pr[0]), self.attn2.to_v(pr[1]))
        else:
            raise ValueError(f"SpatialTransformer: mode '{mode}' needs a repository" if pr is None else mode)
        t = t + self.attn2.attend(self.attn2.to_q(n), *kv)
        t = t + self.ff(self.norm3(t))
        t = t.transpose(1, 2).reshape(b, c, h, w)
        return self.proj_out(t) + x, kv


class SPA(nn.Module):
    """Semantic Persistent Attention: image tokens build a persistent repository that the mask tokens query.

    Returns the 256-channel output at the input's scale and the updated (pooled-scale) VIS/IR mask features.
    """

    def __init__(self, dim: int = 64, pool: int = 4) -> None:
        super().__init__()
        self.pool = pool
        self.t_img1 = SpatialTransformer(dim)
        self.t_vi1 = SpatialTransformer(dim)
        self.t_ir1 = SpatialTransformer(dim)
        self.t_mask2 = SpatialTransformer(dim)
        self.t_img2 = SpatialTransformer(dim)
        self.conv_ir = conv3(2 * dim, dim)
        self.conv_vi = conv3(2 * dim, dim)
        self.conv_mask = conv3(2 * dim, dim)
        self.conv_img = conv3(2 * dim, dim)

    def forward(self, img: Tensor, vi: Tensor, ir: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        size = img.shape[-2:]
        # [INF] "MaxPool ×4" read as one 4×4 max-pool (stride 4); ceil_mode keeps sizes that are not multiples of 4.
        img_p, vi_p, ir_p = (F.max_pool2d(t, self.pool, ceil_mode=True) for t in (img, vi, ir))
        img1, pr = self.t_img1(img_p, mode="self")
        vi1, _ = self.t_vi1(vi_p, pr, mode="given")
        ir1, _ = self.t_ir1(ir_p, pr, mode="given")
        ir2 = lrelu(self.conv_ir(torch.cat((ir1, ir_p), 1))) + ir1
        vi2 = lrelu(self.conv_vi(torch.cat((vi1, vi_p), 1))) + vi1
        m = lrelu(self.conv_mask(torch.cat((ir2, vi2), 1))) + ir2 + vi2 + vi1 + ir1
        img2 = lrelu(self.conv_img(torch.cat((img1, img_p), 1))) + img1
        m2, pr2 = self.t_mask2(m, pr, mode="reproject")
        img3, _ = self.t_img2(img2, pr2, mode="given")
        out = torch.cat((img3, img_p, img2, m2), 1)
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False), vi2, ir2


class MaskEncoder(nn.Module):
    """Conv(K→16) → Conv(16→32) → Conv(32→64), LeakyReLU between; optional activation after the last conv."""

    def __init__(self, k: int, last_act: bool) -> None:
        super().__init__()
        self.c1, self.c2, self.c3 = conv3(k, 16), conv3(16, 32), conv3(32, 64)
        self.last_act = last_act

    def forward(self, x: Tensor) -> Tensor:
        x = self.c3(lrelu(self.c2(lrelu(self.c1(x)))))
        return lrelu(x) if self.last_act else x


class SageTeacher(nn.Module):
    """The teacher: image and mask encoders, a U-shaped path of 5 SPA calls (shared weights), a conv decoder.

    ``forward(vi, ir, vi_mask, ir_mask)`` takes Y and IR (B×1×H×W) and the K masked intensity patches per modality
    (B×K×H×W) and returns the fused image (final LeakyReLU, no Tanh) and the five 32-channel distillation taps at
    H, H/2, H/4, H/2, H, matching the student's x1…x5.
    """

    def __init__(self, k: int = 4, dim: int = 64) -> None:
        super().__init__()
        self.img_c1, self.img_c2, self.img_c3 = conv3(2, 16), conv3(16, 32), conv3(32, dim)
        self.vi_enc = MaskEncoder(k, last_act=False)  # the release's VIS branch has no activation after its last conv
        self.ir_enc = MaskEncoder(k, last_act=True)
        self.spa = SPA(dim)
        wide = 4 * dim  # SPA output channels
        # The release defines this layer and never calls it; kept so the parameter count and keys line up.
        self.compress_and_upsample = conv3(wide, dim)
        self.down1, self.down2 = conv3(wide, dim), conv3(wide, dim)
        self.up1, self.up2 = conv3(wide, dim), conv3(wide, dim)
        self.dec = nn.ModuleList([conv3(wide + dim, 256), conv3(256, 128), conv3(128, 64)])
        self.dec_img = nn.ModuleList([conv3(64 + 32, 64), conv3(64, 32), conv3(32, 16), conv3(16, 1)])
        self.taps = nn.ModuleList([nn.Conv2d(wide, 32, 1) for _ in range(5)])

    def forward(self, vi: Tensor, ir: Tensor, vi_mask: Tensor, ir_mask: Tensor) -> tuple[Tensor, list[Tensor]]:
        img0 = lrelu(self.img_c2(lrelu(self.img_c1(torch.cat((vi, ir), 1)))))
        skip0 = lrelu(self.img_c3(img0))
        mv, mi = self.vi_enc(vi_mask), self.ir_enc(ir_mask)
        sizes = [skip0.shape[-2:]]

        out1, _, _ = self.spa(skip0, mv, mi)
        x = lrelu(F.max_pool2d(self.down1(out1), 2))
        sizes.append(x.shape[-2:])
        mv2, mi2 = F.max_pool2d(mv, 2), F.max_pool2d(mi, 2)
        out2, _, _ = self.spa(x, mv2, mi2)
        x = lrelu(F.max_pool2d(self.down2(out2), 2))
        mv3, mi3 = F.max_pool2d(mv2, 2), F.max_pool2d(mi2, 2)
        out3, _, _ = self.spa(x, mv3, mi3)

        # [INF] the mask features follow the image path: pooled going down, bilinearly upsampled coming up
        # (the SPA's updated vi''/ir'' are at the pooled scale and sage.md does not route them onward).
        x = lrelu(self.up1(self._up(out3, sizes[1]) + out2))
        out4, _, _ = self.spa(x, self._up(mv3, sizes[1]), self._up(mi3, sizes[1]))
        x = lrelu(self.up2(self._up(out4, sizes[0]) + out1))
        out5, _, _ = self.spa(x, self._up(mv3, sizes[0]), self._up(mi3, sizes[0]))

        d = torch.cat((out5, skip0), 1)
        for conv in self.dec:
            d = lrelu(conv(d))
        d = torch.cat((d, img0), 1)
        for conv in self.dec_img:
            d = lrelu(conv(d))
        taps = [tap(o) for tap, o in zip(self.taps, (out1, out2, out3, out4, out5), strict=True)]
        return d, taps

    @staticmethod
    def _up(x: Tensor, size: torch.Size) -> Tensor:
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
