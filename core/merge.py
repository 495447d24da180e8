"""``ivifbench merge``: results stores made on different machines merged into one, by unit key.

A unit's key is the hash of everything that makes its numbers (method and parameters, weights, data, protocol, seed),
so two stores holding one key must hold the same numbers: they are compared and a disagreement is a conflict. Two
different keys for one *slot* (same method, dataset, split or task and seed, made differently) are a conflict too.
Conflicts are listed and nothing is written; they are never resolved silently. A failed unit gives way to a finished
one of the same key (reported). Fused images under a source's folder are copied beside the merged store.
"""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from ivifbench.errors import IvifError
from ivifbench.store import ResultsStore

_UNIT_COLS = (
    "key, slot, kind, method, dataset, split, task, protocol, seed, status, error, traceback, started, finished, "
    "seconds, worker, run_id, spec_json, payload_json"
)


class MergeConflict(IvifError):
    """The stores disagree; ``conflicts`` says where."""

    def __init__(self, conflicts: list[str]) -> None:
        self.conflicts = conflicts
        super().__init__(f"{len(conflicts)} conflict(s); nothing was merged: " + "; ".join(conflicts[:3]))


@dataclass
class MergeReport:
    out: Path
    units: int = 0  # units in the merged store
    added: dict[str, int] = field(default_factory=dict)  # source → units it contributed
    identical: int = 0  # units found in more than one source, agreeing
    replaced_failed: list[str] = field(default_factory=list)  # failed units replaced by a finished one
    runs: int = 0
    images_copied: int = 0


@dataclass
class _Unit:
    row: tuple[Any, ...]
    source: Path
    images: dict[tuple[str, str, str], float | None]
    tasks: dict[str, float | None]
    fused: list[tuple[Any, ...]]

    @property
    def key(self) -> str:
        return str(self.row[0])

    @property
    def slot(self) -> str:
        return str(self.row[1])

    @property
    def status(self) -> str:
        return str(self.row[9])

    def label(self) -> str:
        kind, method, dataset, split, task, _, seed = self.row[2:9]
        where = "/".join(str(x) for x in (method, dataset, split or task) if x is not None)
        return f"{kind} {where}" + (f" seed {seed}" if seed is not None else "")


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _diff(a: _Unit, b: _Unit) -> str | None:
    """How two finished units of one key disagree, or ``None``."""
    tables: list[tuple[str, dict[Any, float | None], dict[Any, float | None]]] = [
        ("per-image values", dict(a.images), dict(b.images)),
        ("task values", dict(a.tasks), dict(b.tasks)),
    ]
    for name, x, y in tables:
        if set(x) != set(y):
            return f"different {name} ({len(x)} vs {len(y)} rows)"
        bad = [k for k in x if not _same(x[k], y[k])]
        if bad:
            k = bad[0]
            return f"{len(bad)} {name} differ, e.g. {'/'.join(map(str, k)) if isinstance(k, tuple) else k}: {x[k]} vs {y[k]}"
    return None


