"""Statistics for the reports, as pure functions over numpy arrays: which differences are real.

* :func:`bootstrap_ci` — seeded percentile-bootstrap confidence interval of a mean over images (equal to
  ``scipy.stats.bootstrap(..., method="percentile")`` with the same generator).
* :func:`wilcoxon_signed_rank` — the paired Wilcoxon signed-rank test, two-sided, as ``scipy.stats.wilcoxon``'s
  defaults (exact null distribution up to 50 pairs without ties or zeros, all sign flips up to 13 pairs with them,
  else the normal approximation with tie correction).
* :func:`holm` — Holm's step-down adjustment of p-values.
* :func:`compare_to_best` — each method against the best of a column, paired over images, Holm-corrected: which
  methods are not distinguishable from the best.
* :func:`seed_interval` — Student-t interval of a mean over seeds (for tasks run with three or more seeds).
* :func:`rank_stability` — the bootstrap distribution of each method's Borda rank ("rank 2, 95 % in 1–3").

Nothing here reads a store or formats text; :mod:`ivifbench.reports.tables` feeds these and the renderers show them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, NDArray

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
TEST_NAME = "two-sided Wilcoxon signed-rank test over images, Holm-corrected"


def _finite(values: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)]


def bootstrap_ci(
    values: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of ``values`` (NaNs dropped); ``(nan, nan)`` for fewer
    than two values. Reproducible: the same values and seed give the same interval.

    >>> lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0], seed=0)
    >>> 1.0 <= lo < 3.0 < hi <= 5.0
    True
    """
    x = _finite(values)
    if x.size < 2:
        return (math.nan, math.nan)
    means = _resampled_means(x, n_resamples, seed)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _resampled_means(x: NDArray[np.float64], n_resamples: int, seed: int) -> NDArray[np.float64]:
    # one draw of all indices, as scipy.stats.bootstrap does, so the two agree for the same generator
    idx = np.random.default_rng(seed).integers(0, x.size, (n_resamples, x.size))
    return x[idx].mean(axis=-1)


@dataclass(frozen=True)
class WilcoxonResult:
    statistic: float  # min(R+, R−), as scipy reports for the two-sided test
    pvalue: float
    n: int  # pairs with a non-zero difference
    method: str  # "exact", "permutation" or "asymptotic"


def _rank_abs(d: NDArray[np.float64]) -> tuple[NDArray[np.float64], bool]:
    """Average ranks of |d| (1-based) and whether any tie occurred."""
    from scipy.stats import rankdata

    a = np.abs(d)
    return rankdata(a, method="average"), bool(np.unique(a).size < a.size)


