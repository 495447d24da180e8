"""``prepare``: one method's fused images + the dataset's binary GT masks → the SOD task's native dataset.

The native layout is the one SOD code bases read (DUTS-style), one folder per split::

    <out>/data/<split>/Image/<id>.png   the network input: the fused image (the visible image when no --fused)
    <out>/data/<split>/GT/<id>.png      the ground truth, copied as an 8-bit grey PNG (values kept, not re-binarised)

Fused images are found by the tasks' one rule (:mod:`ivifbench.tasks.inputs`: ``<fused>/<split>/<id>.*`` when that
folder exists, else ``<fused>/<id>.*``, refused when the dataset reuses ids across splits). Everything is read
and checked before any training starts, so a missing or mis-sized file fails at once with one line that names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivifbench.datasets.base import DatasetReader, Pair
from ivifbench.errors import InputError
from ivifbench.imageio import read_image, to_uint8, write_png
from ivifbench.tasks.inputs import InputImages, limit_pairs


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
    reader: DatasetReader,
    split: str | None,
    fused: InputImages | Path | None,
    out: Path,
    limit: int | None = None,
) -> list[SODSample]:
    """Write ``split`` of ``reader`` (every pair when ``None``) into the native layout under ``out``.

    Args:
        reader: the dataset reader (its pairs carry the GT mask path as ``label``).
        split: the reader's split name, or ``None`` for all pairs (VT821/VT1000 have no splits).
        fused: the input images, or a folder of the method's fused images, or ``None`` for the visible images.
        out: the task's data folder; ``out/<split>/{Image,GT}`` are written.
        limit: at most ``limit`` pairs (the tasks' one rule, :func:`~ivifbench.tasks.inputs.limit_pairs`).

    Returns:
        The prepared samples, sorted by id.

    Raises:
        InputError: no pairs, a pair without its GT mask, a missing fused image, or an input whose size differs from
            its mask's (names both files).
    """
    pairs = limit_pairs(reader.pairs(split), limit)
    if not pairs:
        raise InputError(f"{reader.root}: dataset '{reader.name}' has no pairs in split '{split or 'all'}'")
    name = (split or "all").lower()
    images = fused if isinstance(fused, InputImages) else InputImages.of(fused)
    images.check(reader, pairs)
    samples: list[SODSample] = []
    for pair in pairs:
        if pair.label is None or not Path(pair.label).is_file():
            expected = expected_mask(reader, pair)
            where = str(expected) if expected is not None else f"{reader.root}: GT mask of '{pair.id}'"
            raise InputError(f"{where}: GT mask of pair '{pair.id}' not found; SOD needs a mask for every image")
        source = images.path(reader, pair)
        image = read_image(source, role=images.role)
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
