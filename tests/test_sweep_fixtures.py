"""Helpers for the sweep/store/report tests (no tests here): a tiny metric engine, a fake task, odd methods, and a
plugin folder (a ``*.dist-info`` with entry points) that subprocesses see through PYTHONPATH.

They keep the sweep tests independent of the real metric engine and of the (slow) downstream tasks.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from ivifbench.imageio import list_images, read_image
from ivifbench.registry import Registry
from ivifbench.tasks.base import Task, TaskResult

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class FakeMetric:
    name: str
    higher_is_better: bool
    description: str = "test metric"


METRICS: Registry[FakeMetric] = Registry("metric")
METRICS.register("MEAN", FakeMetric("MEAN", True))
METRICS.register("STD", FakeMetric("STD", True))
METRICS.register("DIFF", FakeMetric("DIFF", False))


def score_folders(
    ir_dir: Any, vis_dir: Any, fused_dir: Any, metrics: list[str], convention: str, **kw: Any
) -> pd.DataFrame:
    """MEAN / STD of the fused image, DIFF = mean |fused − visible| (×100 to look like real numbers)."""
    rows = []
    vis = list_images(vis_dir)
    for stem, p in sorted(list_images(fused_dir).items()):
        if stem not in vis:
            continue
        f = read_image(p).pixels
        v = read_image(vis[stem]).pixels
        if v.shape[2] != f.shape[2]:
            v = np.repeat(v.mean(axis=2, keepdims=True), f.shape[2], axis=2)
        vals = {"MEAN": float(f.mean() * 100), "STD": float(f.std() * 100), "DIFF": float(np.abs(f - v).mean() * 100)}
        for m in metrics:
            rows.append({"image": stem, "metric": m, "convention": convention, "value": vals[m]})
    return pd.DataFrame(rows, columns=["image", "metric", "convention", "value"])


class FakeTask(Task):
    """A 'task' that is instant and deterministic: it scores the fused folder's brightness."""

    name = "fake"
    datasets = ("msrs", "m3fd", "tno", "vt5000")
    protocols = ("quick", "paper")
    version = "1"
    metric_directions: ClassVar[dict[str, bool]] = {"acc": True, "err": False, "acc/cls": True}

    def run(
        self,
        *,
        dataset: str,
        root: Path,
        fused: Path | None,
        out: Path,
        protocol: str = "quick",
        seed: int = 0,
        **overrides: Any,
    ) -> TaskResult:
        gate("task")
        delay = float(overrides.get("delay", 0))
        if delay:
            time.sleep(delay)
        if overrides.get("fail"):
            raise RuntimeError("fake task asked to fail")
        imgs = sorted(list_images(fused).values()) if fused else []
        m = float(np.mean([read_image(p).pixels.mean() for p in imgs])) if imgs else 0.0
        res = TaskResult(
            task="fake", dataset=dataset, protocol=protocol, seed=seed,
            metrics={"acc": round(m + 0.01 * seed, 6), "err": round(1 - m, 6), "acc/cls": round(m / 2, 6)},
            details={"n": len(imgs), "overrides": overrides},
        )  # fmt: skip
        res.write_json(Path(out) / "metrics.json")
        return res


def gate(stage: str) -> None:
    """Block for ever at ``stage`` ('fuse' or 'task') when ``IVIFBENCH_TEST_GATE`` is ``stage:MARKER``, after writing
    this process's pid to MARKER: a test then knows a unit of that stage is in flight, without timing assumptions."""
    spec = os.environ.get("IVIFBENCH_TEST_GATE", "")
    where, _, marker = spec.partition(":")
    if where == stage and marker:
        Path(marker).write_text(str(os.getpid()))
        while True:
            time.sleep(0.2)


def gated_fuse(ir: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean fusion that blocks while the 'fuse' gate is set (see :func:`gate`)."""
    gate("fuse")
    return 0.5 * (ir + y)


def slow_fuse(ir: torch.Tensor, y: torch.Tensor, delay: float = 0.0) -> torch.Tensor:
    """Mean fusion that takes its time (to give a kill a moment to land)."""
    if delay:
        time.sleep(delay)
    return 0.5 * (ir + y)


def nan_fuse(ir: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ir * float("nan")


def shape_fuse(ir: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ir[..., :-1, :]


def brighter_fuse(ir: torch.Tensor, y: torch.Tensor, gain: float = 1.2) -> torch.Tensor:
    return (torch.maximum(ir, y) * gain).clamp(0, 1)


class GammaFusion:
    """A plain callable class (not a FusionMethod): instantiated with the parameters, then called."""

    def __init__(self, gamma: float = 0.8) -> None:
        self.gamma = gamma

    def __call__(self, ir: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (0.5 * (ir + y)).clamp(0, 1) ** self.gamma


def make_plugin_dir(folder: Path) -> Path:
    """A folder that, on sys.path, is an installed distribution with ivifbench entry points (methods and tasks)."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = folder / "ivifbench_testplugin-0.1.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ivifbench-testplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [ivifbench.methods]
            plugmean = ivifbench_testplugin:PlugMean

            [ivifbench.tasks]
            fake = test_sweep_fixtures:FakeTask
            """
        )
    )
    (folder / "ivifbench_testplugin.py").write_text(
        textwrap.dedent(
            """\
            from ivifbench.fusion.base import FusionMethod, MethodInfo


            class PlugMean(FusionMethod):
                info = MethodInfo(name="plugmean", version="1", trained_on=("msrs",), description="plugin mean")

                def fuse_grey(self, ir, y):
                    return 0.5 * (ir + y)
            """
        )
    )
    return folder


def subprocess_env(plugin_dir: Path | None = None) -> dict[str, str]:
    """Environment for a subprocess that must see these helpers (and the plugin folder)."""
    env = dict(os.environ)
    paths = [str(HERE)] + ([str(plugin_dir)] if plugin_dir else []) + [env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["OMP_NUM_THREADS"] = "1"
    return env


def register_fakes() -> None:
    """In this process: the fake task in TASKS (no plugin needed)."""
    from ivifbench.tasks import TASKS

    TASKS.register("fake", FakeTask, overwrite=True)


def write_suite(path: Path, **over: Any) -> Path:
    """A small sweep over synthetic MSRS (two splits) with the fake engine and task; ``over`` replaces keys."""
    suite: dict[str, Any] = {
        "name": "tiny",
        "version": 1,
        "device": "cpu",
        "methods": ["average", "max"],
        "datasets": [{"name": "msrs", "synthetic": {"pairs": 6, "seed": 0, "size": [64, 48]}}],
        "metrics": {
            "names": ["MEAN", "STD", "DIFF"],
            "convention": "canonical",
            "engine": "test_sweep_fixtures:score_folders",
        },
        "tasks": [{"name": "fake", "dataset": "msrs", "methods": ["average", "max"], "seeds": [0, 1]}],
        "report": {"formats": ["md", "csv"], "grid_images": 2},
    }
    suite.update(over)
    path.write_text(json.dumps(suite))  # JSON is YAML
    return path


def python() -> str:
    return sys.executable


def die_fuse(ir: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A method that takes its worker process down with it (as a crash in native code would)."""
    os._exit(3)
