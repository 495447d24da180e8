"""Store → tidy pandas frames → tables. Renderers (md, tex, csv, html) only format what these functions return.

Directions (``higher_is_better``) come from the metric metadata recorded in the store by the unit that made the
numbers (the metric registry for fusion metrics, the task's ``metric_directions`` for task metrics); so do each task's
headline metrics (the task's ``headline``, stored with each metric's info) and its sample sizes and notes (the task
unit's payload).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ivifbench.reports.cells import auto_decimals
from ivifbench.reports.scope import Display, Scope, choose_scope
from ivifbench.store import ResultsStore


@dataclass
class Table:
    """One rendered table: rows are methods, columns are metrics; values and stds as numbers; notes go underneath.

    Row and column keys are ids (method, metric); ``row_labels`` / ``labels`` hold what a reader sees.
    """

    title: str
    key: str  # a file-name-safe id
    values: pd.DataFrame  # index: method, columns: column keys
    std: pd.DataFrame | None
    directions: dict[str, bool | None]  # column -> higher_is_better
    notes: list[str] = field(default_factory=list)
    flags: dict[tuple[str, str], str] = field(default_factory=dict)  # (method, column) -> marker, e.g. "†"
    row_flags: dict[str, str] = field(default_factory=dict)  # method -> marker
    extra: pd.DataFrame | None = None  # extra columns shown as they are (ranks), not ranked
    kind: str = "fusion"
    full: pd.DataFrame | None = None  # the leaderboard's every column (for CSV)
    decimals: dict[str, int] = field(default_factory=dict)  # column -> decimals shown
    labels: dict[str, str] = field(default_factory=dict)  # column -> header text (default: the key)
    row_labels: dict[str, str] = field(default_factory=dict)  # method -> display name (default: the id)
    dataset: str | None = None
    convention: str | None = None
    # where the numbers come from (fusion: dataset, split, convention; task: dataset, task, protocol), per column for
    # the leaderboard; read by reports/significance.py
    source: dict[str, str] = field(default_factory=dict)
    column_sources: dict[str, tuple[str, str, str, str, str]] = field(
        default_factory=dict
    )  # col -> (kind, 3×where, metric)
    # statistics (reports/significance.py): 95 % interval per cell, cells not distinguishable from the best, and the
    # leaderboard's bootstrap rank range per method
    ci: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    tied: set[tuple[str, str]] = field(default_factory=set)
    rank_range: dict[str, tuple[int, int]] = field(default_factory=dict)

    def label(self, col: str) -> str:
        return self.labels.get(col, col)

    def row_label(self, method: str) -> str:
        return self.row_labels.get(method, method)

    def best_two(self, col: str) -> tuple[set[str], set[str]]:
        """Methods holding the best and second-best value of ``col`` as shown (ties share), by the column's direction.

        No marks when every shown value ties (AP = 0 for every method is not "best").
        """
        hib = self.directions.get(col)
        if hib is None:
            return set(), set()
        s = self.values[col].dropna()
        if s.empty:
            return set(), set()
        d = self.decimals.get(col, 12)
        shown = {m: round(float(v), d) for m, v in s.items()}
        uniq = sorted(set(shown.values()), reverse=bool(hib))
        if len(uniq) < 2:
            return set(), set()
        best = {m for m, v in shown.items() if v == uniq[0]}
        second = {m for m, v in shown.items() if v == uniq[1]}
        return best, second


@dataclass
class Report:
    fusion: pd.DataFrame  # tidy: dataset, split, convention, method, metric, mean, std, n, higher_is_better
    tasks: pd.DataFrame  # tidy: dataset, task, protocol, method, metric, mean, std, n, higher_is_better
    tables: list[Table]
    leaderboard: Table | None
    methods: dict[str, dict[str, Any]]
    run: dict[str, Any] | None
    skipped: dict[str, str]
    failures: pd.DataFrame
    fused: pd.DataFrame
    images: pd.DataFrame  # per-image values (for the HTML figures)
    scope: Scope = field(default_factory=Scope)
    display: Display = field(default_factory=Display)
    sensitivity: list[Table] = field(default_factory=list)  # per dataset: rank under each convention

    def method_order(self, methods: Any) -> list[str]:
        return self.display.sort([str(m) for m in methods])


def _in_domain(methods: dict[str, dict[str, Any]], method: str, dataset: str, synthetic: set[str]) -> bool:
    """Was ``method`` trained on ``dataset``? (Never for a synthetic replica of it.)"""
    if dataset in synthetic:
        return False
    trained = methods.get(method, {}).get("trained_on") or []
    return dataset.lower() in {str(t).lower() for t in trained}


def _metric_meta() -> tuple[list[str], dict[str, int]]:
    """The built-in metric order and their decimals (empty when the metric package cannot be imported)."""
    try:
        from ivifbench.metrics.catalogue import METRICS, ORDER
    except ImportError:  # pragma: no cover
        return [], {}
    decimals = {n: METRICS.get(n).decimals for n in METRICS.names()}
    return list(ORDER), {n: d for n, d in decimals.items() if d is not None}


def _decimals(col: str, values: Any, display: Display, meta: dict[str, int]) -> int:
    if col in display.decimals:
        return display.decimals[col]
    if col in meta:
        return meta[col]
    return auto_decimals(values)


def _filter(frame: pd.DataFrame, scope: Scope, *, task: bool = False) -> pd.DataFrame:
    if frame.empty:
        return frame
    keep = pd.Series(True, index=frame.index)
    if scope.methods is not None:
        keep &= frame.method.isin(scope.methods)
    if task:
        if scope.tasks is not None:
            keep &= np.array(
                [(t, d) in scope.tasks for t, d in zip(frame.task, frame.dataset, strict=True)], dtype=bool
            )
    else:
        if scope.datasets is not None:
            keep &= frame.dataset.isin(scope.datasets)
        if scope.conventions is not None:
            keep &= np.array(
                [c in scope.conventions.get(d, ()) for d, c in zip(frame.dataset, frame.convention, strict=True)],
                dtype=bool,
            )
    return frame[keep]


def build_report(
    store_path: str | Path, scope: Scope | None = None, display: Display | None = None, **choose: Any
) -> Report:
    """Read the store and build every table within ``scope`` (default: the latest run's suite; ``choose`` passes
    ``suite=``, ``run_id=``, ``methods=``, ``everything=`` to :func:`~ivifbench.reports.scope.choose_scope`)."""
    with ResultsStore(store_path, readonly=True) as store:
        img = store.frame("image_metrics")
        tr = store.frame("task_results")
        fused = store.frame("fused")
        units = store.frame("units")
        methods = store.method_infos()
        directions = store.metric_directions()
        runs = store.runs()
        headline = _headlines(store.frame("metric_info"))
    if scope is None:
        scope = choose_scope(runs, **choose)
    run = scope.run if scope.run is not None else (runs[-1] if runs else None)
    if display is None:
        display = Display.from_config(((run or {}).get("config") or {}).get("report"))
    order, meta_decimals = _metric_meta()
    skipped = dict((run or {}).get("manifest", {}).get("skipped_methods") or {})
    if scope.methods is not None:
        skipped = {m: why for m, why in skipped.items() if m in scope.methods}
    synthetic = {
        name
        for r in runs
        for name, d in (r.get("manifest", {}).get("datasets") or {}).items()
        if isinstance(d, dict) and d.get("synthetic")
    }
    ok_units = set(units.loc[units.status == "ok", "key"]) if not units.empty else set()
    img = _filter(img[img.unit_key.isin(ok_units)] if not img.empty else img, scope)
    tr = _filter(tr[tr.unit_key.isin(ok_units)] if not tr.empty else tr, scope, task=True)
    fused = fused if fused.empty or scope.methods is None else fused[fused.method.isin(scope.methods)]
    if not fused.empty and scope.datasets is not None:
        fused = fused[fused.dataset.isin(scope.datasets)]
    failures = units[units.status == "failed"] if not units.empty else units
    if not failures.empty:
        keep = pd.Series(True, index=failures.index)
        if scope.methods is not None:
            keep &= failures.method.isin(scope.methods)
        if scope.datasets is not None:
            keep &= failures.dataset.isin(scope.datasets)
        failures = failures[keep]

    if not img.empty:
        fus = (
            img.groupby(["dataset", "split", "convention", "method", "metric"], sort=True)["value"]
            .agg(mean="mean", std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, n="count")
            .reset_index()
        )
        fus["higher_is_better"] = [directions.get((m, "fusion")) for m in fus.metric]
    else:
        fus = pd.DataFrame(
            columns=["dataset", "split", "convention", "method", "metric", "mean", "std", "n", "higher_is_better"]
        )
    if not tr.empty:
        tsk = (
            tr.groupby(["dataset", "task", "protocol", "method", "metric"], sort=True)["value"]
            .agg(mean="mean", std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, n="count")
            .reset_index()
        )
        tsk["higher_is_better"] = [directions.get((m, t)) for m, t in zip(tsk.metric, tsk.task, strict=True)]
    else:
        tsk = pd.DataFrame(
            columns=["dataset", "task", "protocol", "method", "metric", "mean", "std", "n", "higher_is_better"]
        )

    def metric_sort(cols: Any) -> list[str]:
        pos = {m: i for i, m in enumerate(order)}
        return sorted(cols, key=lambda c: (pos.get(c, len(pos)), str(c).lower()))

    tables: list[Table] = []
    split_counts = fus.groupby("dataset")["split"].nunique().to_dict() if not fus.empty else {}
    conv_counts = fus.groupby("dataset")["convention"].nunique().to_dict() if not fus.empty else {}
    for (ds, split, conv), g in fus.groupby(["dataset", "split", "convention"], sort=True):
        vals = g.pivot(index="method", columns="metric", values="mean")
        rows = display.sort(list(vals.index))
        cols = metric_sort(vals.columns)
        vals = vals.loc[rows, cols]
        std = g.pivot(index="method", columns="metric", values="std").loc[rows, cols]
        n = g.pivot(index="method", columns="metric", values="n")
        dirs = {m: _first(g.loc[g.metric == m, "higher_is_better"]) for m in vals.columns}
        label = display.name(ds) if split_counts.get(ds, 1) == 1 else f"{display.name(ds)}/{split}"
        notes = [
            f"Fusion metrics on {display.name(ds)} (split {split}), convention '{conv}'; mean ± std over "
            f"{_n_text(n)} images; ↑ higher is better, ↓ lower is better."
        ]
        row_flags = {m: "†" for m in vals.index if _in_domain(methods, m, ds, synthetic)}
        if row_flags:
            notes.append("† the method was trained on this dataset (in-domain).")
        tables.append(
            Table(
                title=f"Fusion metrics — {label} ({conv})",
                key=f"fusion-{ds}-{split}-{conv}",
                values=vals,
                std=std,
                directions=dirs,
                notes=notes,
                row_flags=row_flags,
                kind="fusion",
                decimals={c: _decimals(c, vals[c], display, meta_decimals) for c in cols},
                labels={c: display.name(c) for c in cols},
                row_labels={m: display.name(m) for m in rows},
                dataset=ds,
                convention=conv,
                source={"dataset": ds, "split": split, "convention": conv},
            )
        )
    # the suite's dataset order, each dataset's primary convention first
    ds_pos = {d: i for i, d in enumerate(scope.conventions or {})}
    conv_pos = {(d, c): i for d, cs in (scope.conventions or {}).items() for i, c in enumerate(cs)}
    tables.sort(key=lambda t: (ds_pos.get(t.dataset or "", len(ds_pos)), t.dataset or "", t.key.rsplit("-", 1)[0],
                               conv_pos.get((t.dataset or "", t.convention or ""), 99), t.convention or ""))  # fmt: skip
    task_overrides = _task_overrides(units)
    samples = _task_samples(units)
    for (ds, task, proto), g in tsk.groupby(["dataset", "task", "protocol"], sort=True):
        vals = g.pivot(index="method", columns="metric", values="mean")
        head = [c for c in headline.get(task, []) if c in vals.columns]
        rest = [c for c in vals.columns if c not in head]
        rows = display.sort(list(vals.index))
        vals = vals.loc[rows, head + sorted(rest, key=lambda c: ("/" in c, c.lower()))]
        std = g.pivot(index="method", columns="metric", values="std").loc[rows, vals.columns]
        seeds = sorted(set(tr.loc[(tr.dataset == ds) & (tr.task == task) & (tr.protocol == proto), "seed"].astype(int)))
        dirs = {m: _first(g.loc[g.metric == m, "higher_is_better"]) for m in vals.columns}
        ov = task_overrides.get((task, ds, proto))
        notes = [
            f"Task {task} on {display.name(ds)}, protocol '{proto}'"
            + (f" with overrides {ov}" if ov else "")
            + (f"; mean ± std over seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else f"; seed {seeds[0]}")
            + "; each method's fused images replace the inputs."
        ]
        notes.extend(samples.get((task, ds, proto), []))
        row_flags = {m: "†" for m in vals.index if _in_domain(methods, m, ds, synthetic)}
        if row_flags:
            notes.append("† the method was trained on this dataset (in-domain).")
        tables.append(
            Table(
                title=f"{task.capitalize()} — {display.name(ds)}",
                key=f"task-{task}-{ds}-{proto}",
                values=vals,
                std=std if len(seeds) > 1 else None,
                directions=dirs,
                notes=notes,
                row_flags=row_flags,
                kind="task",
                decimals={c: _decimals(c, vals[c], display, {}) for c in vals.columns},
                labels={c: display.name(c) for c in vals.columns},
                row_labels={m: display.name(m) for m in rows},
                dataset=ds,
                source={"dataset": ds, "task": task, "protocol": proto},
            )
        )
    primary = {
        ds: scope.primary(ds, sorted(g.convention.unique())) for ds, g in fus.groupby("dataset")
    } if not fus.empty else {}  # fmt: skip
    ranked_fus = (
        fus[[primary.get(d) == c for d, c in zip(fus.dataset, fus.convention, strict=True)]] if primary else fus
    )
    leaderboard = _leaderboard(ranked_fus, tsk, methods, split_counts, synthetic, display, conv_counts, headline)
    rep = Report(
        fusion=fus,
        tasks=tsk,
        tables=tables,
        leaderboard=leaderboard,
        methods=methods,
        run=run,
        skipped=skipped,
        failures=failures,
        fused=fused,
        images=img,
        scope=scope,
        display=display,
        sensitivity=_sensitivity(fus, display, primary),
    )
    from ivifbench.reports.significance import annotate

    annotate(rep, tr)  # intervals, ties with the best, rank stability
    return rep


def _first(s: pd.Series) -> bool | None:
    for v in s:
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            return bool(v)
    return None


def _n_text(n: pd.DataFrame) -> str:
    vals = sorted({int(v) for v in n.to_numpy().ravel() if not pd.isna(v)})
    return str(vals[0]) if len(vals) == 1 else f"{vals[0]}–{vals[-1]}"


def _headlines(info: pd.DataFrame) -> dict[str, list[str]]:
    """Each task's headline metrics in the task's order, as its units recorded them (``info_json["headline"]``)."""
    ranked: dict[str, list[tuple[int, str]]] = {}
    for r in info.itertuples() if not info.empty else ():
        try:
            pos = json.loads(r.info_json).get("headline")
        except (ValueError, TypeError, AttributeError):
            pos = None
        if isinstance(pos, int) and r.source != "fusion":
            ranked.setdefault(r.source, []).append((pos, r.name))
    return {task: [name for _, name in sorted(items)] for task, items in ranked.items()}


def _task_samples(units: pd.DataFrame) -> dict[tuple[str, str, str], list[str]]:
    """Per (task, dataset, protocol): the sample sizes and the notes the task runs recorded (a split reused, small n)."""
    found: dict[tuple[str, str, str], dict[str, set[str]]] = {}
    if units.empty or "payload_json" not in units:
        return {}
    for r in units[(units.kind == "task") & (units.status == "ok")].itertuples():
        try:
            payload = json.loads(r.payload_json)
        except (ValueError, TypeError):
            continue
        slot = found.setdefault((r.task, r.dataset, r.protocol), {"n": set(), "notes": set()})
        n = payload.get("n") or {}
        if n:
            slot["n"].add(", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(n.items())))
        slot["notes"].update(str(x) for x in payload.get("notes") or [])
    out: dict[tuple[str, str, str], list[str]] = {}
    for key, slot in found.items():
        lines = [f"n: {'; '.join(sorted(slot['n']))}."] if slot["n"] else []
        lines += [f"Note: {x}." for x in sorted(slot["notes"])]
        out[key] = lines
    return out


def _task_overrides(units: pd.DataFrame) -> dict[tuple[str, str, str], str]:
    out: dict[tuple[str, str, str], str] = {}
    if units.empty:
        return out
    for r in units[(units.kind == "task") & (units.status == "ok")].itertuples():
        try:
            ov = json.loads(r.spec_json).get("overrides") or {}
        except (ValueError, TypeError):
            ov = {}
        ov = {k: v for k, v in ov.items() if k != "device"}
        if ov:
            out[(r.task, r.dataset, r.protocol)] = ", ".join(f"{k}={v}" for k, v in sorted(ov.items()))
    return out


def _ranks(values: pd.Series, higher_is_better: bool) -> pd.Series:
    """1 = best; ties share the mean rank; missing values get no rank."""
    return values.rank(ascending=not higher_is_better, method="average")


def _leaderboard(
    fus: pd.DataFrame,
    tsk: pd.DataFrame,
    methods: dict[str, dict[str, Any]],
    split_counts: dict[str, int],
    synthetic: set[str],
    display: Display | None = None,
    conv_counts: dict[str, int] | None = None,
    headline: dict[str, list[str]] | None = None,
) -> Table | None:
    """Borda and mean rank over every dataset's fusion metrics (each dataset once, under its primary convention: ``fus``
    holds only those rows) and each task's headline numbers."""
    display = display or Display()
    headline = headline or {}
    cols: dict[str, pd.Series] = {}
    dirs: dict[str, bool | None] = {}
    flags: dict[tuple[str, str], str] = {}
    conv_notes: set[str] = set()
    kinds: dict[str, str] = {}
    groups: dict[str, str] = {}  # fusion column -> its dataset group (one summary column per group)
    sources: dict[str, tuple[str, str, str, str, str]] = {}
    labels: dict[str, str] = {}
    group_ds: dict[str, str] = {}
    for (ds, split, conv, metric), g in fus.groupby(["dataset", "split", "convention", "metric"], sort=True):
        group = ds if split_counts.get(ds, 1) == 1 else f"{ds}/{split}"
        name = f"{group} {metric}"
        sources[name] = ("fusion", ds, split, conv, metric)
        groups[name] = group
        group_ds[group] = ds
        cols[name] = g.set_index("method")["mean"]
        dirs[name] = _first(g.higher_is_better)
        kinds[name] = "fusion"
        conv_notes.add(f"{display.name(ds)}: {conv}")
        for m in g.method:
            if _in_domain(methods, m, ds, synthetic):
                flags[(m, name)] = "†"
    protos: set[str] = set()
    for (ds, task, proto, metric), g in tsk.groupby(["dataset", "task", "protocol", "metric"], sort=True):
        if metric not in headline.get(task, []) and (task in headline or "/" in metric):
            continue  # a task without recorded headline metrics shows its overall (not per-class) numbers
        name = f"{task} {ds} {metric}"
        labels[name] = f"{task} {display.name(ds)} {display.name(metric)}"
        if tsk.protocol.nunique() > 1:
            name += f" ({proto})"
        cols[name] = g.set_index("method")["mean"]
        sources[name] = ("task", ds, task, proto, metric)
        dirs[name] = _first(g.higher_is_better)
        kinds[name] = "task"
        protos.add(f"{task}: {proto}")
        for m in g.method:
            if _in_domain(methods, m, ds, synthetic):
                flags[(m, name)] = "†"
    if not cols:
        return None
    vals = pd.DataFrame(cols)
    vals.index.name = "method"
    ranked = [c for c in vals.columns if dirs.get(c) is not None]
    borda = pd.DataFrame(index=vals.index)
    for c in ranked:
        r = _ranks(vals[c], bool(dirs[c]))
        n = vals[c].notna().sum()
        borda[c] = n - r  # Borda points: how many methods this one beats in this column (ties split)
    fusion_cols = [c for c in ranked if kinds[c] == "fusion"]
    complete = vals[ranked].notna().all(axis=1)
    complete_f = vals[fusion_cols].notna().all(axis=1) if fusion_cols else pd.Series(False, index=vals.index)
    extra = pd.DataFrame(index=vals.index)
    extra["Borda"] = borda[ranked].sum(axis=1).where(complete)
    extra["Borda (fusion)"] = borda[fusion_cols].sum(axis=1).where(complete_f) if fusion_cols else np.nan
    mean_rank = pd.DataFrame({c: _ranks(vals[c], bool(dirs[c])) for c in ranked}).mean(axis=1)
    extra["mean rank"] = mean_rank.where(complete)
    extra["_name"] = [str(m).lower() for m in extra.index]
    order = extra.sort_values(
        ["Borda", "Borda (fusion)", "_name"], ascending=[False, False, True], na_position="last"
    ).index
    extra = extra.drop(columns="_name")
    rank = extra.loc[order, "Borda"].rank(ascending=False, method="min")
    extra["rank"] = rank
    vals, extra = vals.loc[order], extra.loc[order]
    # shown: one "fusion rank" per dataset (mean rank over its metrics) and each task's headline numbers; the full
    # per-metric table goes to leaderboard.csv and the per-dataset tables
    shown = pd.DataFrame(index=vals.index)
    shown_dirs: dict[str, bool | None] = {}
    shown_flags: dict[tuple[str, str], str] = {}
    n_metrics: dict[str, int] = {}
    for group in dict.fromkeys(groups.values()):
        members = [c for c in ranked if groups.get(c) == group]
        if not members:
            continue
        col = f"{group} fusion rank"
        ds_label = display.name(group_ds[group]) + group[len(group_ds[group]) :]
        labels[col] = f"{ds_label} fusion rank"
        ranks = pd.DataFrame({c: _ranks(vals[c], bool(dirs[c])) for c in members})
        shown[col] = ranks.mean(axis=1).where(vals[members].notna().all(axis=1))
        shown_dirs[col] = False
        n_metrics[group] = len(members)
        for m in vals.index:
            if _in_domain(methods, m, group_ds[group], synthetic):
                shown_flags[(m, col)] = "†"
    for c in vals.columns:
        if kinds[c] == "task":
            shown[c] = vals[c]
            shown_dirs[c] = dirs[c]
            if m_c := [k for k in flags if k[1] == c]:
                shown_flags.update({k: flags[k] for k in m_c})
    metric_counts = sorted(set(n_metrics.values()))
    notes = [
        "Consolidated leaderboard. '<dataset> fusion rank': the method's mean rank over that dataset's "
        f"{'/'.join(map(str, metric_counts))} fusion metrics (1 = best; the values are in the tables below and every "
        "column is in leaderboard.csv); task columns: each task's headline numbers. Borda = the number of methods a "
        "row beats, summed over every fusion-metric and task column (ties split); a row with a missing cell gets no "
        "Borda total and no mean rank. 'Borda (fusion)' sums the fusion-metric columns only.",
        "Ranked under the convention: " + "; ".join(sorted(conv_notes)) + "." if conv_notes else "",
        "Each dataset counts once, under its first convention; the per-convention tables and the convention-sensitivity"
        " table show the others."
        if any(v > 1 for v in (conv_counts or {}).values())
        else "",
        "Task protocols: " + "; ".join(sorted(protos)) + "." if protos else "",
    ]
    if flags:
        notes.append("† the method was trained on this dataset (in-domain).")
    return Table(
        title="Leaderboard",
        key="leaderboard",
        values=shown,
        std=None,
        directions=shown_dirs,
        notes=[n for n in notes if n],
        flags=shown_flags,
        full=vals,
        column_sources={c: sources[c] for c in ranked},
        extra=extra[["rank", "Borda", "Borda (fusion)", "mean rank"]],
        kind="leaderboard",
        decimals={c: (2 if c.endswith("fusion rank") else auto_decimals(shown[c])) for c in shown.columns},
        labels=labels,
        row_labels={m: display.name(str(m)) for m in shown.index},
    )


