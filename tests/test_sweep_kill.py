"""kill -9 at several points of `ivifbench run`, then the same command again: the store equals an uninterrupted run's.

One output folder goes through a chain of interrupted runs (killed before any unit ended, during fusion, during
scoring / tasks), each SIGKILLed with its whole process group (the driver and its worker processes); after each kill the
store must be intact with only complete units; the final run completes, and its results match a run that was never
interrupted, row for row.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import test_sweep_fixtures as fx

from ivifbench.benchmarks.runner import run_suite
from ivifbench.benchmarks.suite import load_suite
from ivifbench.store import ResultsStore


def _units_done(db: Path) -> int:
    if not db.is_file():
        return -1
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM units").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return -1


def _normalise(snap: dict, out: Path) -> dict:
    """Absolute paths of fused images differ between two output folders; compare them relative to it."""
    prefix = str(out.resolve())
    return {
        table: sorted(tuple(str(v).replace(prefix, "<out>") if isinstance(v, str) else v for v in row) for row in rows)
        for table, rows in snap.items()
    }


def _check_consistent(db: Path) -> int:
    with ResultsStore(db) as s:
        assert s.integrity_ok()
        units = s.frame("units")
        im = s.frame("image_metrics")
        ok_scores = units[(units.kind == "score") & (units.status == "ok")]
        # a committed score unit has all of its rows (3 metrics × its images); no row without its unit
        for key in ok_scores.key:
            n = len(im[im.unit_key == key])
            assert n > 0 and n % 3 == 0
        assert set(im.unit_key) <= set(units.key)
        assert units.slot.is_unique
        return len(units)


def test_kill_and_resume_equals_uninterrupted(tmp_path: Path) -> None:
    fx.register_fakes()
    methods = [
        {"name": "slowmean", "type": "callable", "target": "test_sweep_fixtures:slow_fuse", "params": {"delay": 0.15}},
        "plugmean",  # an installed plugin (entry point ivifbench.methods)
    ]
    tasks = [
        {
            "name": "fake",
            "dataset": "msrs",
            "methods": ["slowmean", "plugmean"],
            "seeds": [0, 1],
            "overrides": {"delay": 0.3},
        }
    ]
    suite = fx.write_suite(tmp_path / "s.yaml", methods=methods, tasks=tasks)
    plug = fx.make_plugin_dir(tmp_path / "plugin")  # the fake task and the plugin method reach subprocesses this way

    ref = tmp_path / "ref"
    sys.path.insert(0, str(plug))
    from ivifbench.fusion.registry import METHODS

    try:
        import ivifbench_testplugin  # type: ignore[import-not-found]

        METHODS.register("plugmean", ivifbench_testplugin.PlugMean, overwrite=True)
        summary = run_suite(load_suite(suite), ref, workers=0, progress=False, report=False)
    finally:
        METHODS.unregister("plugmean")
        sys.path.remove(str(plug))
    assert summary.failed == 0 and summary.ok == 12
    with ResultsStore(ref / "results.db", readonly=True) as s:
        want = _normalise(s.snapshot(), ref)

    env = fx.subprocess_env(plug)
    out = tmp_path / "out"
    db = out / "results.db"
    cmd = [sys.executable, "-m", "ivifbench.cli", "run", str(suite), "--out", str(out), "--no-report", "-q"]
    # kill points (units in the store when the kill lands): before any unit ended; mid-fusion with a worker process;
    # mid-scoring/tasks
    for kill_at, workers in ((0, "0"), (3, "1"), (8, "0")):
        proc = subprocess.Popen([*cmd, "--workers", workers], env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        deadline = time.time() + 90
        while time.time() < deadline and proc.poll() is None:
            n = _units_done(db)
            if n >= kill_at:
                break
            time.sleep(0.02)
        assert proc.poll() is None, (
            f"the run ended before the kill point {kill_at}: {proc.stderr.read().decode()[-2000:]}"
        )
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        n = _check_consistent(db)
        assert n < 12
    done = subprocess.run([*cmd, "--workers", "0"], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "0 failed" in done.stdout and "results.db" in done.stdout
    with ResultsStore(db, readonly=True) as s:
        assert s.method_infos()["plugmean"]["trained_on"] == ["msrs"]
    with ResultsStore(db, readonly=True) as s:
        got = _normalise(s.snapshot(), out)
        runs = s.runs()
    assert got == want
    assert runs[-1]["status"] == "finished" and all(r["status"] == "running" for r in runs[:-1])
