"""What a metric is, besides its formula: direction, range, references, and the conventions it can reproduce."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from ivifbench.errors import NotFoundError


@dataclass(frozen=True)
class Tiling:
    """How a metric is scored on a large image one horizontal strip at a time (see :mod:`ivifbench.metrics.strips`).

    Attributes:
        stats: ``stats(fused, ir, vis, rows, plane, **options)`` → a tensor of additive sufficient statistics (sums,
            counts, histograms) of the rows the strip owns (``rows``, a :class:`~ivifbench.metrics.strips.Rows`);
            ``plane`` holds whole-image summaries from a first pass (sums, minima, maxima). Summed over the strips.
        finish: ``finish(total, plane, **options)`` → the value per image, shape (B,).
        halo: ``halo(**options)`` → (rows above, rows below) a strip must read to compute the rows it owns exactly.
        align: strips (and their reads) start at multiples of this (a metric that decimates by 2ᵏ needs 2ᵏ).
        whole: instead of stats/finish, ``whole(source, plane, **options)`` → (B,) from a
            :class:`~ivifbench.metrics.strips.PlaneSource` (metrics defined on the whole plane, e.g. by FFT, that
            still avoid holding it in float64).
        work_halo: rows of full-resolution work the halo adds to a strip (default: above + below); smaller when only
            a coarse scale reads the whole halo. Strips are at least twice this tall.
    """

    stats: Callable[..., Tensor] | None = None
    finish: Callable[..., Tensor] | None = None
    halo: Callable[..., tuple[int, int]] = lambda **_: (0, 0)
    align: int = 1
    whole: Callable[..., Tensor] | None = None
    work_halo: int | None = None


@dataclass(frozen=True)
class MetricSpec:
    """One fusion-quality metric.

    Attributes:
        name: the name as the field writes it (``"EN"``, ``"Qabf"``, ...).
        fn: the functional implementation; called as ``fn(fused, ir, vis, **options)`` when ``needs_sources`` else
            ``fn(fused, **options)`` on prepared B×C×H×W float64 planes (0..255), returning shape (B,).
        higher_is_better: direction, read by the report renderers.
        value_range: (low, high) the canonical value can take (``inf`` where unbounded).
        reference: the paper the formula comes from.
        reference_code: the toolkit code whose arithmetic it follows.
        conventions: convention name → keyword options for ``fn`` that reproduce that toolkit.
        needs_sources: False for no-reference metrics (EN, SD, SF, AG, EI), which only look at the fused image.
        notes: what a reader should know (quirks kept, degenerate cases).
        decimals: decimals a report shows (None: chosen from the values, about three significant digits); a
            suite's ``report.decimals`` overrides it.
        version: bumped whenever the values the metric computes change; stored with every value, and (through
            :data:`ivifbench.metrics.METRICS_VERSION`) part of a sweep's cache key, so old values are never reused.
        tiling: how a large image is scored in strips (None: on the whole plane, in float64).
    """

    name: str
    fn: Callable[..., Tensor]
    higher_is_better: bool
    value_range: tuple[float, float]
    reference: str
    reference_code: str
    conventions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    needs_sources: bool = True
    notes: str = ""
    version: int = 1
    decimals: int | None = None
    tiling: Tiling | None = None

    def options(self, convention: str) -> Mapping[str, Any]:
        """The keyword options of ``convention``; a clear error if this metric has no such variant."""
        if convention not in self.conventions:
            raise NotFoundError(
                f"metric '{self.name}' has no '{convention}' variant (it follows: {', '.join(self.conventions)})"
            )
        return self.conventions[convention]

    def __call__(self, fused: Tensor, ir: Tensor, vis: Tensor, convention: str = "canonical") -> Tensor:
        """Score prepared planes (see :meth:`ivifbench.metrics.conventions.Convention.prepare`) under ``convention``."""
        opts = self.options(convention)
        return self.fn(fused, ir, vis, **opts) if self.needs_sources else self.fn(fused, **opts)
