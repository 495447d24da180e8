"""A thin stateful accumulator: stream batches through :func:`compute` and keep each metric's mean and std."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

from ivifbench.metrics.engine import compute, resolve_metrics


class MetricAccumulator:
    """Running mean and population std per metric (Chan et al.'s pairwise update, float64, NaN values skipped).

    >>> acc = MetricAccumulator("EN,MI", convention="tang")
    >>> for f, a, b in batches:
    ...     acc.update(f, a, b)
    >>> acc.compute()  # {"EN": {"mean": ..., "std": ..., "count": ...}, ...}
    """

    def __init__(self, metrics: str | Iterable[str] | None = None, convention: str = "canonical") -> None:
        self.convention = convention
        self.metrics = resolve_metrics(metrics, convention)
        self.reset()

    def reset(self) -> None:
        self._n = dict.fromkeys(self.metrics, 0)
        self._mean = dict.fromkeys(self.metrics, 0.0)
        self._m2 = dict.fromkeys(self.metrics, 0.0)
        self.skipped = dict.fromkeys(self.metrics, 0)

    def update(self, fused: Tensor, ir: Tensor, vis: Tensor) -> dict[str, Tensor]:
        """Score one batch (see :func:`compute`), fold it into the running statistics, and return its values."""
        values = compute(fused, ir, vis, self.metrics, self.convention)
        self.update_values(values)
        return values

    def update_values(self, values: dict[str, Tensor]) -> None:
        """Fold already computed per-image values (name → (B,)) into the running statistics."""
        for name in self.metrics:
            v = values[name].detach().to("cpu", torch.float64).flatten()
            ok = ~torch.isnan(v)
            self.skipped[name] += int((~ok).sum())
            v = v[ok]
            nb = v.numel()
            if nb == 0:
                continue
            mb = float(v.mean())
            m2b = float(((v - mb) ** 2).sum())
            na = self._n[name]
            n = na + nb
            delta = mb - self._mean[name]
            self._mean[name] += delta * nb / n
            self._m2[name] += m2b + delta * delta * na * nb / n
            self._n[name] = n

    def compute(self) -> dict[str, dict[str, float]]:
        """name → {"mean", "std" (population), "count", "nan"}; NaN mean/std for a metric with no values yet."""
        out = {}
        for name in self.metrics:
            n = self._n[name]
            out[name] = {
                "mean": self._mean[name] if n else math.nan,
                "std": math.sqrt(self._m2[name] / n) if n else math.nan,
                "count": n,
                "nan": self.skipped[name],
            }
        return out
