"""Class lists, palettes and ignore values of the segmentation datasets, as the task trains and scores them.

The class names and the source ignore value come from the dataset reader (``reader.classes``,
``reader.ignore_index``); this module adds the palette where the reader has none and the ``background`` policy:

* ``background="score"`` (default; SeAFusion, SegMiF and later IVIF papers): class 0 (MSRS "unlabelled", FMB
  "background") is a class like the others and counts in mIoU.
* ``background="ignore"``: class 0 pixels are not trained or scored, ids ``1..K-1`` become ``0..K-2`` (as some FMB
  loaders do, 14 classes).

Inside the prepared mmseg dataset the ignore value is always mmseg's 255.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ivifbench.errors import InputError

__all__ = [
    "MMSEG_IGNORE",
    "SegClasses",
    "class_spec",
]

MMSEG_IGNORE = 255

_BACKGROUND = ("score", "ignore")


@dataclass(frozen=True)
class SegClasses:
    """The classes a segmentation run trains and scores, and how source label ids map onto them.

    Attributes:
        dataset: dataset name.
        names: scored class names, in train id order.
        palette: RGB colour per scored class.
        source_ignore: the source labels' ignore value (``None`` if the dataset has none).
        background: ``"score"`` or ``"ignore"`` (see the module docstring).
        assumed: whether the class order is assumed rather than verified (FMB).
        source_names: every class of the source labels, in label id order.
    """

    dataset: str
    names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    source_ignore: int | None
    background: str
    assumed: bool
    source_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def ignore_index(self) -> int:
        """The ignore value inside the prepared dataset (mmseg's)."""
        return MMSEG_IGNORE

    def lut(self) -> np.ndarray:
        """A 65536-entry lookup: source label id → train id (255 = ignore, 65535 = not a valid id)."""
        table = np.full(65536, 65535, dtype=np.int64)
        k = len(self.source_names)
        if self.background == "score":
            table[:k] = np.arange(k)
        else:
            table[0] = MMSEG_IGNORE
            table[1:k] = np.arange(k - 1)
        if self.source_ignore is not None:
            table[self.source_ignore] = MMSEG_IGNORE
        return table

    def to_train_ids(self, labels: np.ndarray, where: str = "label") -> np.ndarray:
        """Map a source label map (integers) to train ids (``uint8``; 255 = ignore); unknown ids are an error."""
        arr = np.asarray(labels)
        if not np.issubdtype(arr.dtype, np.integer):
            raise InputError(f"{where}: label values must be integers, got {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise InputError(f"{where}: label values {arr.min()}..{arr.max()} are outside 0..65535")
        out = self.lut()[arr.astype(np.int64)]
        bad = out == 65535
        if bad.any():
            values = sorted(int(v) for v in np.unique(arr[bad]))[:8]
            allowed = f"0..{len(self.source_names) - 1}"
            if self.source_ignore is not None:
                allowed += f" or {self.source_ignore} (ignore)"
            raise InputError(
                f"{where}: label ids {values} are not {self.dataset} classes ({allowed}); labels are read as "
                "integers, never scaled: store class ids, not colours or scaled grey values"
            )
        return out.astype(np.uint8)

    def record(self) -> dict[str, Any]:
        """A JSON-able description for ``TaskResult.details``."""
        d = asdict(self)
        d["palette"] = [list(c) for c in self.palette]
        d["ignore_index"] = self.ignore_index
        d["num_classes"] = self.num_classes
        return d


def class_spec(
    dataset: str,
    reader_cls: Any | None = None,
    *,
    background: str = "score",
) -> SegClasses:
    """The :class:`SegClasses` of ``dataset`` (``"msrs"`` / ``"fmb"``) from its reader class.

    Args:
        dataset: the dataset name.
        reader_cls: the reader class (default: ``DATASETS.get(dataset)``); supplies ``classes`` and ``ignore_index``
            (and ``palette`` / ``class_order_assumed`` when it has them).
        background: ``"score"`` or ``"ignore"``.
    """
    if background not in _BACKGROUND:
        raise InputError(f"background must be one of {', '.join(_BACKGROUND)}, got '{background}'")
    if reader_cls is None:
        from ivifbench.datasets import DATASETS

        reader_cls = DATASETS.get(dataset)
    names = tuple(getattr(reader_cls, "classes", ()) or ())
    if "segmentation" not in tuple(getattr(reader_cls, "tasks", ())) or len(names) < 2:
        raise InputError(f"dataset '{dataset}' has no segmentation labels (segmentation runs on msrs and fmb)")
    palette = getattr(reader_cls, "palette", None) or _default_palette(len(names))
    palette = tuple(tuple(int(c) for c in colour) for colour in palette)
    if len(palette) < len(names):
        palette = palette + _default_palette(len(names))[len(palette) :]
    palette = palette[: len(names)]
    source_ignore = getattr(reader_cls, "ignore_index", None)
    assumed = bool(getattr(reader_cls, "class_order_assumed", False))
    scored_names, scored_palette = (names, palette) if background == "score" else (names[1:], palette[1:])
    return SegClasses(
        dataset=dataset,
        names=scored_names,
        palette=scored_palette,
        source_ignore=None if source_ignore is None else int(source_ignore),
        background=background,
        assumed=assumed,
        source_names=names,
    )


def _default_palette(n: int) -> tuple[tuple[int, int, int], ...]:
    rng = np.random.default_rng(2024)
    colours = (rng.integers(0, 256, 3) for _ in range(n))
    return tuple((int(c[0]), int(c[1]), int(c[2])) for c in colours)
