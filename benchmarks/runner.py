"""The sweep driver: validate, plan, skip cached units, execute the rest, commit each as it ends, write the report.

The driver alone writes the store, one transaction per finished unit, so ``kill -9`` loses at most the units in
flight, and the same command again does exactly what is missing.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ivifbench import provenance
from ivifbench.benchmarks.planner import STAGES, Plan, Unit, make_plan
from ivifbench.benchmarks.suite import Suite, SuiteError
from ivifbench.benchmarks.validate import check_suite
from ivifbench.errors import IvifError
from ivifbench.store import ResultsStore, UnitRecord

Overwrite = Literal["never", "missing", "always"]


@dataclass
class RunSummary:
    run_id: str
    out: Path
    store: Path
    total: int = 0
    cached: int = 0
    ok: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (unit label, error)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage
    stage_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    plan_seconds: float = 0.0
    report_seconds: float = 0.0
    skipped_methods: dict[str, str] = field(default_factory=dict)
    reports: list[Path] = field(default_factory=list)
    abandoned: int = 0  # units in flight when the run was interrupted
    report_error: str | None = None  # why the report could not be written (the results are in the store)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.report_error else 0


def _device_info(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {"device": device, "cpus": os.cpu_count()}
    try:
        import torch

        if device.startswith("cuda") and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover
        pass
    return info


def select_units(plan: Plan, store: ResultsStore, overwrite: Overwrite) -> tuple[list[Unit], list[Unit]]:
    """(units to run, cached units) under the overwrite policy.

    ``never``: any unit already in the store (even a failed one) is kept; ``missing`` (default): units not in the store,
    failed ones, and fuse units whose images are gone are run; ``always``: everything runs.
    """
    status = store.unit_status(u.key for u in plan.units)
    todo, cached = [], []
    for u in plan.units:
        st = status.get(u.key)
        if overwrite == "always" or st is None:
            todo.append(u)
        elif overwrite == "never":
            cached.append(u)
        elif st != "ok":
            todo.append(u)
        elif not u.outputs_present():
            todo.append(u)
        else:
            cached.append(u)
    # a fuse unit that reruns because its images are gone does not invalidate what was computed from the same images
    return todo, cached


class _Progress:
    """One bar per stage with counts, rate and ETA (rich, on stderr); on a non-terminal (CI logs) one line per finished
    unit with the same numbers; silent when disabled."""

    def __init__(self, enabled: bool, totals: dict[str, int], cached: dict[str, int]) -> None:
        self.enabled = enabled and any(totals.values())
        self._p = None
        self._tasks: dict[str, Any] = {}
        self._plain = self.enabled and not sys.stderr.isatty()
        self._totals = totals
        self._done: dict[str, int] = dict.fromkeys(STAGES, 0)
        self._failed: dict[str, int] = dict.fromkeys(STAGES, 0)
        self._start: dict[str, float] = {}
        if self.enabled and not self._plain:
            from ivifbench.progress import make_progress

            self._p = make_progress()
            self._p.start()
            for stage in STAGES:
                if totals.get(stage):
                    extra = f" (+{cached[stage]} cached)" if cached.get(stage) else ""
                    self._tasks[stage] = self._p.add_task(f"{stage:<5}{extra}", total=totals[stage], rate="")

    def started(self, stage: str) -> None:
        self._start.setdefault(stage, time.time())

    def advance(self, stage: str, failed: bool, label: str = "") -> None:
        self._done[stage] += 1
        self._failed[stage] += int(failed)
        if self._plain:
            n, total = self._done[stage], self._totals.get(stage, 0)
            spent = time.time() - self._start.get(stage, time.time())
            rate = n / spent * 60 if spent > 0 else 0.0
            eta = (total - n) * spent / n if n else 0.0
            fail = f", {self._failed[stage]} failed" if self._failed[stage] else ""
            print(
                f"[{stage} {n}/{total}] {label} {'FAILED' if failed else 'ok'} — {rate:.1f} units/min, "
                f"elapsed {spent:.0f} s, eta {eta:.0f} s{fail}",
                file=sys.stderr,
                flush=True,
            )
            return
        if not self._p or stage not in self._tasks:
            return
        tid = self._tasks[stage]
        self._p.update(tid, advance=1)
        task = next(t for t in self._p.tasks if t.id == tid)
        speed = task.speed
        rate_text = f"{speed * 60:.1f} units/min" if speed else ""
        if self._failed[stage]:
            rate_text += f" [red]{self._failed[stage]} failed"
        self._p.update(tid, rate=rate_text)

    def close(self) -> None:
        if self._p:
            self._p.stop()


def run_suite(
    suite: Suite,
    out: str | Path,
    *,
    workers: int | None = None,
    executor: str = "local",
    address: str | None = None,
    executor_options: dict[str, Any] | None = None,
    overwrite: Overwrite = "missing",
    device: str | None = None,
    progress: bool = True,
    report: bool = True,
    suite_source: str = "",
    log: Any = None,
    timeouts: dict[str, float] | None = None,
    wait: bool = False,
) -> RunSummary:
    """Run a suite into ``out`` (``results.db``, ``fused/``, ``tasks/``, ``report/``) and return what happened.

    One run writes an output folder at a time (a second one raises, or waits with ``wait=True``). SIGINT and SIGTERM
    stop it cleanly: workers are terminated, the run record says 'interrupted' and :class:`RunInterrupted` is raised.
    ``timeouts`` (seconds per unit kind, over the suite's ``timeouts:`` and :data:`DEFAULT_TIMEOUTS`) bound each unit.
    """
    from ivifbench.benchmarks.lock import OutputLock

    t0 = time.time()
    say = log or (lambda msg: print(msg, file=sys.stderr))
    sig = _Signals()  # SIGTERM while checking or planning (synthetic data, hashing) stops as cleanly as later on
    try:
        with sig:
            check_suite_outputs(suite, Path(out).resolve())
            errors, notes = check_suite(suite)
            if errors:
                raise SuiteError(f"suite '{suite.name}' has {len(errors)} problem(s): " + "; ".join(errors))
            out = Path(out).resolve()
            out.mkdir(parents=True, exist_ok=True)
            with OutputLock(out, wait=wait, say=say):
                return _run_locked(
                    suite, out, t0, say, notes, workers=workers, executor=executor, address=address,
                    executor_options=executor_options, overwrite=overwrite, device=device, progress=progress,
                    report=report, suite_source=suite_source, timeouts=timeouts,
                )  # fmt: skip
    except RunInterrupted:
        raise
    except KeyboardInterrupt:  # while planning or writing the report: the same command picks up from the store
        raise RunInterrupted(int(sig.signum)) from None


def _run_locked(
    suite: Suite,
    out: Path,
    t0: float,
    say: Any,
    notes: list[str],
    *,
    workers: int | None,
    executor: str,
    address: str | None,
    executor_options: dict[str, Any] | None,
    overwrite: Overwrite,
    device: str | None,
    progress: bool,
    report: bool,
    suite_source: str,
    timeouts: dict[str, float] | None,
) -> RunSummary:
    store = ResultsStore(out / "results.db")
    store.check_integrity()
    for rid in store.mark_abandoned_runs():
        say(
            f"note: run {rid} ended without closing its record (its driver was killed, or its last write failed); "
            "marked abandoned"
        )
    limits = {**DEFAULT_TIMEOUTS, **(getattr(suite, "timeouts", None) or {}), **(timeouts or {})}
    plan = make_plan(suite, out, device=device)
    dev = next((u.device for u in plan.units), device or "cpu")
    todo, cached = select_units(plan, store, overwrite)
    if workers is None:  # (Slurm: at most slurm.DEFAULT_MAX_JOBS jobs queued at once)
        workers = 0 if executor == "slurm" else default_workers(todo, str(dev))
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    summary = RunSummary(run_id=run_id, out=out, store=store.path, total=len(plan.units), cached=len(cached))
    summary.skipped_methods = plan.skipped
    summary.plan_seconds = time.time() - t0
    for name, why in plan.skipped.items():
        say(f"skipping method '{name}': {why}")
    manifest: dict[str, Any] = {
        "suite": suite.name,
        "suite_version": str(suite.version),
        "suite_source": suite_source,
        "versions": provenance.versions(),
        "git_revision": provenance.git_revision(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "device": _device_info(str(dev)),
        "executor": executor,
        **({"executor_options": executor_options} if executor_options else {}),
        "workers": workers,
        "overwrite": overwrite,
        "skipped_methods": plan.skipped,
        "notes": notes,
        "methods": {n: {"fingerprint": m.fingerprint, "info": m.info} for n, m in plan.methods.items()},
        "datasets": {
            n: {
                "root": str(d.root),
                "synthetic": d.synthetic,
                "pairs": {s: len(p) for s, p in d.pairs.items()},
                "scored_splits": list(d.score_splits),
                "files": d.file_hash,
            }
            for n, d in plan.datasets.items()
        },
        "units": {"total": len(plan.units), "cached": len(cached), "to_run": len(todo)},
    }
    store.start_run(run_id, suite.name, str(suite.version), suite.model_dump(mode="json"), manifest)
    for name, pm in plan.methods.items():
        if pm.skipped:
            store.set_method_info(name, "", {**pm.info, "name": name, "skipped": pm.skipped})

    stage_first: dict[str, float] = {}
    stage_last: dict[str, float] = {}
    status = "finished"
    interrupted: RunInterrupted | None = None
    sig = _Signals()
    try:
        if executor == "slurm":  # job logs beside the results unless told otherwise
            executor_options = {"folder": out / "work" / "slurm", **(executor_options or {})}
        with sig:
            _execute(
                plan, todo, cached, store, run_id, summary, workers, executor, address, progress, stage_first,
                stage_last, executor_options, limits,
            )  # fmt: skip
    except KeyboardInterrupt:
        status = "interrupted"
        report = False  # stop promptly; `ivifbench report` or the same command writes it
        interrupted = RunInterrupted(int(sig.signum), summary.ok + summary.failed, summary.abandoned)
    except Exception:  # e.g. a read-only or full disk: the record must not stay "running"; the CLI says what to do
        status = "failed"
        report = False
        raise
    finally:
        now = time.time()
        summary.stage_seconds = {s: round(stage_last.get(s, now) - stage_first[s], 3) for s in stage_first}
        manifest["timings"] = {
            "plan_seconds": round(summary.plan_seconds, 3),
            "stage_wall_seconds": summary.stage_seconds,
            "unit_seconds": {s: round(v, 3) for s, v in _unit_seconds(store, run_id).items()},
            "unit_cpu_seconds": {s: round(v, 3) for s, v in _unit_seconds(store, run_id, "cpu").items()},
        }
        manifest["stage_counts"] = summary.stage_counts
        summary.seconds = time.time() - t0
        manifest["timings"]["total_seconds"] = round(summary.seconds, 3)
        final = status if not summary.failed else f"{status} with failures"
        counts = {"n_ok": summary.ok, "n_failed": summary.failed, "n_cached": summary.cached}
        try:
            _close_record(store, run_id, final, manifest, counts)
        except BaseException:
            store.close()
            raise
        if report:
            t_rep = time.time()
            try:
                from ivifbench.reports import write_reports

                summary.reports = write_reports(
                    store.path,
                    out / "report",
                    formats=tuple(suite.report.formats),
                    grid_images=suite.report.grid_images,
                )
            except Exception as exc:  # the results are safe in the store; the run still fails (exit 1), saying so
                summary.report_error = f"{type(exc).__name__}: {exc}"
                say(f"error: the report could not be written ({summary.report_error}); the results are in the store; "
                    f"retry with: ivifbench report --results {out}")  # fmt: skip
            summary.report_seconds = time.time() - t_rep
            summary.seconds = time.time() - t0
            manifest["timings"]["report_seconds"] = round(summary.report_seconds, 3)
            manifest["timings"]["total_seconds"] = round(summary.seconds, 3)
            store.finish_run(run_id, status=final, manifest=manifest, **counts)
        store.close()
    if interrupted is not None:
        raise interrupted
    return summary


def _close_record(
    store: ResultsStore, run_id: str, status: str, manifest: dict[str, Any], counts: dict[str, int]
) -> None:
    """Write the run's end. If that write fails (a full disk: "database or disk is full"), try the status alone, which
    needs almost no space, so the record says 'failed' rather than 'running'; the original error still propagates (the
    CLI turns it into one line). Should even that fail, the next start marks the record abandoned."""
    import sqlite3

    try:
        store.finish_run(run_id, status=status, manifest=manifest, **counts)
    except (sqlite3.DatabaseError, OSError):
        try:
            store.set_run_status(run_id, "failed" if status.startswith("finished") else status)
        except (sqlite3.DatabaseError, OSError):
            pass
        raise


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM: its record says 'interrupted'; the same command resumes it."""

    def __init__(self, signum: int, done: int | None = None, abandoned: int = 0) -> None:
        super().__init__(signum)
        self.signum, self.done, self.abandoned = signum, done, abandoned

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        if self.done is None:  # outside the units' loop (planning, the report): no count to give
            return "interrupted; the same command resumes"
        return f"interrupted: {self.done} units done, {self.abandoned} in flight abandoned; the same command resumes"


DEFAULT_TIMEOUTS = {"fuse": 2 * 3600.0, "score": 2 * 3600.0, "task": 48 * 3600.0}
"""Seconds a unit may run before it is killed and recorded failed (suite ``timeouts:``, ``run --timeout``)."""


def parse_timeouts(text: str | None) -> dict[str, float]:
    """``"600"`` (every kind) or ``"fuse=600,task=7200"`` → per-kind seconds (0 = no limit)."""
    if not text:
        return {}
    out: dict[str, float] = {}
    for part in text.split(","):
        kind, _, value = part.strip().rpartition("=")
        kinds = [kind] if kind else list(DEFAULT_TIMEOUTS)
        if kind and kind not in DEFAULT_TIMEOUTS:
            raise IvifError(f"--timeout {text}: unknown unit kind '{kind}' (kinds: {', '.join(DEFAULT_TIMEOUTS)})")
        try:
            seconds = float(value)
        except ValueError:
            raise IvifError(f"--timeout {text}: '{value}' is not a number of seconds") from None
        if not seconds >= 0 or seconds == float("inf"):
            raise IvifError(f"--timeout {text}: seconds must be a finite number ≥ 0 (0: no limit)")
        out.update(dict.fromkeys(kinds, seconds))
    return out


class _Signals:
    """SIGTERM raises like SIGINT while the driver runs units (main thread only); both become RunInterrupted."""

    def __init__(self) -> None:
        self.signum: int = int(signal.SIGINT)
        self._old: Any = None

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():

            def on_term(signum: int, frame: Any) -> None:
                self.signum = signum
                raise KeyboardInterrupt

            self._old = signal.signal(signal.SIGTERM, on_term)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


def check_suite_outputs(suite: Suite, out: Path) -> None:
    """Refuse an output folder that is, contains or lies inside a dataset root or a folder method's path."""
    from ivifbench.paths import check_output_folder, check_outputs_apart, static_prefix

    check_output_folder("--out", out)
    inputs: dict[str, str | Path] = {}
    for d in suite.datasets:
        if d.root:
            inputs[f"the root of dataset '{d.name}'"] = Path(d.root).expanduser()
    for m in suite.methods:
        if m.type == "folder" and m.path:
            inputs[f"the path of folder method '{m.name}'"] = static_prefix(m.path)
    check_outputs_apart({"--out": out}, inputs)


def default_workers(todo: list[Unit], device: str = "cpu") -> int:
    """CPU: one worker per core up to 2 cores, then one per two cores (each worker gets cores/workers threads).
    GPU: one worker (the units share the device one at a time; pass --workers to overlap them)."""
    if str(device).startswith("cuda"):
        n = 1
    else:
        cpus = os.cpu_count() or 1
        n = cpus if cpus <= 2 else cpus // 2
    return max(1, min(n, len(todo) or 1))


def _unit_seconds(store: ResultsStore, run_id: str, what: str = "seconds") -> dict[str, float]:
    """Per stage: the units' wall seconds (``seconds``) or CPU seconds (``cpu``) in this run."""
    col = "seconds" if what == "seconds" else "json_extract(payload_json, '$.cpu_seconds')"
    rows = store._db.execute(f"SELECT kind, SUM({col}) FROM units WHERE run_id = ? GROUP BY kind", (run_id,)).fetchall()
    return {k: float(v or 0) for k, v in rows}


def _execute(
    plan: Plan,
    todo: list[Unit],
    cached: list[Unit],
    store: ResultsStore,
    run_id: str,
    summary: RunSummary,
    workers: int,
    executor_kind: str,
    address: str | None,
    progress: bool,
    stage_first: dict[str, float],
    stage_last: dict[str, float],
    executor_options: dict[str, Any] | None = None,
    timeouts: dict[str, float] | None = None,
) -> None:
    from ivifbench.benchmarks.executors import make_executor

    by_key = {u.key: u for u in todo}
    cached_status = store.unit_status(u.key for u in cached)
    done_ok = {k for k, st in cached_status.items() if st == "ok"}
    failed_keys = {u.key for u in cached} - done_ok
    # the long units first (critical path): fusion that a task waits for, tasks, other fusion, then scoring
    task_deps = {d for u in todo if u.kind == "task" for d in u.deps}
    prio = {"task": 1, "fuse": 2, "score": 3}
    pending = sorted(todo, key=lambda u: 0 if u.key in task_deps else prio[u.kind])  # stable: plan order within
    counts = {s: {"to_run": 0, "cached": 0, "ok": 0, "failed": 0} for s in STAGES}
    for u in todo:
        counts[u.kind]["to_run"] += 1
    for u in cached:
        counts[u.kind]["cached"] += 1
    summary.stage_counts = counts
    if not todo:
        return
    bars = _Progress(progress, {s: counts[s]["to_run"] for s in STAGES}, {s: counts[s]["cached"] for s in STAGES})
    ex = make_executor(executor_kind, workers, address, executor_options)
    in_flight: set[str] = set()

    def record(key: str, rec: dict[str, Any]) -> None:
        unit = by_key[key]
        rec = {k: v for k, v in rec.items() if k in UnitRecord.__dataclass_fields__}
        rec.setdefault("spec", {})
        r = UnitRecord(**rec)
        store.commit_unit(r, run_id=run_id)
        stage_first.setdefault(unit.kind, r.started or time.time())
        stage_last[unit.kind] = max(stage_last.get(unit.kind, 0.0), r.finished or time.time())
        if r.status == "ok":
            done_ok.add(key)
            summary.ok += 1
            counts[unit.kind]["ok"] += 1
        else:
            failed_keys.add(key)
            summary.failed += 1
            counts[unit.kind]["failed"] += 1
            summary.failures.append((unit.label, r.error or "failed"))
        bars.advance(unit.kind, r.status != "ok", unit.label)

    try:
        while pending or in_flight:
            # dependents of failed units fail without running; ready units go to the executor
            progressed = False
            for u in list(pending):
                bad = [d for d in u.deps if d in failed_keys]
                if bad:
                    pending.remove(u)
                    dep = by_key[bad[0]].label if bad[0] in by_key else bad[0]
                    now = time.time()
                    record(u.key, {
                        **{k: getattr(u, k) for k in ("key", "slot", "kind", "method", "dataset", "split", "task", "protocol", "seed")},
                        "status": "failed", "error": f"not run: it needs '{dep}', which failed",
                        "traceback": None, "started": now, "finished": now, "spec": {},
                    })  # fmt: skip
                    progressed = True
                    continue
                if len(in_flight) >= ex.capacity:
                    continue
                if all(d in done_ok for d in u.deps):
                    pending.remove(u)
                    stage_first.setdefault(u.kind, time.time())
                    bars.started(u.kind)
                    limit = (timeouts or {}).get(u.kind) or None
                    ex.submit({**u.to_dict(), "timeout": limit})
                    in_flight.add(u.key)
                    progressed = True
            if not in_flight:
                if pending and not progressed:
                    raise IvifError(
                        f"internal: {len(pending)} unit(s) wait on units that never ran"
                    )  # pragma: no cover
                continue
            for key, rec in ex.wait(timeout=1.0):
                in_flight.discard(key)
                record(key, rec)
    except BaseException:
        # interrupted (or a driver error): terminate the workers, drop what they were doing, keep what was committed
        summary.abandoned = len(in_flight)
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN) if _main_thread() else None  # a 2nd Ctrl-C waits
        try:
            _close(ex, abandon=True)
            bars.close()
        finally:
            if old_int is not None:
                signal.signal(signal.SIGINT, old_int)
        raise
    else:
        _close(ex, abandon=False)
        bars.close()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _close(ex: Any, *, abandon: bool) -> None:
    import inspect

    if "abandon" in inspect.signature(ex.close).parameters:
        ex.close(abandon=abandon)
    else:
        ex.close()


