"""``compute``: score a batch of fused images under one convention."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from ivifbench.errors import InputError, NotFoundError
from ivifbench.malloc import tune_malloc
from ivifbench.metrics.catalogue import METRICS, NOT_IMPLEMENTED, ORDER
from ivifbench.metrics.conventions import CONVENTIONS
from ivifbench.metrics.shared import sharing
from ivifbench.metrics.spec import MetricSpec

# About a second or more per 480×640 image on a CPU, so left out of "default"; asked for by name or with "all".
SLOW_METRICS = frozenset({"FMI_pixel", "FMI_dct", "FMI_w", "Qp"})


def resolve_metrics(metrics: str | Iterable[str] | None, convention: str = "canonical") -> list[str]:
    """Metric names from ``None``/``"all"`` (every metric the convention defines), ``"default"`` (all but
    :data:`SLOW_METRICS`), ``"EN,SD"`` or a list.

    Raises NotFoundError (with "did you mean") for an unknown name or convention, or a metric without that variant.
    """
    CONVENTIONS.get(convention)  # validates the convention name
    ordered = list(ORDER) + [n for n in METRICS.names() if n not in ORDER]
    if metrics is None or (isinstance(metrics, str) and metrics.strip().lower() == "all"):
        return [n for n in ordered if convention in METRICS.get(n).conventions]
    if isinstance(metrics, str) and metrics.strip().lower() == "default":
        return [n for n in ordered if convention in METRICS.get(n).conventions and n not in SLOW_METRICS]
    names = [m.strip() for m in metrics.split(",")] if isinstance(metrics, str) else [str(m).strip() for m in metrics]
    names = [n for n in names if n]
    if not names:
        raise NotFoundError("no metric named; give names such as EN,SD,MI or 'all'")
    out: list[str] = []
    for n in names:
        if n not in METRICS:
            exact = {k.lower(): k for k in METRICS.names()}
            if n.lower() in exact:  # metric names are case-insensitive on input ("qabf" → "Qabf")
                n = exact[n.lower()]
            elif n in NOT_IMPLEMENTED:
                raise NotFoundError(f"metric '{n}' is not implemented yet: {NOT_IMPLEMENTED[n]}")
            else:
                METRICS.get(n)  # raises with did-you-mean
        METRICS.get(n).options(convention)
        if n not in out:
            out.append(n)
    return out


def _check_inputs(fused: Tensor, ir: Tensor, vis: Tensor) -> None:
    for name, t in (("fused", fused), ("ir", ir), ("vis", vis)):
        if not isinstance(t, Tensor):
            raise InputError(f"{name} must be a torch.Tensor (B×C×H×W), got {type(t).__name__}")
        if t.ndim != 4 or t.shape[1] not in (1, 3):
            raise InputError(f"{name} must be B×C×H×W with C in {{1, 3}}; got shape {tuple(t.shape)}")
    shapes = {(t.shape[0], *t.shape[2:]) for t in (fused, ir, vis)}
    if len(shapes) != 1:
        raise InputError(
            f"fused {tuple(fused.shape)}, ir {tuple(ir.shape)} and vis {tuple(vis.shape)} must share B, H and W"
        )
    if fused.numel() == 0:
        raise InputError("empty batch")
    # Raw 8-bit values are expected; [0, 1] data would be silently scored as a near-black image.
    ranges = [torch.aminmax(t) for t in (fused, ir, vis)]  # one pass per tensor
    peak = max(float(r.max) for r in ranges)
    if peak <= 1.0 and any(bool(((t != 0) & (t != 1)).any()) for t in (fused, ir, vis)):
        raise InputError("inputs look like [0, 1] data; compute() expects raw 8-bit values 0..255 (multiply by 255)")
    if peak > 255.0 or min(float(r.min) for r in ranges) < 0:
        raise InputError("inputs must hold 8-bit values in 0..255")


CPU_CHUNK_PIXELS = 1 << 19
"""On a CPU the batch is scored a few images at a time, at most this many pixels (B·C·H·W) per call, but at least one
image. Every value is per image, so the result is the same; the planes and their temporaries then stay small enough
for the allocator to reuse freed memory instead of mapping (and page-faulting) fresh pages for each temporary, which
made a batch of 8 at 480×640 ~1.6× slower per image than batches of 2. ``0`` disables the chunking."""


STRIP_MIN_PIXELS = 4 * CPU_CHUNK_PIXELS
"""On a CPU, an image with more pixels than this (H·W) is scored in horizontal strips of about
:data:`CPU_CHUNK_PIXELS` pixels (:mod:`ivifbench.metrics.strips`), kept in its input dtype until a strip is converted,
so memory follows the strip size, not the image size; values agree with the whole-image computation to round-off.
Smaller images are scored whole, as always. ``0`` disables the strips."""


def _use_strips(x: Tensor) -> bool:
    # at least 176 rows and columns (MS-SSIM's minimum, the largest): every metric's window fits the image; below
    # that the whole path says which metric needs more
    h, w = x.shape[-2:]
    return x.device.type == "cpu" and 0 < STRIP_MIN_PIXELS < h * w and min(h, w) >= 176


def _score_strips(names: list[str], f: Tensor, a: Tensor, b: Tensor, convention: str) -> dict[str, Tensor]:
    """Each image of the batch in strips, one image at a time (raw inputs, prepared strip by strip)."""
    from ivifbench.metrics.strips import PlaneSource, score_strips

    specs = [METRICS.get(name) for name in names]
    conv = CONVENTIONS.get(convention)
    if f.device.type == "cpu":
        tune_malloc()
    results = [
        score_strips(specs, PlaneSource(f[i : i + 1], a[i : i + 1], b[i : i + 1], conv), convention, CPU_CHUNK_PIXELS)
        for i in range(f.shape[0])
    ]
    return {name: torch.cat([r[name] for r in results]) for name in names}


def _chunks(x: Tensor) -> list[slice]:
    n = x.shape[0]
    if x.device.type != "cpu" or CPU_CHUNK_PIXELS <= 0:
        return [slice(0, n)]
    step = max(1, CPU_CHUNK_PIXELS // max(1, x[0].numel()))
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def _score(specs: list[MetricSpec], f: Tensor, a: Tensor, b: Tensor, convention: str) -> dict[str, Tensor]:
    with sharing():  # intermediates common to several metrics (window moments, gradient maps) are made once
        return {spec.name: spec(f, a, b, convention) for spec in specs}


def _score_chunks(names: list[str], f: Tensor, a: Tensor, b: Tensor, convention: str) -> dict[str, Tensor]:
    """Every metric on each CPU chunk in turn (the chunk stays in cache across metrics).

    With ``torch.get_num_threads()`` = n > 1 the chunks are scored by n Python threads, each running torch (and SciPy,
    which releases the GIL) single-threaded: most of the work is elementwise passes and 1-D filters over planes too
    small for torch's intra-op threads to pay off. Chunks are independent, so the values do not depend on n.
    """
    specs = [METRICS.get(name) for name in names]  # resolved (and lazily imported) here, not in the workers
    parts = _chunks(f)
    if f.device.type == "cpu":
        tune_malloc()
    workers = min(torch.get_num_threads(), len(parts))
    if workers <= 1:
        results = [_score(specs, f[s], a[s], b[s], convention) for s in parts]
    else:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one intra-op thread per worker; n workers × n threads would oversubscribe
        try:
            with ThreadPoolExecutor(workers, thread_name_prefix="ivifbench-metrics") as pool:
                results = list(pool.map(lambda s: _score(specs, f[s], a[s], b[s], convention), parts))
        finally:
            torch.set_num_threads(threads)
    if len(results) == 1:
        return results[0]
    return {name: torch.cat([r[name] for r in results]) for name in names}


def compute(
    fused: Tensor,
    ir: Tensor,
    vis: Tensor,
    metrics: str | Iterable[str] | None = None,
    convention: str = "canonical",
) -> dict[str, Tensor]:
    """Score fused images against their sources.

    Args:
        fused, ir, vis: float (or uint8) tensors B×C×H×W holding the raw 8-bit values 0..255 as on disk, C in {1, 3}.
            Any device; the work runs there in float64 (the toolkits' double precision). On a CPU the batch is split
            into chunks scored in parallel by ``torch.get_num_threads()`` threads.
        metrics: names (list or ``"EN,SD"``), or ``None``/``"all"`` for every metric the convention defines.
        convention: one of :data:`ivifbench.metrics.CONVENTIONS`; it also fixes the colour handling.

    Returns:
        name → tensor of shape (B,), one value per image, float64, on the inputs' device.
        A NaN that a toolkit convention produces on purpose (e.g. CC of a constant image under ``tang``) is kept, and
        reported with a RuntimeWarning naming the metric and the batch items.
    """
    names = resolve_metrics(metrics, convention)
    _check_inputs(fused, ir, vis)
    if _use_strips(fused):
        out = _score_strips(names, fused, ir, vis, convention)
    else:
        conv = CONVENTIONS.get(convention)
        f, a, b = (t.to(torch.float64) for t in (fused, ir, vis))
        f, a, b = conv.prepare(f, a, b)
        out = _score_chunks(names, f, a, b, convention)
    for name, value in out.items():
        bad = torch.isnan(value)
        if bool(bad.any()):
            idx = bad.nonzero().flatten().tolist()
            warnings.warn(
                f"{name} is NaN under convention '{convention}' for batch items {idx} (0/0 on flat images, "
                "as that toolkit does)",
                RuntimeWarning,
                stacklevel=2,
            )
    return out
