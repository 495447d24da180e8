"""``prepare``: fused images + VOC XML boxes → an ultralytics YOLO dataset with a declared, reproducible split.

Layout written under ``out``::

    images/{train,val,test}/<id>.<ext>   links (or copies) of the fused images (the visible images when fused is None)
    labels/{train,val,test}/<id>.txt     "<class> <cx> <cy> <w> <h>" per box, normalised (see boxes.py)
    data.yaml                            absolute paths, class names

Splits (``split=`` setting, :func:`assign_splits`):

* ``default``: M3FD → ``m3fd-voc2coco``; LLVIP → ``native``.
* ``m3fd-voc2coco``: the lists shipped in ``splits/m3fd_{train,val,test}.txt`` (M3FD has no official split; these are
  ganlumomo/voc2coco's 2727/633/840 image lists, see the files' headers). A root holding only some of the 4200 ids (a
  synthetic replica names its pairs 00000, 00001, ...) uses the lists restricted to the ids it has.
* ``native``: the reader's own splits (LLVIP train/test); a dataset without ``val`` validates on ``test``.
* ``hash``: ``crc32(id) % 10``: 0-6 train, 7 val, 8-9 test (any ids; reproducible, not comparable to papers).
* a folder holding ``train.txt``, ``test.txt`` and optionally ``val.txt`` (one id per line).
"""

from __future__ import annotations

import os
import shutil
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from PIL import Image, UnidentifiedImageError

from ivifbench.datasets.base import DatasetReader, Pair
from ivifbench.errors import InputError
from ivifbench.tasks.detection.boxes import YoloBox, clip_voc, voc_to_yolo
from ivifbench.tasks.inputs import InputImages, limit_pairs  # noqa: F401 (limit_pairs: the shared rule, re-exported)

ROLES = ("train", "val", "test")
SPLIT_DIR = Path(__file__).resolve().parent / "splits"
M3FD_SPLIT_FILES = {role: SPLIT_DIR / f"m3fd_{role}.txt" for role in ROLES}
DEFAULT_SPLIT = {"m3fd": "m3fd-voc2coco", "llvip": "native"}
ALIASES = {"people": "person", "pedestrian": "person", "motorbike": "motorcycle"}  # names that mean one class


def _canonical(name: str) -> str:
    key = name.strip().lower()
    return ALIASES.get(key, key)


@dataclass
class SplitPlan:
    """Which pairs train, validate and test, and where that came from."""

    name: str
    source: str
    roles: dict[str, list[Pair]]
    folders: dict[str, str]  # role → the images folder it uses ("val" may reuse "test")
    files: dict[str, str] = field(default_factory=dict)  # split files read
    unassigned: int = 0  # pairs of the root that no split names
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """A JSON-able summary for TaskResult.details."""
        return {
            "name": self.name,
            "source": self.source,
            "files": self.files,
            "pairs": {role: len(p) for role, p in self.roles.items()},
            "folders": self.folders,
            "unassigned_pairs": self.unassigned,
            "notes": self.notes,
        }


@dataclass
class ClassMap:
    """Dataset class name → the YOLO class id written in labels, and the YOLO names (``data.yaml``)."""

    ids: dict[str, int]
    names: list[str]
    unmapped: list[str] = field(default_factory=list)  # dataset classes the detector lacks (their boxes are dropped)

    @classmethod
    def identity(cls, classes: Sequence[str]) -> ClassMap:
        return cls({c: i for i, c in enumerate(classes)}, list(classes))

    @classmethod
    def onto(cls, classes: Sequence[str], detector_names: Sequence[str]) -> ClassMap:
        """Map dataset classes onto a trained detector's names (case-insensitive; People, pedestrian and person match)."""
        canon = {_canonical(n): i for i, n in reversed(list(enumerate(detector_names)))}  # first name wins
        ids: dict[str, int] = {}
        unmapped: list[str] = []
        for c in classes:
            hit = canon.get(_canonical(c))
            if hit is None:
                unmapped.append(c)
            else:
                ids[c] = hit
        if not ids:
            raise InputError(
                f"the detector's classes ({', '.join(detector_names[:12])}{' ...' if len(detector_names) > 12 else ''}) "
                f"include none of the dataset's ({', '.join(classes)}); evaluate a detector trained for these classes"
            )
        return cls(ids, list(detector_names), unmapped)


@dataclass
class PreparedSplit:
    """What one role's folder holds."""

    images: int
    boxes: dict[str, int]  # YOLO class name → boxes written


@dataclass
class PreparedDataset:
    """The written YOLO dataset."""

    root: Path
    data_yaml: Path
    class_map: ClassMap
    plan: SplitPlan
    splits: dict[str, PreparedSplit]
    dropped_difficult: int = 0
    clipped_boxes: int = 0
    dropped_empty_boxes: int = 0
    dropped_unmapped_boxes: int = 0
    xml_size_mismatch: list[str] = field(default_factory=list)
    input: str = "fused"

    def record(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "data_yaml": str(self.data_yaml),
            "input": self.input,
            "split": self.plan.record(),
            "images": {role: s.images for role, s in self.splits.items()},
            "boxes": {role: s.boxes for role, s in self.splits.items()},
            "dropped_difficult": self.dropped_difficult,
            "clipped_boxes": self.clipped_boxes,
            "dropped_empty_boxes": self.dropped_empty_boxes,
            "dropped_unmapped_boxes": self.dropped_unmapped_boxes,
            "xml_size_mismatch": self.xml_size_mismatch[:20],
            "unmapped_classes": self.class_map.unmapped,
        }