def _read(path: Path) -> tuple[list[_Unit], list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with ResultsStore(path, readonly=True) as store:
        db = store._db
        units = {r[0]: _Unit(r, path, {}, {}, []) for r in db.execute(f"SELECT {_UNIT_COLS} FROM units").fetchall()}
        for img, metric, conv, value, key in db.execute(
            "SELECT image, metric, convention, value, unit_key FROM image_metrics"
        ):
            units[key].images[(img, metric, conv)] = value
        for metric, value, key in db.execute("SELECT metric, value, unit_key FROM task_results"):
            units[key].tasks[metric] = value
        for row in db.execute("SELECT * FROM fused"):
            units[row[-1]].fused.append(row)
        runs = db.execute("SELECT * FROM runs").fetchall()
        methods = db.execute("SELECT * FROM methods").fetchall()
        metric_info = db.execute("SELECT * FROM metric_info").fetchall()
    return list(units.values()), runs, methods, metric_info


def merge_stores(sources: list[str | Path], out: str | Path, *, copy_images: bool = True) -> MergeReport:
    """Merge the stores ``sources`` (folders holding ``results.db``, or the files) into ``out``/results.db (which may
    already hold results: it takes part in the merge). Raises :class:`MergeConflict` listing every conflict, having
    written nothing."""
    out = Path(out)
    target = out if out.suffix == ".db" else out / "results.db"
    paths: list[Path] = []
    for s in sources:
        p = Path(s)
        db = p if p.suffix == ".db" else p / "results.db"
        if not db.is_file():
            raise IvifError(f"{db}: no results store to merge")
        if target.exists() and db.resolve() == target.resolve():
            raise IvifError(f"{db}: a source cannot also be the output (--out)")
        paths.append(db)
    if target.exists():
        paths.insert(0, target)
    chosen: dict[str, _Unit] = {}
    by_slot: dict[str, _Unit] = {}
    conflicts: list[str] = []
    report = MergeReport(out=target.parent)
    runs: dict[str, tuple[Any, ...]] = {}
    latest: list[tuple[Path, dict[str, Any], dict[str, Any]]] = []  # per source: its latest run's config and manifest
    methods: dict[str, tuple[Any, ...]] = {}
    metric_info: dict[tuple[str, str], tuple[Any, ...]] = {}
    for path in paths:
        units, run_rows, method_rows, info_rows = _read(path)
        for r in run_rows:
            runs.setdefault(r[0], r)
        if run_rows:
            last = max(run_rows, key=lambda r: r[3] or 0)  # started
            latest.append((path, json.loads(last[9] or "{}"), json.loads(last[10] or "{}")))
        methods.update({r[0]: r for r in method_rows})
        metric_info.update({(r[0], r[1]): r for r in info_rows})
        for u in units:
            old = chosen.get(u.key)
            if old is not None:
                if old.status == "ok" and u.status == "ok":
                    why = _diff(old, u)
                    if why:
                        conflicts.append(f"{u.label()} (unit {u.key}): {old.source} and {u.source} disagree: {why}")
                    else:
                        report.identical += 1
                elif u.status == "ok":
                    report.replaced_failed.append(f"{u.label()}: failed in {old.source}, finished in {u.source}")
                    chosen[u.key] = by_slot[u.slot] = u
                continue
            other = by_slot.get(u.slot)
            if other is not None:
                conflicts.append(
                    f"{u.label()}: {other.source} holds unit {other.key} but {u.source} holds {u.key} "
                    "(made with different parameters, weights, data or protocol); rerun one of them to match"
                )
                continue
            chosen[u.key] = by_slot[u.slot] = u
    if conflicts:
        raise MergeConflict(conflicts)
    target.parent.mkdir(parents=True, exist_ok=True)
    with ResultsStore(target) as store, store.transaction() as conn:
        for u in chosen.values():
            if u.source == target:
                continue
            conn.execute("DELETE FROM units WHERE key = ?", (u.key,))
            conn.execute(f"INSERT INTO units ({_UNIT_COLS}) VALUES ({', '.join('?' * 19)})", u.row)
            m, d, s, t, p, seed = u.row[3], u.row[4], u.row[5], u.row[6], u.row[7], u.row[8]
            conn.executemany(
                "INSERT INTO image_metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(m, d, s, img, met, conv, v, u.key) for (img, met, conv), v in u.images.items()],
            )
            conn.executemany(
                "INSERT INTO task_results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(m, d, t, p, seed, met, v, u.key) for met, v in u.tasks.items()],
            )
            fused = []
            for row in u.fused:
                placed: list[str | None] = []
                for p in row[4:7]:  # the fused image and its sources (synthetic replicas live in the folder too)
                    if p is None:
                        placed.append(None)
                        continue
                    path, copied = _place_image(Path(p), u.source.parent, target.parent, copy_images)
                    report.images_copied += copied
                    placed.append(str(path))
                fused.append((*row[:4], *placed, row[7]))
            conn.executemany("INSERT INTO fused VALUES (?, ?, ?, ?, ?, ?, ?, ?)", fused)
            report.added[str(u.source)] = report.added.get(str(u.source), 0) + 1
        conn.executemany(f"INSERT OR IGNORE INTO runs VALUES ({', '.join('?' * 11)})", list(runs.values()))
        if latest:  # the merge is the latest run: its suite is the union, so the report's default scope is too
            config, manifest = _union(latest, {str(u.row[3]) for u in chosen.values()})
            now = time.time()
            conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, 'merged', ?, 0, ?, ?, ?)",
                (
                    time.strftime("merge-%Y%m%dT%H%M%S-", time.gmtime(now)) + uuid.uuid4().hex[:6],
                    config.get("name"), str(config.get("version", "")), now, now, len(chosen), len(chosen),
                    json.dumps(config, sort_keys=True, default=str), json.dumps(manifest, sort_keys=True, default=str),
                ),
            )  # fmt: skip
        conn.executemany("INSERT OR REPLACE INTO methods VALUES (?, ?, ?, ?)", list(methods.values()))
        conn.executemany("INSERT OR REPLACE INTO metric_info VALUES (?, ?, ?, ?)", list(metric_info.values()))
        report.units = conn.execute("SELECT COUNT(*) FROM units").fetchone()[0]
        report.runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    return report


