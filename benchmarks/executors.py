"""Where units run: in the driver (``workers=0``), in local worker processes (default), or on Ray.

Every executor has the same three calls: ``submit(unit_dict)``, ``wait(timeout) -> [(key, record_dict)]`` and
``close()``. Workers return records; only the driver writes the store.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ivifbench.benchmarks.units import execute_unit
from ivifbench.errors import IvifError


def _crash_record(unit: dict[str, Any], why: str) -> dict[str, Any]:
    rec = {k: unit.get(k) for k in ("key", "slot", "kind", "method", "dataset", "split", "task", "protocol", "seed")}
    now = time.time()
    rec.update(status="failed", error=why, traceback=why, started=now, finished=now, spec={}, worker="?")
    return rec


def _timeout_record(unit: dict[str, Any], seconds: float) -> dict[str, Any]:
    rec = _crash_record(unit, f"timed out after {seconds:g} s (the unit was killed; raise the limit with --timeout)")
    rec["traceback"] = None
    return rec


class _UnitTimeout(BaseException):
    pass


class InlineExecutor:
    """Runs each unit in the driver process, one at a time (``--workers 0``; handy for debugging).

    A unit's ``timeout`` is enforced with a timer signal where the driver is the main thread (Python code is
    interrupted; a call stuck in native code is interrupted when it returns)."""

    name = "inline"

    def __init__(self) -> None:
        self.capacity = 1
        self._queue: list[dict[str, Any]] = []

    def submit(self, unit: dict[str, Any]) -> None:
        self._queue.append(unit)

    def wait(self, timeout: float | None = None) -> list[tuple[str, dict[str, Any]]]:
        if not self._queue:
            return []
        unit = self._queue.pop(0)
        limit = unit.get("timeout")
        if not limit or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
            return [(unit["key"], execute_unit(unit))]

        def expire(signum: int, frame: Any) -> None:
            raise _UnitTimeout(f"timed out after {limit:g} s")

        old = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, float(limit))
        try:
            rec = execute_unit(unit)
        except _UnitTimeout:
            rec = _timeout_record(unit, float(limit))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        return [(unit["key"], rec)]

    def close(self, abandon: bool = False) -> None:
        self._queue.clear()


def _die_with_parent(parent: int) -> None:
    """Make this worker die with the driver, even on ``kill -9``: the kernel's parent-death signal on Linux, and a
    heartbeat thread everywhere (it also covers a parent that died before the signal was armed)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl: the heartbeat alone
            pass
    if os.getppid() != parent:
        os._exit(1)

    def heartbeat() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:  # re-parented: the driver is gone
                os._exit(1)

    threading.Thread(target=heartbeat, name="ivifbench-heartbeat", daemon=True).start()


_started_queue: Any = None  # in a worker: where it says which unit it starts (the driver's timeout clock)


def _run_in_worker(unit: dict[str, Any]) -> dict[str, Any]:
    if _started_queue is not None:
        _started_queue.put(unit["key"])
    return execute_unit(unit)


def _init_worker(threads: int, parent: int | None = None, started: Any = None) -> None:
    global _started_queue
    _started_queue = started
    # Ctrl-C reaches the whole process group: the driver alone handles it (and terminates its workers)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        _die_with_parent(parent)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover
        pass


