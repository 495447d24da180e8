"""The results store: one SQLite file (``<out>/results.db``), schema-versioned, written one transaction per unit.

Tables:

* ``runs`` — one row per sweep: the run manifest (resolved config, versions, git revision, host, device, timings,
  skipped methods and why).
* ``units`` — one row per finished unit (fuse / score / task): its content key, the *slot* it fills (kind + method +
  dataset + split/task/protocol/seed), status ``ok`` or ``failed``, error and traceback, timings. One slot holds one
  unit: committing a new key for a slot replaces the old unit and its rows in the same transaction.
* ``image_metrics`` — per-image fusion-metric values (method, dataset, split, image, metric, convention, value).
* ``task_results`` — downstream numbers (method, dataset, task, protocol, seed, metric, value).
* ``fused`` — fused images with their sources (for the report's image grid).
* ``methods`` / ``metric_info`` — method metadata (in-domain flags) and metric metadata (direction), so reports need
  nothing but the store.

Several processes may write one store: WAL journal, a busy timeout, ``BEGIN IMMEDIATE`` transactions and unique keys.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivifbench.errors import IvifError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    suite TEXT, suite_version TEXT,
    started REAL NOT NULL, finished REAL,
    status TEXT NOT NULL DEFAULT 'running',
    n_ok INTEGER, n_failed INTEGER, n_cached INTEGER,
    config_json TEXT NOT NULL DEFAULT '{}',
    manifest_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS units (
    key TEXT PRIMARY KEY,
    slot TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    method TEXT, dataset TEXT, split TEXT, task TEXT, protocol TEXT, seed INTEGER,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error TEXT, traceback TEXT,
    started REAL, finished REAL, seconds REAL,
    worker TEXT, run_id TEXT,
    spec_json TEXT NOT NULL DEFAULT '{}',
    payload_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS image_metrics (
    method TEXT NOT NULL, dataset TEXT NOT NULL, split TEXT NOT NULL, image TEXT NOT NULL,
    metric TEXT NOT NULL, convention TEXT NOT NULL, value REAL,
    unit_key TEXT NOT NULL REFERENCES units(key) ON DELETE CASCADE,
    UNIQUE (method, dataset, split, image, metric, convention)
);
CREATE INDEX IF NOT EXISTS image_metrics_unit ON image_metrics(unit_key);
CREATE TABLE IF NOT EXISTS task_results (
    method TEXT NOT NULL, dataset TEXT NOT NULL, task TEXT NOT NULL, protocol TEXT NOT NULL, seed INTEGER NOT NULL,
    metric TEXT NOT NULL, value REAL,
    unit_key TEXT NOT NULL REFERENCES units(key) ON DELETE CASCADE,
    UNIQUE (method, dataset, task, protocol, seed, metric)
);
CREATE INDEX IF NOT EXISTS task_results_unit ON task_results(unit_key);
CREATE TABLE IF NOT EXISTS fused (
    method TEXT NOT NULL, dataset TEXT NOT NULL, split TEXT NOT NULL, image TEXT NOT NULL,
    path TEXT NOT NULL, ir_path TEXT, vis_path TEXT,
    unit_key TEXT NOT NULL REFERENCES units(key) ON DELETE CASCADE,
    UNIQUE (method, dataset, split, image)
);
CREATE INDEX IF NOT EXISTS fused_unit ON fused(unit_key);
CREATE TABLE IF NOT EXISTS methods (
    name TEXT PRIMARY KEY, fingerprint TEXT, info_json TEXT NOT NULL DEFAULT '{}', updated REAL
);
CREATE TABLE IF NOT EXISTS metric_info (
    name TEXT NOT NULL, source TEXT NOT NULL, higher_is_better INTEGER, info_json TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (name, source)
);
"""


class StoreError(IvifError):
    """The store file is unreadable, from a newer ivifbench, or not an ivifbench store."""


