"""The machinery shared by the native-layout readers: folder pairing, the check, and writing replicas.

A reader of a layout where each split has an IR folder, a visible folder and (optionally) a label folder, paired by file
stem, only declares its layout (:class:`SplitDirs` per split), its label kind and its replica preset. Layouts that do
not pair by stem in two folders (KAIST, FLIR-aligned) override :meth:`FolderPairReader._scan`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from PIL import Image

from ivifbench.datasets.base import CheckReport, DatasetReader, Pair
from ivifbench.datasets.labels import (
    VocAnnotation,
    VocObject,
    box_problems,
    read_label_map,
    read_mask,
    read_voc_xml,
    write_label_map,
    write_mask,
    write_voc_xml,
)
from ivifbench.datasets.synth import DEFAULT_SIZE, Preset, Scene, pair_rng, render
from ivifbench.errors import InputError
from ivifbench.imageio import IMAGE_SUFFIXES, read_image
from ivifbench.paths import temp_sibling

LabelKind = Literal["voc", "seg", "mask"]


@dataclass(frozen=True)
class SplitDirs:
    """The folders of one split, relative to the dataset root."""

    ir: str
    vis: str
    label: str | None = None


@dataclass
class Scan:
    """What the folders of one split hold: paired ids and every pairing problem."""

    pairs: dict[str, tuple[Path, Path]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    missing: bool = False  # the split's folders are not there at all
    seen: set[str] = field(default_factory=set)  # every id with at least one image (paired or not)


def list_by_stem(folder: Path, problems: list[str], suffixes: Iterable[str] = IMAGE_SUFFIXES) -> dict[str, Path]:
    """Image files of ``folder`` by stem; a stem held by two files is a problem (and the stem is dropped)."""
    found: dict[str, Path] = {}
    dup: set[str] = set()
    allowed = tuple(suffixes)
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file() or p.suffix.lower() not in allowed:
            continue
        if p.stem in found:
            problems.append(f"{p}: another file ({found[p.stem].name}) has the stem '{p.stem}'; keep one")
            dup.add(p.stem)
            continue
        found[p.stem] = p
    for stem in dup:
        found.pop(stem, None)
    return found


def pair_by_stem(ir_dir: Path, vis_dir: Path) -> Scan:
    """Pair two folders by file stem; files without a partner are problems naming them."""
    scan = Scan()
    if not ir_dir.is_dir() and not vis_dir.is_dir():
        scan.missing = True
        return scan
    for d in (ir_dir, vis_dir):
        if not d.is_dir():
            scan.problems.append(f"{d}/: missing folder (its partner folder exists)")
    ir = list_by_stem(ir_dir, scan.problems) if ir_dir.is_dir() else {}
    vis = list_by_stem(vis_dir, scan.problems) if vis_dir.is_dir() else {}
    for stem in sorted(set(ir) - set(vis)):
        if vis_dir.is_dir():
            scan.problems.append(f"{ir[stem]}: no visible partner '{stem}.*' in {vis_dir}/")
    for stem in sorted(set(vis) - set(ir)):
        if ir_dir.is_dir():
            scan.problems.append(f"{vis[stem]}: no infrared partner '{stem}.*' in {ir_dir}/")
    scan.pairs = {s: (ir[s], vis[s]) for s in sorted(set(ir) & set(vis))}
    scan.seen = set(ir) | set(vis)
    return scan


def _encode(path: Path, pixels: np.ndarray) -> None:
    """Write uint8 pixels as PNG or JPEG (quality 95) by the path's suffix, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    kwargs = {"quality": 95, "subsampling": 0} if fmt == "JPEG" else {"compress_level": 1}
    Image.fromarray(pixels).save(tmp, format=fmt, **kwargs)
    tmp.replace(path)


def check_workers() -> int:
    """Threads for decoding images in a check (decoding releases the GIL)."""
    return max(1, min(4, os.cpu_count() or 1))