# ------------------------------------------------------------------------------------------------------------ splits
def _read_ids(path: Path) -> list[str]:
    from ivifbench.datasets.detection import read_split_file

    return read_split_file(path)


def _from_lists(name: str, source: str, pairs: Sequence[Pair], files: Mapping[str, Path]) -> SplitPlan:
    role_of: dict[str, str] = {}
    for role, path in files.items():
        for pid in _read_ids(path):
            if role_of.setdefault(pid, role) != role:
                raise InputError(f"{path}: id '{pid}' is also in the {role_of[pid]} list; a pair belongs to one split")
    roles: dict[str, list[Pair]] = {r: [] for r in ROLES}
    unassigned = 0
    for p in pairs:
        assigned = role_of.get(p.id)
        if assigned is None:
            unassigned += 1
        else:
            roles[assigned].append(p)
    return SplitPlan(name, source, roles, {}, {r: str(f) for r, f in files.items()}, unassigned)


def assign_splits(dataset: str, reader: DatasetReader, spec: str = "default") -> SplitPlan:
    """Assign the root's labelled pairs to train / val / test by ``spec`` (module docstring); ``val`` may reuse test."""
    spec = str(spec or "default")
    name = DEFAULT_SPLIT.get(dataset, "native") if spec == "default" else spec
    if name == "native":
        splits = [s for s in reader.splits if s in ROLES]
        if not splits:
            raise InputError(
                f"dataset '{dataset}' has no train/val/test split of its own (splits: {', '.join(reader.splits)}); "
                "use split=default, split=hash or split=FOLDER"
            )
        pairs = reader.pairs()
        roles = {r: [p for p in pairs if p.split == r] for r in ROLES}
        plan = SplitPlan("native", f"the {dataset} release's own split folders", roles, {})
        plan.unassigned = sum(1 for p in pairs if p.split not in ROLES)
    elif name == "m3fd-voc2coco":
        if dataset != "m3fd":
            raise InputError(f"split 'm3fd-voc2coco' is M3FD's; dataset '{dataset}' uses split=native, hash or FOLDER")
        plan = _from_lists(
            name,
            "ganlumomo/voc2coco m3fd-{train,val,test}.json image lists (not official; M3FD has no split)",
            reader.pairs(),
            M3FD_SPLIT_FILES,
        )
    elif name == "hash":
        pairs = reader.pairs()
        roles = {r: [] for r in ROLES}
        for p in pairs:
            k = zlib.crc32(p.id.encode()) % 10
            roles["train" if k < 7 else "val" if k == 7 else "test"].append(p)
        plan = SplitPlan("hash", "crc32(id) % 10: 0-6 train, 7 val, 8-9 test", roles, {})
    else:
        folder = Path(name).expanduser()
        if not folder.is_dir():
            raise InputError(
                f"split '{spec}': not 'default', 'native', 'm3fd-voc2coco', 'hash' or a folder of train/val/test.txt"
            )
        files = {r: folder / f"{r}.txt" for r in ROLES if (folder / f"{r}.txt").is_file()}
        for r in ("train", "test"):
            if r not in files:
                raise InputError(
                    f"{folder / f'{r}.txt'}: split file not found (a split folder needs train.txt and test.txt)"
                )
        plan = _from_lists(f"files:{folder}", f"split files in {folder}", reader.pairs(), files)
    for role in ROLES:
        plan.roles[role] = sorted(plan.roles[role], key=lambda p: p.id)
    plan.folders = {r: r for r in ROLES}
    if not plan.roles["val"] and plan.roles["test"]:
        plan.folders["val"] = "test"
        plan.roles["val"] = plan.roles["test"]
        plan.notes.append("no val pairs: validation during training uses the test split")
    return plan


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as img:
            return img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: unreadable or truncated image ({exc}); re-export or remove it") from exc


def _place(src: Path, dst: Path, link: str) -> None:
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    if link == "symlink":
        try:
            os.symlink(src.resolve(), dst)
            return
        except OSError:
            pass  # no symlinks here (e.g. Windows without privilege): copy
    shutil.copyfile(src, dst)


