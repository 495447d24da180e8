"""Detection datasets with VOC XML boxes: M3FD (6 classes) and LLVIP (pedestrians)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from ivifbench.datasets.base import CheckReport, Pair
from ivifbench.datasets.folder_pairs import FolderPairReader, SplitDirs
from ivifbench.datasets.synth import Preset, Scene
from ivifbench.errors import InputError


def read_split_file(path: str | Path) -> list[str]:
    """Pair ids listed in a split file: one per line; a path or extension is stripped (``Ir/00001.png`` → ``00001``).

    Blank lines and lines starting with ``#`` are skipped.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such split file")
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            ids.append(Path(line.replace("\\", "/")).stem)
    if not ids:
        raise InputError(f"{path}: split file lists no ids")
    return ids


class M3FD(FolderPairReader):
    """M3FD (Liu et al., TarDAL, CVPR 2022): 4200 aligned 1024×768 pairs with 6-class VOC boxes.

    Layout: ``M3FD_Detection/{Ir,Vis}/<id>.png`` and ``M3FD_Detection/Annotation/<id>.xml`` (the root may be
    ``M3FD_Detection`` itself or the folder holding it; the 300-pair ``M3FD_Fusion/{Ir,Vis}`` reads as fusion-only, its
    missing ``Annotation/`` being a note, not a problem). M3FD has no official split: the reader gives split ``all``;
    pass ``split_files={"train": path, "val": path, ...}`` (one id per line) to add named splits.

    Class-id order is TarDAL's (the dataset authors' training config, also used by most M3FD detection code): People,
    Car, Bus, Motorcycle, Lamp, Truck. The voc2coco conversion in ``m3fd-labels.txt`` lists another order (People, Car,
    Motorcycle, Bus, Truck, Lamp); XML files carry class names, so the order only fixes ids.
    """

    name = "m3fd"
    synth_pairs = 100  # the m3fd quick-protocol reference replica (see the task's README)
    description = "M3FD: 4200 aligned IR/visible pairs, 6-class VOC boxes (no official split)"
    splits: ClassVar[tuple[str, ...]] = ("all",)
    tasks = ("fusion", "detection")
    classes = ("People", "Car", "Bus", "Motorcycle", "Lamp", "Truck")
    native_dirname = "M3FD_Detection"
    layout: ClassVar[dict[str, SplitDirs]] = {"all": SplitDirs("Ir", "Vis", "Annotation")}
    label_kind = "voc"
    label_suffix = ".xml"
    labels_optional = True  # M3FD_Fusion ({Ir,Vis}, 300 pairs, no boxes) reads as fusion-only, with a note
    ir_stored_rgb = True  # the release stores grey IR as RGB PNG
    preset = Preset(
        {0: "person", 1: "car", 2: "bus", 3: "motorcycle", 4: "lamp", 5: "truck"}, objects=(2, 5), night=0.4
    )

    def __init__(self, root: str | Path, split_files: Mapping[str, str | Path] | None = None) -> None:
        super().__init__(root)
        self.split_ids: dict[str, list[str]] = {}
        for split, path in (split_files or {}).items():
            if split == "all":
                raise InputError(f"{path}: 'all' is M3FD's built-in split; name the split file's split differently")
            self.split_ids[split] = read_split_file(path)
        self.splits = ("all", *self.split_ids)  # type: ignore[misc]  # per instance: the split files add splits

    def pairs(self, split: str | None = None) -> list[Pair]:
        """Pairs of ``all`` or of a split file (in the file's ids, sorted); ``None`` gives ``all``."""
        if split is None or split == "all":
            return super().pairs("all")
        self._require_split(split)
        by_id = {p.id: p for p in super().pairs("all")}
        missing = [i for i in self.split_ids[split] if i not in by_id]
        if missing:
            raise InputError(
                f"split '{split}' lists '{missing[0]}', which is not in {self.root}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + "; fix the split file or the dataset"
            )
        return sorted(
            (Pair(i, split, by_id[i].ir, by_id[i].vis, by_id[i].label) for i in set(self.split_ids[split])),
            key=lambda p: p.id,
        )

    def check(self, progress: bool = False) -> CheckReport:
        """Check ``all``; each split file is counted and its unknown ids are problems."""
        splits = self.splits
        self.splits = ("all",)  # type: ignore[misc]
        try:
            report = super().check(progress)
        finally:
            self.splits = splits  # type: ignore[misc]
        known = set(super()._scan("all").pairs)
        for split, ids in self.split_ids.items():
            report.counts[split] = sum(1 for i in set(ids) if i in known)
            for i in ids:
                if i not in known:
                    report.problems.append(f"split '{split}' lists '{i}', which has no pair in {self.root}")
        return report


class LLVIP(FolderPairReader):
    """LLVIP (Jia et al., ICCVW 2021): 15488 low-light 1280×1024 pairs with pedestrian VOC boxes.

    Layout: ``LLVIP/{infrared,visible}/{train,test}/<id>.jpg`` and ``LLVIP/Annotations/<id>.xml`` (one annotation
    folder for both splits; the root may be ``LLVIP`` itself or the folder holding it). Class: person.
    """

    name = "llvip"
    synth_pairs = 100  # the llvip quick-protocol reference replica (see the task's README)
    description = "LLVIP: 15488 low-light IR/visible pairs, pedestrian VOC boxes (train/test)"
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    tasks = ("fusion", "detection")
    classes = ("person",)
    native_dirname = "LLVIP"
    layout: ClassVar[dict[str, SplitDirs]] = {
        "train": SplitDirs("infrared/train", "visible/train", "Annotations"),
        "test": SplitDirs("infrared/test", "visible/test", "Annotations"),
    }
    label_kind = "voc"
    label_suffix = ".xml"
    ir_ext = ".jpg"
    vis_ext = ".jpg"
    ir_stored_rgb = True  # the release stores grey IR as RGB JPEG
    synth_shares: ClassVar[dict[str, float]] = {"train": 0.75, "test": 0.25}
    preset = Preset({0: "person"}, objects=(1, 5), night=0.85)

    @classmethod
    def synth_stem(cls, index: int, split: str, k: int, scene: Scene) -> str:
        """LLVIP names: train from 010001, test from 190001."""
        return f"{(10001 if split == 'train' else 190001) + k:06d}"
