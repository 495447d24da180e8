"""kill -9 at several points of `ivifbench run`, then the same command again: the store equals an uninterrupted run's.

Deterministic: a kill lands while a unit is known to be in flight (a gated method or task blocks, after writing a
marker, until it is killed), never after a guessed delay; the reference and every run are subprocesses, so no registry
state of this process is involved. After each kill the store must be intact with only complete units; the final run
completes, and its results match a run that was never interrupted, row for row.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import test_sweep_fixtures as fx

from ivifbench.store import ResultsStore


def _normalise(snap: dict, out: Path) -> dict:
    """Absolute paths of fused images differ between two output folders; compare them relative to it."""
    prefix = str(out.resolve())
    return {
        table: sorted(tuple(str(v).replace(prefix, "<out>") if isinstance(v, str) else v for v in row) for row in rows)
        for table, rows in snap.items()
    }


def _check_consistent(db: Path) -> int:
    with ResultsStore(db, readonly=True) as s:
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


def _wait_for(marker: Path, proc: subprocess.Popen, limit: float = 180) -> int:
    """The pid the gate wrote, once a gated unit is in flight (the limit only guards against a broken run)."""
    deadline = time.monotonic() + limit
    while not marker.is_file() or not marker.read_text():
        assert proc.poll() is None, f"the run ended before the gate: {proc.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "no unit reached the gate"
        time.sleep(0.05)
    return int(marker.read_text())


def suite_and_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    methods = [
        {"name": "gated", "type": "callable", "target": "test_sweep_fixtures:gated_fuse"},
        "plugmean",  # an installed plugin (entry point ivifbench.methods)
    ]
    tasks = [{"name": "fake", "dataset": "msrs", "methods": ["gated", "plugmean"], "seeds": [0, 1]}]
    suite = fx.write_suite(tmp_path / "s.yaml", methods=methods, tasks=tasks)
    plug = fx.make_plugin_dir(tmp_path / "plugin")  # the fake task and the plugin method reach subprocesses this way
    return suite, fx.subprocess_env(plug)


def run_cmd(suite: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "ivifbench.cli", "run", str(suite), "--out", str(out), "--no-report", "-q"]


def test_kill_and_resume_equals_uninterrupted(tmp_path: Path) -> None:
    suite, env = suite_and_env(tmp_path)
    ref = tmp_path / "ref"
    done = subprocess.run([*run_cmd(suite, ref), "--workers", "0"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    with ResultsStore(ref / "results.db", readonly=True) as s:
        want = _normalise(s.snapshot(), ref)
        assert len(s.units()) == 12

    out = tmp_path / "out"
    db = out / "results.db"
    # kill points: a fuse unit in flight (in the driver, then in a worker process), a task unit in flight
    for stage, workers in (("fuse", "0"), ("fuse", "1"), ("task", "0")):
        marker = tmp_path / f"gate-{stage}-{workers}"
        gated = {**env, "IVIFBENCH_TEST_GATE": f"{stage}:{marker}"}
        proc = subprocess.Popen([*run_cmd(suite, out), "--workers", workers], env=gated, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        _wait_for(marker, proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert _check_consistent(db) < 12  # the gated unit never committed
    done = subprocess.run([*run_cmd(suite, out), "--workers", "0"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "0 failed" in done.stdout and "results.db" in done.stdout
    assert done.stderr.count("marked abandoned") == 1  # the last killed run's record; earlier ones were marked before
    with ResultsStore(db, readonly=True) as s:
        assert s.method_infos()["plugmean"]["trained_on"] == ["msrs"]
        got = _normalise(s.snapshot(), out)
        runs = s.runs()
    assert got == want
    assert runs[-1]["status"] == "finished"
    assert all(r["status"] == "abandoned (its driver died)" for r in runs[:-1])