# ------------------------------------------------------------------------------------------------------------ prepare
def prepare(
    *,
    dataset: str,
    reader: DatasetReader,
    classes: Sequence[str],
    fused: InputImages | Path | None,
    out: Path,
    plan: SplitPlan,
    roles: Sequence[str] = ROLES,
    class_map: ClassMap | None = None,
    keep_difficult: bool = False,
    link: str = "symlink",
) -> PreparedDataset:
    """Write the YOLO dataset for ``roles`` of ``plan`` under ``out``.

    Args:
        dataset: the dataset name (for messages).
        reader: the dataset's reader (for nothing but messages today; the plan holds the pairs).
        classes: the dataset's class names.
        fused: the input images (:class:`~ivifbench.tasks.inputs.InputImages`), or a folder of fused images
            (``<split>/<id>.png`` or ``<id>.png``), or ``None`` for the visible images.
        out: folder to write (its ``images``/``labels``/``data.yaml`` are replaced).
        plan: the split plan (:func:`assign_splits`).
        roles: the roles to write (e.g. only ``test`` for the frozen protocol).
        class_map: how dataset classes become YOLO ids (default: the dataset's order).
        keep_difficult: keep VOC ``difficult`` boxes (default: dropped, as ultralytics' VOC conversion does).
        link: ``symlink`` (default; falls back to copying) or ``copy``.

    Raises:
        InputError: a fused image is missing (naming the first and how many), unreadable, or not the size of its pair;
            a label is missing or names a class outside ``classes``; a needed split is empty.
    """
    from ivifbench.datasets.labels import read_voc_xml

    if link not in ("symlink", "copy"):
        raise InputError(f"link must be 'symlink' or 'copy', got '{link}'")
    cmap = class_map or ClassMap.identity(classes)
    out = Path(out).absolute()
    folders = list(dict.fromkeys(plan.folders[r] for r in ROLES if r in roles))
    todo = {f: plan.roles[f] for f in folders}
    for folder, pairs in todo.items():
        if not pairs:
            raise InputError(
                f"{reader.root}: split '{plan.name}' gives no {folder} pairs for {dataset}"
                f" ({', '.join(f'{r} {len(p)}' for r, p in plan.roles.items())}); pass split=hash or a split folder"
            )

    # every input image first: one error naming the first missing image
    images = fused if isinstance(fused, InputImages) else InputImages.of(fused)
    images.check(reader, [p for pairs in todo.values() for p in pairs])
    sources = {p.id: images.path(reader, p) for pairs in todo.values() for p in pairs}

    prepared = PreparedDataset(out, out / "data.yaml", cmap, plan, {}, input=images.kind)
    for sub in ("images", "labels"):
        shutil.rmtree(out / sub, ignore_errors=True)
    known = set(classes)
    for folder, pairs in todo.items():
        img_dir, lab_dir = out / "images" / folder, out / "labels" / folder
        img_dir.mkdir(parents=True, exist_ok=True)
        lab_dir.mkdir(parents=True, exist_ok=True)
        counts = dict.fromkeys(cmap.names, 0)
        for p in pairs:
            if p.label is None:
                raise InputError(f"{reader.root}: pair '{p.id}' has no annotation (.xml); detection needs every label")
            src = sources[p.id]
            width, height = _image_size(src)
            if images.kind != "visible":
                vw, vh = _image_size(p.vis)
                if (vw, vh) != (width, height):
                    raise InputError(
                        f"{src}: {images.kind} image is {width}×{height} but pair '{p.id}' is {vw}×{vh}; "
                        "fuse at the source size (boxes are in source pixels)"
                    )
            ann = read_voc_xml(p.label)
            if (ann.width, ann.height) != (width, height):
                prepared.xml_size_mismatch.append(f"{p.label}: <size> {ann.width}×{ann.height}, image {width}×{height}")
            lines = []
            for obj in ann.objects:
                if obj.name not in known:
                    raise InputError(
                        f"{p.label}: class '{obj.name}' is not one of {dataset}'s classes ({', '.join(classes)})"
                    )
                if obj.difficult and not keep_difficult:
                    prepared.dropped_difficult += 1
                    continue
                if obj.name not in cmap.ids:
                    prepared.dropped_unmapped_boxes += 1
                    continue
                corners, clipped = clip_voc(obj.xmin, obj.ymin, obj.xmax, obj.ymax, width, height)
                if corners is None:
                    prepared.dropped_empty_boxes += 1
                    continue
                prepared.clipped_boxes += int(clipped)
                cid = cmap.ids[obj.name]
                lines.append(YoloBox(cid, *voc_to_yolo(*corners, width, height)).line())
                counts[cmap.names[cid]] += 1
            _place(src, img_dir / f"{p.id}{src.suffix.lower()}", link)
            (lab_dir / f"{p.id}.txt").write_text("".join(f"{line}\n" for line in lines))
        prepared.splits[folder] = PreparedSplit(len(pairs), {k: v for k, v in counts.items() if v})

    data = {
        "path": str(out),
        **{role: str(out / "images" / plan.folders[role]) for role in ROLES if plan.folders[role] in todo},
        "nc": len(cmap.names),
        "names": dict(enumerate(cmap.names)),
    }
    if "train" not in data:  # ultralytics' dataset check wants train and val keys; point train at the eval images
        data["train"] = data.get("val") or data["test"]
    if "val" not in data:
        data["val"] = data.get("test") or data["train"]
    prepared.data_yaml.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return prepared
