"""What a task's network sees for each pair: the fused image, or the visible or infrared image (baselines).

The one rule for finding a pair's fused image, shared by every task: ``<folder>/<split>/<id>.<ext>`` when that split
folder exists (the sweep's ``fused/<method>/<dataset>/<split>/`` layout; the split name matched as written, in lower
case or capitalised), else the flat ``<folder>/<id>.<ext>``. A flat folder is refused for a dataset that reuses ids
across splits, where it would be ambiguous. And the one ``limit`` rule: at most N pairs per split, the first pair of
each of N equal strata of the id-sorted split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ivifbench.errors import InputError
from ivifbench.imageio import IMAGE_SUFFIXES

__all__ = ["INPUT_KINDS", "InputImages", "limit_pairs"]

InputKind = Literal["fused", "visible", "infrared"]
INPUT_KINDS: tuple[str, ...] = ("fused", "visible", "infrared")


def limit_pairs(pairs: Sequence[Any], limit: int | None) -> list[Any]:
    """At most ``limit`` pairs: split the list into ``limit`` equal strata and keep the first of each (deterministic).

    For 10 pairs and ``limit=3`` that is pairs 0, 3 and 6. Every task uses this rule, so one ``limit`` gives every
    task of a sweep the same images of a split.
    """
    pairs = list(pairs)
    if limit is None or len(pairs) <= limit:
        return pairs
    if limit < 1:
        raise InputError(f"limit must be a positive integer, got {limit}")
    step = len(pairs) / limit
    return [pairs[int(i * step)] for i in range(limit)]


@dataclass
class InputImages:
    """The images a task trains and evaluates on: a method's fused folder, or one modality of the dataset."""

    kind: InputKind = "visible"
    folder: Path | None = None  # the fused-image folder (kind "fused" only)
    _dirs: dict[str, Path] = field(default_factory=dict, repr=False)
    _dup_ids: set[str] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, fused: str | Path | None, modality: str | None = None) -> InputImages:
        """``fused`` folder → fused images; otherwise ``modality`` (``visible``, the default, or ``infrared``)."""
        if fused is not None:
            if modality not in (None, "fused"):
                raise InputError(f"input '{modality}' and a fused folder ({fused}) were both given; pass one")
            folder = Path(fused)
            if not folder.is_dir():
                raise InputError(f"{folder}: fused-image folder not found")
            return cls("fused", folder)
        kind = modality or "visible"
        if kind not in ("visible", "infrared"):
            raise InputError(f"input must be visible or infrared without a fused folder, got {kind!r}")
        return cls(kind)  # type: ignore[arg-type]

    def record(self) -> dict[str, Any]:
        return {"input": self.kind, "fused": str(self.folder) if self.folder is not None else None}

    def _split_dir(self, reader: Any, split: str) -> Path:
        assert self.folder is not None
        if split in self._dirs:
            return self._dirs[split]
        for child in (self.folder / split, self.folder / split.lower(), self.folder / split.capitalize()):
            if child.is_dir():
                self._dirs[split] = child
                return child
        if self._dup_ids is None:
            self._dup_ids = _ids_in_several_splits(reader)
        if self._dup_ids:
            example = sorted(self._dup_ids)[0]
            raise InputError(
                f"{self.folder / split}: no per-split folder, and {reader.name} reuses ids across splits (e.g. "
                f"'{example}'), so a flat fused folder is ambiguous; put the fused images in {self.folder}/<split>/"
            )
        self._dirs[split] = self.folder
        return self.folder

    def find(self, reader: Any, pair: Any) -> Path | None:
        """The image this input gives ``pair``, or ``None`` when its fused image is missing."""
        if self.kind == "visible":
            return Path(pair.vis)
        if self.kind == "infrared":
            return Path(pair.ir)
        folder = self._split_dir(reader, pair.split)
        for suffix in IMAGE_SUFFIXES:
            for cand in (folder / f"{pair.id}{suffix}", folder / f"{pair.id}{suffix.upper()}"):
                if cand.is_file():
                    return cand
        return None

    def path(self, reader: Any, pair: Any) -> Path:
        """The image this input gives ``pair``; raises a one-line :class:`InputError` when it is missing."""
        found = self.find(reader, pair)
        if found is None:
            raise InputError(self._missing(reader, [pair]))
        return found

    def check(self, reader: Any, pairs: Sequence[Any]) -> None:
        """Every pair has its image, or one error naming the first missing one and how many are missing."""
        if self.kind != "fused":
            return
        missing = [p for p in pairs if self.find(reader, p) is None]
        if missing:
            raise InputError(self._missing(reader, missing))

    def _missing(self, reader: Any, missing: Sequence[Any]) -> str:
        first = missing[0]
        where = self._split_dir(reader, first.split) / f"{first.id}.png"
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        return (
            f"{where}: no fused image for pair '{first.id}' ({first.split}){more}; fuse that split first or pass "
            "the right --fused folder"
        )


def _ids_in_several_splits(reader: Any) -> set[str]:
    splits = list(getattr(reader, "splits", ()) or ())
    if len(splits) < 2:
        return set()
    seen: set[str] = set()
    dup: set[str] = set()
    for split in splits:
        try:
            ids = {p.id for p in reader.pairs(split)}
        except InputError:
            continue
        dup |= ids & seen
        seen |= ids
    return dup