def _sensitivity(fus: pd.DataFrame, display: Display, primary: dict[str, str | None]) -> list[Table]:
    """Per dataset scored under two or more conventions: each method's rank under each (from its mean rank over the
    metrics every one of those conventions has), and the largest change of rank."""
    out: list[Table] = []
    if fus.empty:
        return out
    for (ds, split), g in fus.groupby(["dataset", "split"], sort=True):
        convs = sorted(g.convention.unique(), key=lambda c: (c != primary.get(ds), c))
        if len(convs) < 2:
            continue
        per_conv = [set(g.loc[g.convention == c, "metric"]) for c in convs]
        pos = {m: i for i, m in enumerate(_metric_meta()[0])}
        common = sorted(set.intersection(*per_conv), key=lambda m: (pos.get(m, len(pos)), m.lower()))
        metrics_note = f"the {len(common)} metrics every convention has ({', '.join(common)})"
        if not common:
            common = sorted(set.union(*per_conv))
            metrics_note = "each convention's own metrics (they share none)"
        ranks = pd.DataFrame()
        for c in convs:
            gc = g[(g.convention == c) & g.metric.isin(common)]
            vals = gc.pivot(index="method", columns="metric", values="mean")
            dirs = {m: _first(gc.loc[gc.metric == m, "higher_is_better"]) for m in vals.columns}
            cols = [m for m in vals.columns if dirs.get(m) is not None]
            if not cols:
                continue
            per_metric = pd.DataFrame({m: _ranks(vals[m], bool(dirs[m])) for m in cols})
            mean_rank = per_metric.mean(axis=1).where(vals[cols].notna().all(axis=1))
            ranks[c] = mean_rank.rank(method="min")
        if ranks.shape[1] < 2:
            continue
        rows = display.sort(list(ranks.index))
        ranks = ranks.loc[rows]
        change = ranks.max(axis=1) - ranks.min(axis=1)
        extra = pd.DataFrame({"max change": change})
        label = (
            display.name(ds) if fus.loc[fus.dataset == ds, "split"].nunique() == 1 else f"{display.name(ds)}/{split}"
        )
        out.append(
            Table(
                title=f"Convention sensitivity — {label}",
                key=f"sensitivity-{ds}-{split}",
                values=ranks,
                std=None,
                directions={c: None for c in ranks.columns},  # ranks are shown, not ranked again
                notes=[
                    f"Each method's rank on {label} under each convention (1 = best), from its mean rank over "
                    f"{metrics_note}; 'max change' is the largest difference between two conventions' ranks."
                ],
                extra=extra,
                kind="sensitivity",
                decimals=dict.fromkeys(ranks.columns, 0),
                row_labels={m: display.name(m) for m in rows},
                dataset=ds,
            )
        )
    return out
