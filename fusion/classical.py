"""Classical fusion baselines that need no weights, batched on tensors.

All fuse luminance (the base class restores the visible chroma). Each rule is applied to (IR, visible Y) in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pywt
import torch
from pydantic import Field, field_validator
from torch import Tensor

from ivifbench.fusion.base import FusionMethod, MethodInfo
from ivifbench.fusion.filters import box_filter, gaussian_kernel1d, guided_filter, laplacian, separable_filter
from ivifbench.fusion.params import MethodParams, NoParams
from ivifbench.fusion.tiling import Halo


class AverageFusion(FusionMethod):
    """F = (IR + Y) / 2."""

    info = MethodInfo(name="average", version="1", description="Pixel-wise mean of IR and visible luminance.")
    Params = NoParams

    def fuse_grey(self, ir: Tensor, y: Tensor) -> Tensor:
        return 0.5 * (ir + y)

    def tile_halo(self, height: int, width: int) -> Halo:
        return Halo(0)  # pixel-wise


class MaxAbsFusion(FusionMethod):
    """F = the source with the larger absolute value at each pixel (for intensities in [0, 1]: the maximum)."""

    info = MethodInfo(
        name="max", version="1", description="Pixel-wise choose-max-absolute of IR and visible luminance."
    )
    Params = NoParams

    def fuse_grey(self, ir: Tensor, y: Tensor) -> Tensor:
        return torch.where(ir.abs() >= y.abs(), ir, y)

    def tile_halo(self, height: int, width: int) -> Halo:
        return Halo(0)  # pixel-wise


class WeightedParams(MethodParams):
    w: float | None = Field(
        None, ge=0, le=1, description="fixed IR weight: F = w·IR + (1 − w)·Y; unset: the local-contrast weights"
    )
    sigma: float = Field(5.0, gt=0, le=100, description="smoothing of the saliency, pixels")
    eps: float = Field(1e-3, gt=0, description="keeps flat regions at w = 0.5")


class WeightedFusion(FusionMethod):
    """Weighted average of IR and visible luminance.

    By default the weight is local: w = S_IR / (S_IR + S_Y), S = Gaussian-smoothed |Laplacian| (local contrast).
    Parameters: ``w`` (a fixed IR weight in [0, 1] instead), ``sigma`` (smoothing of the saliency, pixels, default 5),
    ``eps`` (keeps flat regions at w = 0.5).
    """

    info = MethodInfo(
        name="weighted",
        version="1",
        description="Weighted average of IR and visible luminance: local-contrast weights, or a fixed w.",
    )
    Params = WeightedParams

    def fuse_grey(self, ir: Tensor, y: Tensor) -> Tensor:
        if self.config.w is not None:
            return self.config.w * ir + (1 - self.config.w) * y
        sigma, eps = self.config.sigma, self.config.eps
        k = gaussian_kernel1d(sigma, dtype=ir.dtype)
        s_ir = separable_filter(laplacian(ir).abs(), k) + eps
        s_y = separable_filter(laplacian(y).abs(), k) + eps
        w = s_ir / (s_ir + s_y)
        return w * ir + (1 - w) * y

    def tile_halo(self, height: int, width: int) -> Halo:
        if self.config.w is not None:
            return Halo(0)
        # Laplacian (radius 1), then the Gaussian of radius ceil(3σ)
        return Halo(1 + len(gaussian_kernel1d(self.config.sigma)) // 2)


_BINOMIAL5 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _pyr_down(x: Tensor) -> Tensor:
    return separable_filter(x, _BINOMIAL5, "reflect" if min(x.shape[-2:]) > 2 else "replicate")[..., ::2, ::2]


def _pyr_up(x: Tensor, size: Sequence[int]) -> Tensor:
    up = torch.zeros((*x.shape[:2], x.shape[2] * 2, x.shape[3] * 2), dtype=x.dtype, device=x.device)
    up[..., ::2, ::2] = x * 4  # zero-insertion upsampling; ×4 restores the mean after the binomial blur
    up = separable_filter(up, _BINOMIAL5, "replicate")
    return up[..., : size[0], : size[1]]


class LaplacianParams(MethodParams):
    levels: int = Field(4, ge=1, le=16, description="pyramid levels (fewer where the image is too small)")


class LaplacianPyramidFusion(FusionMethod):
    """Burt–Adelson Laplacian pyramid: choose-max-abs on the detail levels, mean on the base (Burt & Adelson, 1983).

    Parameter: ``levels`` (default 4; fewer where the image is too small).
    """

    info = MethodInfo(
        name="laplacian",
        version="1",
        citation="P. Burt, E. Adelson. The Laplacian pyramid as a compact image code. IEEE Trans. Commun., 1983.",
        description="Laplacian-pyramid fusion: max-abs details, averaged base.",
    )
    Params = LaplacianParams

    def depth(self, height: int, width: int) -> int:
        """Levels the pyramid reaches on an H×W image (fewer than ``levels`` where it gets too small)."""
        n, depth = min(height, width), 0
        while depth < self.config.levels and n >= 4:
            n, depth = (n + 1) // 2, depth + 1
        return depth

    def tile_halo(self, height: int, width: int) -> Halo | None:
        depth = self.depth(height, width)
        if depth < self.config.levels:  # a tile could reach another depth than the whole image
            return None
        # Each level's 5-tap binomial reaches 2 samples at its scale, down and up again: about 2^(L+2) pixels in all;
        # origins on multiples of 2^L keep every level's sampling phase.
        return Halo(5 * 2**depth, align=2**depth, tile=1536)

    def fuse_grey(self, ir: Tensor, y: Tensor) -> Tensor:
        levels = self.config.levels
        x = torch.cat((ir, y), 1)  # the two sources as channels of one batch
        details = []
        for _ in range(levels):
            if min(x.shape[-2:]) < 4:
                break
            down = _pyr_down(x)
            details.append(x - _pyr_up(down, x.shape[-2:]))
            x = down
        fused = x.mean(1, keepdim=True)
        for d in reversed(details):
            pick = d[:, :1].abs() >= d[:, 1:].abs()
            fused = _pyr_up(fused, d.shape[-2:]) + torch.where(pick, d[:, :1], d[:, 1:])
        return fused


class DWTParams(MethodParams):
    wavelet: str = Field("db2", description="a PyWavelets discrete wavelet name")
    levels: int = Field(3, ge=1, le=16, description="decomposition levels (fewer where the image is too small)")
    mode: Literal[
        "zero",
        "constant",
        "symmetric",
        "periodic",
        "smooth",
        "periodization",
        "reflect",
        "antisymmetric",
        "antireflect",
    ] = Field("symmetric", description="boundary extension")

    @field_validator("wavelet")
    @classmethod
    def _known_wavelet(cls, v: str) -> str:
        if v not in pywt.wavelist(kind="discrete"):
            raise ValueError(f"'{v}' is not a discrete wavelet (e.g. haar, db2, sym4, coif1, bior2.2)")
        return v


class DWTFusion(FusionMethod):
    """Discrete wavelet transform fusion (PyWavelets): mean of approximations, max-abs of detail coefficients.

    Parameters: ``wavelet`` (default ``"db2"``), ``levels`` (default 3), ``mode`` (boundary, default ``"symmetric"``).
    """

    info = MethodInfo(
        name="dwt",
        version="1",
        citation="H. Li, B. S. Manjunath, S. K. Mitra. Multisensor image fusion using the wavelet transform. 1995.",
        description="2-D DWT fusion: averaged approximation, max-abs details.",
    )
    Params = DWTParams

    def fuse_grey(self, ir: Tensor, y: Tensor) -> Tensor:
        wavelet = pywt.Wavelet(self.config.wavelet)
        mode = self.config.mode
        h, w = ir.shape[-2:]
        levels = min(self.config.levels, pywt.dwtn_max_level((h, w), wavelet))
        # PyWavelets transforms the whole batch at once along the last two axes.
        a = pywt.wavedec2(ir.double().cpu().numpy(), wavelet, mode=mode, level=levels, axes=(-2, -1))
        b = pywt.wavedec2(y.double().cpu().numpy(), wavelet, mode=mode, level=levels, axes=(-2, -1))
        fused = [0.5 * (a[0] + b[0])]
        for da, db in zip(a[1:], b[1:], strict=True):
            fused.append(tuple(np.where(np.abs(ca) >= np.abs(cb), ca, cb) for ca, cb in zip(da, db, strict=True)))
        out = pywt.waverec2(fused, wavelet, mode=mode, axes=(-2, -1))[..., :h, :w]
        return torch.from_numpy(np.ascontiguousarray(out)).to(ir)

    def tile_halo(self, height: int, width: int) -> Halo | None:
        wavelet = pywt.Wavelet(self.config.wavelet)
        levels = min(self.config.levels, pywt.dwtn_max_level((height, width), wavelet))
        if self.config.mode in ("periodic", "periodization") or levels < self.config.levels:
            return None  # periodic extensions wrap around the image; a smaller image would get fewer levels
        # analysis then synthesis, each reaching (2^L − 1)(N − 1) pixels for a filter of length N
        return Halo(2 * 2**levels * wavelet.dec_len, align=2**levels)


class GFFParams(MethodParams):
    r1: int = Field(45, ge=1, le=512, description="guided-filter radius for the base weights")
    eps1: float = Field(0.3, gt=0, description="guided-filter regularisation for the base weights")
    r2: int = Field(7, ge=1, le=512, description="guided-filter radius for the detail weights")
    eps2: float = Field(1e-6, gt=0, description="guided-filter regularisation for the detail weights")
    base_radius: int = Field(15, ge=1, le=512, description="radius of the mean filter that makes the base layer")


class GuidedFilterFusion(FusionMethod):
    """GFF (Li, Kang, Hu, 2013): two-scale decomposition, saliency-driven weights refined by guided filtering.

    Base B = mean_31×31(I), detail D = I − B; saliency S = Gaussian_{r=5,σ=5}(|Laplacian(I)|); binary weight maps
    P_n = [S_n is the largest]; W_B = GF(P, I; r1=45, ε1=0.3), W_D = GF(P, I; r2=7, ε2=1e-6), normalised over sources;
    F = Σ W_B B + Σ W_D D.
    """

    info = MethodInfo(
        name="gff",
        version="1",
        citation="S. Li, X. Kang, J. Hu. Image fusion with guided filtering. IEEE TIP 22(7), 2013.",
        description="Guided-filter fusion (GFF).",
    )
    Params = GFFParams

    def fuse_grey(self, ir: Tensor, y: Tensor) -> Tensor:
        p = self.config.model_dump()
        x = torch.cat((ir, y), 1).double()
        base = box_filter(x, int(p["base_radius"]))
        detail = x - base
        saliency = separable_filter(laplacian(x).abs(), gaussian_kernel1d(5.0, radius=5, dtype=x.dtype))
        pick = (saliency[:, :1] >= saliency[:, 1:]).to(x.dtype)
        masks = torch.cat((pick, 1 - pick), 1)
        w_base = guided_filter(masks, x, int(p["r1"]), float(p["eps1"]))
        w_detail = guided_filter(masks, x, int(p["r2"]), float(p["eps2"]))

        def _normalise(wt: Tensor) -> Tensor:
            wt = wt.clamp_min(0)
            return wt / wt.sum(1, keepdim=True).clamp_min(1e-12)

        fused = (_normalise(w_base) * base).sum(1, keepdim=True) + (_normalise(w_detail) * detail).sum(1, keepdim=True)
        return fused.to(ir.dtype)

    def tile_halo(self, height: int, width: int) -> Halo:
        c = self.config
        # saliency: Laplacian (1) + Gaussian (5); each guided filter box-filters twice; the base is one box filter
        return Halo(max(c.base_radius, 2 * max(c.r1, c.r2) + 6) + 1, tile=1024)  # float64, ~30 planes
