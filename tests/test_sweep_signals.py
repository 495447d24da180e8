"""Signals, orphans, per-unit timeouts and the output lock, on real subprocesses (a gated unit marks the moment a unit
is in flight; no guessed delays)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import test_sweep_fixtures as fx
from test_sweep_kill import _check_consistent, _wait_for, run_cmd, suite_and_env

from ivifbench.store import ResultsStore


def _gone(pid: int, limit: float = 15) -> bool:
    """Whether process ``pid`` has ended (a zombie awaiting its reaper counts as ended)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_cleanly_and_terminates_workers(tmp_path: Path, sig: int, code: int) -> None:
    suite, env = suite_and_env(tmp_path)
    out = tmp_path / "out"
    marker = tmp_path / "gate"
    proc = subprocess.Popen([*run_cmd(suite, out), "--workers", "1"], env={**env, "IVIFBENCH_TEST_GATE": f"fuse:{marker}"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    worker = _wait_for(marker, proc)
    os.kill(proc.pid, sig)  # the driver only, as `kill` or a scheduler would
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err.decode()[-2000:]
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith("interrupted: ") and "1 in flight abandoned; the same command resumes" in last, last
    assert _gone(worker), "the worker outlived the interrupted driver"
    with ResultsStore(out / "results.db", readonly=True) as s:
        assert s.runs()[-1]["status"] == "interrupted"
    _check_consistent(out / "results.db")


def test_kill9_of_the_driver_leaves_no_worker(tmp_path: Path) -> None:
    suite, env = suite_and_env(tmp_path)
    out = tmp_path / "out"
    marker = tmp_path / "gate"
    proc = subprocess.Popen([*run_cmd(suite, out), "--workers", "1"], env={**env, "IVIFBENCH_TEST_GATE": f"fuse:{marker}"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)  # fmt: skip
    worker = _wait_for(marker, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    try:
        assert _gone(worker), "the worker outlived its kill -9ed driver"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # clean up whatever is left, whatever the outcome
        except ProcessLookupError:
            pass


def test_second_run_on_one_out_is_refused(tmp_path: Path) -> None:
    suite, env = suite_and_env(tmp_path)
    out = tmp_path / "out"
    marker = tmp_path / "gate"
    first = subprocess.Popen([*run_cmd(suite, out), "--workers", "0"], env={**env, "IVIFBENCH_TEST_GATE": f"fuse:{marker}"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        _wait_for(marker, first)
        second = subprocess.run([*run_cmd(suite, out), "--workers", "0"], env=env, capture_output=True, text=True)
        assert second.returncode != 0
        err = second.stderr.strip().splitlines()[-1]
        assert f"is in use by another ivifbench run (pid {first.pid}" in err and "--wait" in err, err
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_unit_over_its_timeout_fails_and_the_sweep_carries_on(tmp_path: Path, workers: str) -> None:
    methods = [{"name": "gated", "type": "callable", "target": "test_sweep_fixtures:gated_fuse"}, "average"]
    suite = fx.write_suite(tmp_path / "s.yaml", methods=methods, tasks=[], timeouts={"fuse": 3})
    env = {**fx.subprocess_env(), "IVIFBENCH_TEST_GATE": f"fuse:{tmp_path / 'gate'}"}
    done = subprocess.run([*run_cmd(suite, tmp_path / "out"), "--workers", workers], env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    with ResultsStore(tmp_path / "out" / "results.db", readonly=True) as s:
        units = s.units()
    by = {(u["kind"], u["method"], u["split"]): u for u in units}
    assert by[("fuse", "gated", "test")]["error"].startswith("timed out after 3 s")
    assert by[("fuse", "average", "test")]["status"] == "ok" and by[("score", "average", "test")]["status"] == "ok"


def test_store_faults_are_one_line(tmp_path: Path) -> None:
    import sqlite3

    from ivifbench.cli import main

    suite = fx.write_suite(tmp_path / "s.yaml", methods=["average"], tasks=[])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    con = sqlite3.connect(foreign / "results.db")
    con.execute("CREATE TABLE customers (id INTEGER)")
    con.commit()
    con.close()
    fx.register_fakes()
    assert main(["run", str(suite), "--out", str(foreign), "--workers", "0", "-q"]) == 2
    con = sqlite3.connect(foreign / "results.db")
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["customers"]
    con.close()
    # a store damaged in the middle: the run refuses it, with the way out
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--workers", "0", "-q", "--no-report"]) == 0
    db = out / "results.db"
    with ResultsStore(db) as s:
        s._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(db.read_bytes())
    page = 4096
    raw[3 * page : 5 * page] = os.urandom(2 * page)
    db.write_bytes(bytes(raw))
    from ivifbench.store import StoreError

    with pytest.raises(StoreError, match="damaged.*move it aside"):
        with ResultsStore(db) as s:
            s.check_integrity()
