"""CAF (Liu, Wu, Liu, Ma, Liu, Fan, IJCAI 2024): the released detection-driven fusion network, luminance fusion.

Written from the paper and from the behaviour of the official inference (RollingPlain/CAF_IVIF ``eval.py``):

* inputs: the IR image as grey, the visible image's float BT.601 luminance (kornia's ``rgb_to_ycbcr`` on ``u8 / 255``,
  not OpenCV's rounded 8-bit Y), both in [0, 1];
* network: two single-channel conv-BN-ReLU encoders (16 channels each), a three-layer dense block (32 channels per
  layer), a head conv-ReLU → conv-BN-ReLU → 1×1 conv → tanh; BatchNorm with running statistics (``eval()``);
* output: ``tanh × 255`` assigned into OpenCV's uint8 YCrCb array of the visible image (numpy's C cast: truncation
  toward zero, and the ~0.1 % negative values wrap to 255, 254, ...), then ``cvtColor(YCrCb → BGR)`` in 8-bit fixed
  point. ``output: release`` (default) reproduces that; ``output: clamp`` clips to [0, 1] instead and colours in float.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from ivifbench.color import luminance_and_chroma, on_8bit_grid, rgb_to_ycrcb, ycrcb_to_rgb, ycrcb_to_rgb_8bit
from ivifbench.fusion.base import FusionMethod, MethodInfo
from ivifbench.fusion.params import MethodParams
from ivifbench.fusion.zoo.common import ZooCard, load_strict, read_state_dict
from ivifbench.fusion.zoo.layers import DenseBlock, conv_bn_relu, conv_relu

# The release's own model class, the only non-torch class its pickled checkpoint may name.
RELEASE_CLASSES = ("models.Ours",)

CARD = ZooCard(
    paper=(
        "Where Elegance Meets Precision: Towards a Compact, Automatic, and Flexible Framework for Multi-modality Image "
        "Fusion and Applications"
    ),
    authors="Jinyuan Liu, Guanyao Wu, Zhu Liu, Long Ma, Risheng Liu, Xin Fan",
    venue="IJCAI",
    year=2024,
    code_url="https://github.com/RollingPlain/CAF_IVIF",
    code_commit="bf12f26e131cc6cea5c065301098ce34d69e7b7a",
    licence="none stated (code and weights); ivifbench's implementation is its own",
    weights_file="Det_final.pth",
    weights_sha256="b99ef24efea89cb9e91e13c470195618507c5557c9fdd469ce48cdbc00db16d0",
    weights_url=(
        "https://raw.githubusercontent.com/RollingPlain/CAF_IVIF/bf12f26e131cc6cea5c065301098ce34d69e7b7a/cache/Det_final.pth"
    ),
    weights_format="pickled module (read without running pickled code; 'methods convert' writes safetensors)",
    colour_input="float BT.601 luminance of the visible image; output Y put into the visible image's 8-bit YCrCb",
    training_data=("m3fd",),
)


class CafNet(nn.Module):
    """The CAF fusion network (``dim`` = 32, ``depth`` = 3 in the release): (IR, Y) → tanh output."""

    def __init__(self, dim: int = 32, depth: int = 3) -> None:
        super().__init__()
        self.encoder1 = conv_bn_relu(1, dim // 2)  # infrared
        self.encoder2 = conv_bn_relu(1, dim // 2)  # visible luminance
        self.dense = DenseBlock(dim, depth)
        self.fuse = nn.Sequential(
            conv_relu(dim * (depth + 1), dim * 2),
            conv_bn_relu(dim * 2, dim),
            nn.Sequential(nn.Conv2d(dim, 1, 1), nn.Tanh()),
        )

    def forward(self, ir: Tensor, y: Tensor) -> Tensor:
        return self.fuse(self.dense(torch.cat((self.encoder1(ir), self.encoder2(y)), 1)))


def release_uint8(out: Tensor) -> Tensor:
    """``tanh`` output → the release's 8-bit Y in [0, 1]: ``uint8(out × 255)`` by C cast (truncate, wrap negatives)."""
    q = torch.trunc(out.float() * 255).to(torch.int64).remainder(256)
    return q.to(out.dtype) / 255


class CafParams(MethodParams):
    output: Literal["release", "clamp"] = Field(
        "release",
        description=(
            "release: the official 8-bit conversion (truncation; negative values wrap to bright pixels); "
            "clamp: clip to [0, 1]"
        ),
    )


class CafFusion(FusionMethod):
    """CAF, the release's detection-oriented weights (``Det_final.pth``)."""

    info: ClassVar[MethodInfo] = CARD.method_info(
        "caf",
        "Compact dense fusion network searched for detection (IJCAI 2024); weights trained on M3FD.",
        CARD.weights_file,
    )
    Params = CafParams

    def __init__(self, weights: str | Path | None = None, device: str | torch.device = "cpu", **params: Any) -> None:
        super().__init__(weights=weights, device=device, **params)
        assert self.weights is not None  # the base class refuses a missing --weights (needs_weights)
        self.net = CafNet()
        self.net.load_state_dict(self.read_weights(self.weights))
        self.net.eval().to(self.device)

    @staticmethod
    def read_weights(path: str | Path) -> dict[str, Tensor]:
        """The state dict of the official file (or its safetensors conversion), checked against the network."""
        state = read_state_dict(path, RELEASE_CLASSES, key="fuse")
        load_strict(CafNet(), state, "CAF", path)
        return state

    def fuse_grey(self, ir: Tensor, y: Tensor) -> Tensor:
        out = self.net(ir, y)
        return release_uint8(out) if self.config.output == "release" else out.clamp(0, 1)

    def fuse(self, ir: Tensor, vis: Tensor) -> Tensor:
        if vis.shape[1] == 1:  # grey visible: the release's Cr = Cb = 128 leaves Y unchanged
            return self.fuse_grey(ir, vis)
        y = self.fuse_grey(ir, rgb_to_ycrcb(vis)[:, :1])
        _, chroma = luminance_and_chroma(vis)
        ycrcb = torch.cat((y, chroma), 1)
        if self.config.output == "release" and on_8bit_grid(chroma):
            return ycrcb_to_rgb_8bit(ycrcb)
        return ycrcb_to_rgb(ycrcb)