def _union(
    latest: list[tuple[Path, dict[str, Any], dict[str, Any]]], present: set[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One suite config naming what every source's latest run names (methods, datasets, tasks by name; the first
    source's metrics and report settings), and a manifest saying where it came from."""
    configs = [c for _, c, _ in latest]
    config: dict[str, Any] = dict(configs[0])
    for part in ("methods", "datasets"):
        named: dict[str, Any] = {}
        for c in configs:
            for item in c.get(part) or []:
                named.setdefault(str(item["name"] if isinstance(item, dict) else item), item)
        config[part] = list(named.values())
    tasks: dict[tuple[str, str, str], dict[str, Any]] = {}
    for c in configs:
        for t in c.get("tasks") or []:
            k = (str(t.get("name")), str(t.get("dataset")), str(t.get("protocol")))
            if k in tasks:
                old = tasks[k]
                old["methods"] = list(dict.fromkeys([*(old.get("methods") or []), *(t.get("methods") or [])]))
                old["seeds"] = sorted(set(old.get("seeds") or []) | set(t.get("seeds") or []))
            else:
                tasks[k] = dict(t)
    config["tasks"] = list(tasks.values())
    if config.get("metrics") is None:
        config["metrics"] = next((c["metrics"] for c in configs if c.get("metrics") is not None), None)
    names = list(dict.fromkeys(str(c.get("name")) for c in configs))
    config["name"] = names[0] if len(names) == 1 else " + ".join(names)
    datasets: dict[str, Any] = {}
    skipped: dict[str, Any] = {}
    for _, _, man in latest:
        datasets.update(man.get("datasets") or {})
        skipped.update(man.get("skipped_methods") or {})
    manifest = {
        "merged_from": [{"store": str(p), "suite": c.get("name")} for p, c, _ in latest],
        "datasets": datasets,
        "skipped_methods": {m: why for m, why in skipped.items() if m not in present},
        "versions": latest[-1][2].get("versions", {}),
        "git_revision": latest[-1][2].get("git_revision"),
        "host": ", ".join(dict.fromkeys(str(m.get("host")) for _, _, m in latest if m.get("host"))),
    }
    return config, manifest


def _place_image(path: Path, src_root: Path, dst_root: Path, copy: bool) -> tuple[Path, int]:
    """Where a fused image lives in the merged folder (copied there when it sits under the source's folder)."""
    try:
        rel = path.resolve().relative_to(src_root.resolve())
    except ValueError:
        return path, 0
    dest = dst_root.resolve() / rel
    if not copy or not path.is_file():
        return (dest if dest.is_file() else path), 0
    if dest.is_file():
        return dest, 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, dest)
    return dest, 1


def merge(
    stores: list[Path] = typer.Argument(..., help="Results folders (holding results.db) or .db files to merge."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder of the merged store (created; may already hold one)."),
    images: bool = typer.Option(True, "--images/--no-images", help="Copy the fused images beside the merged store."),
) -> None:
    """Merge results stores from several machines into one, by unit key; conflicts are listed, never resolved."""
    try:
        rep = merge_stores(list(stores), out, copy_images=images)
    except MergeConflict as exc:
        for c in exc.conflicts:
            typer.echo(f"conflict: {c}", err=True)
        typer.echo(f"{len(exc.conflicts)} conflict(s); nothing was written to {out}", err=True)
        raise typer.Exit(2) from None
    except sqlite3.DatabaseError as exc:
        raise IvifError(f"cannot merge into {out}: {exc}") from exc
    for src, n in rep.added.items():
        typer.echo(f"{src}: {n} unit(s) added")
    for line in rep.replaced_failed:
        typer.echo(f"note: {line}")
    typer.echo(
        f"{rep.out / 'results.db'}: {rep.units} units, {rep.runs} runs, {rep.identical} unit(s) found in several "
        f"stores and agreeing, {rep.images_copied} fused image(s) copied; `ivifbench report --results {rep.out}`"
    )
