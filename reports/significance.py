"""The report's statistics from its tidy frames: intervals, "not distinguishable from the best", rank stability.

Thin glue between the store's tidy frames and the pure functions of :mod:`ivifbench.reports.stats`; the tables and
renderers only show what these return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ivifbench.reports.stats import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Column,
    RankStability,
    bootstrap_ci,
    compare_to_best,
    rank_stability,
    seed_interval,
)

if TYPE_CHECKING:
    from ivifbench.reports.tables import Report

ALPHA = 0.05
TIE_NOTE = (
    "not distinguishable from the best: two-sided Wilcoxon signed-rank test over images against the column's best, "
    f"Holm-corrected, α = {ALPHA}"
)
FUSION_KEYS = ["dataset", "split", "convention", "metric"]
TASK_KEYS = ["dataset", "task", "protocol", "metric"]


def fusion_significance(
    images: pd.DataFrame,
    directions: dict[str, bool | None],
    *,
    alpha: float = 0.05,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Per ``dataset, split, convention, metric, method``: ``ci_low, ci_high`` (bootstrap 95 % over images),
    ``p_holm`` (Wilcoxon vs the column's best, Holm over the column) and ``tied`` (the best, or not distinguishable
    from it). ``images`` holds per-image rows (method, dataset, split, image, metric, convention, value);
    ``directions`` maps metric → higher is better (``None``: no best, no test)."""
    rows = []
    for (ds, split, conv, metric), g in images.groupby(FUSION_KEYS, sort=True):
        wide = g.pivot_table(index="image", columns="method", values="value", aggfunc="first")
        hib = directions.get(str(metric))
        paired = wide.dropna()  # images every method scored, for the paired test
        comp = (
            compare_to_best({m: paired[m].to_numpy() for m in paired.columns}, bool(hib), alpha=alpha)
            if hib is not None and len(paired) > 0
            else {}
        )
        for m in wide.columns:
            lo, hi = bootstrap_ci(wide[m].to_numpy(), n_resamples=n_resamples, seed=seed)
            c = comp.get(m)
            rows.append(
                {
                    "dataset": ds, "split": split, "convention": conv, "metric": metric, "method": m,
                    "ci_low": lo, "ci_high": hi,
                    "p_holm": c.p_holm if c else np.nan,
                    "tied": bool(c.tied_with_best) if c else False,
                    "best": bool(c is not None and np.isnan(c.pvalue) and c.tied_with_best),
                }
            )  # fmt: skip
    cols = [*FUSION_KEYS, "method", "ci_low", "ci_high", "p_holm", "tied", "best"]
    return pd.DataFrame(rows, columns=cols)


