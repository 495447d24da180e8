"""``compute``: score a batch of fused images under one convention."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import torch
from torch import Tensor

from ivifbench.errors import InputError, NotFoundError
from ivifbench.metrics.catalogue import METRICS, NOT_IMPLEMENTED, ORDER
from ivifbench.metrics.conventions import CONVENTIONS


def resolve_metrics(metrics: str | Iterable[str] | None, convention: str = "canonical") -> list[str]:
    """Metric names from ``None``/``"all"`` (every metric the convention defines), ``"EN,SD"`` or a list.

    Raises NotFoundError (with "did you mean") for an unknown name or convention, or a metric without that variant.
    """
    CONVENTIONS.get(convention)  # validates the convention name
    ordered = list(ORDER) + [n for n in METRICS.names() if n not in ORDER]
    if metrics is None or (isinstance(metrics, str) and metrics.strip().lower() == "all"):
        return [n for n in ordered if convention in METRICS.get(n).conventions]
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
    peak = max(float(t.amax()) for t in (fused, ir, vis))
    if peak <= 1.0 and any(bool(((t != 0) & (t != 1)).any()) for t in (fused, ir, vis)):
        raise InputError("inputs look like [0, 1] data; compute() expects raw 8-bit values 0..255 (multiply by 255)")
    if peak > 255.0 or min(float(t.amin()) for t in (fused, ir, vis)) < 0:
        raise InputError("inputs must hold 8-bit values in 0..255")


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
            Any device; the work runs there in float64 (the toolkits' double precision).
        metrics: names (list or ``"EN,SD"``), or ``None``/``"all"`` for every metric the convention defines.
        convention: one of :data:`ivifbench.metrics.CONVENTIONS`; it also fixes the colour handling.

    Returns:
        name → tensor of shape (B,), one value per image, float64, on the inputs' device.
        A NaN that a toolkit convention produces on purpose (e.g. CC of a constant image under ``tang``) is kept, and
        reported with a RuntimeWarning naming the metric and the batch items.
    """
    names = resolve_metrics(metrics, convention)
    _check_inputs(fused, ir, vis)
    conv = CONVENTIONS.get(convention)
    f, a, b = (t.to(torch.float64) for t in (fused, ir, vis))
    f, a, b = conv.prepare(f, a, b)
    out: dict[str, Tensor] = {}
    for name in names:
        value = METRICS.get(name)(f, a, b, convention)
        bad = torch.isnan(value)
        if bool(bad.any()):
            idx = bad.nonzero().flatten().tolist()
            warnings.warn(
                f"{name} is NaN under convention '{convention}' for batch items {idx} (0/0 on flat images, "
                "as that toolkit does)",
                RuntimeWarning,
                stacklevel=2,
            )
        out[name] = value
    return out
