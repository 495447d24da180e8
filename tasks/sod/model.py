"""The saliency network: SegFormer (mmseg's MixVisionTransformer + SegformerHead) with a one-channel sigmoid head.

Built by the shared :func:`~ivifbench.networks.segformer.build_segformer` (mmseg imported through
its ``import_mmseg``; MiT-B0…B5 configs; ImageNet MiT weights read weights-only, NVlabs or mmseg keys) with
``num_classes=1, out_channels=1``: the head's single channel is a logit and the saliency map is its sigmoid. The forward
is :func:`~ivifbench.networks.segformer.segformer_logits` (RGB in [0, 1], ImageNet normalisation, bilinear
upsampling of the 1/4-resolution logits to the input size). Only the loss and the training loop are SOD's own.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from ivifbench.errors import InputError

VARIANTS = ("b0", "b1", "b2", "b3", "b4", "b5")
DEFAULT_DECODER_CHANNELS = {"b0": 256, "b1": 256, "b2": 768, "b3": 768, "b4": 768, "b5": 768}  # SegFormer paper


def variant_name(backbone: str) -> str:
    """``"mit_b2"``, ``"mit-b2"``, ``"B2"`` → ``"b2"``.

    Raises:
        InputError: not one of MiT-B0…B5.
    """
    key = str(backbone).lower().removeprefix("mit").lstrip("-_")
    if key not in VARIANTS:
        raise InputError(f"unknown SOD backbone '{backbone}' (choose one of {', '.join('mit_' + v for v in VARIANTS)})")
    return key


class SaliencyNet(nn.Module):
    """SegFormer-``backbone`` with one output channel; ``forward(x)`` maps B×3×H×W RGB in [0, 1] to B×1×H×W logits.

    Args:
        backbone: ``"mit_b0"`` … ``"mit_b5"``.
        decoder_channels: the all-MLP head's width (``None``: the paper's, 256 for B0/B1 and 768 for B2–B5).
        pretrained: ImageNet MiT weights for the encoder (``None``: mmseg's random initialisation).
        drop_path: the encoder's stochastic depth (0.1 in SegFormer).
    """

    def __init__(
        self,
        backbone: str = "mit_b0",
        decoder_channels: int | None = None,
        pretrained: str | Path | None = None,
        drop_path: float = 0.1,
    ) -> None:
        super().__init__()
        from ivifbench.networks.segformer import build_segformer

        variant = variant_name(backbone)
        channels = int(decoder_channels or DEFAULT_DECODER_CHANNELS[variant])
        with warnings.catch_warnings():  # mmcv-lite/mmseg deprecation chatter about parts SegFormer does not use
            warnings.simplefilter("ignore", UserWarning)
            self.net = build_segformer(
                variant,
                num_classes=1,
                backbone_checkpoint=pretrained,
                drop_path_rate=drop_path,
                cfg_options={"out_channels": 1, "threshold": 0.5, "channels": channels},
            )
        self.arch: dict[str, Any] = {"backbone": f"mit_{variant}", "decoder_channels": channels}

    def forward(self, x: Tensor) -> Tensor:
        from ivifbench.networks.segformer import segformer_logits

        return segformer_logits(self.net, x)
