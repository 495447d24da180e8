"""``prepare``: one method's fused images + the dataset's label PNGs → an mmseg dataset folder.

Layout written under ``out``::

    img_dir/<split>/<id>.png   the network input: the fused image as 8-bit RGB (grey fused images are replicated);
                               the visible image when there is no fused folder
    ann_dir/<split>/<id>.png   8-bit grey train ids (0..K-1), 255 = ignore (mmseg's)
    classes.json               class names, palette, ignore index, background policy, per-split pixel counts

Fused images are found by the tasks' one rule (:mod:`ivifbench.tasks.inputs`). Labels are read as integers with
:func:`ivifbench.datasets.labels.read_label_map` and never scaled; an id that is not a class (nor the dataset's ignore
value) is an error naming the file. A fused image whose size differs from its label is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ivifbench.datasets.base import DatasetReader
from ivifbench.datasets.labels import read_label_map, write_label_map
from ivifbench.errors import InputError
from ivifbench.imageio import read_image, write_png
from ivifbench.tasks.inputs import InputImages, limit_pairs
from ivifbench.tasks.segmentation.classes import SegClasses

__all__ = ["PreparedSplit", "prepare", "prepare_split"]


@dataclass
class PreparedSplit:
    """One split of the prepared dataset."""

    split: str
    img_dir: Path
    ann_dir: Path
    ids: list[str]
    pixels: list[int]  # labelled (non-ignored) pixels per train id
    sizes: list[tuple[int, int]] = field(default_factory=list)  # (height, width) per image

    @property
    def absent(self) -> list[int]:
        """Train ids with no labelled pixel in this split."""
        return [i for i, n in enumerate(self.pixels) if n == 0]


def prepare_split(
    reader: DatasetReader,
    split: str,
    fused: InputImages | Path | None,
    out: Path,
    classes: SegClasses,
    limit: int | None = None,
) -> PreparedSplit:
    """Prepare one split (see the module docstring); returns what was written.

    Raises:
        InputError: the split has no pairs, a pair has no label, a fused image is missing or of another size, or a
            label holds an id that is not a class.
    """
    pairs = [p for p in reader.pairs(split) if p.split == split]
    if not pairs:
        raise InputError(f"{reader.root}: split '{split}' of {reader.name} has no pairs")
    unlabelled = [p for p in pairs if p.label is None]
    if unlabelled:
        raise InputError(
            f"{reader.root}: {len(unlabelled)} '{split}' pairs have no segmentation label (e.g. '{unlabelled[0].id}'); "
            f"segmentation needs the label folder of {reader.name}"
        )
    pairs = limit_pairs(pairs, limit)
    images = fused if isinstance(fused, InputImages) else InputImages.of(fused)
    images.check(reader, pairs)
    img_dir, ann_dir = out / "img_dir" / split, out / "ann_dir" / split
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    palette = getattr(reader, "palette", None)
    counts = np.zeros(classes.num_classes, dtype=np.int64)
    ids: list[str] = []
    sizes: list[tuple[int, int]] = []
    for pair in pairs:
        assert pair.label is not None  # checked above
        source = images.path(reader, pair)
        image = read_image(source, role=images.role)
        raw = read_label_map(pair.label, palette=palette)
        if raw.shape != image.size:
            raise InputError(
                f"{source} is {image.size[1]}×{image.size[0]} but its label {pair.label} is "
                f"{raw.shape[1]}×{raw.shape[0]}; input images must keep the pair's size"
            )
        train_ids = classes.to_train_ids(raw, where=str(pair.label))
        pixels = image.pixels if image.pixels.shape[2] == 3 else np.repeat(image.pixels, 3, axis=2)
        write_png(img_dir / f"{pair.id}.png", pixels)
        write_label_map(ann_dir / f"{pair.id}.png", train_ids)
        counts += np.bincount(train_ids[train_ids != classes.ignore_index].ravel(), minlength=classes.num_classes)[
            : classes.num_classes
        ]
        ids.append(pair.id)
        sizes.append(image.size)
    return PreparedSplit(split, img_dir, ann_dir, ids, counts.tolist(), sizes)


def prepare(
    reader: DatasetReader,
    fused: InputImages | Path | None,
    out: Path,
    classes: SegClasses,
    splits: tuple[str, ...] = ("train", "test"),
    limit: int | None = None,
) -> dict[str, PreparedSplit]:
    """Prepare ``splits`` of ``reader`` under ``out``; also writes ``out/classes.json``.

    Args:
        reader: the dataset reader (MSRS or FMB layout).
        fused: the input images, or a folder of the method's fused images, or ``None`` for the visible images.
        out: the folder to write (the run's own).
        classes: from :func:`ivifbench.tasks.segmentation.classes.class_spec`.
        splits: the splits to prepare (train split first, evaluation split second by convention).
        limit: at most this many pairs per split, spread evenly over the split (``None``: all).
    """
    out = Path(out)
    fused = fused if isinstance(fused, InputImages) else InputImages.of(fused)
    prepared = {s: prepare_split(reader, s, fused, out, classes, limit) for s in splits}
    meta: dict[str, Any] = {
        **classes.record(),
        "splits": {s: {"pairs": len(p.ids), "pixels": p.pixels, "absent": p.absent} for s, p in prepared.items()},
        "input": fused.kind,
    }
    (out / "classes.json").write_text(json.dumps(meta, indent=2))
    return prepared
