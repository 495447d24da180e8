"""Interrupt probe: kill -9 / SIGINT / SIGTERM at random moments of `ivifbench run`, then the same command again.

One uninterrupted run of a tiny real sweep (synthetic data, three classical methods, four fusion metrics, one short
salient-object task) is the reference. Each trial starts the same command in a fresh output folder, sends a signal
chosen at random at a random moment of the reference's duration, and checks:

* the exit: -9 for kill -9; 130 (SIGINT) or 143 (SIGTERM) with a last line starting "interrupted" (a run that had
  already finished when the signal came exits 0, and the trial says so; a SIGTERM in the interpreter's first fraction
  of a second, before ivifbench printed anything, kills it by the default action, also said so);
* no process of that run is left (every process started by the trial carries a token in its environment, found by a
  /proc scan; they are given up to ``--grace`` seconds to exit, which only bounds a hang);
* the same command then completes (exit 0), and its results store and its leaderboard/metric CSVs equal the
  reference's (store rows without timings or run ids; CSVs byte for byte once the output folder's path is masked).

Usage: ``python tools/interrupt_probe.py [--trials 10] [--seed N] [--workers 2] [--work DIR]``. It prints one line per
trial, a table and a summary, and exits 1 if any trial failed. SIGINT goes to the run's process group (as Ctrl-C in a
terminal); SIGTERM and kill -9 go to the driver alone (as ``kill`` or a batch scheduler would), so its workers must
notice by themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIGNALS = {"KILL": signal.SIGKILL, "INT": signal.SIGINT, "TERM": signal.SIGTERM}
EXPECTED_RC = {"KILL": -signal.SIGKILL, "INT": 130, "TERM": 143}
REPORT_FILES = ("leaderboard.csv", "fusion_metrics.csv", "task_results.csv")
TOKEN_VAR = "IVIFBENCH_PROBE_TOKEN"


def tiny_suite(path: Path, *, task: bool = True) -> Path:
    """A real sweep that runs in well under a minute on two loaded cores (written as JSON, which is YAML)."""
    suite: dict[str, Any] = {
        "name": "interrupt-probe",
        "version": 1,
        "device": "cpu",
        "methods": ["average", "max", "laplacian"],
        "datasets": [
            {"name": "tno", "synthetic": {"pairs": 4, "seed": 0, "size": [96, 72]}},
            {"name": "vt5000", "synthetic": {"pairs": 8, "seed": 0, "size": [64, 64]}, "splits": ["Test"]},
        ],
        "metrics": {"names": ["EN", "SD", "MI", "SSIM"], "convention": "canonical"},
        "tasks": [
            {
                "name": "sod",
                "dataset": "vt5000",
                "methods": ["average", "laplacian"],
                "protocol": "quick",
                "seeds": [0],
                "overrides": {"iters": 6, "size": 64, "batch": 4},
            }
        ]
        if task
        else [],
        "report": {"formats": ["md", "csv"], "grid_images": 0},
    }
    path.write_text(json.dumps(suite, indent=1))
    return path


def run_command(suite: Path, out: Path, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ivifbench.cli",
        "run",
        str(suite),
        "--out",
        str(out),
        "--workers",
        str(workers),
        "-q",
    ]


def token_processes(token: str) -> list[int]:
    """Pids of live (non-zombie) processes whose environment carries ``token``."""
    found = []
    needle = f"{TOKEN_VAR}={token}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[-1].split()[0] == "Z":
                    continue
        except OSError:  # gone meanwhile, or not ours
            continue
        found.append(int(entry))
    return found


def wait_gone(token: str, grace: float) -> tuple[list[int], float]:
    """Poll until no process carries ``token`` (or ``grace`` seconds pass): what is left and how long it took."""
    t0 = time.monotonic()
    while True:
        left = token_processes(token)
        if not left or time.monotonic() - t0 > grace:
            return left, time.monotonic() - t0
        time.sleep(0.1)


def results(out: Path) -> dict[str, Any]:
    """What must equal the reference: store rows without timings/run ids, and the report CSVs with paths masked."""
    con = sqlite3.connect(f"file:{out / 'results.db'}?mode=ro", uri=True)
    try:
        queries = {
            "units": "SELECT key, slot, kind, method, dataset, split, task, protocol, seed, status FROM units",
            "image_metrics": "SELECT * FROM image_metrics",
            "task_results": "SELECT * FROM task_results",
            "fused": "SELECT * FROM fused",
        }
        prefix = str(out.resolve())

        def norm(v: Any) -> Any:
            return v.replace(prefix, "<out>") if isinstance(v, str) else v

        snap: dict[str, Any] = {
            name: sorted((tuple(norm(v) for v in row) for row in con.execute(sql)), key=repr)
            for name, sql in queries.items()
        }
    finally:
        con.close()
    for name in REPORT_FILES:
        p = out / "report" / name
        snap[name] = p.read_text().replace(str(out.resolve()), "<out>") if p.is_file() else None
    return snap


def diff_keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [k for k in a if a[k] != b.get(k)]


@dataclass
class Trial:
    n: int
    sig: str
    at: float  # seconds after start
    rc: int | None = None
    last_line: str = ""
    finished_first: bool = False
    startup: bool = False
    orphans: list[int] = field(default_factory=list)
    gone_after: float = 0.0
    resume_rc: int | None = None
    resume_seconds: float = 0.0
    differs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _env(token: str) -> dict[str, str]:
    return {**os.environ, TOKEN_VAR: token, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


def run_trial(n: int, rng: random.Random, suite: Path, work: Path, ref: dict[str, Any], ref_seconds: float,
              workers: int, grace: float, hang: float) -> Trial:  # fmt: skip
    sig = rng.choice(sorted(SIGNALS))
    trial = Trial(n, sig, round(rng.uniform(0.0, ref_seconds), 2))
    out = work / f"trial-{n:02d}"
    token = uuid.uuid4().hex
    cmd = run_command(suite, out, workers)
    proc = subprocess.Popen(cmd, env=_env(token), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    try:
        proc.wait(timeout=trial.at)
        trial.finished_first = True  # the run ended before the signal was due
    except subprocess.TimeoutExpired:
        try:
            if sig == "INT":
                os.killpg(proc.pid, SIGNALS[sig])  # Ctrl-C: the terminal signals the whole foreground group
            else:
                os.kill(proc.pid, SIGNALS[sig])
        except ProcessLookupError:
            trial.finished_first = True
    try:
        _, err = proc.communicate(timeout=hang)
    except subprocess.TimeoutExpired:
        trial.problems.append(f"hang: no exit {hang:.0f} s after the signal")
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    trial.rc = proc.returncode
    lines = err.decode(errors="replace").strip().splitlines()
    trial.last_line = lines[-1] if lines else ""
    if not trial.finished_first and sig != "KILL" and trial.rc == -SIGNALS[sig] and not lines:
        # before ivifbench printed anything: the interpreter was still starting, so the OS default action applied
        # (a shell shows 128 + N); nothing was written yet
        trial.startup = True
    elif trial.finished_first or (trial.rc == 0 and sig != "KILL"):
        trial.finished_first = True
        if trial.rc != 0:
            tail = " | ".join(lines[-3:])
            trial.problems.append(f"exit {trial.rc} without a signal: {tail}")
    elif trial.rc != EXPECTED_RC[sig]:
        trial.problems.append(f"exit {trial.rc}, expected {EXPECTED_RC[sig]}")
    if not (trial.finished_first or trial.startup) and sig != "KILL" and not trial.last_line.startswith("interrupted"):
        trial.problems.append(f"last line {trial.last_line!r} is not 'interrupted…'")
    if "Traceback" in err.decode(errors="replace"):
        trial.problems.append("a traceback was printed")
    trial.orphans, trial.gone_after = wait_gone(token, grace)
    if trial.orphans:
        trial.problems.append(f"orphans {trial.orphans} still alive {grace:.0f} s later")
        for pid in trial.orphans:  # clean up after reporting, so later trials are not disturbed
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    # the same command, to completion
    t0 = time.monotonic()
    again = subprocess.run(cmd, env=_env(token + "-resume"), capture_output=True, text=True, timeout=hang * 10)
    trial.resume_seconds = time.monotonic() - t0
    trial.resume_rc = again.returncode
    if again.returncode != 0:
        tail = " | ".join(again.stderr.strip().splitlines()[-3:])
        trial.problems.append(f"the same command again exited {again.returncode}: {tail}")
    else:
        trial.differs = diff_keys(ref, results(out))
        if trial.differs:
            trial.problems.append(f"differs from the uninterrupted run in {', '.join(trial.differs)}")
    left, _ = wait_gone(token + "-resume", grace)
    if left:
        trial.problems.append(f"the resumed run left processes {left}")
    return trial


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=None, help="random seed (printed; default: a fresh one)")
    ap.add_argument("--workers", type=int, default=2, help="run --workers (≥ 1 so that worker processes exist)")
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one, removed)")
    ap.add_argument("--no-task", action="store_true", help="leave the salient-object task out (faster)")
    ap.add_argument("--grace", type=float, default=30.0, help="seconds the run's processes get to exit")
    ap.add_argument("--hang", type=float, default=120.0, help="seconds after the signal before a run counts as hung")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    print(f"interrupt probe: {args.trials} trials, seed {seed} (rerun with --seed {seed}), --workers {args.workers}")
    work = args.work or Path(tempfile.mkdtemp(prefix="ivif-probe-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        suite = tiny_suite(work / "suite.yaml", task=not args.no_task)
        ref_out = work / "reference"
        t0 = time.monotonic()
        done = subprocess.run(run_command(suite, ref_out, args.workers), env=_env(uuid.uuid4().hex),
                              capture_output=True, text=True)  # fmt: skip
        ref_seconds = time.monotonic() - t0
        if done.returncode != 0:
            print(f"the uninterrupted reference run failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
            return 1
        ref = results(ref_out)
        n_units = len(ref["units"])
        print(f"reference: {n_units} units in {ref_seconds:.1f} s; signals land uniformly in [0, {ref_seconds:.1f}] s")
        trials = []
        for n in range(1, args.trials + 1):
            t = run_trial(n, rng, suite, work, ref, ref_seconds, args.workers, args.grace, args.hang)
            trials.append(t)
            print(f"  trial {n}: {t.sig} at {t.at} s -> {'ok' if t.ok else 'FAIL: ' + '; '.join(t.problems)}",
                  flush=True)  # fmt: skip
        print()
        print("| # | signal | at (s) | exit | last line | processes gone after (s) | resumed | same results |")
        print("|---|---|---|---|---|---|---|---|")
        for t in trials:
            last = "(finished before the signal)" if t.finished_first else (t.last_line[:70] or "(none)")
            last = "(killed in interpreter start-up: default action)" if t.startup else last
            same = "yes" if t.resume_rc == 0 and not t.differs else "NO"
            print(f"| {t.n} | {t.sig} | {t.at} | {t.rc} | {last} | {t.gone_after:.1f}"
                  f"{' (orphans!)' if t.orphans else ''} | exit {t.resume_rc}, {t.resume_seconds:.1f} s | {same} |")  # fmt: skip
        n_ok = sum(t.ok for t in trials)
        by_sig = {s: sum(t.sig == s for t in trials) for s in sorted(SIGNALS)}
        landed = sum(not t.finished_first for t in trials)
        print()
        print(f"summary: {n_ok} of {len(trials)} trials ok; signals {by_sig}; {landed} landed during the run; "
              f"seed {seed}")  # fmt: skip
        return 0 if n_ok == len(trials) else 1
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
