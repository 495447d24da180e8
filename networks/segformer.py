"""SegFormer (MixVisionTransformer encoder + all-MLP head) through mmsegmentation, with no network access.

The public builders are :func:`build_segformer` (a whole mmseg ``EncoderDecoder``, optionally loaded from a trained
checkpoint or with ImageNet MiT weights on its encoder) and :func:`build_mit_backbone` (the encoder alone), plus
:func:`segformer_logits` (a differentiable forward from RGB tensors in ``[0, 1]``) and :func:`freeze`. Configs follow
mmseg's ``configs/_base_/models/segformer_mit-b0.py`` and the ``segformer_mit-b*`` configs, with plain BN instead of
SyncBN (one process) and no ``init_cfg``: pretrained weights are always a file the caller names, read with
``weights_only=True`` (:mod:`ivifbench.networks.mit_weights`); URLs are refused.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ivifbench.errors import InputError
from ivifbench.networks.mit_weights import (
    checkpoint_path,
    convert_mit_state_dict,
    load_backbone_weights,
    load_into,
    load_model_weights,
    state_dict_of,
)
from ivifbench.networks.mmseg_compat import import_mmseg, load_checkpoint, quiet_mmengine

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MIT_VARIANTS",
    "build_mit_backbone",
    "build_segformer",
    "convert_mit_state_dict",
    "freeze",
    "infer_segformer_variant",
    "load_backbone_weights",
    "load_model_weights",
    "segformer_cfg",
    "segformer_logits",
]

# RGB, on 0..255 (mmseg's SegDataPreProcessor for SegFormer)
IMAGENET_MEAN: tuple[float, float, float] = (123.675, 116.28, 103.53)
IMAGENET_STD: tuple[float, float, float] = (58.395, 57.12, 57.375)

# MiT-B0..B5 (SegFormer paper, Table 6 / mmseg configs): embed dims of stage 1, blocks per stage
MIT_VARIANTS: dict[str, dict[str, Any]] = {
    "b0": {"embed_dims": 32, "num_layers": [2, 2, 2, 2]},
    "b1": {"embed_dims": 64, "num_layers": [2, 2, 2, 2]},
    "b2": {"embed_dims": 64, "num_layers": [3, 4, 6, 3]},
    "b3": {"embed_dims": 64, "num_layers": [3, 4, 18, 3]},
    "b4": {"embed_dims": 64, "num_layers": [3, 8, 27, 3]},
    "b5": {"embed_dims": 64, "num_layers": [3, 6, 40, 3]},
}
_NUM_HEADS = [1, 2, 5, 8]
_STAGE_MULT = [1, 2, 5, 8]  # stage widths are embed_dims * num_heads[i]


def _variant(variant: str) -> dict[str, Any]:
    key = str(variant).lower().removeprefix("mit-").removeprefix("mit_").removeprefix("segformer-")
    if key not in MIT_VARIANTS:
        raise InputError(f"unknown SegFormer variant '{variant}' (choose one of {', '.join(MIT_VARIANTS)})")
    return {"name": key, **MIT_VARIANTS[key]}


def _backbone_cfg(variant: str, drop_path_rate: float = 0.1, in_channels: int = 3) -> dict[str, Any]:
    v = _variant(variant)
    return {
        "type": "MixVisionTransformer",
        "in_channels": in_channels,
        "embed_dims": v["embed_dims"],
        "num_stages": 4,
        "num_layers": list(v["num_layers"]),
        "num_heads": list(_NUM_HEADS),
        "patch_sizes": [7, 3, 3, 3],
        "sr_ratios": [8, 4, 2, 1],
        "out_indices": (0, 1, 2, 3),
        "mlp_ratio": 4,
        "qkv_bias": True,
        "drop_rate": 0.0,
        "attn_drop_rate": 0.0,
        "drop_path_rate": drop_path_rate,
        "init_cfg": None,
    }


def segformer_cfg(
    variant: str = "b0",
    num_classes: int = 19,
    *,
    crop_size: tuple[int, int] | None = None,
    ignore_index: int = 255,
    drop_path_rate: float = 0.1,
    decoder_channels: int = 256,
    class_weight: list[float] | None = None,
) -> dict[str, Any]:
    """The mmseg model config (a plain dict) of SegFormer-``variant`` with ``num_classes`` outputs.

    Args:
        variant: ``"b0"`` … ``"b5"``.
        num_classes: output classes (the decode head's ``conv_seg``).
        crop_size: ``(H, W)`` the data preprocessor pads training batches to; ``None`` pads to the batch's largest.
        ignore_index: label value the loss ignores (mmseg's 255).
        drop_path_rate: stochastic depth of the encoder (0.1 in mmseg's configs).
        decoder_channels: the all-MLP head's width (256 in mmseg's SegFormer configs).
        class_weight: optional per-class cross-entropy weights.
    """
    if int(num_classes) < 1:
        raise InputError(f"num_classes must be at least 1, got {num_classes}")
    v = _variant(variant)
    widths = [v["embed_dims"] * m for m in _STAGE_MULT]
    preprocessor: dict[str, Any] = {
        "type": "SegDataPreProcessor",
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "bgr_to_rgb": True,
        "pad_val": 0,
        "seg_pad_val": 255,
    }
    if crop_size is not None:
        preprocessor["size"] = tuple(int(s) for s in crop_size)
    loss: dict[str, Any] = {
        "type": "CrossEntropyLoss",
        "use_sigmoid": False,
        "loss_weight": 1.0,
        "avg_non_ignore": True,  # mean over scored pixels, as torch.nn.CrossEntropyLoss
    }
    if class_weight is not None:
        loss = _weighted_loss_cfg(class_weight)
    return {
        "type": "EncoderDecoder",
        "data_preprocessor": preprocessor,
        "pretrained": None,
        "backbone": _backbone_cfg(v["name"], drop_path_rate),
        "decode_head": {
            "type": "SegformerHead",
            "in_channels": widths,
            "in_index": [0, 1, 2, 3],
            "channels": decoder_channels,
            "dropout_ratio": 0.1,
            "num_classes": int(num_classes),
            "norm_cfg": {"type": "BN", "requires_grad": True},
            "align_corners": False,
            "ignore_index": ignore_index,
            "loss_decode": loss,
        },
        "train_cfg": {},
        "test_cfg": {"mode": "whole"},
    }


def _weighted_loss_cfg(class_weight: Any) -> dict[str, Any]:
    return {"type": WEIGHTED_CE, "class_weight": [float(w) for w in class_weight], "loss_weight": 1.0}


WEIGHTED_CE = "IvifWeightedCrossEntropyLoss"


def _register_weighted_ce() -> None:
    """Register a class-weighted cross-entropy in mmseg's MODELS (idempotent).

    mmseg 1.2.2's ``CrossEntropyLoss`` with ``class_weight`` indexes the weights with every label value, so it fails
    on ignored (255) pixels, e.g. the padding of crops larger than the image. This one is
    ``F.cross_entropy(weight=..., ignore_index=...)``: the weighted mean over scored pixels.
    """
    from mmseg.registry import MODELS

    if WEIGHTED_CE in MODELS.module_dict:
        return

    class IvifWeightedCrossEntropyLoss(nn.Module):
        def __init__(self, class_weight: list[float], loss_weight: float = 1.0, loss_name: str = "loss_ce") -> None:
            super().__init__()
            self.class_weight = [float(w) for w in class_weight]
            self.loss_weight = float(loss_weight)
            self._loss_name = loss_name

        def forward(
            self, cls_score: Tensor, label: Tensor, weight: Tensor | None = None, ignore_index: int = 255, **_: Any
        ) -> Tensor:
            w = cls_score.new_tensor(self.class_weight)
            if weight is None:
                loss = F.cross_entropy(cls_score, label, weight=w, ignore_index=ignore_index)
            else:  # per-pixel weights (mmseg's pixel samplers): weighted sum over the class-weighted scored pixels
                per = F.cross_entropy(cls_score, label, weight=w, ignore_index=ignore_index, reduction="none")
                valid = label != ignore_index
                norm = (w[label.clamp(0, len(self.class_weight) - 1)] * valid).sum().clamp_min(1e-12)
                loss = (per * weight).sum() / norm
            return self.loss_weight * loss

        @property
        def loss_name(self) -> str:
            return self._loss_name

    MODELS.register_module(name=WEIGHTED_CE, module=IvifWeightedCrossEntropyLoss, force=True)


# --------------------------------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------------------------------


def infer_segformer_variant(state_dict: Mapping[str, Tensor]) -> tuple[str, int]:
    """``(variant, num_classes)`` of a SegFormer state dict (mmseg layout), from its widths and block counts."""
    sd = {k.removeprefix("module."): v for k, v in state_dict.items()}
    try:
        embed = int(sd["backbone.layers.0.0.projection.weight"].shape[0])
        num_classes = int(sd["decode_head.conv_seg.weight"].shape[0])
    except KeyError as exc:
        raise InputError(f"not a SegFormer (mmseg) state dict: no {exc.args[0]}") from exc
    blocks = []
    for stage in range(4):
        idx = {int(k.split(".")[4]) for k in sd if k.startswith(f"backbone.layers.{stage}.1.")}
        blocks.append(max(idx) + 1 if idx else 0)
    for name, v in MIT_VARIANTS.items():
        if v["embed_dims"] == embed and list(v["num_layers"]) == blocks:
            return name, num_classes
    raise InputError(f"SegFormer state dict with embed_dims={embed} and blocks {blocks} matches no MiT-B0..B5")


# --------------------------------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------------------------------


def build_segformer(
    variant: str | None = "b0",
    num_classes: int | None = None,
    checkpoint: str | Path | None = None,
    *,
    backbone_checkpoint: str | Path | None = None,
    crop_size: tuple[int, int] | None = None,
    ignore_index: int = 255,
    drop_path_rate: float = 0.1,
    cfg_options: Mapping[str, Any] | None = None,
) -> nn.Module:
    """Build an mmseg SegFormer ``EncoderDecoder`` (on the CPU, in train mode).

    Args:
        variant: ``"b0"`` … ``"b5"``; ``None`` infers it (and ``num_classes``) from ``checkpoint``.
        num_classes: output classes; ``None`` takes it from ``checkpoint`` (required without one).
        checkpoint: a trained SegFormer checkpoint (mmengine ``.pth`` from this task, or any mmseg SegFormer state
            dict) to load into the whole model, strictly.
        backbone_checkpoint: ImageNet MiT weights for the encoder (ignored when ``checkpoint`` is given); without
            either, the model is randomly initialised as mmseg does (``init_weights``).
        crop_size: training crop ``(H, W)`` for the data preprocessor's padding.
        ignore_index: label value the loss ignores.
        drop_path_rate: the encoder's stochastic depth.
        cfg_options: entries merged into the decode head config (e.g. ``{"class_weight": [...]}``).

    Returns:
        The model; call ``.eval()`` (and :func:`freeze`) to use it as a fixed segmenter.
    """
    import_mmseg()
    _register_weighted_ce()
    from mmengine.config import ConfigDict
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    sd: dict[str, Tensor] | None = None
    if checkpoint is not None:
        sd = state_dict_of(load_checkpoint(checkpoint_path(checkpoint)))
        if variant is None or num_classes is None:
            found_variant, found_classes = infer_segformer_variant(sd)
            variant = variant or found_variant
            num_classes = num_classes or found_classes
    if variant is None or num_classes is None:
        raise InputError("build_segformer needs variant and num_classes, or a checkpoint to read them from")
    cfg = segformer_cfg(
        variant, num_classes, crop_size=crop_size, ignore_index=ignore_index, drop_path_rate=drop_path_rate
    )
    for key, value in (cfg_options or {}).items():
        if key == "class_weight":
            cfg["decode_head"]["loss_decode"] = _weighted_loss_cfg(value)
        else:
            cfg["decode_head"][key] = value
    with DefaultScope.overwrite_default_scope("mmseg"), quiet_mmengine():
        model = MODELS.build(ConfigDict(copy.deepcopy(cfg)))  # mmseg reads test_cfg.mode
        model.init_weights()
    if sd is not None:
        path = checkpoint_path(checkpoint)  # type: ignore[arg-type]
        load_into(model, sd, f"SegFormer-{_variant(variant)['name'].upper()} with {num_classes} classes", path, True)
    elif backbone_checkpoint is not None:
        load_backbone_weights(model.backbone, backbone_checkpoint)
    model.cfg = cfg  # the config it was built from, for records
    return model


def build_mit_backbone(
    variant: str = "b0", checkpoint: str | Path | None = None, *, drop_path_rate: float = 0.1, in_channels: int = 3
) -> nn.Module:
    """Build mmseg's ``MixVisionTransformer`` (SegFormer's encoder), optionally with ImageNet MiT weights.

    Its ``forward(x)`` takes ``(N, in_channels, H, W)`` normalised images and returns four feature maps at strides
    4, 8, 16, 32 with ``embed_dims * (1, 2, 5, 8)`` channels.
    """
    import_mmseg()
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    with DefaultScope.overwrite_default_scope("mmseg"), quiet_mmengine():
        backbone = MODELS.build(_backbone_cfg(variant, drop_path_rate, in_channels))
        backbone.init_weights()
    if checkpoint is not None:
        load_backbone_weights(backbone, checkpoint)
    return backbone


def freeze(model: nn.Module) -> nn.Module:
    """Put ``model`` in eval mode with every parameter's ``requires_grad`` off; returns it."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def segformer_logits(model: nn.Module, images: Tensor, *, size: tuple[int, int] | None = None) -> Tensor:
    """Differentiable SegFormer forward: RGB (or gray) images in ``[0, 1]`` → class logits at the input size.

    Args:
        model: from :func:`build_segformer`.
        images: ``(N, 3, H, W)`` RGB or ``(N, 1, H, W)`` gray, float in ``[0, 1]``.
        size: output ``(H, W)``; the input size by default.

    Returns:
        ``(N, num_classes, H, W)`` logits (bilinear upsampling, ``align_corners=False``, as mmseg predicts).
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise InputError(f"segformer_logits expects (N, 1 or 3, H, W) images, got shape {tuple(images.shape)}")
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = (images * 255.0 - mean) / std
    logits: Tensor = model.decode_head(model.backbone(x))  # type: ignore[operator]  # an mmseg EncoderDecoder
    return F.interpolate(logits, size=size or tuple(images.shape[-2:]), mode="bilinear", align_corners=False)
