"""Same seed → same numbers: each task's quick protocol at toy size, run twice in one process with the caller on one
torch thread and then on two, gives identical metrics and losses (the task pins its own thread count and seeds every
source of randomness, model initialisation included, inside the run). A different seed must change the training.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ivifbench.datasets import DATASETS


@pytest.fixture()
def caller_threads() -> Iterator[Callable[[int], None]]:
    """Set the caller's torch thread count (restored after the test)."""
    import torch

    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def _twice(
    run: Callable[[Path, int], Any], tmp_path: Path, set_threads: Callable[[int], None], seed: int = 0
) -> tuple[Any, Any]:
    """The same run on a caller with 1 torch thread, then with 2 (different output folders)."""
    import torch

    set_threads(1)
    first = run(tmp_path / "t1", seed)
    set_threads(2)
    second = run(tmp_path / "t2", seed)
    assert torch.get_num_threads() == 2, "the task must restore the caller's thread count"
    return first, second


def test_segmentation_identical_across_runs_and_caller_threads(
    tmp_path: Path, caller_threads: Callable[[int], None]
) -> None:
    from ivifbench.tasks.segmentation import SegmentationTask

    root = DATASETS.get("msrs").synthesize(tmp_path / "msrs", pairs=6, seed=0, size=(64, 48))
    tiny = {"iters": 4, "batch": 2, "crop": 48, "warmup": 1, "log_interval": 1, "save_checkpoint": False}

    def run(out: Path, seed: int) -> Any:
        return SegmentationTask().run(dataset="msrs", root=root, fused=None, out=out, seed=seed, **tiny)

    a, b = _twice(run, tmp_path, caller_threads)
    assert a.metrics == b.metrics
    assert a.details["areas"] == b.details["areas"]
    assert a.details["final_loss"] == b.details["final_loss"]
    repro = a.details["reproducibility"]
    assert repro["seed"] == 0 and repro["torch_threads"] == 1 and repro["deterministic"] is True
    assert "torch" in a.details["versions"] and "mmengine" in a.details["versions"]  # the one versions record
    other = run(tmp_path / "seed1", 1)
    assert other.details["final_loss"] != a.details["final_loss"]


def test_sod_identical_across_runs_and_caller_threads(tmp_path: Path, caller_threads: Callable[[int], None]) -> None:
    from ivifbench.tasks.sod import SODTask

    root = DATASETS.get("vt5000").synthesize(tmp_path / "vt5000", pairs=6, seed=0, size=(64, 48))
    tiny = {"size": 32, "iters": 4, "batch": 2, "log_every": 1, "save_model": False}

    def run(out: Path, seed: int) -> Any:
        return SODTask().run(dataset="vt5000", root=root, fused=None, out=out, seed=seed, **tiny)

    a, b = _twice(run, tmp_path, caller_threads)
    assert a.metrics == b.metrics
    assert a.details["loss_log"] == b.details["loss_log"]
    assert a.details["reproducibility"]["torch_threads"] == 1
    other = run(tmp_path / "seed1", 1)
    assert other.details["loss_log"] != a.details["loss_log"]


def test_detection_identical_across_runs_and_caller_threads(
    tmp_path: Path, caller_threads: Callable[[int], None]
) -> None:
    import torch

    from ivifbench.tasks.detection import DetectionTask

    root = DATASETS.get("m3fd").synthesize(tmp_path / "m3fd", pairs=12, seed=0, size=(128, 96))
    tiny = {"epochs": 2, "imgsz": 64, "batch": 4}

    def run(out: Path, seed: int) -> Any:
        return DetectionTask().run(dataset="m3fd", root=root, fused=None, out=out, seed=seed, **tiny)

    a, b = _twice(run, tmp_path, caller_threads)
    assert a.metrics == b.metrics
    assert a.details["reproducibility"]["torch_threads"] == 1

    def weights(result: Any) -> list[torch.Tensor]:  # the trained detector, loaded the way the task loads it
        from ivifbench.tasks.detection.engine import load_model

        return list(load_model(None, Path(result.details["weights_evaluated"])).model.state_dict().values())

    wa, wb = weights(a), weights(b)
    assert len(wa) == len(wb) and all(torch.equal(x, y) for x, y in zip(wa, wb, strict=True))
