"""TarDAL (Liu et al., CVPR 2022): the released dense generator, grey fusion.

Written from the paper and from the behaviour of the official ``fuse.py`` (JinyuanLiu-CV/TarDAL):

* inputs: the IR image as grey and OpenCV's BGR→grey of the visible image (the rounded 8-bit Y), in [0, 1];
* network: conv-BN-ReLU on the stacked pair (32 channels), a three-layer dense block, a head
  conv-ReLU (128) → conv-BN-ReLU (64) → conv-BN-ReLU (32) → conv → tanh, clipped to [0, 1];
* BatchNorm: the release's default never calls ``eval()``, so each image is normalised by its own statistics
  (``bn: image``, the default here); ``bn: eval`` uses the running statistics stored in the weights.

The release writes a grey image; here, as for every luminance method, the result goes into the visible image's YCrCb.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ivifbench.color import luminance_and_chroma, on_8bit_grid, rgb_to_grey_8bit, rgb_to_ycrcb, ycrcb_to_rgb
from ivifbench.fusion.base import FusionMethod, MethodInfo
from ivifbench.fusion.params import MethodParams
from ivifbench.fusion.zoo.common import ZooCard, load_strict, read_state_dict
from ivifbench.fusion.zoo.layers import DenseBlock, conv_bn_relu, conv_relu, set_per_image_norm

CARD = ZooCard(
    paper=(
        "Target-aware Dual Adversarial Learning and a Multi-scenario Multi-Modality Benchmark to Fuse Infrared and "
        "Visible for Object Detection"
    ),
    authors="Jinyuan Liu, Xin Fan, Zhanbo Huang, Guanyao Wu, Risheng Liu, Wei Zhong, Zhongxuan Luo",
    venue="CVPR",
    year=2022,
    code_url="https://github.com/JinyuanLiu-CV/TarDAL",
    code_commit="1d1d1e99b96e7de0cd4e4f57aa0d321e5b5e2727",
    licence="GPL-3.0 (official code and weights); ivifbench's implementation is its own",
    weights_file="tardal.pt",
    weights_sha256="e0fa61e25cffa9fb14ff17b47ea7ba237a6e8c6f37e1b9b115d63354ff0f13e1",
    weights_url=(
        "https://raw.githubusercontent.com/JinyuanLiu-CV/TarDAL/1d1d1e99b96e7de0cd4e4f57aa0d321e5b5e2727/weights/tardal.pt"
    ),
    weights_format="state dict of the generator",
    colour_input="OpenCV 8-bit grey of the visible image; grey output (coloured here with the visible chroma)",
    training_data=("tno", "roadscene"),
)


class TardalNet(nn.Module):
    """TarDAL's generator (``dim`` = 32, ``depth`` = 3 in the release): (IR, visible grey) → tanh output."""

    def __init__(self, dim: int = 32, depth: int = 3) -> None:
        super().__init__()
        self.encoder = conv_bn_relu(2, dim)
        self.dense = DenseBlock(dim, depth)
        self.fuse = nn.Sequential(
            conv_relu(dim * (depth + 1), dim * 4),
            conv_bn_relu(dim * 4, dim * 2),
            conv_bn_relu(dim * 2, dim),
            nn.Sequential(nn.Conv2d(dim, 1, 3, padding=1), nn.Tanh()),
        )

    def forward(self, ir: Tensor, vi: Tensor) -> Tensor:
        return self.fuse(self.dense(self.encoder(torch.cat((ir, vi), 1))))


class TardalParams(MethodParams):
    bn: Literal["image", "eval"] = Field(
        "image",
        description="image: per-image BatchNorm statistics, as the release's default; eval: the stored running statistics",
    )


class TardalFusion(FusionMethod):
    """TarDAL, the release's first weights (``tardal.pt``)."""

    info: ClassVar[MethodInfo] = CARD.method_info(
        "tardal",
        "Target-aware dual adversarial fusion (CVPR 2022), the dense generator.",
        f"weights/{CARD.weights_file}",
    )
    Params = TardalParams

    def __init__(self, weights: str | Path | None = None, device: str | torch.device = "cpu", **params: Any) -> None:
        super().__init__(weights=weights, device=device, **params)
        assert self.weights is not None  # the base class refuses a missing --weights (needs_weights)
        self.net = TardalNet()
        self.net.load_state_dict(self.read_weights(self.weights))
        self.net.eval().to(self.device)
        set_per_image_norm(self.net, self.config.bn == "image")

    @staticmethod
    def read_weights(path: str | Path) -> dict[str, Tensor]:
        """The state dict of the official file (or its safetensors conversion), checked against the network."""
        state = read_state_dict(path)
        load_strict(TardalNet(), state, "TarDAL", path)
        return state

    def fuse_grey(self, ir: Tensor, y: Tensor) -> Tensor:
        return self.net(ir, y).clamp(0, 1)

    @staticmethod
    def visible_grey(vis: Tensor) -> Tensor:
        """The release's visible input: OpenCV's 8-bit RGB→GRAY on 8-bit data (float BT.601 luma otherwise)."""
        if vis.shape[1] == 1:
            return vis
        return rgb_to_grey_8bit(vis) if on_8bit_grid(vis) else rgb_to_ycrcb(vis)[:, :1]

    def fuse(self, ir: Tensor, vis: Tensor) -> Tensor:
        fused = self.fuse_grey(ir, self.visible_grey(vis))
        if vis.shape[1] == 1:
            return fused
        _, chroma = luminance_and_chroma(vis)
        return ycrcb_to_rgb(torch.cat((fused, chroma), 1))
