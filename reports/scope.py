"""What a report shows: the scope (methods, datasets, tasks, conventions) and the display options (names, order,
decimals, LaTeX layout), read from a run's suite as the store recorded it, or given by the caller.

By default a report shows what the latest run's suite names, so a method removed from the suite disappears from the
next report while its old results stay in the store (``--all`` shows them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivifbench.errors import IvifError

LAYOUTS = ("split", "wide", "landscape")


@dataclass
class Display:
    """How names, order and numbers are shown (the suite's ``report:`` section)."""

    names: dict[str, str] = field(default_factory=dict)  # method/dataset/metric id -> display name
    order: list[str] = field(default_factory=list)  # row order of the per-dataset tables (ids; the rest follow)
    decimals: dict[str, int] = field(default_factory=dict)  # metric -> decimals (overrides the metric's metadata)
    layout: str = "split"  # LaTeX: split wide tables by metric groups | table* | landscape (sidewaystable)

    def name(self, key: str) -> str:
        return self.names.get(key, key)

    def sort(self, ids: list[str]) -> list[str]:
        """``order`` first (as given), then the rest case-insensitively."""
        pos = {k: i for i, k in enumerate(self.order)}
        return sorted(ids, key=lambda k: (pos.get(k, len(pos)), k.lower(), k))

    @classmethod
    def from_config(cls, report: dict[str, Any] | None) -> Display:
        r = report or {}
        layout = str(r.get("layout") or "split")
        if layout not in LAYOUTS:
            raise IvifError(f"report.layout '{layout}': choose one of {', '.join(LAYOUTS)}")
        return cls(
            names={str(k): str(v) for k, v in (r.get("names") or {}).items()},
            order=[str(x) for x in (r.get("order") or [])],
            decimals={str(k): int(v) for k, v in (r.get("decimals") or {}).items()},
            layout=layout,
        )


@dataclass
class Scope:
    """What to include; ``None`` means no restriction on that axis."""

    label: str = "everything in the store"
    methods: set[str] | None = None
    datasets: set[str] | None = None
    tasks: set[tuple[str, str]] | None = None  # (task, dataset)
    conventions: dict[str, list[str]] | None = None  # dataset -> its conventions, the first is its primary one
    run: dict[str, Any] | None = None  # the run the scope comes from (its header line)

    def primary(self, dataset: str, available: list[str]) -> str | None:
        """The convention a dataset is ranked under in the leaderboard."""
        if self.conventions and self.conventions.get(dataset):
            for c in self.conventions[dataset]:
                if c in available:
                    return c
        if not available:
            return None
        return "canonical" if "canonical" in available else sorted(available)[0]


def suite_conventions(config: dict[str, Any]) -> dict[str, list[str]]:
    """Per dataset of a suite config (as stored by ``run``): its conventions, primary first.

    A dataset's own ``convention`` (one name or a list) wins; otherwise the suite's ``metrics.convention``.
    """
    metrics = config.get("metrics") or {}
    default = metrics.get("convention") or "canonical"
    default_list = [default] if isinstance(default, str) else list(default)
    out: dict[str, list[str]] = {}
    for d in config.get("datasets") or []:
        if not isinstance(d, dict) or "name" not in d:
            continue
        own = d.get("convention")
        convs = default_list if not own else ([own] if isinstance(own, str) else list(own))
        out[str(d["name"])] = list(dict.fromkeys(convs))
    return out


def scope_of_run(run: dict[str, Any], methods: list[str] | None = None) -> Scope:
    """The scope a run's suite names (its methods, datasets, tasks and conventions), optionally narrowed to
    ``methods``."""
    cfg = run.get("config") or {}
    suite_methods = [str(m["name"] if isinstance(m, dict) else m) for m in cfg.get("methods") or []]
    datasets = {str(d["name"] if isinstance(d, dict) else d) for d in cfg.get("datasets") or []}
    tasks = {(str(t["name"]), str(t["dataset"])) for t in cfg.get("tasks") or [] if isinstance(t, dict)}
    known = "methods" in cfg  # a run recorded without its suite (hand-made stores): no restriction
    chosen: set[str] | None = set(suite_methods) if known else None
    if methods:
        chosen = set(methods)
    label = f"suite '{run.get('suite')}' as of run {run.get('run_id')}"
    if not known:
        label = f"every result in the store (run {run.get('run_id')} recorded no suite)"
    if methods:
        label += f", methods {', '.join(methods)}"
    return Scope(
        label=label,
        methods=chosen,
        datasets=datasets if known else None,
        tasks=tasks if known else None,
        conventions=suite_conventions(cfg) or None,
        run=run,
    )


def choose_scope(
    runs: list[dict[str, Any]],
    *,
    suite: str | None = None,
    run_id: str | None = None,
    methods: list[str] | None = None,
    everything: bool = False,
) -> Scope:
    """The report scope: the latest run's suite (default), the latest run of ``suite``, run ``run_id``, or
    ``everything``; ``methods`` narrows any of them."""
    if everything:
        if suite or run_id:
            raise IvifError("--all shows every stored result; leave out --suite and --run")
        label = "every result in the store" + (f", methods {', '.join(methods)}" if methods else "")
        return Scope(label=label, methods=set(methods) if methods else None, run=runs[-1] if runs else None)
    if run_id:
        hit = [r for r in runs if r.get("run_id") == run_id]
        if not hit:
            known = ", ".join(str(r.get("run_id")) for r in runs[-5:]) or "none"
            raise IvifError(f"--run {run_id}: no such run in the store (latest: {known})")
        return scope_of_run(hit[-1], methods)
    if suite:
        hit = [r for r in runs if r.get("suite") == suite]
        if not hit:
            known = ", ".join(sorted({str(r.get("suite")) for r in runs})) or "none"
            raise IvifError(f"--suite {suite}: no run of that suite in the store (suites: {known})")
        return scope_of_run(hit[-1], methods)
    if not runs:  # a store written without the runner (tests, the API): everything
        return Scope(methods=set(methods) if methods else None)
    return scope_of_run(runs[-1], methods)
