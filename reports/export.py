"""``ivifbench export``: a results store as files to share — one JSON document (or CSV/Parquet tables) holding the
resolved suites, versions, git revisions, hosts, devices, timings and every aggregate with its convention/protocol and
confidence interval, optionally the per-image (per-seed) values."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    import pandas as pd

FORMAT_VERSION = 1
FORMATS = ("json", "csv", "parquet")


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN/inf → None, numpy scalars → Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(t)))


def result_tables(store_path: str | Path, *, n_resamples: int = 2000, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The store's results as tidy tables: ``fusion`` (per dataset, split, convention, method, metric: mean, std, n,
    bootstrap 95 % CI over images, direction), ``tasks`` (per dataset, task, protocol, method, metric: mean, std, n,
    seeds, t interval over seeds when ≥ 3), ``images`` (per-image values), ``task_seeds`` (per-seed values), ``runs``
    and ``failures``. Only units that finished ``ok`` count."""
    import numpy as np
    import pandas as pd

    from ivifbench.reports.stats import bootstrap_ci, seed_interval
    from ivifbench.store import ResultsStore

    with ResultsStore(store_path, readonly=True) as store:
        img = store.frame("image_metrics")
        tr = store.frame("task_results")
        units = store.frame("units")
        dirs = store.metric_directions()
        runs = store.runs()
    ok = set(units.loc[units.status == "ok", "key"]) if not units.empty else set()
    img = img[img.unit_key.isin(ok)].drop(columns="unit_key").reset_index(drop=True)
    tr = tr[tr.unit_key.isin(ok)].drop(columns="unit_key").reset_index(drop=True)

    def summary(v: np.ndarray) -> dict[str, Any]:
        fin = v[np.isfinite(v)]
        return {
            "mean": float(fin.mean()) if fin.size else math.nan,
            "std": float(np.std(fin, ddof=1)) if fin.size > 1 else math.nan,
            "n": int(fin.size),
        }

    keys = ["dataset", "split", "convention", "method", "metric"]
    rows: list[dict[str, Any]] = []
    for key, g in img.groupby(keys, sort=True):
        v = g["value"].to_numpy(dtype=float)
        lo, hi = bootstrap_ci(v, n_resamples=n_resamples, seed=seed)
        hib = dirs.get((key[4], "fusion"))
        rows.append(
            {**dict(zip(keys, key, strict=True)), **summary(v), "ci_low": lo, "ci_high": hi, "higher_is_better": hib}
        )
    fusion = pd.DataFrame(rows, columns=[*keys, "mean", "std", "n", "ci_low", "ci_high", "higher_is_better"])
    keys = ["dataset", "task", "protocol", "method", "metric"]
    rows = []
    for key, g in tr.groupby(keys, sort=True):
        v = g["value"].to_numpy(dtype=float)
        lo, hi = seed_interval(v)
        seeds = ",".join(str(int(s)) for s in sorted(g["seed"]))
        hib = dirs.get((key[4], key[1]))
        rows.append(
            {**dict(zip(keys, key, strict=True)), **summary(v), "seeds": seeds, "ci_low": lo, "ci_high": hi}
            | {"higher_is_better": hib}
        )
    tasks = pd.DataFrame(rows, columns=[*keys, "mean", "std", "n", "seeds", "ci_low", "ci_high", "higher_is_better"])
    run_rows = []
    for r in runs:
        man = r.get("manifest", {})
        run_rows.append(
            {
                **{k: r.get(k) for k in ("run_id", "suite", "suite_version", "status", "n_ok", "n_failed", "n_cached")},
                "started": _iso(r.get("started")),
                "finished": _iso(r.get("finished")),
                "git_revision": man.get("git_revision"),
                "host": man.get("host"),
                "device": (man.get("device") or {}).get("device"),
                "total_seconds": (man.get("timings") or {}).get("total_seconds"),
            }
        )
    failures = units.loc[units.status == "failed", ["kind", "method", "dataset", "split", "task", "seed", "error"]]
    return {
        "fusion": fusion,
        "tasks": tasks,
        "images": img,
        "task_seeds": tr,
        "runs": pd.DataFrame(run_rows),
        "failures": failures.reset_index(drop=True),
    }


