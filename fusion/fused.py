"""The fused-image layout: where a method's fused image of a pair lives, the interface between fusion and everything
downstream (scoring, tasks, reports).

A :class:`FusedSet` is a folder of fused images named by pair id. With ``splits`` it holds one sub-folder per split
(``<root>/<split>/<id>.png``, the sweep's ``fused/<method>/<dataset>/`` and a task's input); without, the images are
flat (``<root>/<id>.png``, one fuse unit's split folder, or ``ivifbench fuse --out``). Writers always write PNG;
readers also accept the other image suffixes (a folder of published images).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ivifbench.imageio import IMAGE_SUFFIXES

__all__ = ["FusedSet"]

_LEDGER = ".ivifbench-written.json"  # the PNGs fuse units wrote in a folder: the only files prune may remove


@dataclass(frozen=True)
class FusedSet:
    """Fused images named by pair id, flat or in per-split folders."""

    root: Path
    per_split: bool = False

    def __init__(self, root: str | Path, per_split: bool = False) -> None:
        object.__setattr__(self, "root", Path(root))
        object.__setattr__(self, "per_split", per_split)

    @classmethod
    def detect(cls, root: str | Path, splits: Iterable[str]) -> FusedSet:
        """Per-split when ``root`` has a folder for any of ``splits``, else flat (the one rule every reader uses)."""
        root = Path(root)
        return cls(root, per_split=any((root / s).is_dir() for s in splits))

    def folder(self, split: str | None = None) -> Path:
        """The folder holding ``split``'s images."""
        if self.per_split:
            if split is None:
                raise ValueError(f"{self.root}: a per-split fused set needs the split")
            return self.root / split
        return self.root

    def path(self, pair_id: str, split: str | None = None) -> Path:
        """Where the fused image of ``pair_id`` is written (PNG)."""
        return self.folder(split) / f"{pair_id}.png"

    def find(self, pair_id: str, split: str | None = None) -> Path | None:
        """The fused image of ``pair_id`` under any image suffix, or ``None``."""
        folder = self.folder(split)
        for suffix in IMAGE_SUFFIXES:
            for cand in (folder / f"{pair_id}{suffix}", folder / f"{pair_id}{suffix.upper()}"):
                if cand.is_file():
                    return cand
        return None

    def files(self, ids: Iterable[str], split: str | None = None) -> dict[str, Path | None]:
        """``{id: file}`` for the ids under any image suffix (one folder listing); ``None`` where there is none."""
        by_stem: dict[str, Path] = {}
        for p in self.folder(split).iterdir():
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."):
                by_stem.setdefault(p.stem, p)
        return {i: by_stem.get(i) for i in ids}

    def missing(self, ids: Iterable[str], split: str | None = None) -> list[str]:
        """The ids whose fused PNG is not there, in the given order."""
        return [i for i in ids if not self.path(i, split).is_file()]

    def complete(self, ids: Iterable[str], split: str | None = None) -> bool:
        return not self.missing(ids, split)

    def __iter__(self) -> Iterator[tuple[str | None, str, Path]]:
        """``(split, id, path)`` of every fused PNG present (split ``None`` when flat), sorted."""
        folders = sorted(p for p in self.root.iterdir() if p.is_dir()) if self.per_split else [self.root]
        for folder in folders:
            split = folder.name if self.per_split else None
            for p in sorted(folder.glob("*.png")):
                yield split, p.stem, p

    def prune(self, ids: Iterable[str], split: str | None = None, written: Iterable[str] = ()) -> None:
        """Forget the ids not in ``ids``: remove the PNGs an earlier prune recorded as written here for them, and
        record ``written`` (what the caller just wrote). A file nobody recorded (a user's, another tool's) is never
        deleted, so a fused folder that overlaps someone's images loses nothing."""
        import json
        import os

        keep = set(ids)
        folder = self.folder(split)
        ledger = folder / _LEDGER
        try:
            before = set(json.loads(ledger.read_text()))
        except (OSError, ValueError):
            before = set()
        for stem in sorted(before - keep):
            (folder / f"{stem}.png").unlink(missing_ok=True)
        tmp = ledger.with_name(f"{ledger.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(sorted((before & keep) | set(written))))
        tmp.replace(ledger)
