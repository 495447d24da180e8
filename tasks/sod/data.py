"""``prepare``: one method's fused images + the dataset's binary GT masks → the SOD task's native dataset.

The native layout is the one SOD code bases read (DUTS-style), one folder per split::

    <out>/data/<split>/Image/<id>.png   the network input: the fused image (the visible image when no --fused)
    <out>/data/<split>/GT/<id>.png      the ground truth, copied as an 8-bit grey PNG (values kept, not re-binarised)

Fused images are looked up as ``<fused>/<split>/<id>.*`` when that folder exists (the sweep's
``fused/<method>/<dataset>/<split>/`` layout, with ``--fused`` naming the dataset folder), else as ``<fused>/<id>.*``
(one flat folder; refused when the dataset reuses ids across splits). Everything is read
and checked before any training starts, so a missing or mis-sized file fails at once with one line that names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivifbench.datasets.base import DatasetReader, Pair
from ivifbench.errors import InputError
from ivifbench.imageio import IMAGE_SUFFIXES, read_image, to_uint8, write_png


@dataclass(frozen=True)
class SODSample:
    """One prepared image: the network input and its GT mask, both in the task's native dataset."""

    id: str
    split: str
    image: Path
    mask: Path


def split_named(reader: DatasetReader, want: str) -> str | None:
    """The reader's split called ``want`` (case-insensitive: ``Train``/``train``), or ``None``."""
    for split in reader.splits:
        if split.lower() == want.lower():
            return split
    return None


def fused_folder(fused: Path, reader: DatasetReader, split: str | None) -> Path:
    """Where the fused images of ``split`` are: ``<fused>/<split>/`` when it exists, else ``<fused>`` itself.

    A flat folder is only accepted for a dataset whose splits cannot be confused: when two splits share an id (a flat
    folder could then hold another split's image under that name), per-split folders are required.

    Raises:
        InputError: flat folder for a dataset with colliding ids across splits.
    """
    if split is not None:
        for child in (fused / split, fused / split.lower(), fused / split.capitalize()):
            if child.is_dir():
                return child
    if split is not None and len(reader.splits) > 1:
        seen: set[str] = set()
        for s in reader.splits:
            try:
                ids = {p.id for p in reader.pairs(s)}
            except InputError:
                continue
            if ids & seen:
                raise InputError(
                    f"{fused / split}: no per-split folder, and {reader.name} reuses ids across splits, so a flat "
                    f"fused folder is ambiguous; put the fused images in {fused}/<split>/<id>.png"
                )
            seen |= ids
    return fused


def find_fused(folder: Path, pair: Pair) -> Path:
    """The fused image of ``pair`` in ``folder`` (``<id>.png``, or any readable image suffix).

    Raises:
        InputError: it is not there (names the file expected).
    """
    for suffix in IMAGE_SUFFIXES:
        path = folder / f"{pair.id}{suffix}"
        if path.is_file():
            return path
    raise InputError(
        f"{folder / (pair.id + '.png')}: no fused image for pair '{pair.id}' ({pair.split}); fuse that split first "
        "or pass the right --fused folder"
    )


def expected_mask(reader: DatasetReader, pair: Pair) -> Path | None:
    """Where ``pair``'s GT mask should be (the reader's layout), even when the file is missing."""
    if pair.label is not None:
        return Path(pair.label)
    layout = getattr(reader, "layout", {}).get(pair.split)
    folder = getattr(layout, "label", None)
    if folder is None:
        return None
    return reader.root / folder / f"{pair.id}{getattr(reader, 'label_suffix', '.png')}"


def _as_rgb8(pixels: np.ndarray) -> np.ndarray:
    arr = to_uint8(pixels)
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def prepare(
    reader: DatasetReader, split: str | None, fused: Path | None, out: Path, limit: int | None = None
) -> list[SODSample]:
    """Write ``split`` of ``reader`` (every pair when ``None``) into the native layout under ``out``.

    Args:
        reader: the dataset reader (its pairs carry the GT mask path as ``label``).
        split: the reader's split name, or ``None`` for all pairs (VT821/VT1000 have no splits).
        fused: the method's fused images, or ``None`` to use the visible (RGB) images.
        out: the task's data folder; ``out/<split>/{Image,GT}`` are written.
        limit: keep only the first ``limit`` pairs (sorted by id), for smoke runs.

    Returns:
        The prepared samples, sorted by id.

    Raises:
        InputError: no pairs, a pair without its GT mask, a missing fused image, or an input whose size differs from
            its mask's (names both files).
    """
    pairs = reader.pairs(split)
    if limit is not None:
        pairs = pairs[: max(int(limit), 0)]
    if not pairs:
        raise InputError(f"{reader.root}: dataset '{reader.name}' has no pairs in split '{split or 'all'}'")
    name = (split or "all").lower()
    folder = fused_folder(fused, reader, split) if fused is not None else None
    samples: list[SODSample] = []
    for pair in pairs:
        if pair.label is None or not Path(pair.label).is_file():
            expected = expected_mask(reader, pair)
            where = str(expected) if expected is not None else f"{reader.root}: GT mask of '{pair.id}'"
            raise InputError(f"{where}: GT mask of pair '{pair.id}' not found; SOD needs a mask for every image")
        source = find_fused(folder, pair) if folder is not None else pair.vis
        image = read_image(source, role="fused" if fused is not None else "vis")
        gt = read_image(pair.label, role="ir")  # grey 8/16-bit (or colour) → one channel in [0, 1]
        if image.size != gt.size:
            raise InputError(
                f"{source} is {image.size[1]}×{image.size[0]} but its GT mask {pair.label} is "
                f"{gt.size[1]}×{gt.size[0]}; the input and the mask must have one size"
            )
        img_path = write_png(out / name / "Image" / f"{pair.id}.png", _as_rgb8(image.pixels))
        gt_path = write_png(out / name / "GT" / f"{pair.id}.png", to_uint8(gt.pixels[..., 0]))
        samples.append(SODSample(pair.id, name, img_path, gt_path))
    return samples


def load_resized(samples: Sequence[SODSample], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Read prepared samples resized to ``size``×``size``: images and masks, N×S×S×3 and N×S×S uint8.

    Both are resized with area averaging when shrinking (bilinear when enlarging); masks stay soft (0–255; the loss
    accepts soft targets). Foreground is where :func:`~ivifbench.datasets.labels.read_mask` says so.
    """
    import cv2

    from ivifbench.datasets.labels import read_mask

    n = len(samples)
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), np.uint8)
    for i, s in enumerate(samples):
        img = _as_rgb8(read_image(s.image, role="vis").pixels)
        h, w = img.shape[:2]
        interp = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_LINEAR
        images[i] = cv2.resize(img, (size, size), interpolation=interp)
        mask = read_mask(s.mask).astype(np.float32)
        masks[i] = to_uint8(np.clip(cv2.resize(mask, (size, size), interpolation=interp), 0.0, 1.0))
    return images, masks
