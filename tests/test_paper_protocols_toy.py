"""Each task's ``paper`` protocol path on the CPU at toy size: the published settings (architecture, optimiser,
augmentations, data-loader workers, pretrained-weights loading) with a few iterations on tiny images, so the path a GPU
run takes is exercised in every CI run. The pretrained weights are randomly initialised files written here (the paper
protocols refuse to run without a weights file, and ivifbench never downloads one).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ivifbench.datasets import DATASETS


def _mit_weights(variant: str, path: Path) -> Path:
    """A randomly initialised MiT encoder saved as a plain state dict (the layout of mmseg's converted weights)."""
    from ivifbench.networks.segformer import build_mit_backbone

    torch.manual_seed(123)
    torch.save(build_mit_backbone(variant).state_dict(), path)
    return path


def _defaults(protocols: dict) -> dict:
    """The paper protocol's published settings: its settings model's defaults."""
    return {k: f.default for k, f in protocols["paper"].model_fields.items()}


def test_segmentation_paper_protocol_toy(tmp_path: Path) -> None:
    from ivifbench.tasks.segmentation import SegmentationTask
    from ivifbench.tasks.segmentation.task import PROTOCOLS

    root = DATASETS.get("msrs").synthesize(tmp_path / "msrs", pairs=4, seed=0, size=(64, 48))
    weights = _mit_weights("b3", tmp_path / "mit_b3.pth")
    toy = {"iters": 2, "warmup": 1, "batch": 2, "crop": 48, "num_workers": 1, "save_checkpoint": False}
    result = SegmentationTask().run(
        dataset="msrs", root=root, fused=None, out=tmp_path / "run", protocol="paper", pretrained=str(weights), **toy
    )
    s = result.details["protocol_settings"]
    paper = _defaults(PROTOCOLS)
    for key in ("variant", "lr", "head_lr_mult", "photometric", "ratio_range", "cat_max_ratio"):
        assert s[key] == (list(paper[key]) if isinstance(paper[key], tuple) else paper[key]), key
    assert result.details["pretrained"] == str(weights) and result.protocol == "paper"
    assert 0.0 <= result.metrics["mIoU"] <= 1.0
    assert result.details["reproducibility"]["deterministic"] is True


def test_sod_paper_protocol_toy(tmp_path: Path) -> None:
    from ivifbench.tasks.sod import SODTask
    from ivifbench.tasks.sod.task import PROTOCOLS

    root = DATASETS.get("vt5000").synthesize(tmp_path / "vt5000", pairs=4, seed=0, size=(64, 48))
    weights = _mit_weights("b2", tmp_path / "mit_b2.pth")
    toy = {"size": 32, "iters": 2, "warmup": 1, "batch": 2, "device": "cpu", "save_model": False}
    result = SODTask().run(
        dataset="vt5000", root=root, fused=None, out=tmp_path / "run", protocol="paper", pretrained=str(weights), **toy
    )
    s = result.details["protocol_settings"]
    for key in ("backbone", "lr", "head_lr_mult", "weight_decay"):
        assert s[key] == _defaults(PROTOCOLS)[key], key
    assert s["pretrained"] == str(weights) and result.protocol == "paper"
    assert 0.0 <= result.metrics["Sm"] <= 1.0


@pytest.mark.filterwarnings("ignore")
def test_detection_paper_protocol_toy(tmp_path: Path) -> None:
    from ivifbench.tasks.detection import DetectionTask
    from ivifbench.tasks.detection.engine import load_model
    from ivifbench.tasks.detection.task import PROTOCOLS

    root = DATASETS.get("m3fd").synthesize(tmp_path / "m3fd", pairs=12, seed=0, size=(128, 96))
    torch.manual_seed(123)
    weights = tmp_path / "yolov8n_random.pt"
    load_model("yolov8n.yaml", None).save(str(weights))  # an ultralytics checkpoint of a random network
    toy = {"epochs": 1, "imgsz": 64, "batch": 4, "nbs": 8, "close_mosaic": 0, "workers": 1}
    result = DetectionTask().run(
        dataset="m3fd", root=root, fused=None, out=tmp_path / "run", protocol="paper", device="cpu",
        weights=str(weights), **toy,
    )  # fmt: skip
    s = result.details["protocol_settings"]
    for key in ("optimizer", "lr0", "momentum", "mosaic", "warmup_epochs", "select"):
        assert s[key] == _defaults(PROTOCOLS)[key], key
    assert result.details["init_weights"] == str(weights.absolute()) and result.details["amp"] is False
    assert 0.0 <= result.metrics["mAP50"] <= 1.0
