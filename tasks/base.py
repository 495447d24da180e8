"""The downstream-task contract (DESIGN.md, "Contracts").

A task turns one method's fused images plus the dataset's labels into the task's native dataset (``prepare``), trains
and evaluates a model (``run``), and returns named numbers. ``quick`` protocols run in minutes on a CPU; ``paper``
protocols use the published settings on a GPU.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ivifbench.errors import IvifError
from ivifbench.registry import Registry


@dataclass
class TaskResult:
    """What one task run produced: flat named numbers (``metrics``), nested details, and how they were made."""

    task: str
    dataset: str
    protocol: str
    seed: int
    metrics: dict[str, float]  # e.g. {"mAP50": .., "AP50/Car": ..}; per-class keys are "<name>/<class>"
    details: dict[str, Any] = field(default_factory=dict)  # protocol settings, versions, timings, paths

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        return path


class Task:
    """Base class for a downstream task."""

    name: ClassVar[str]
    datasets: ClassVar[tuple[str, ...]]
    protocols: ClassVar[tuple[str, ...]] = ("quick", "paper")
    version: ClassVar[str] = "1"
    # metric name -> higher_is_better, for the report's arrows and ranks
    metric_directions: ClassVar[dict[str, bool]] = {}

    @classmethod
    def check_request(cls, dataset: str, protocol: str) -> None:
        """Raise a one-line :class:`IvifError` unless this task supports ``dataset`` and ``protocol``."""
        if dataset not in cls.datasets:
            raise IvifError(
                f"task '{cls.name}' does not support dataset '{dataset}' (supported: {', '.join(cls.datasets)})"
            )
        if protocol not in cls.protocols:
            raise IvifError(f"task '{cls.name}' has no protocol '{protocol}' (protocols: {', '.join(cls.protocols)})")

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
        """Prepare, train and evaluate one method's fused images; write ``out/metrics.json``; return the result.

        Args:
            dataset: dataset name (e.g. ``"m3fd"``).
            root: the dataset root in its native layout (labels are read from here).
            fused: folder of fused images named by pair id (``<id>.png``); ``None`` means the visible images.
            out: a folder this run owns.
            protocol: ``"quick"`` or ``"paper"``.
            seed: the training seed.
            overrides: protocol settings to change (e.g. ``epochs=3``), recorded in the result.
        """
        raise NotImplementedError


TASKS: Registry[type[Task]] = Registry("task", group="ivifbench.tasks")
TASKS.register("detection", "ivifbench.tasks.detection:DetectionTask")
TASKS.register("segmentation", "ivifbench.tasks.segmentation:SegmentationTask")
TASKS.register("sod", "ivifbench.tasks.sod:SODTask")
