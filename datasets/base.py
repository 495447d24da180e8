"""The dataset contract: a reader of one dataset's native layout, its check, and its synthetic replica.

Nothing is downloaded: the user names the root. Each reader lists the IR/visible pairs of a split, with the path of
the pair's label when the dataset has one (VOC XML for detection, an integer label PNG for segmentation, a binary
mask PNG for salient objects).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from ivifbench.errors import InputError
from ivifbench.registry import Registry

TaskKind = Literal["fusion", "detection", "segmentation", "sod"]


@dataclass(frozen=True)
class Pair:
    """One registered IR/visible pair."""

    id: str  # the file stem, unique within the dataset (fused images are named <id>.png)
    split: str
    ir: Path
    vis: Path
    label: Path | None = None  # VOC XML (detection), label PNG (segmentation) or GT mask PNG (sod)


@dataclass
class CheckReport:
    """What ``datasets check`` found: counts per split and every problem, one line each."""

    dataset: str
    root: Path
    counts: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts that are not problems (e.g. an optional label folder absent)

    @property
    def ok(self) -> bool:
        return not self.problems and sum(self.counts.values()) > 0


class DatasetReader:
    """Base class for a native-layout reader; one subclass per dataset."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    splits: ClassVar[tuple[str, ...]]
    tasks: ClassVar[tuple[TaskKind, ...]] = ("fusion",)
    classes: ClassVar[tuple[str, ...]] = ()  # detection or segmentation classes, in label-id order
    ignore_index: ClassVar[int | None] = None  # segmentation label value that is not scored
    # pairs `ivifbench datasets synth NAME` writes by default: enough for the dataset's task's quick protocol to learn
    synth_pairs: ClassVar[int] = 8

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"{self.root}: dataset root for '{self.name}' not found; pass the folder that holds it")

    def pairs(self, split: str | None = None) -> list[Pair]:
        """The pairs of ``split`` (every split when ``None``), sorted by id."""
        raise NotImplementedError

    def check(self, progress: bool = False) -> CheckReport:
        """Count pairs and labels per split and list every problem (missing partner, size mismatch, bad file...).

        ``progress`` may show a progress bar on stderr for large datasets.
        """
        raise NotImplementedError

    @classmethod
    def synthesize(cls, out: str | Path, pairs: int = 8, seed: int = 0, size: tuple[int, int] | None = None) -> Path:
        """Write a seeded synthetic replica in this dataset's native layout under ``out``; return its root.

        ``size`` is (width, height), default 256×192. The returned folder is what the reader takes as its root.
        """
        raise NotImplementedError

    def _require_split(self, split: str | None) -> tuple[str, ...]:
        if split is None:
            return self.splits
        if split not in self.splits:
            raise InputError(f"dataset '{self.name}' has no split '{split}' (splits: {', '.join(self.splits)})")
        return (split,)


DATASETS: Registry[type[DatasetReader]] = Registry("dataset", group="ivifbench.datasets")