class LocalExecutor:
    """A pool of ``workers`` spawned processes, each using ``cpu_count // workers`` threads.

    Workers ignore SIGINT and die with the driver. A unit past its ``timeout`` is recorded failed; as a process pool
    cannot lose one worker without breaking, the pool is replaced and the other units in flight start again."""

    name = "local"

    def __init__(self, workers: int) -> None:
        self.capacity = max(1, workers)
        self.threads = max(1, (os.cpu_count() or 1) // self.capacity)
        self._pool = self._new_pool()
        self._running: dict[Future[dict[str, Any]], dict[str, Any]] = {}
        self._since: dict[Future[dict[str, Any]], float] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._started = ctx.SimpleQueue()  # a unit's timeout runs from its start in a worker, not from its submission
        return ProcessPoolExecutor(
            max_workers=self.capacity,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(self.threads, os.getpid(), self._started),
        )

    def submit(self, unit: dict[str, Any]) -> None:
        unit = {**unit, "capture": True}  # worker output goes to the unit's log, not over the progress bars
        try:
            fut = self._pool.submit(_run_in_worker, unit)
        except BrokenProcessPool:
            self._pool = self._new_pool()
            fut = self._pool.submit(_run_in_worker, unit)
        self._running[fut] = unit

    def wait(self, timeout: float | None = None) -> list[tuple[str, dict[str, Any]]]:
        if not self._running:
            return []
        done, _ = futures_wait(list(self._running), timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        broken = False
        for fut in done:
            unit = self._running.pop(fut)
            self._since.pop(fut, None)
            try:
                out.append((unit["key"], fut.result()))
            except BrokenProcessPool:
                broken = True
                out.append(
                    (unit["key"], _crash_record(unit, "the worker process died (killed, or crashed in native code)"))
                )
            except Exception as exc:  # e.g. a result that cannot be pickled back
                out.append((unit["key"], _crash_record(unit, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")))
        if broken:
            # the pool is unusable: units still in flight died with it and go back to the caller as failures
            for fut, unit in list(self._running.items()):
                out.append((unit["key"], _crash_record(unit, "the worker pool broke while this unit ran")))
                self._running.pop(fut)
                self._since.pop(fut, None)
            self._kill_pool()
            self._pool = self._new_pool()
            return out
        now = time.monotonic()
        started = set()
        while not self._started.empty():
            started.add(self._started.get())
        for f, u in self._running.items():
            if u["key"] in started:
                self._since.setdefault(f, now)
        late = [
            f
            for f, u in self._running.items()
            if u.get("timeout") and f in self._since and now - self._since[f] > float(u["timeout"])
        ]
        if late:
            for fut in late:
                unit = self._running.pop(fut)
                self._since.pop(fut, None)
                out.append((unit["key"], _timeout_record(unit, float(unit["timeout"]))))
            again = list(self._running.values())
            self._running.clear()
            self._since.clear()
            self._kill_pool()
            self._pool = self._new_pool()
            for unit in again:  # they lost their worker with the pool: start them again
                self.submit(unit)
        return out

    def _kill_pool(self) -> None:
        procs = list(getattr(self._pool, "_processes", {}).values())  # private, but stable in 3.11-3.13
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def close(self, abandon: bool = False) -> None:
        """Finish (``abandon=False``), or terminate the workers and drop the units in flight (interrupt)."""
        if abandon:
            self._kill_pool()
        else:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._running.clear()
        self._since.clear()


class RayExecutor:
    """Units as Ray tasks (``--executor ray [--address ADDR]``); the driver keeps the store.

    Workers must see the same ``--out`` folder (a shared filesystem on a cluster): fused images are written there.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, num_cpus_per_unit: float = 1.0) -> None:
        try:
            import ray
        except ImportError as exc:
            raise IvifError("the Ray executor needs Ray: pip install 'ivifbench[ray]'") from exc
        self.ray = ray
        self._owns = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                kwargs["address"] = address
            else:
                self._owns = True
                if workers:
                    kwargs["num_cpus"] = workers
            try:
                ray.init(**kwargs)
            except ConnectionError as exc:
                raise IvifError(f"cannot reach the Ray cluster at {address}: {exc}") from exc
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.capacity = max(1, workers or cpus)
        self._remote = ray.remote(num_cpus=num_cpus_per_unit, max_retries=0)(execute_unit)
        self._running: dict[Any, dict[str, Any]] = {}
        self._since: dict[Any, float] = {}

    def submit(self, unit: dict[str, Any]) -> None:
        ref = self._remote.remote({**unit, "capture": True})
        self._running[ref] = unit
        self._since[ref] = time.monotonic()

    def wait(self, timeout: float | None = None) -> list[tuple[str, dict[str, Any]]]:
        if not self._running:
            return []
        done, _ = self.ray.wait(list(self._running), num_returns=1, timeout=timeout)
        out = []
        for ref in done:
            unit = self._running.pop(ref)
            try:
                out.append((unit["key"], self.ray.get(ref)))
            except Exception as exc:  # worker died, object lost, ...
                out.append((unit["key"], _crash_record(unit, f"Ray task failed: {type(exc).__name__}: {exc}")))
        now = time.monotonic()
        for ref, unit in list(self._running.items()):
            if unit.get("timeout") and now - self._since.get(ref, now) > float(unit["timeout"]):
                self._running.pop(ref)
                try:
                    self.ray.cancel(ref, force=True)
                except Exception:
                    pass
                out.append((unit["key"], _timeout_record(unit, float(unit["timeout"]))))
        return out

    def close(self, abandon: bool = False) -> None:
        for ref in self._running:
            try:
                self.ray.cancel(ref, force=True)
            except Exception:
                pass
        self._running.clear()
        if self._owns:
            self.ray.shutdown()


def make_executor(kind: str, workers: int, address: str | None = None, options: dict[str, Any] | None = None) -> Any:
    """The executor ``kind`` (``local``, ``ray`` or ``slurm``); ``options`` go to the Slurm executor."""
    if kind == "ray":
        return RayExecutor(address=address, workers=workers or None)
    if kind == "slurm":
        from ivifbench.benchmarks.slurm import SlurmExecutor

        return SlurmExecutor(max_jobs=workers or None, **(options or {}))
    if kind != "local":
        raise IvifError(f"unknown executor '{kind}' (executors: local, ray, slurm)")
    if workers <= 0:
        return InlineExecutor()
    return LocalExecutor(workers)
