"""Large images scored one horizontal strip at a time, so that memory follows the strip size, not the image size.

An image above :data:`ivifbench.metrics.engine.STRIP_MIN_PIXELS` is kept in its input dtype (8-bit values stay
uint8) and converted to float64, and to the convention's planes, a strip at a time. A metric whose
:class:`~ivifbench.metrics.spec.Tiling` has ``stats``/``finish`` is computed as sums over the strips' *owned* rows
(each row of every map, at every scale, is owned by exactly one strip): a strip reads its owned rows plus the halo its
windows need, computes the metric's maps there exactly as on the whole image, and keeps only the owned rows' sums,
counts or histograms. Whole-image quantities (plane means, minima, maxima for min-max normalisation) come from a first
pass. The values agree with the whole-image computation to round-off (only the order of the sums differs).

Metrics with a ``whole`` rule (FFT-based) read the planes through a :class:`PlaneSource`; any other metric is scored
on the whole plane in float64, one image at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from ivifbench.malloc import release_free_memory
from ivifbench.metrics.conventions import Convention
from ivifbench.metrics.shared import sharing
from ivifbench.metrics.spec import MetricSpec, Tiling

T = TypeVar("T")


@dataclass(frozen=True)
class Rows:
    """Where a strip lies in its image: local row 0 is global row ``top``; the strip owns global rows [lo, hi)."""

    top: int
    lo: int
    hi: int
    height: int
    width: int

    @property
    def last(self) -> bool:
        return self.hi >= self.height

    def own(self, x: Tensor, factor: int = 1) -> Tensor:
        """The rows of a map this strip owns. Local map row j stands for global map row ``top/factor + j`` (a 'same'
        map, or a 'valid' map indexed by its window's first row, at 1/``factor`` resolution); the last strip owns
        every row to the end of the map."""
        a = (self.lo - self.top) // factor
        b = x.shape[-2] if self.last else min(x.shape[-2], (self.hi - self.top) // factor)
        return x[..., a:b, :]

    def needed(self, x: Tensor, factor: int, extra: int) -> Tensor:
        """``x`` (local row j ↔ global row ``top/factor + j``) without the rows below those that a 'valid' window of
        ``extra + 1`` rows needs for the owned map rows: filtering less than the whole halo where only a coarser
        scale needs all of it."""
        if self.last:
            return x
        return x[..., : (self.hi - self.top) // factor + extra, :]

    def sum(self, x: Tensor, factor: int = 1) -> Tensor:
        """Σ over the owned rows (and every column): B×C×h×w → B×C."""
        return self.own(x, factor).sum((-2, -1))

    def count(self, x: Tensor, factor: int = 1) -> Tensor:
        """The number of owned map pixels, as a float64 tensor of shape B×C (to be summed with the statistics)."""
        o = self.own(x, factor)
        return torch.full(x.shape[:-2], float(o.shape[-2] * o.shape[-1]), dtype=torch.float64, device=x.device)


@dataclass(frozen=True)
class Plane:
    """Whole-image summaries from the first pass: per image ``f``/``a``/``b`` (fused, IR, visible), B×C each."""

    sums: dict[str, Tensor]
    mins: dict[str, Tensor]
    maxs: dict[str, Tensor]
    height: int
    width: int

    @property
    def n(self) -> int:
        return self.height * self.width

    def mean(self, key: str) -> Tensor:
        return self.sums[key] / self.n

    def mean_diff(self, key: str, other: str) -> Tensor:
        """mean(key − other), as (Σkey − Σother)/n: exact for integer-valued planes, like the mean of the difference."""
        return (self.sums[key] - self.sums[other]) / self.n


class PlaneSource:
    """Prepared float64 planes of one batch, read a band of rows at a time from the raw (uint8 or float) inputs."""

    def __init__(self, fused: Tensor, ir: Tensor, vis: Tensor, convention: Convention) -> None:
        self.raw = (fused, ir, vis)
        self.convention = convention
        self.height, self.width = fused.shape[-2:]

    def read(self, top: int, bottom: int) -> tuple[Tensor, Tensor, Tensor]:
        """Rows [top, bottom) of the prepared planes (B×C×h×W, float64), as ``compute`` would prepare them."""
        f, a, b = (t[..., top:bottom, :].to(torch.float64) for t in self.raw)
        return self.convention.prepare(f, a, b)


def compact_grey(arr: np.ndarray, convention: Convention, rows: int = 256) -> np.ndarray:
    """An H×W×3 image (raw 0..255, uint8 or float) as the H×W×1 uint8 grey plane ``convention`` scores: the same
    float64 arithmetic as :meth:`Convention.to_grey`, a band of rows at a time; its rounding makes the values integers
    0..255, so uint8 holds them exactly (a third of the memory of the colour image, an eighth of a float64 plane).
    Other images (grey already, or a convention that keeps the channels) are returned as they are."""
    if arr.ndim != 3 or arr.shape[2] != 3 or convention.grey_weights is None or convention.rounding is None:
        return arr
    out = np.empty((*arr.shape[:2], 1), np.uint8)
    for r0 in range(0, arr.shape[0], rows):
        band = torch.from_numpy(np.array(arr[r0 : r0 + rows], dtype=np.float64)).permute(2, 0, 1)[None]
        out[r0 : r0 + rows, :, 0] = convention.to_grey(band)[0, 0].clamp_(0, 255).numpy().astype(np.uint8)
    return out


def _strip_rows(pixels: int, width: int, work_halo: int, align: int) -> int:
    """Owned rows per strip: about ``pixels`` per plane, at least twice the rows of full-resolution work a halo adds
    (so that it stays a fraction of the strip's work), a multiple of ``align``."""
    rows = max(pixels // max(width, 1), 2 * work_halo, align, 16)
    return max(align, rows // align * align)


def _ranges(height: int, rows: int, min_last: int = 16) -> list[tuple[int, int]]:
    """Owned row ranges of ``rows`` rows; a last one shorter than ``min_last`` joins the one before (so that every
    strip holds at least one whole window)."""
    out = [(lo, min(lo + rows, height)) for lo in range(0, height, rows)]
    if len(out) > 1 and out[-1][1] - out[-1][0] < min_last:
        out[-2:] = [(out[-2][0], height)]
    return out


def _imap(fn: Callable[[tuple[int, int]], T], ranges: Sequence[tuple[int, int]]) -> Iterator[T]:
    """``fn`` over the strips, by ``torch.get_num_threads()`` Python threads running single-threaded torch (as
    ``compute``'s chunks); results in strip order, so sums over them do not depend on the thread count. Free memory
    goes back to the OS after every strip (see :func:`ivifbench.malloc.release_free_memory`)."""

    def strip(r: tuple[int, int]) -> T:
        out = fn(r)
        release_free_memory()
        return out

    workers = min(torch.get_num_threads(), len(ranges))
    if workers <= 1:
        for r in ranges:
            yield strip(r)
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="ivifbench-strips") as pool:
            yield from pool.map(strip, ranges)
    finally:
        torch.set_num_threads(threads)


def _map(fn: Callable[[tuple[int, int]], T], ranges: Sequence[tuple[int, int]]) -> list[T]:
    return list(_imap(fn, ranges))


def fold(fn: Callable[[tuple[int, int]], list[Tensor]], ranges: Sequence[tuple[int, int]]) -> list[Tensor]:
    """The strip results summed in strip order as they arrive (not kept: a histogram per strip would add up)."""
    total: list[Tensor] | None = None
    for part in _imap(fn, ranges):
        total = part if total is None else [t + p for t, p in zip(total, part, strict=True)]
    assert total is not None  # at least one strip
    return total


def summarise(source: PlaneSource, pixels: int) -> Plane:
    """First pass: Σ, min and max of every prepared plane."""
    rows = _strip_rows(pixels, source.width, 0, 1)

    def one(r: tuple[int, int]) -> dict[str, tuple[Tensor, Tensor, Tensor]]:
        planes = source.read(*r)
        return {k: (x.sum((-2, -1)), x.amin((-2, -1)), x.amax((-2, -1))) for k, x in zip("fab", planes, strict=True)}

    parts = _map(one, _ranges(source.height, rows))
    sums = {k: sum((p[k][0] for p in parts[1:]), parts[0][k][0]) for k in "fab"}
    mins = {k: torch.stack([p[k][1] for p in parts]).amin(0) for k in "fab"}
    maxs = {k: torch.stack([p[k][2] for p in parts]).amax(0) for k in "fab"}
    return Plane(sums, mins, maxs, source.height, source.width)


def _tiled(spec: MetricSpec, options: dict[str, Any]) -> tuple[int, int, int, int]:
    tiling = spec.tiling
    assert tiling is not None
    above, below = tiling.halo(**options)
    align = tiling.align
    work = above + below if tiling.work_halo is None else tiling.work_halo
    # reads start at multiples of ``align`` too, so that a decimated map's rows fall on the whole image's
    return math.ceil(above / align) * align, below, align, work


def score_strips(specs: list[MetricSpec], source: PlaneSource, convention: str, pixels: int) -> dict[str, Tensor]:
    """Every metric of ``specs`` on the batch in ``source``: tiled ones strip by strip, ``whole`` ones through the
    source, the rest on the whole prepared planes (float64). Returns name → (B,)."""
    plane = summarise(source, pixels)
    out: dict[str, Tensor] = {}
    groups: dict[tuple[int, int, int, int], list[MetricSpec]] = {}
    rest: list[MetricSpec] = []
    for spec in specs:
        opts = dict(spec.options(convention))
        tiling: Tiling | None = spec.tiling
        if tiling is not None and tiling.whole is not None:
            out[spec.name] = tiling.whole(source, plane, pixels=pixels, **opts)
        elif tiling is not None and tiling.stats is not None:
            groups.setdefault(_tiled(spec, opts), []).append(spec)
        else:
            rest.append(spec)
    for (above, below, align, work), members in groups.items():
        # metrics with the same window read the same strip tensors, so shared intermediates are made once per strip
        rows = _strip_rows(pixels, source.width, work, align)

        def one(
            r: tuple[int, int], members: list[MetricSpec] = members, above: int = above, below: int = below
        ) -> list[Tensor]:
            lo, hi = r
            top, bottom = max(0, lo - above), min(source.height, hi + below)
            f, a, b = source.read(top, bottom)
            where = Rows(top, lo, hi, source.height, source.width)
            with sharing():
                return [
                    s.tiling.stats(f, a, b, where, plane, **s.options(convention))  # type: ignore[union-attr,misc]
                    for s in members
                ]

        totals = fold(one, _ranges(source.height, rows, max(16, below + 1)))
        for spec, total in zip(members, totals, strict=True):
            out[spec.name] = spec.tiling.finish(total, plane, **spec.options(convention))  # type: ignore[union-attr,misc]
    if rest:
        f, a, b = source.read(0, source.height)
        with sharing():
            for spec in rest:
                out[spec.name] = spec(f, a, b, convention)
        del f, a, b
    return {s.name: out[s.name] for s in specs}