def export_document(
    store_path: str | Path, *, per_image: bool = False, n_resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """The whole store as one JSON-ready document (see the module docstring)."""
    from ivifbench import provenance
    from ivifbench.store import ResultsStore

    tables = result_tables(store_path, n_resamples=n_resamples, seed=seed)
    with ResultsStore(store_path, readonly=True) as store:
        runs = store.runs()
        methods = store.method_infos()
    doc: dict[str, Any] = {
        "format": "ivifbench-results",
        "format_version": FORMAT_VERSION,
        "created": _iso(time.time()),
        "source": str(Path(store_path).resolve()),
        "exported_with": {"versions": provenance.versions(), "git_revision": provenance.git_revision()},
        "statistics": {
            "fusion_ci": f"95 % percentile bootstrap of the mean over images ({n_resamples} resamples, seed {seed})",
            "task_ci": "95 % Student-t interval of the mean over seeds (tasks with 3 or more seeds)",
            "std": "sample standard deviation (ddof 1)",
        },
        "runs": [
            {
                "run_id": r["run_id"],
                "suite": r["suite"],
                "suite_version": r["suite_version"],
                "status": r["status"],
                "started": _iso(r.get("started")),
                "finished": _iso(r.get("finished")),
                "counts": {k: r.get(k) for k in ("n_ok", "n_failed", "n_cached")},
                "suite_resolved": r.get("config", {}),
                **{k: v for k, v in r.get("manifest", {}).items() if k not in ("suite", "suite_version")},
            }
            for r in runs
        ],
        "methods": methods,
        "results": {
            "fusion": tables["fusion"].to_dict(orient="records"),
            "tasks": tables["tasks"].to_dict(orient="records"),
        },
        "failures": tables["failures"].to_dict(orient="records"),
    }
    if per_image:
        doc["per_image"] = {
            "fusion": tables["images"].to_dict(orient="records"),
            "tasks": tables["task_seeds"].to_dict(orient="records"),
        }
    return _clean(doc)


def write_export(store_path: str | Path, out: str | Path, fmt: str = "json", *, per_image: bool = False) -> list[Path]:
    """Write the export: ``json`` → one file ``out``; ``csv``/``parquet`` → tables in the folder ``out`` (fusion,
    tasks, runs, failures; images and task_seeds with ``per_image``) plus ``manifest.json`` (everything but the
    tables)."""
    from ivifbench.errors import IvifError

    if fmt not in FORMATS:
        raise IvifError(f"unknown export format '{fmt}'; choose json, csv or parquet")
    out = Path(out)
    if fmt == "json":
        doc = export_document(store_path, per_image=per_image)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
        return [out]
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise IvifError("--format parquet needs pyarrow: pip install pyarrow (or use --format csv)") from None
    tables = result_tables(store_path)
    names = ["fusion", "tasks", "runs", "failures"] + (["images", "task_seeds"] if per_image else [])
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        p = out / f"{name}.{fmt}"
        if fmt == "csv":
            tables[name].to_csv(p, index=False)
        else:
            tables[name].to_parquet(p, index=False)
        written.append(p)
    doc = export_document(store_path, per_image=False)
    doc.pop("results")
    doc.pop("failures")
    doc["tables"] = {name: f"{name}.{fmt}" for name in names}
    p = out / "manifest.json"
    p.write_text(json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    return [*written, p]


def export(
    results: Path = typer.Option(
        Path("ivifbench-out"), "--results", "-r", help="Results folder (holding results.db) or the .db file."
    ),
    format: str = typer.Option("json", "--format", "-f", help="json (one document), csv or parquet (tables)."),
    per_image: bool = typer.Option(False, "--per-image", help="Include per-image (and per-seed) values."),
    out: Path = typer.Option(
        None, "--out", "-o", help="File (json) or folder (csv, parquet); default RESULTS/export[.json]."
    ),
) -> None:
    """Export a results store as files to share: suites, versions, git revision, timings, every aggregate."""
    from ivifbench.errors import IvifError

    db = results if results.suffix == ".db" else results / "results.db"
    if not db.is_file():
        raise IvifError(f"{db}: no results store; run `ivifbench run --out {results}` first or pass --results DIR")
    dest = out or (db.parent / ("results.json" if format == "json" else "export"))
    for p in write_export(db, dest, format, per_image=per_image):
        typer.echo(str(p))
