"""Where units run: in the driver (``workers=0``), in local worker processes (default), or on Ray.

Every executor has the same three calls: ``submit(unit_dict)``, ``wait(timeout) -> [(key, record_dict)]`` and
``close()``. Workers return records; only the driver writes the store.
"""

from __future__ import annotations

import os
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


class InlineExecutor:
    """Runs each unit in the driver process, one at a time (``--workers 0``; handy for debugging)."""

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
        return [(unit["key"], execute_unit(unit))]

    def close(self) -> None:
        self._queue.clear()


def _init_worker(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover
        pass


class LocalExecutor:
    """A pool of ``workers`` spawned processes, each using ``cpu_count // workers`` threads."""

    name = "local"

    def __init__(self, workers: int) -> None:
        self.capacity = max(1, workers)
        self.threads = max(1, (os.cpu_count() or 1) // self.capacity)
        self._pool = self._new_pool()
        self._running: dict[Future[dict[str, Any]], dict[str, Any]] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        import multiprocessing as mp

        return ProcessPoolExecutor(
            max_workers=self.capacity,
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.threads,),
        )

    def submit(self, unit: dict[str, Any]) -> None:
        unit = {**unit, "capture": True}  # worker output goes to the unit's log, not over the progress bars
        try:
            fut = self._pool.submit(execute_unit, unit)
        except BrokenProcessPool:
            self._pool = self._new_pool()
            fut = self._pool.submit(execute_unit, unit)
        self._running[fut] = unit

    def wait(self, timeout: float | None = None) -> list[tuple[str, dict[str, Any]]]:
        if not self._running:
            return []
        done, _ = futures_wait(list(self._running), timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        broken = False
        for fut in done:
            unit = self._running.pop(fut)
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
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


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

    def submit(self, unit: dict[str, Any]) -> None:
        self._running[self._remote.remote({**unit, "capture": True})] = unit

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
        return out

    def close(self) -> None:
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