def summary_text(summary: RunSummary) -> str:
    lines = [
        f"{summary.total} units: {summary.ok} ran ok, {summary.cached} cached, {summary.failed} failed "
        f"({summary.seconds:.1f} s)"
    ]
    if summary.stage_seconds:
        lines.append("stages (wall): " + ", ".join(f"{s} {v:.1f} s" for s, v in summary.stage_seconds.items()))
    for name, why in summary.skipped_methods.items():
        lines.append(f"skipped method '{name}': {why}")
    if summary.failed:
        lines.append(f"{summary.failed} unit(s) failed:")
        for label, err in summary.failures[:10]:
            lines.append(f"  {label}: {err}")
        if len(summary.failures) > 10:
            lines.append(f"  … and {len(summary.failures) - 10} more")
        lines.append(
            f"tracebacks: ivifbench report --results {summary.out} --failures  (or the units table of {summary.store})"
        )
        lines.append(f"worker output of each unit: {summary.out / 'logs'}")
    if summary.report_error:
        lines.append(f"report NOT written ({summary.report_error}); retry: ivifbench report --results {summary.out}")
    lines.append(f"results: {summary.store}")
    for p in summary.reports:
        lines.append(f"report:  {p}")
    return "\n".join(lines)


def to_json(summary: RunSummary) -> str:
    d = {k: (str(v) if isinstance(v, Path) else v) for k, v in summary.__dict__.items()}
    d["reports"] = [str(p) for p in summary.reports]
    return json.dumps(d, indent=2, default=str)
