"""The results store: schema, one transaction per unit, slots, read-only use, and two writers at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ivifbench.store import SCHEMA_VERSION, ResultsStore, StoreError, UnitRecord


def _rec(key: str, slot: str, status: str = "ok", n: int = 3, method: str = "m", value: float = 1.0) -> UnitRecord:
    return UnitRecord(
        key=key, slot=slot, kind="score", status=status, method=method, dataset="d", split="test",
        started=1.0, finished=2.0,
        image_metrics=[(f"img{i}", "EN", "canonical", value + i) for i in range(n)] if status == "ok" else [],
        metric_info=[("EN", "fusion", True, {"description": "entropy"})],
    )  # fmt: skip


def test_schema_wal_and_version(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    with ResultsStore(db) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con = sqlite3.connect(db)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "units", "image_metrics", "task_results", "fused", "methods", "metric_info", "meta"} <= tables
    con.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer"):
        ResultsStore(db)
    with pytest.raises(StoreError, match="unknown store schema"):
        ResultsStore(db, readonly=True)


def test_not_a_store(tmp_path: Path) -> None:
    bad = tmp_path / "results.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        ResultsStore(bad)
    with pytest.raises(StoreError, match="no results store"):
        ResultsStore(tmp_path / "missing.db", readonly=True)


def test_commit_replaces_slot_and_rows(tmp_path: Path) -> None:
    with ResultsStore(tmp_path / "r.db") as s:
        s.commit_unit(_rec("k1", "score|m|d|test", n=3))
        s.commit_unit(_rec("k2", "score|m2|d|test", n=2, method="m2"))
        assert s.unit_status() == {"k1": "ok", "k2": "ok"}
        assert len(s.frame("image_metrics")) == 5
        # a new key for the same slot supersedes the old unit and all of its rows
        s.commit_unit(_rec("k3", "score|m|d|test", n=1, value=7.0))
        assert s.unit_status() == {"k2": "ok", "k3": "ok"}
        im = s.frame("image_metrics")
        assert len(im) == 3 and set(im.unit_key) == {"k2", "k3"}
        # recommitting a key (a rerun) leaves no duplicates
        s.commit_unit(_rec("k3", "score|m|d|test", n=1, value=7.0))
        assert len(s.frame("image_metrics")) == 3
        # a failure is recorded with its error and traceback and has no rows
        f = _rec("k4", "score|m3|d|test", status="failed", method="m3")
        f.error, f.traceback = "boom", "Traceback ...\nValueError: boom"
        s.commit_unit(f)
        u = s.unit("k4")
        assert u and u["status"] == "failed" and u["error"] == "boom" and "ValueError" in u["traceback"]
        assert s.metric_directions()[("EN", "fusion")] is True


def test_transaction_is_atomic(tmp_path: Path) -> None:
    with ResultsStore(tmp_path / "r.db") as s:
        bad = _rec("k1", "slot1")
        bad.image_metrics.append(("img0", "EN", "canonical", 5.0))  # one measurement twice in a unit: the last wins
        s.commit_unit(bad)
        broken = _rec("k2", "slot2")
        broken.status = "weird"
        with pytest.raises(ValueError):
            s.commit_unit(broken)
        broken = _rec("k2", "slot2", method="m2")
        broken.task_results = [("mAP", object())]  # type: ignore[list-item]  # fails inside the transaction
        with pytest.raises(TypeError):
            s.commit_unit(broken)
        clash = _rec("k3", "slot3")  # rows that belong to another slot's unit: refused, nothing written
        with pytest.raises(sqlite3.IntegrityError):
            s.commit_unit(clash)
        assert set(s.unit_status()) == {"k1"}
        assert set(s.frame("image_metrics").unit_key) == {"k1"}


def test_runs_manifest(tmp_path: Path) -> None:
    with ResultsStore(tmp_path / "r.db") as s:
        s.start_run("r1", "quick", "1", {"name": "quick"}, {"host": "h"})
        s.finish_run(
            "r1", status="finished", n_ok=3, n_failed=0, n_cached=1, manifest={"host": "h", "timings": {"x": 1}}
        )
        run = s.latest_run()
        assert run and run["status"] == "finished" and run["manifest"]["timings"] == {"x": 1} and run["n_ok"] == 3
    with ResultsStore(tmp_path / "r.db", readonly=True) as ro:
        assert ro.runs()[0]["config"] == {"name": "quick"}
        with pytest.raises(StoreError):
            ro.commit_unit(_rec("k", "s"))


_WRITER = textwrap.dedent(
    """
    import sys
    from ivifbench.store import ResultsStore, UnitRecord
    db, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = ResultsStore(db, timeout=30)
    for i in range(n):
        # both writers also fight over a shared slot ("shared|<i mod 5>")
        slot = f"shared|{i % 5}" if i % 4 == 0 else f"{who}|{i}"
        s.commit_unit(UnitRecord(key=f"{who}-{i}", slot=slot, kind="score", status="ok", method=who, dataset=slot,
                                 split="test", image_metrics=[(f"img{j}", "EN", "c", float(i + j)) for j in range(20)],
                                 task_results=[("acc", float(i))], seed=i, task="t", protocol="p"))
    s.close()
    """
)


def test_two_processes_write_one_store(tmp_path: Path) -> None:
    db = tmp_path / "results.db"
    ResultsStore(db).close()
    n = 60
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(db), who, str(n)]) for who in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with ResultsStore(db) as s:
        assert s.integrity_ok()
        units = s.frame("units")
        # each slot holds exactly one unit; every unit's rows are complete (20 images each), none duplicated
        assert units.slot.is_unique
        own = units[~units.slot.str.startswith("shared")]
        assert len(own) == 2 * (n - n // 4)
        assert set(units[units.slot.str.startswith("shared")].slot) == {f"shared|{k}" for k in range(5)}
        im = s.frame("image_metrics")
        assert (im.groupby("unit_key").size() == 20).all()
        assert set(im.unit_key) == set(units.key)
        tr = s.frame("task_results")
        assert set(tr.unit_key) == set(units.key)
