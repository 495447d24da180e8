"""Exact box conversion between Pascal VOC corners and YOLO's normalised centre/size.

VOC corners are 1-based and inclusive pixel indices (``datasets.labels``): a box with ``xmin = 1, xmax = 10`` covers the
first ten pixel columns, i.e. the continuous interval ``[0, 10]`` in pixel-edge coordinates. YOLO labels give the centre
and size of that interval divided by the image size::

    cx = (xmin - 1 + xmax) / 2 / W        w = (xmax - xmin + 1) / W
    cy = (ymin - 1 + ymax) / 2 / H        h = (ymax - ymin + 1) / H

and back: ``xmin = (cx - w/2)·W + 1``, ``xmax = (cx + w/2)·W``. Integer corners survive the round trip exactly (the
float error is far below half a pixel and :func:`yolo_to_voc` rounds); label lines carry 10 decimals, exact for images up
to 10⁹ pixels wide.

Corners outside the image (a few releases write ``xmax = W + 1`` or ``xmin = 0``) are clipped to the image and counted;
a box with no area left after clipping is dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivifbench.errors import InputError

DECIMALS = 10


@dataclass(frozen=True)
class YoloBox:
    """One YOLO label row: class id and normalised centre/size in [0, 1]."""

    cls: int
    cx: float
    cy: float
    w: float
    h: float

    def line(self) -> str:
        """The label-file line ``"<cls> <cx> <cy> <w> <h>"``."""
        return f"{self.cls} " + " ".join(f"{v:.{DECIMALS}f}" for v in (self.cx, self.cy, self.w, self.h))

    @classmethod
    def parse(cls, line: str) -> YoloBox:
        """Read one label-file line."""
        parts = line.split()
        if len(parts) != 5:
            raise InputError(f"YOLO label line '{line}' must have 5 fields: class cx cy w h")
        return cls(int(parts[0]), *(float(p) for p in parts[1:]))


def voc_to_yolo(
    xmin: float, ymin: float, xmax: float, ymax: float, width: int, height: int
) -> tuple[float, float, float, float]:
    """VOC 1-based inclusive corners → normalised ``(cx, cy, w, h)`` (no clipping; see :func:`clip_voc`)."""
    if width <= 0 or height <= 0:
        raise InputError(f"image size {width}×{height} is not positive")
    x0, y0, x1, y1 = xmin - 1.0, ymin - 1.0, float(xmax), float(ymax)  # pixel-edge coordinates
    return (x0 + x1) / 2.0 / width, (y0 + y1) / 2.0 / height, (x1 - x0) / width, (y1 - y0) / height


def yolo_to_voc(cx: float, cy: float, w: float, h: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Normalised ``(cx, cy, w, h)`` → VOC 1-based inclusive integer corners (rounded to the nearest pixel edge)."""
    x0 = (cx - w / 2.0) * width
    x1 = (cx + w / 2.0) * width
    y0 = (cy - h / 2.0) * height
    y1 = (cy + h / 2.0) * height
    return round(x0) + 1, round(y0) + 1, round(x1), round(y1)


def clip_voc(
    xmin: float, ymin: float, xmax: float, ymax: float, width: int, height: int
) -> tuple[tuple[float, float, float, float] | None, bool]:
    """Clip VOC corners to a ``width``×``height`` image.

    Returns:
        ``(corners, clipped)``: the corners inside the image (``None`` when no area is left) and whether they changed.
    """
    nx0, ny0 = max(float(xmin), 1.0), max(float(ymin), 1.0)
    nx1, ny1 = min(float(xmax), float(width)), min(float(ymax), float(height))
    clipped = (nx0, ny0, nx1, ny1) != (float(xmin), float(ymin), float(xmax), float(ymax))
    if nx1 - nx0 + 1.0 <= 0.0 or ny1 - ny0 + 1.0 <= 0.0:
        return None, True
    return (nx0, ny0, nx1, ny1), clipped
