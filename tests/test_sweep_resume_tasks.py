"""A sweep with real segmentation and SOD units, SIGKILLed after some of its task units and resumed with worker
processes, stores the same task numbers (and everything else) as an uninterrupted in-process run.

Before the tasks seeded their model initialisation this failed: a unit's initial weights came from whatever state the
previous unit left in torch's global generator (in-process) or from OS entropy (a fresh worker process).
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

TINY_SEG = {"iters": 3, "batch": 2, "crop": 48, "warmup": 1, "save_checkpoint": False}
TINY_SOD = {"size": 32, "iters": 3, "batch": 2, "save_model": False}


def _task_units_done(db: Path) -> int:
    if not db.is_file():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM units WHERE kind = 'task'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _normalise(snap: dict, out: Path) -> dict:
    prefix = str(out.resolve())
    return {
        table: sorted(tuple(str(v).replace(prefix, "<out>") if isinstance(v, str) else v for v in row) for row in rows)
        for table, rows in snap.items()
    }


def test_killed_and_resumed_sweep_gives_identical_task_results(tmp_path: Path) -> None:
    small = {"pairs": 6, "seed": 0, "size": [64, 48]}
    suite = fx.write_suite(
        tmp_path / "s.yaml",
        methods=["average", "max"],
        datasets=[{"name": "msrs", "synthetic": small}, {"name": "vt5000", "synthetic": small}],
        metrics={"names": ["EN"], "convention": "canonical"},
        tasks=[
            {"name": "segmentation", "dataset": "msrs", "methods": ["average", "max"], "overrides": TINY_SEG},
            {"name": "sod", "dataset": "vt5000", "methods": ["average", "max"], "overrides": TINY_SOD},
        ],
    )
    ref = tmp_path / "ref"
    summary = run_suite(load_suite(suite), ref, workers=0, progress=False, report=False)
    assert summary.failed == 0
    with ResultsStore(ref / "results.db", readonly=True) as s:
        want = _normalise(s.snapshot(), ref)
    assert len({row[2] for row in want["task_results"]}) == 2  # both tasks stored numbers

    out = tmp_path / "out"
    db = out / "results.db"
    cmd = [sys.executable, "-m", "ivifbench.cli", "run", str(suite), "--out", str(out), "--no-report", "-q"]
    env = fx.subprocess_env()
    proc = subprocess.Popen([*cmd, "--workers", "0"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and _task_units_done(db) < 1:
        time.sleep(0.05)
    assert proc.poll() is None, f"the run ended before the kill point: {proc.stderr.read().decode()[-2000:]}"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert 1 <= _task_units_done(db) < 4
    # resumed in two worker processes: each starts with fresh (entropy-seeded) global random state
    done = subprocess.run([*cmd, "--workers", "2"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with ResultsStore(db, readonly=True) as s:
        got = _normalise(s.snapshot(), out)
    assert got["task_results"] == want["task_results"]
    assert got == want
