"""Semantic segmentation of fused images with mmsegmentation SegFormer (MSRS 9 classes, FMB 15 classes).

Modules:
    mmseg_compat: the one place that adapts mmseg to mmcv-lite (pure-PyTorch ``point_sample``, refused compiled ops)
        and allow-lists mmengine checkpoint globals for ``torch.load(weights_only=True)``.
    model: ``build_segformer`` / ``build_mit_backbone`` / ``segformer_logits``: SegFormer from a config and optional
        checkpoint, no network.
    classes: class lists, palettes and ignore index per dataset.
    prepare: fused images + label PNGs → an mmseg dataset folder.
    task: ``SegmentationTask`` (quick / paper protocols).

Importing this package does not import mmseg; the names below are loaded on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SegmentationTask": "ivifbench.tasks.segmentation.task",
    "build_segformer": "ivifbench.tasks.segmentation.model",
    "build_mit_backbone": "ivifbench.tasks.segmentation.model",
    "segformer_logits": "ivifbench.tasks.segmentation.model",
    "freeze": "ivifbench.tasks.segmentation.model",
    "import_mmseg": "ivifbench.tasks.segmentation.mmseg_compat",
    "load_checkpoint": "ivifbench.tasks.segmentation.mmseg_compat",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