@dataclass
class UnitRecord:
    """A finished unit, ready to commit: identity, outcome and the rows it produced."""

    key: str
    slot: str
    kind: str
    status: str  # "ok" | "failed"
    method: str | None = None
    dataset: str | None = None
    split: str | None = None
    task: str | None = None
    protocol: str | None = None
    seed: int | None = None
    error: str | None = None
    traceback: str | None = None
    started: float | None = None
    finished: float | None = None
    worker: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    image_metrics: list[tuple[str, str, str, float]] = field(default_factory=list)  # (image, metric, convention, value)
    task_results: list[tuple[str, float]] = field(default_factory=list)  # (metric, value)
    fused: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)  # (image, path, ir, vis)
    metric_info: list[tuple[str, str, bool | None, dict[str, Any]]] = field(default_factory=list)
    method_info: tuple[str, str, dict[str, Any]] | None = None  # (name, fingerprint, info)


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


class ResultsStore:
    """A results store at ``path`` (created with its schema when absent)."""

    def __init__(self, path: str | Path, *, timeout: float = 60.0, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly and not self.path.is_file():
            raise StoreError(f"{self.path}: no results store here; run `ivifbench run --out DIR` first")
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if readonly:
                self._db = self._connect_readonly(timeout)
            else:
                self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
                self._refuse_foreign()
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._db.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
                self._init_schema()
            else:
                self._check_version()
        except sqlite3.DatabaseError as exc:
            msg = str(exc)
            if "malformed" in msg or "not a database" in msg:
                raise StoreError(self._damaged_hint(msg)) from exc
            if "readonly" in msg or "read-only" in msg:
                raise StoreError(
                    f"{self.path}: cannot write the results store ({msg}); choose an --out folder you can write"
                ) from exc
            if "disk is full" in msg or "disk I/O" in msg:
                raise StoreError(f"{self.path}: {msg}; free some space and rerun the same command") from exc
            raise StoreError(f"{self.path}: not a readable ivifbench results store ({exc})") from exc

    def _connect_readonly(self, timeout: float) -> sqlite3.Connection:
        """Read-only; on read-only media (no -shm/-wal can be made beside a WAL store) as an immutable file."""
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=timeout)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            db.close()
            return sqlite3.connect(f"file:{self.path}?immutable=1", uri=True, timeout=timeout)

    def _refuse_foreign(self) -> None:
        """An SQLite file with tables but no ivifbench ``meta`` is someone else's: never create our tables in it."""
        names = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()}
        if names and "meta" not in names:
            self._db.close()
            shown = ", ".join(sorted(names)[:3]) + (" …" if len(names) > 3 else "")
            raise StoreError(
                f"{self.path} is an SQLite database but not an ivifbench results store (tables: {shown}); "
                "choose another --out folder or move that file away"
            )

    def _damaged_hint(self, why: str) -> str:
        why = " ".join(why.replace("*** in database main ***", "").split())  # quick_check's text spans lines
        return (
            f"{self.path}: the results store is damaged ({why}); move it aside (e.g. to results.db.damaged) and rerun "
            "the same command to recompute, or salvage it with `sqlite3 results.db .recover`"
        )

    def check_integrity(self) -> None:
        """Raise :class:`StoreError` with a recovery hint when SQLite's quick check finds damage."""
        try:
            rows = self._db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._damaged_hint(str(exc))) from exc
        if [r[0] for r in rows] != ["ok"]:
            raise StoreError(self._damaged_hint(str(rows[0][0])[:200]))

    def mark_abandoned_runs(self) -> list[str]:
        """Runs still 'running' while this process holds the output lock lost their driver (killed): say so."""
        with self.transaction() as db:
            ids = [r[0] for r in db.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall()]
            db.execute("UPDATE runs SET status = 'abandoned (its driver died)' WHERE status = 'running'")
        return ids

    # -- schema -------------------------------------------------------------------------------------------------------
    def _init_schema(self) -> None:
        with self.transaction() as db:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                db.execute("INSERT OR IGNORE INTO meta VALUES ('created', ?)", (str(time.time()),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: store schema {row[0]} is newer than this ivifbench understands ({SCHEMA_VERSION}); "
                    "upgrade ivifbench"
                )

    def _check_version(self) -> None:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            if "malformed" in str(exc):  # ours, damaged in the middle: say how to recover, not "not a store"
                raise StoreError(self._damaged_hint(str(exc))) from exc
            raise StoreError(f"{self.path}: not an ivifbench results store ({exc})") from exc
        if row is None or int(row[0]) > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: unknown store schema {row[0] if row else '(none)'}")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error); waits for other writers up to the busy timeout."""
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only")
        for attempt in range(50):
            try:
                self._db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:  # "database is locked" beyond the busy timeout under heavy load
                if "locked" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.05 * (attempt + 1))
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs ---------------------------------------------------------------------------------------------------------
    def start_run(
        self, run_id: str, suite: str, suite_version: str, config: Mapping[str, Any], manifest: Mapping[str, Any]
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs (run_id, suite, suite_version, started, status, config_json, manifest_json)"
                " VALUES (?, ?, ?, ?, 'running', ?, ?)",
                (run_id, suite, str(suite_version), time.time(), _json(config), _json(manifest)),
            )

    def finish_run(
        self, run_id: str, *, status: str, n_ok: int, n_failed: int, n_cached: int, manifest: Mapping[str, Any]
    ) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished=?, status=?, n_ok=?, n_failed=?, n_cached=?, manifest_json=? WHERE run_id=?",
                (time.time(), status, n_ok, n_failed, n_cached, _json(manifest), run_id),
            )

    def set_run_status(self, run_id: str, status: str) -> None:
        """The status alone (a few bytes): the fallback when :meth:`finish_run` cannot be written."""
        with self.transaction() as db:
            db.execute("UPDATE runs SET finished=?, status=? WHERE run_id=?", (time.time(), status, run_id))

    def runs(self) -> list[dict[str, Any]]:
        cur = self._db.execute("SELECT * FROM runs ORDER BY started")
        cols = [c[0] for c in cur.description]
        out = []
        for row in cur.fetchall():
            d = dict(zip(cols, row, strict=True))
            d["config"] = json.loads(d.pop("config_json") or "{}")
            d["manifest"] = json.loads(d.pop("manifest_json") or "{}")
            out.append(d)
        return out

    def latest_run(self) -> dict[str, Any] | None:
        runs = self.runs()
        return runs[-1] if runs else None

    # -- units --------------------------------------------------------------------------------------------------------
    def unit_status(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        """``{key: status}`` for the given keys (every unit when ``None``)."""
        if keys is None:
            return dict(self._db.execute("SELECT key, status FROM units").fetchall())
        keys = list(keys)
        out: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = f"SELECT key, status FROM units WHERE key IN ({','.join('?' * len(chunk))})"
            out.update(dict(self._db.execute(q, chunk).fetchall()))
        return out

    def unit(self, key: str) -> dict[str, Any] | None:
        cur = self._db.execute("SELECT * FROM units WHERE key = ?", (key,))
        row = cur.fetchone()
        if row is None:
            return None
        d = dict(zip([c[0] for c in cur.description], row, strict=True))
        d["spec"] = json.loads(d.pop("spec_json"))
        d["payload"] = json.loads(d.pop("payload_json"))
        return d

    def units(self, status: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT key, slot, kind, method, dataset, split, task, protocol, seed, status, error, seconds, run_id FROM units"
        args: tuple[Any, ...] = ()
        if status:
            q += " WHERE status = ?"
            args = (status,)
        cur = self._db.execute(q + " ORDER BY kind, method, dataset, split, task, seed", args)
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def commit_unit(self, rec: UnitRecord, run_id: str | None = None) -> None:
        """Write one finished unit and all its rows in one transaction, replacing whatever held its slot before.

        Rows are keyed by what they measure (e.g. method, dataset, split, image, metric, convention), and that key
        lies inside the unit's slot, so a row can only collide with the previous holder of the slot, which goes first.
        """
        if rec.status not in ("ok", "failed"):
            raise ValueError(f"unit status must be 'ok' or 'failed', got {rec.status!r}")
        seconds = (rec.finished - rec.started) if rec.started is not None and rec.finished is not None else None
        with self.transaction() as db:
            # the previous holder of this slot (an older key) and any earlier attempt of this key go, rows cascade
            db.execute("DELETE FROM units WHERE slot = ? OR key = ?", (rec.slot, rec.key))
            db.execute(
                "INSERT INTO units (key, slot, kind, method, dataset, split, task, protocol, seed, status, error, traceback,"
                " started, finished, seconds, worker, run_id, spec_json, payload_json)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rec.key, rec.slot, rec.kind, rec.method, rec.dataset, rec.split, rec.task, rec.protocol, rec.seed,
                    rec.status, rec.error, rec.traceback, rec.started, rec.finished, seconds, rec.worker, run_id,
                    _json(rec.spec), _json(rec.payload),
                ),
            )  # fmt: skip
            if rec.image_metrics:
                db.executemany(
                    "INSERT INTO image_metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (rec.method, rec.dataset, rec.split, img, m, conv, _num(v), rec.key)
                        for (img, m, conv), v in {(i, m, c): v for i, m, c, v in rec.image_metrics}.items()
                    ],
                )
            if rec.task_results:
                db.executemany(
                    "INSERT INTO task_results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (rec.method, rec.dataset, rec.task, rec.protocol, rec.seed, m, _num(v), rec.key)
                        for m, v in dict(rec.task_results).items()
                    ],
                )
            if rec.fused:
                db.executemany(
                    "INSERT INTO fused VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(rec.method, rec.dataset, rec.split, img, p, ir, vis, rec.key) for img, p, ir, vis in rec.fused],
                )
            for name, source, hib, info in rec.metric_info:
                db.execute(
                    "INSERT OR REPLACE INTO metric_info VALUES (?, ?, ?, ?)",
                    (name, source, None if hib is None else int(bool(hib)), _json(info)),
                )
            if rec.method_info is not None:
                name, fp, info = rec.method_info
                db.execute("INSERT OR REPLACE INTO methods VALUES (?, ?, ?, ?)", (name, fp, _json(info), time.time()))

    def set_method_info(self, name: str, fingerprint: str, info: Mapping[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO methods VALUES (?, ?, ?, ?)", (name, fingerprint, _json(info), time.time())
            )

    # -- reading ------------------------------------------------------------------------------------------------------
    def frame(self, table: str, where: str = "", args: tuple[Any, ...] = ()) -> Any:
        """A table as a pandas DataFrame (``image_metrics``, ``task_results``, ``fused``, ``units``, …)."""
        import pandas as pd

        if table not in {"image_metrics", "task_results", "fused", "units", "methods", "metric_info", "runs"}:
            raise ValueError(f"unknown table {table!r}")
        return pd.read_sql_query(f"SELECT * FROM {table} {where}", self._db, params=args)

    def method_infos(self) -> dict[str, dict[str, Any]]:
        return {n: json.loads(i) for n, i in self._db.execute("SELECT name, info_json FROM methods").fetchall()}

    def metric_directions(self) -> dict[tuple[str, str], bool | None]:
        rows = self._db.execute("SELECT name, source, higher_is_better FROM metric_info").fetchall()
        return {(n, s): (None if h is None else bool(h)) for n, s, h in rows}

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """The store's results without timings or run ids, sorted: equal snapshots mean equal results (for tests)."""
        q = {
            "units": "SELECT key, slot, kind, method, dataset, split, task, protocol, seed, status FROM units",
            "image_metrics": "SELECT * FROM image_metrics",
            "task_results": "SELECT * FROM task_results",
            "fused": "SELECT * FROM fused",
        }
        return {name: sorted(self._db.execute(sql).fetchall(), key=repr) for name, sql in q.items()}

    def integrity_ok(self) -> bool:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