class FolderPairReader(DatasetReader):
    """A reader of a layout with IR, visible and label folders per split, paired by file stem."""

    native_dirname: ClassVar[str | None] = None  # the dataset's own top folder, which the given root may hold
    layout: ClassVar[dict[str, SplitDirs]] = {}
    label_kind: ClassVar[LabelKind | None] = None
    label_suffix: ClassVar[str] = ".png"
    labels_optional: ClassVar[bool] = False  # True: a split without its label folder is fusion-only (a note)
    palette: ClassVar[tuple[tuple[int, int, int], ...] | None] = None  # colour of each class id (RGB labels)
    # the replica
    preset: ClassVar[Preset | None] = None
    ir_ext: ClassVar[str] = ".png"
    vis_ext: ClassVar[str] = ".png"
    ir_stored_rgb: ClassVar[bool] = False  # the real files store grey IR as three equal channels
    vis_stored_rgb: ClassVar[bool] = False  # grey visible (TNO) stored as three equal channels
    synth_shares: ClassVar[dict[str, float]] = {}  # fraction of replica pairs per split (default: all in one)

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self.root = self._resolve_root(self.root)

    # ------------------------------------------------------------------------------------------------ layout
    def _looks_like(self, root: Path) -> bool:
        return any((root / d.ir).is_dir() or (root / d.vis).is_dir() for d in self.layout.values())

    def _expected(self) -> str:
        dirs = sorted({f"{d.ir}/" for d in self.layout.values()} | {f"{d.vis}/" for d in self.layout.values()})
        return ", ".join(dirs[:4])

    def _resolve_root(self, root: Path) -> Path:
        if self._looks_like(root):
            return root
        if self.native_dirname and self._looks_like(root / self.native_dirname):
            return root / self.native_dirname
        under = f" or under {self.native_dirname}/" if self.native_dirname else ""
        raise InputError(
            f"{root}: not a {self.name} root (expected {self._expected()} here{under}); pass the folder that holds them"
        )

    def _scan(self, split: str) -> Scan:
        d = self.layout[split]
        return pair_by_stem(self.root / d.ir, self.root / d.vis)

    def _label_dir(self, split: str) -> Path | None:
        d = self.layout.get(split)
        return self.root / d.label if d is not None and d.label else None

    def _label_path(self, split: str, pair_id: str) -> Path | None:
        folder = self._label_dir(split)
        return folder / f"{pair_id}{self.label_suffix}" if folder is not None else None

    # ------------------------------------------------------------------------------------------------ pairs
    def pairs(self, split: str | None = None) -> list[Pair]:
        """The pairs of ``split`` (every split present when ``None``), sorted by id.

        Raises:
            InputError: the split's folders are missing, or a file lacks its partner (run ``datasets check`` for the
                full list).
        """
        out: list[Pair] = []
        present = 0
        for s in self._require_split(split):
            scan = self._scan(s)
            if scan.missing:
                if split is not None:
                    d = self.layout.get(s)
                    where = f"{self.root / d.ir}/" if d else f"{self.root}"
                    raise InputError(f"{where}: split '{s}' of {self.name} is not there; check the dataset root")
                continue
            present += 1
            if scan.problems:
                more = f" (and {len(scan.problems) - 1} more)" if len(scan.problems) > 1 else ""
                raise InputError(
                    f"{scan.problems[0]}{more}; run `ivifbench datasets check {self.name} {self.root}` for the list"
                )
            for pid, (ir, vis) in scan.pairs.items():
                label = self._label_path(s, pid)
                out.append(Pair(pid, s, ir, vis, label if label is not None and label.is_file() else None))
        if not present:
            raise InputError(f"{self.root}: no split of {self.name} found (expected {self._expected()})")
        order = {s: i for i, s in enumerate(self.splits)}
        return sorted(out, key=lambda p: (order.get(p.split, len(order)), p.id))

    # ------------------------------------------------------------------------------------------------ check
    def check(self, progress: bool = False) -> CheckReport:
        """Count pairs and labels per split and list every problem, one line each naming the file.

        Every image is decoded (truncated files are found), in a few threads. ``progress`` shows a bar on stderr for
        datasets of 200 pairs or more.
        """
        report = CheckReport(self.name, self.root)
        jobs: list[tuple[str, str, Path, Path, Path | None]] = []
        seen_ids: dict[str, set[str]] = {}
        for s in self.splits:
            scan = self._scan(s)
            report.counts[s] = len(scan.pairs)
            report.labels[s] = 0
            seen_ids[s] = set(scan.pairs) | scan.seen
            if scan.missing:
                report.problems.append(self._missing_split(s))
                continue
            report.problems.extend(scan.problems)
            if not scan.pairs and not scan.problems:
                report.problems.append(f"{self.root}: split '{s}' has no images")
            label_dir = self._label_dir(s) if self.label_kind else None
            use_labels = label_dir is not None
            if label_dir is not None and not label_dir.is_dir():
                use_labels = False
                if self.labels_optional:
                    report.notes.append(f"{label_dir}/: not present; its pairs are usable for fusion only")
                else:
                    report.problems.append(f"{label_dir}/: missing label folder")
            for pid, (ir, vis) in scan.pairs.items():
                jobs.append((s, pid, ir, vis, self._label_path(s, pid) if use_labels else None))
        with ThreadPoolExecutor(check_workers()) as pool:
            results = pool.map(lambda job: self._check_pair(*job), jobs)
            if progress and len(jobs) >= 200:
                from ivifbench.progress import track

                results = track(results, len(jobs), f"checking {self.name}")
            for (s, *_), (problems, labelled) in zip(jobs, results, strict=True):
                report.problems.extend(problems)
                report.labels[s] += int(labelled)
        report.problems.extend(self._orphan_labels(seen_ids))
        report.problems.extend(self._extra_checks(seen_ids))
        # one line each, each once (splits that share a label folder would repeat its problems)
        report.problems = list(dict.fromkeys(" ".join(p.splitlines()) for p in report.problems))
        report.notes = list(dict.fromkeys(report.notes))
        return report

    def _missing_split(self, split: str) -> str:
        d = self.layout[split]
        return f"{self.root / d.ir}/ and {self.root / d.vis}/: split '{split}' is missing"

    def _extra_checks(self, seen_ids: dict[str, set[str]]) -> list[str]:
        return []

    def _orphan_labels(self, seen_ids: dict[str, set[str]]) -> list[str]:
        """Label files whose image pair is not there."""
        if not self.label_kind:
            return []
        all_ids = set().union(*seen_ids.values()) if seen_ids else set()
        by_dir: dict[Path, set[str]] = {}
        for s in self.splits:
            folder = self._label_dir(s)
            if folder is not None:
                by_dir.setdefault(folder, set()).update(seen_ids.get(s, set()))
        out = []
        for folder, ids in by_dir.items():
            if not folder.is_dir():
                continue
            shared = sum(1 for s in self.splits if self._label_dir(s) == folder) > 1
            for p in sorted(folder.iterdir()):
                if p.suffix.lower() != self.label_suffix or p.name.startswith(".") or not p.is_file():
                    continue
                if p.stem not in (all_ids if shared else ids):
                    out.append(f"{p}: label without an image pair; remove it or add the images")
        return out

    def _check_pair(
        self, split: str, pid: str, ir_path: Path, vis_path: Path, label: Path | None
    ) -> tuple[list[str], bool]:
        problems: list[str] = []
        size = None
        try:
            ir = read_image(ir_path, "ir")
            size = ir.size
        except InputError as exc:
            problems.append(str(exc))
        try:
            vis = read_image(vis_path, "vis")
            if size is not None and vis.size != size:
                problems.append(
                    f"{ir_path} is {size[1]}×{size[0]} but {vis_path} is {vis.size[1]}×{vis.size[0]}; "
                    "the pair must be registered to one size"
                )
            size = size or vis.size
        except InputError as exc:
            problems.append(str(exc))
        if label is None:
            return problems, False
        if not label.is_file():
            problems.append(f"{label}: missing label for pair '{pid}' ({ir_path.name})")
            return problems, False
        try:
            problems.extend(self._check_label(label, size))
        except InputError as exc:
            problems.append(str(exc))
        return problems, True

    def _check_label(self, label: Path, size: tuple[int, int] | None) -> list[str]:
        """Problems of one label file against the class list and the pair's (height, width)."""
        if self.label_kind == "voc":
            ann = read_voc_xml(label)
            if size is None:
                return []
            return [f"{label}: {p}" for p in box_problems(ann, self.classes, size[1], size[0])]
        if self.label_kind == "seg":
            ids = read_label_map(label, self.palette)
            out = []
            if size is not None and ids.shape != size:
                out.append(f"{label} is {ids.shape[1]}×{ids.shape[0]} but its images are {size[1]}×{size[0]}")
            valid = set(range(len(self.classes)))
            if self.ignore_index is not None:
                valid.add(self.ignore_index)
            bad = sorted(set(np.unique(ids).tolist()) - valid)
            if bad:
                shown = ", ".join(map(str, bad[:6])) + (" ..." if len(bad) > 6 else "")
                ign = f" or {self.ignore_index} (ignored)" if self.ignore_index is not None else ""
                out.append(
                    f"{label}: label ids {shown} outside the {len(self.classes)} classes (0..{len(self.classes) - 1}{ign})"
                )
            return out
        if self.label_kind == "mask":
            mask = read_mask(label)
            out = []
            if size is not None and mask.shape != size:
                out.append(f"{label} is {mask.shape[1]}×{mask.shape[0]} but its images are {size[1]}×{size[0]}")
            if not mask.any():
                with Image.open(label) as img:
                    top = int(np.asarray(img.convert("L")).max(initial=0))
                if 0 < top <= 127:
                    out.append(f"{label}: mask values are at most {top}; GT masks must be 0/255 (foreground > 127)")
                else:
                    out.append(f"{label}: empty mask (no foreground pixel)")
            return out
        return []

    # ------------------------------------------------------------------------------------------------ replica
    @classmethod
    def synth_plan(cls, pairs: int) -> list[tuple[str, int]]:
        """(split, index within the split) of each replica pair, in order; each split gets at least one pair when it can."""
        shares = cls.synth_shares or {cls.splits[0]: 1.0}
        names = list(shares)
        counts = {s: round(pairs * shares[s]) for s in names}
        if pairs >= len(names):
            for s in names:
                counts[s] = max(1, counts[s])
        while sum(counts.values()) > pairs:
            big = max(names, key=lambda s: counts[s])
            counts[big] -= 1
        while sum(counts.values()) < pairs:
            counts[names[0]] += 1
        return [(s, k) for s in names for k in range(counts[s])]

    @classmethod
    def synth_stem(cls, index: int, split: str, k: int, scene: Scene) -> str:
        """The file stem of replica pair ``index`` (the ``k``-th of its split), drawn as ``scene``."""
        return f"{index:05d}"

    @classmethod
    def synth_paths(cls, root: Path, split: str, stem: str) -> tuple[Path, Path, Path | None]:
        """Where a replica pair's IR, visible and label files go."""
        d = cls.layout[split]
        label = root / d.label / f"{stem}{cls.label_suffix}" if d.label and cls.label_kind else None
        return root / d.ir / f"{stem}{cls.ir_ext}", root / d.vis / f"{stem}{cls.vis_ext}", label

    @classmethod
    def synth_root(cls, out: Path) -> Path:
        """The folder the replica's layout starts in (``out`` or ``out/<native_dirname>``)."""
        return out / cls.native_dirname if cls.native_dirname else out

    @classmethod
    def synthesize(cls, out: str | Path, pairs: int = 8, seed: int = 0, size: tuple[int, int] | None = None) -> Path:
        """Write a seeded synthetic replica in this dataset's native layout under ``out``; return ``out``.

        Args:
            out: the folder to write into (created); the reader accepts it as the dataset root.
            pairs: number of pairs over all splits (each split gets at least one when ``pairs`` allows).
            seed: the seed; the same seed gives identical files, and pair ``i`` does not depend on ``pairs``.
            size: ``(width, height)``; default 256×192.
        """
        if cls.preset is None:
            raise InputError(f"dataset '{cls.name}' has no synthetic replica")
        if pairs < 1:
            raise InputError(f"--pairs must be at least 1 (got {pairs})")
        w, h = size or DEFAULT_SIZE
        if w < 64 or h < 48:
            raise InputError(f"replica size {w}×{h} is too small; use at least 64×48")
        out = Path(out)
        root = cls.synth_root(out)
        if root.is_dir() and any(root.iterdir()):
            raise InputError(f"{root}: not empty; write the {cls.name} replica to a new folder (or remove this one)")
        for index, (split, k) in enumerate(cls.synth_plan(pairs)):
            scene = render(pair_rng(seed, cls.name, index), (w, h), cls.preset)
            stem = cls.synth_stem(index, split, k, scene)
            ir_path, vis_path, label_path = cls.synth_paths(root, split, stem)
            ir = np.repeat(scene.ir[..., None], 3, -1) if cls.ir_stored_rgb else scene.ir
            _encode(ir_path, ir)
            vis = np.repeat(scene.vis[..., None], 3, -1) if scene.vis.ndim == 2 and cls.vis_stored_rgb else scene.vis
            _encode(vis_path, vis)
            if label_path is not None:
                cls.write_label(label_path, scene, vis_path.name, root)
        cls.synth_extras(out, root, pairs, seed)
        return out

    @classmethod
    def synth_extras(cls, out: Path, root: Path, pairs: int, seed: int) -> None:
        """Hook for files a layout needs beyond the pairs (split lists...)."""

    @classmethod
    def write_label(cls, path: Path, scene: Scene, image_name: str, root: Path) -> None:
        """Write one replica label in the dataset's format."""
        h, w = scene.label.shape
        if cls.label_kind == "voc":
            objects = []
            for inst in scene.instances:
                box = inst.box()
                if box is not None:
                    objects.append(VocObject(cls.classes[inst.class_id], *box, difficult=0))
            write_voc_xml(path, VocAnnotation(image_name, w, h, objects, depth=3, folder=root.name))
        elif cls.label_kind == "seg":
            write_label_map(path, scene.label)
        elif cls.label_kind == "mask":
            write_mask(path, scene.salient)
