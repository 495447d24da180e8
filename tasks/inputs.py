"""What a task's network sees for each pair: the fused image, or the visible or infrared image (baselines).

The one rule for finding a pair's fused image, shared by every task: the fused folder is a
:class:`~ivifbench.fusion.fused.FusedSet`, per-split (``<folder>/<split>/<id>.<ext>``, the sweep's
``fused/<method>/<dataset>/`` layout; the split name matched as written, in lower case or capitalised) when it holds a
folder for one of the dataset's splits, else flat (``<folder>/<id>.<ext>``). A flat folder is refused for a dataset
that reuses ids across splits, where it would be ambiguous. And the one ``limit`` rule: at most N pairs per split, the first pair of
each of N equal strata of the id-sorted split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ivifbench.errors import InputError
from ivifbench.fusion.fused import FusedSet
from ivifbench.imageio import Role

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
    _dirs: dict[str, str] = field(default_factory=dict, repr=False)  # split → its folder's name
    _set: FusedSet | None = field(default=None, repr=False)

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

    @property
    def role(self) -> Role:
        """How :func:`~ivifbench.imageio.read_image` should check this input's images."""
        roles: dict[str, Role] = {"fused": "fused", "visible": "vis", "infrared": "ir"}
        return roles[self.kind]

    def record(self) -> dict[str, Any]:
        return {"input": self.kind, "fused": str(self.folder) if self.folder is not None else None}

    def _fused_set(self, reader: Any) -> FusedSet:
        assert self.folder is not None
        if self._set is None:
            for split in getattr(reader, "splits", ()) or ():
                for name in dict.fromkeys((split, split.lower(), split.capitalize())):
                    if (self.folder / name).is_dir():
                        self._dirs[split] = name
            self._set = FusedSet(self.folder, per_split=bool(self._dirs))
            if not self._set.per_split:
                dup = _ids_in_several_splits(reader)
                if dup:
                    raise InputError(
                        f"{self.folder}: no per-split folders, and {reader.name} reuses ids across splits (e.g. "
                        f"'{sorted(dup)[0]}'), so a flat fused folder is ambiguous; put the fused images in "
                        f"{self.folder}/<split>/"
                    )
        return self._set

    def _split_dir(self, reader: Any, split: str) -> Path:
        fused = self._fused_set(reader)
        return fused.folder(self._dirs.get(split, split) if fused.per_split else None)

    def find(self, reader: Any, pair: Any) -> Path | None:
        """The image this input gives ``pair``, or ``None`` when its fused image is missing."""
        if self.kind == "visible":
            return Path(pair.vis)
        if self.kind == "infrared":
            return Path(pair.ir)
        fused = self._fused_set(reader)
        return fused.find(pair.id, self._dirs.get(pair.split, pair.split) if fused.per_split else None)

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
