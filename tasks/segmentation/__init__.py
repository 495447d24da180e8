"""Semantic segmentation of fused images with mmsegmentation SegFormer (MSRS 9 classes, FMB 15 classes).

Modules:
    classes: class lists, palettes and ignore index per dataset.
    prepare: fused images + label PNGs → an mmseg dataset folder.
    task: ``SegmentationTask`` (quick / paper protocols).

The network itself (SegFormer through mmseg, and mmseg's adaptation to mmcv-lite) lives in
:mod:`ivifbench.networks`, shared with the SOD task and SAGE; it is re-exported here. Importing this package does not
import mmseg; the names below are loaded on first use.
"""

from __future__ import annotations

from typing import Any

from ivifbench import lazy

_LAZY = {
    "SegmentationTask": "ivifbench.tasks.segmentation.task",
    "build_segformer": "ivifbench.networks.segformer",
    "build_mit_backbone": "ivifbench.networks.segformer",
    "segformer_logits": "ivifbench.networks.segformer",
    "freeze": "ivifbench.networks.segformer",
    "import_mmseg": "ivifbench.networks.mmseg_compat",
    "load_checkpoint": "ivifbench.networks.mmseg_compat",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    return lazy.load(globals(), _LAZY, name)
