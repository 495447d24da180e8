"""``run`` a suite and ``load_results`` of a results folder as tidy pandas DataFrames."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivifbench.errors import IvifError

if TYPE_CHECKING:
    import pandas as pd

    from ivifbench.benchmarks.runner import RunSummary

SCOPES = ("all", "latest")


def _store_path(out: str | Path) -> Path:
    p = Path(out)
    db = p if p.suffix == ".db" else p / "results.db"
    if not db.is_file():
        raise IvifError(f"{db}: no results store; run `ivifbench run --out {p}` (or ivifbench.run) first")
    return db


@dataclass
class Results:
    """A results folder read as tidy DataFrames (each read once, on first use).

    Attributes:
        out: the results folder.
        scope: ``"all"`` (everything in the store), ``"latest"`` (the methods, datasets and tasks the latest run's
            suite names) or a run id (what that run's suite names).
        summary: what :func:`run` did, when these results come from it.
    """

    out: Path
    scope: str = "all"
    summary: RunSummary | None = None

    @cached_property
    def _raw(self) -> dict[str, Any]:
        from ivifbench.store import ResultsStore

        with ResultsStore(_store_path(self.out), readonly=True) as store:
            units = store.frame("units")
            raw = {
                "images": store.frame("image_metrics"),
                "task_results": store.frame("task_results"),
                "units": units,
                "runs": store.runs(),
                "directions": store.metric_directions(),
            }
        ok = set(units.loc[units.status == "ok", "key"])
        for name in ("images", "task_results"):
            raw[name] = raw[name][raw[name].unit_key.isin(ok)]
        return self._scoped(raw)

    def _scoped(self, raw: dict[str, Any]) -> dict[str, Any]:
        if self.scope == "all":
            return raw
        runs = raw["runs"]
        if self.scope == "latest":
            run = runs[-1] if runs else None
        else:
            run = next((r for r in runs if r["run_id"] == self.scope), None)
            if run is None:
                ids = ", ".join(r["run_id"] for r in runs[-5:]) or "none"
                raise IvifError(f"{self.out}: no run '{self.scope}' (scopes: all, latest or a run id; recent: {ids})")
        if run is None:
            return raw
        cfg = run["config"]
        methods = {m["name"] for m in cfg.get("methods", [])}
        datasets = {d["name"] for d in cfg.get("datasets", [])}
        tasks = {(t["name"], t["dataset"]) for t in cfg.get("tasks", [])}
        im = raw["images"]
        raw["images"] = im[im.method.isin(methods) & im.dataset.isin(datasets)]
        tr = raw["task_results"]
        keep = [(t, d) in tasks and m in methods for t, d, m in zip(tr.task, tr.dataset, tr.method, strict=True)]
        raw["task_results"] = tr[keep] if len(tr) else tr
        raw["runs"] = [run]
        return raw

    # -- tidy tables --------------------------------------------------------------------------------------------------
    @property
    def images(self) -> pd.DataFrame:
        """Per-image fusion metrics: ``method, dataset, split, image, metric, convention, value``."""
        return self._raw["images"].drop(columns="unit_key").reset_index(drop=True)

    @property
    def fusion(self) -> pd.DataFrame:
        """Fusion metrics per method and dataset: ``dataset, split, convention, method, metric, mean, std, n,
        higher_is_better`` (std over images, ddof=1)."""
        return _aggregate(self.images, ["dataset", "split", "convention", "method", "metric"], self._raw, "fusion")

    @property
    def task_results(self) -> pd.DataFrame:
        """Downstream numbers per seed: ``method, dataset, task, protocol, seed, metric, value``."""
        return self._raw["task_results"].drop(columns="unit_key").reset_index(drop=True)

    @property
    def tasks(self) -> pd.DataFrame:
        """Downstream numbers over seeds: ``dataset, task, protocol, method, metric, mean, std, n,
        higher_is_better``."""
        return _aggregate(self.task_results, ["dataset", "task", "protocol", "method", "metric"], self._raw, "task")

    @property
    def runs(self) -> pd.DataFrame:
        """One row per run: ``run_id, suite, suite_version, started, finished, status, n_ok, n_failed, n_cached,
        git_revision, host, seconds``."""
        import pandas as pd

        rows = []
        for r in self._raw["runs"]:
            man = r.get("manifest", {})
            rows.append(
                {
                    **{k: r.get(k) for k in ("run_id", "suite", "suite_version", "started", "finished", "status")},
                    **{k: r.get(k) for k in ("n_ok", "n_failed", "n_cached")},
                    "git_revision": man.get("git_revision"),
                    "host": man.get("host"),
                    "seconds": (man.get("timings") or {}).get("total_seconds"),
                }
            )
        return pd.DataFrame(rows)

    @property
    def failures(self) -> pd.DataFrame:
        """Failed units: ``kind, method, dataset, split, task, seed, error``."""
        u = self._raw["units"]
        cols = ["kind", "method", "dataset", "split", "task", "seed", "error"]
        return u.loc[u.status == "failed", cols].reset_index(drop=True)

    def leaderboard(self, dataset: str | None = None, convention: str | None = None) -> pd.DataFrame:
        """Mean fusion metrics as a methods × metrics table (one dataset and convention: the first unless named)."""
        f = self.fusion
        if f.empty:
            import pandas as pd

            return pd.DataFrame()
        ds = dataset or str(f.dataset.iloc[0])
        conv = convention or str(f.convention.iloc[0])
        g = f[(f.dataset == ds) & (f.convention == conv)]
        table = g.pivot_table(index="method", columns="metric", values="mean")
        table.columns.name = None
        return table

    def significance(self, alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
        """Per dataset, split, convention, metric and method: bootstrap 95 % interval of the mean over images
        (``ci_low``, ``ci_high``; seeded), Holm-corrected Wilcoxon p against the column's best (``p_holm``), and
        ``tied`` (the best, or not distinguishable from it at ``alpha``)."""
        from ivifbench.reports.significance import fusion_significance

        dirs = {m: d for (m, src), d in self._raw["directions"].items() if src == "fusion"}
        return fusion_significance(self.images, dirs, alpha=alpha, seed=seed)

    def export(self, path: str | Path, format: str = "json", per_image: bool = False) -> list[Path]:
        """Write the results as files to share (as ``ivifbench export``): one JSON document, or CSV/Parquet tables."""
        from ivifbench.reports.export import write_export

        return write_export(_store_path(self.out), path, format, per_image=per_image)

    def report(self, out: str | Path | None = None, formats: tuple[str, ...] = ("md", "csv")) -> list[Path]:
        """Write the report tables (``md``, ``tex``, ``csv``, ``html``) under ``out`` (default ``OUT/report``)."""
        from ivifbench.reports import write_reports

        return write_reports(_store_path(self.out), out or Path(self.out) / "report", formats=formats)

    def __repr__(self) -> str:
        return f"Results({str(self.out)!r}, scope={self.scope!r})"


def _aggregate(long: pd.DataFrame, keys: list[str], raw: dict[str, Any], kind: str) -> pd.DataFrame:
    import pandas as pd

    cols = [*keys, "mean", "std", "n", "higher_is_better"]
    if long.empty:
        return pd.DataFrame(columns=cols)
    agg = long.groupby(keys, sort=True)["value"].agg(["mean", "std", "count"]).reset_index()
    agg = agg.rename(columns={"count": "n"})
    dirs = raw["directions"]
    if kind == "fusion":
        agg["higher_is_better"] = [dirs.get((m, "fusion")) for m in agg.metric]
    else:
        agg["higher_is_better"] = [dirs.get((m, t)) for m, t in zip(agg.metric, agg.task, strict=True)]
    return agg[cols]


def load_results(out: str | Path, scope: str = "all") -> Results:
    """Read a results folder (or its ``results.db``) as tidy DataFrames.

    Args:
        out: the folder ``ivifbench run --out`` wrote, or its ``results.db``.
        scope: ``"all"`` (default), ``"latest"`` (what the latest run's suite names) or a run id.

    Returns:
        :class:`Results`: ``.fusion`` (mean/std/n per dataset, split, convention, method and metric), ``.images``
        (per image), ``.tasks`` (over seeds), ``.task_results`` (per seed), ``.runs``, ``.failures``,
        ``.leaderboard()``, ``.significance()`` (intervals and ties with the best), ``.export()``, ``.report()``.

    >>> import tempfile, ivifbench
    >>> out = tempfile.mkdtemp()
    >>> suite = {"name": "tiny", "methods": ["average", "max"], "metrics": {"names": ["EN", "SD"]},
    ...          "datasets": [{"name": "tno", "synthetic": {"pairs": 2, "seed": 0, "size": [64, 48]}}]}
    >>> _ = ivifbench.run(suite, out=out, workers=0, report=False)
    >>> res = load_results(out)
    >>> sorted(res.fusion.method.unique()), len(res.images)
    (['average', 'max'], 8)
    >>> list(res.significance().columns[-5:])
    ['ci_low', 'ci_high', 'p_holm', 'tied', 'best']
    """
    if not isinstance(scope, str) or not scope:
        raise IvifError(f"scope must be one of {', '.join(SCOPES)} or a run id, not {scope!r}")
    _store_path(out)
    return Results(Path(out), scope=scope)


def run(suite: str | Path | dict[str, Any] | Any, out: str | Path = "ivifbench-out", **options: Any) -> Results:
    """Run a benchmark suite (resumable, like ``ivifbench run``) and return its results.

    Args:
        suite: a built-in suite name (``quick``, ``paper``, ``full``), a suite YAML file, a suite as a dict (the YAML's
            content), or a parsed suite object.
        out: the results folder (``results.db``, ``fused/``, ``report/``); rerunning into it does only what is missing.
        options: ``workers`` (0 runs in this process; default: as the CLI), ``executor`` (``local`` or ``ray``),
            ``address``, ``overwrite`` (``never``, ``missing``, ``always``), ``device``, ``progress`` (default
            ``False``), ``report`` (write ``OUT/report``; default ``True``).

    Returns:
        :class:`Results` over ``out``, scoped to this run's suite, with ``.summary`` holding what the run did
        (counts, failures, timings).
    """
    from ivifbench.benchmarks.runner import run_suite

    known = {"workers", "executor", "address", "overwrite", "device", "progress", "report"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise IvifError(f"unknown run option(s) {', '.join(unknown)}; options: {', '.join(sorted(known))}")
    options.setdefault("progress", False)
    parsed, source = _suite(suite)
    summary = run_suite(parsed, out, suite_source=source, **options)
    res = Results(Path(out), scope=summary.run_id, summary=summary)
    return res


def _suite(suite: Any) -> tuple[Any, str]:
    from ivifbench.benchmarks import suite as config

    if isinstance(suite, config.Suite):
        return suite, "python"
    if isinstance(suite, dict):
        data = config.expand_env(json.loads(json.dumps(suite)))  # a deep copy
        return config.parse_suite(data, "suite dict"), "python"
    path = config.resolve_suite_path(suite)
    return config.load_suite(path), str(path)
