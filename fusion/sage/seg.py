"""Segmentation guidance for the teacher: a frozen SegFormer (mmseg, the shared
:mod:`ivifbench.networks.segformer` the segmentation task also trains) in place of the
release's X-Decoder (sage.md §3c). Gradients flow through it to the teacher's output; its weights never train.

The release feeds X-Decoder RGB built from the teacher's Y and the source CrCb, clamped; we do the same and feed it
at the crop's own size (the 384×384 resize was X-Decoder's input size, not SegFormer's). Labels are integers with an
ignore index (the release's ÷255 label bug, sage.md §8.1, is not reproduced).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from ivifbench.color import ycrcb_to_rgb
from ivifbench.errors import IvifError

PAD_TO = 32  # SegFormer's output stride


class SegGuidance:
    """Cross-entropy of a frozen SegFormer on the teacher's colour output.

    Args:
        checkpoint: a SegFormer checkpoint trained by ``ivifbench`` (mmengine ``.pth``) or any mmseg SegFormer
            state_dict; its MiT variant and class count are read from it unless ``variant`` is given.
        variant: ``"b0"`` … ``"b5"`` to force the encoder size (``--seg-config``).
        num_classes: the dataset's class count, checked against the checkpoint.
        ignore_index: label value left out of the loss.
    """

    def __init__(
        self,
        checkpoint: str | Path,
        variant: str | None = None,
        num_classes: int | None = None,
        ignore_index: int = 255,
        device: str | torch.device = "cpu",
    ) -> None:
        try:
            from ivifbench.networks.segformer import build_segformer, freeze, segformer_logits
        except ImportError as exc:
            raise IvifError(f"segmentation guidance needs SegFormer through mmsegmentation: {exc}") from exc
        if variant is not None and Path(variant).suffix:
            raise IvifError(
                f"--seg-config '{variant}': give the MiT variant (b0…b5); the model is built from our SegFormer "
                "configuration and the checkpoint, not from an mmseg config file"
            )
        model = build_segformer(variant, None, checkpoint, ignore_index=ignore_index)
        classes = int(model.decode_head.conv_seg.out_channels)  # type: ignore[union-attr,arg-type]
        if num_classes is not None and classes != num_classes:
            raise IvifError(f"{checkpoint}: SegFormer predicts {classes} classes, the dataset has {num_classes}")
        self.model = freeze(model).to(device)
        self._logits = segformer_logits
        self.ignore_index = ignore_index
        self.num_classes = classes

    def loss(self, y: Tensor, crcb: Tensor, label: Tensor) -> Tensor | None:
        """CE of the SegFormer's prediction on RGB(teacher Y, source CrCb); ``None`` when no pixel is labelled."""
        if not bool((label != self.ignore_index).any()):
            return None
        rgb = ycrcb_to_rgb(torch.cat((y, crcb), 1))  # clamped to [0, 1], as the release clamps
        h, w = rgb.shape[-2:]
        # SegFormer's four stride-2 stages need sides that are multiples of 32: pad (replicate), predict, crop back
        ph, pw = -h % PAD_TO, -w % PAD_TO
        if ph or pw:
            rgb = F.pad(rgb, (0, pw, 0, ph), mode="replicate")
        logits = self._logits(self.model, rgb)[..., :h, :w]
        if logits.shape[-2:] != label.shape[-2:]:
            logits = F.interpolate(logits, size=tuple(label.shape[-2:]), mode="bilinear", align_corners=False)
        return F.cross_entropy(logits, label, ignore_index=self.ignore_index)