@lru_cache(maxsize=64)
def _exact_counts(n: int) -> tuple[int, ...]:
    """How many of the 2ⁿ sign patterns give each rank sum R+ = 0 … n(n+1)/2 (no ties)."""
    counts = [1] + [0] * (n * (n + 1) // 2)
    for k in range(1, n + 1):
        for s in range(len(counts) - 1, k - 1, -1):
            counts[s] += counts[s - k]
    return tuple(counts)


def wilcoxon_signed_rank(x: ArrayLike, y: ArrayLike) -> WilcoxonResult:
    """Paired two-sided Wilcoxon signed-rank test of ``x − y`` (zero differences dropped, as ``zero_method="wilcox"``).

    >>> r = wilcoxon_signed_rank([1.2, 2.3, 3.1, 4.8, 5.5, 6.1], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    >>> r.statistic, round(r.pvalue, 4), r.method
    (0.0, 0.0312, 'exact')
    """
    xa, ya = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if xa.shape != ya.shape:
        raise ValueError(f"paired samples must have one length, got {xa.size} and {ya.size}")
    d_all = xa - ya
    d_all = d_all[np.isfinite(d_all)]
    n_zero = int(np.count_nonzero(d_all == 0))
    d = d_all[d_all != 0]
    n = d.size
    if n == 0:
        return WilcoxonResult(math.nan, math.nan, 0, "exact")
    r, ties = _rank_abs(d)
    r_plus = float(r[d > 0].sum())
    r_minus = float(r[d < 0].sum())
    stat = min(r_plus, r_minus)
    if d_all.size <= 50 and not ties and n_zero == 0:
        counts = np.asarray(_exact_counts(n), dtype=np.float64)
        total = 2.0**n
        cdf = counts[: math.ceil(r_plus) + 1].sum() / total
        sf = counts[math.floor(r_plus) :].sum() / total
        return WilcoxonResult(stat, float(min(1.0, 2 * min(cdf, sf))), n, "exact")
    if d_all.size <= 13:
        # every sign pattern of the differences (zeros stay out of the ranking), as scipy's permutation test does
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        null = (signs > 0) @ r
        eps = 1e-14 * max(abs(r_plus), 1.0)
        p_ge = np.count_nonzero(null >= r_plus - eps) / null.size
        p_le = np.count_nonzero(null <= r_plus + eps) / null.size
        return WilcoxonResult(stat, float(min(1.0, 2 * min(p_ge, p_le))), n, "permutation")
    from scipy.stats import norm

    _, tie_counts = np.unique(np.abs(d), return_counts=True)
    mean = n * (n + 1) / 4.0
    var = (n * (n + 1) * (2 * n + 1) - float(np.sum(tie_counts**3 - tie_counts)) / 2.0) / 24.0
    z = (r_plus - mean) / math.sqrt(var)
    return WilcoxonResult(stat, float(min(1.0, 2 * norm.sf(abs(z)))), n, "asymptotic")


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaNs stay NaN and do not count as tests).

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    running = 0.0
    for rank, i in enumerate(ok[np.argsort(p[ok], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * float(p[i])))
        out[i] = running
    return [round(float(v), 15) for v in out]


@dataclass(frozen=True)
class Comparison:
    """One method against the column's best."""

    method: str
    pvalue: float  # raw Wilcoxon p (NaN for the best itself)
    p_holm: float
    tied_with_best: bool  # the best itself, or not distinguishable from it at ``alpha`` after Holm


def compare_to_best(
    samples: Mapping[str, ArrayLike], higher_is_better: bool, *, alpha: float = 0.05
) -> dict[str, Comparison]:
    """Each method's per-image values against those of the best method (by mean), paired by image.

    ``samples`` maps method → values over the same images in the same order (NaN pairs are dropped per test).
    Returns method → :class:`Comparison`; the best has ``tied_with_best=True``.

    >>> a = np.arange(10.0, 20.0)
    >>> noise = np.array([0.3, -0.2, 0.1, -0.4, 0.5, -0.1, 0.2, -0.3, 0.05, -0.15])
    >>> c = compare_to_best({"a": a, "b": a - 1 - np.abs(noise), "c": a + noise}, higher_is_better=True)
    >>> [(m, c[m].tied_with_best) for m in "abc"], round(c["b"].p_holm, 4)
    ([('a', True), ('b', False), ('c', True)], 0.0039)
    """
    arrays = {m: np.asarray(v, dtype=np.float64).ravel() for m, v in samples.items()}
    means = {m: float(np.nanmean(a)) if np.isfinite(a).any() else math.nan for m, a in arrays.items()}
    valid = [m for m, v in means.items() if not math.isnan(v)]
    if not valid:
        return {}
    best = max(valid, key=lambda m: means[m]) if higher_is_better else min(valid, key=lambda m: means[m])
    others = [m for m in valid if m != best]
    raw = [wilcoxon_signed_rank(arrays[m], arrays[best]).pvalue for m in others]
    adjusted = holm(raw)
    out = {best: Comparison(best, math.nan, math.nan, True)}
    for m, p, ph in zip(others, raw, adjusted, strict=True):
        out[m] = Comparison(m, p, ph, bool(math.isnan(ph) or ph >= alpha))
    return out


def seed_interval(values: ArrayLike, *, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean over seeds; ``(nan, nan)`` for fewer than three seeds (two say too
    little about the spread to print an interval).

    >>> [round(v, 3) for v in seed_interval([70.0, 71.0, 72.0])]
    [68.516, 73.484]
    """
    x = _finite(values)
    if x.size < 3:
        return (math.nan, math.nan)
    from scipy.stats import t

    half = float(t.ppf(0.5 + confidence / 2.0, x.size - 1)) * float(np.std(x, ddof=1)) / math.sqrt(x.size)
    mean = float(x.mean())
    return mean - half, mean + half


@dataclass(frozen=True)
class Column:
    """One leaderboard column for :func:`rank_stability`: per-method samples (rows: methods in ``methods`` order,
    columns: images or seeds), its direction, and the resampling group (columns of one group — e.g. the fusion metrics
    of one dataset — are resampled with the same indices, keeping images paired across metrics and methods).
    A column without a spread to resample (one seed) passes a single column of values."""

    values: NDArray[np.float64]
    higher_is_better: bool
    group: str


@dataclass(frozen=True)
class RankStability:
    rank: int  # the rank on the data as they are (1 = best Borda total; ties share the best rank)
    low: int  # 2.5th percentile of the bootstrap ranks
    high: int  # 97.5th percentile
    share_first: float  # fraction of resamples in which the method ranks first


def _borda_ranks(means: NDArray[np.float64], directions: NDArray[np.bool_]) -> NDArray[np.float64]:
    """means: (..., methods, columns) → competition ranks of the Borda totals (1 = best), over the last-but-one axis."""
    from scipy.stats import rankdata

    signed = np.where(directions, means, -means)
    n = means.shape[-2]
    points = n - rankdata(-signed, axis=-2, method="average")  # methods beaten, ties split
    total = points.sum(axis=-1)
    return rankdata(-total, axis=-1, method="min")


def rank_stability(
    methods: Sequence[str],
    columns: Sequence[Column],
    *,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> dict[str, RankStability]:
    """The bootstrap distribution of each method's Borda rank.

    Each resample draws, per group, images (or seeds) with replacement — the same draw for every column and method
    of the group — recomputes every column's mean, the Borda points (methods beaten, ties split) and the ranks.
    Methods with a missing value in any column are left out (the leaderboard gives them no Borda total either).

    >>> good = np.array([[9.0, 8, 9, 8, 9]]); bad = np.array([[1.0, 2, 1, 2, 1]])
    >>> cols = [Column(np.vstack([good[0], bad[0], good[0] - 0.5]), True, "d")]
    >>> r = rank_stability(["a", "b", "c"], cols)
    >>> (r["a"].rank, r["a"].low, r["a"].high), (r["b"].rank, r["b"].low, r["b"].high)
    ((1, 1, 1), (3, 3, 3))
    """
    k = len(methods)
    if k == 0 or not columns:
        return {}
    complete = np.ones(k, dtype=bool)
    for c in columns:
        if c.values.shape[0] != k:
            raise ValueError(f"a column has {c.values.shape[0]} rows for {k} methods")
        complete &= np.isfinite(c.values).all(axis=1) if c.values.shape[1] else False
    keep = np.flatnonzero(complete)
    if keep.size == 0:
        return {}
    rng = np.random.default_rng(seed)
    dirs = np.array([c.higher_is_better for c in columns])
    observed = np.stack([c.values[keep].mean(axis=1) for c in columns], axis=-1)
    rank0 = _borda_ranks(observed, dirs)
    # per group, one index draw shared by its columns
    sizes: dict[str, int] = {}
    for c in columns:
        if sizes.setdefault(c.group, c.values.shape[1]) != c.values.shape[1]:
            raise ValueError(f"columns of group '{c.group}' must have as many samples each")
    draws = {g: rng.integers(0, n, (n_resamples, n)) for g, n in sizes.items()}
    boot = np.empty((n_resamples, keep.size, len(columns)))
    for j, c in enumerate(columns):
        v = c.values[keep]  # (methods, samples)
        boot[:, :, j] = v[:, draws[c.group]].mean(axis=-1).T
    ranks = _borda_ranks(boot, dirs)  # (resamples, methods)
    alpha = (1.0 - confidence) / 2.0
    lo = np.quantile(ranks, alpha, axis=0, method="lower")
    hi = np.quantile(ranks, 1.0 - alpha, axis=0, method="higher")
    first = (ranks == 1).mean(axis=0)
    return {
        methods[i]: RankStability(int(rank0[j]), int(lo[j]), int(hi[j]), float(first[j])) for j, i in enumerate(keep)
    }