def task_intervals(task_seeds: pd.DataFrame) -> pd.DataFrame:
    """Per ``dataset, task, protocol, metric, method``: a Student-t 95 % interval over seeds (NaN under 3 seeds)."""
    rows = []
    for key, g in task_seeds.groupby([*TASK_KEYS, "method"], sort=True):
        lo, hi = seed_interval(g["value"].to_numpy())
        rows.append({**dict(zip([*TASK_KEYS, "method"], key, strict=True)), "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows, columns=[*TASK_KEYS, "method", "ci_low", "ci_high"])


@dataclass(frozen=True)
class LeaderboardColumn:
    """One ranked leaderboard column: ``kind`` ``fusion`` (where = dataset, split, convention) or ``task``
    (where = dataset, task, protocol), the metric and its direction."""

    kind: str
    where: tuple[str, str, str]
    metric: str
    higher_is_better: bool


def leaderboard_stability(
    methods: Sequence[str],
    columns: Sequence[LeaderboardColumn],
    images: pd.DataFrame,
    task_seeds: pd.DataFrame,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> dict[str, RankStability]:
    """Bootstrap distribution of each method's Borda rank over the leaderboard's columns: images are resampled per
    dataset/split (shared by its metrics, conventions and methods), seeds per task run; a task with one seed is
    held fixed."""
    mats: list[tuple[LeaderboardColumn, str, pd.DataFrame]] = []
    for c in columns:
        if c.kind == "fusion":
            ds, split, conv = c.where
            g = images[
                (images.dataset == ds) & (images.split == split) & (images.convention == conv)
                & (images.metric == c.metric)
            ]  # fmt: skip
            wide = g.pivot_table(index="method", columns="image", values="value", aggfunc="first")
            group = f"fusion:{ds}/{split}"
        else:
            ds, task, proto = c.where
            g = task_seeds[
                (task_seeds.dataset == ds) & (task_seeds.task == task) & (task_seeds.protocol == proto)
                & (task_seeds.metric == c.metric)
            ]  # fmt: skip
            wide = g.pivot_table(index="method", columns="seed", values="value", aggfunc="first")
            group = f"task:{task}/{ds}/{proto}"
        mats.append((c, group, wide.reindex(list(methods))))
    # per group, the samples (images/seeds) that every method with values in every column of the group has
    shared: dict[str, list[object]] = {}
    for _, group, wide in mats:
        present = wide.dropna(how="all")
        keep = [s for s in present.columns if present[s].notna().all()]
        shared[group] = keep if group not in shared else [s for s in shared[group] if s in set(keep)]
    cols = []
    for c, group, wide in mats:
        samples = shared[group] or list(wide.columns[:1])
        cols.append(Column(wide[samples].to_numpy(dtype=float), c.higher_is_better, group))
    return rank_stability(list(methods), cols, n_resamples=n_resamples, seed=seed)


def stability_text(r: RankStability) -> str:
    """``"2 (95 % in 1–3)"`` or ``"1 (always)"``."""
    if r.low == r.high == r.rank:
        return f"{r.rank} (always)"
    return f"{r.rank} (95 % in {r.low}–{r.high})"


def annotate(
    rep: Report, task_seeds: pd.DataFrame, *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> None:
    """Fill the report's tables with their statistics (in place): per fusion cell a bootstrap 95 % interval over images
    and whether it is not distinguishable from the column's best; per task cell with ≥ 3 seeds a t interval over
    seeds; per leaderboard row the 95 % range of its bootstrap Borda rank. Adds a note saying how, under each table."""
    images = rep.images
    seeds = task_seeds.drop(columns="unit_key", errors="ignore") if task_seeds is not None else pd.DataFrame()
    for t in rep.tables:
        src = t.source
        if t.kind == "fusion" and src and not images.empty:
            g = images[
                (images.dataset == src["dataset"]) & (images.split == src["split"])
                & (images.convention == src["convention"]) & images.method.isin(t.values.index)
                & images.metric.isin(t.values.columns)
            ]  # fmt: skip
            sig = fusion_significance(g, t.directions, alpha=ALPHA, n_resamples=n_resamples, seed=seed)
            for r in sig.itertuples():
                if np.isfinite(r.ci_low):
                    t.ci[(r.method, r.metric)] = (float(r.ci_low), float(r.ci_high))
                if r.tied and not r.best:
                    t.tied.add((r.method, r.metric))
            n_min = int(g.groupby(["method", "metric"]).size().min()) if not g.empty else 0
            if t.ci:
                t.notes.append(
                    f"[a, b]: 95 % bootstrap interval of the mean over images ({n_resamples} resamples, seed {seed})."
                )
            if n_min and 2.0 / 2.0**n_min >= ALPHA:
                # the smallest two-sided p over n pairs is 2/2ⁿ: with ≤ 5 images no difference can be significant
                t.tied.clear()
                if len(t.values.index) > 1:
                    t.notes.append(
                        f"{n_min} images are too few for the paired test to tell any two methods apart at α = {ALPHA}."
                    )
            elif t.tied:
                t.notes.append(f"≈ {TIE_NOTE}.")
        elif t.kind == "task" and src and not seeds.empty:
            g = seeds[
                (seeds.dataset == src["dataset"]) & (seeds.task == src["task"]) & (seeds.protocol == src["protocol"])
            ]
            if g.seed.nunique() >= 3:
                for r in task_intervals(g).itertuples():
                    if np.isfinite(r.ci_low):
                        t.ci[(r.method, r.metric)] = (float(r.ci_low), float(r.ci_high))
                if t.ci:
                    t.notes.append("[a, b]: 95 % Student-t interval of the mean over seeds.")
    lb = rep.leaderboard
    if lb is None or not lb.column_sources:
        return
    cols = [
        LeaderboardColumn(kind, (a, b, c), metric, bool(lb_dir))
        for col, (kind, a, b, c, metric) in lb.column_sources.items()
        if (lb_dir := _direction(rep, kind, a, b, c, metric)) is not None
    ]
    if not cols:
        return
    stab = leaderboard_stability(list(lb.values.index), cols, images, seeds, n_resamples=n_resamples, seed=seed)
    lb.rank_range = {m: (r.low, r.high) for m, r in stab.items()}
    if lb.rank_range:
        seeds_text = " and of each task's seeds" if any(c.kind == "task" for c in cols) else ""
        lb.notes.append(
            f"Rank (a–b): the 95 % range of the method's Borda rank over {n_resamples} bootstrap resamples of the "
            f"images (per dataset, shared by its metrics and methods){seeds_text} (seed {seed})."
        )


def _direction(rep: Report, kind: str, a: str, b: str, c: str, metric: str) -> bool | None:
    if kind == "fusion":
        f = rep.fusion
        hit = f[(f.dataset == a) & (f.split == b) & (f.convention == c) & (f.metric == metric)]
    else:
        f = rep.tasks
        hit = f[(f.dataset == a) & (f.task == b) & (f.protocol == c) & (f.metric == metric)]
    for v in hit.higher_is_better:
        if v is not None and not (isinstance(v, float) and np.isnan(v)):
            return bool(v)
    return None
