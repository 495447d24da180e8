"""Building blocks the zoo's dense-connection generators share (CAF and TarDAL are both built from them)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ImageBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d that can normalise each image by its own statistics, as a train-mode BatchNorm does on a batch of one.

    Releases that run inference without ``model.eval()`` (TarDAL's default) use each image's mean and (biased)
    variance; ``per_image=True`` reproduces that for every image of a batch independently, and never touches the
    running statistics.
    """

    per_image: bool = False

    def forward(self, x: Tensor) -> Tensor:
        if not self.per_image:
            return super().forward(x)
        b, c, h, w = x.shape
        weight = self.weight.repeat(b) if self.weight is not None else None
        bias = self.bias.repeat(b) if self.bias is not None else None
        y = F.batch_norm(x.reshape(1, b * c, h, w), None, None, weight, bias, training=True, eps=self.eps)
        return y.reshape(b, c, h, w)


def conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    """3×3 convolution (bias kept, as the releases have it), BatchNorm, ReLU; indices 0/1/2 as the checkpoints name them."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), ImageBatchNorm2d(c_out), nn.ReLU(inplace=True))


def conv_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True))


class DenseBlock(nn.ModuleList):
    """``depth`` conv-BN-ReLU layers, each fed every earlier feature map (concatenated) and adding ``dim`` channels.

    A ModuleList, so that its weights are named ``dense.<i>.<j>`` as in the released checkpoints.
    """

    def __init__(self, dim: int, depth: int) -> None:
        super().__init__(conv_bn_relu(dim * (i + 1), dim) for i in range(depth))

    def forward(self, x: Tensor) -> Tensor:
        for layer in self:
            x = torch.cat((x, layer(x)), 1)
        return x


def set_per_image_norm(net: nn.Module, on: bool) -> None:
    """Switch every :class:`ImageBatchNorm2d` of ``net`` between per-image and running statistics."""
    for m in net.modules():
        if isinstance(m, ImageBatchNorm2d):
            m.per_image = on
