"""Units as Slurm jobs through submitit (``--executor slurm --partition P --gpus-per-unit N``).

Each unit is one job; the driver polls the jobs and commits each finished unit's record itself, as with the other
executors, so the store has one writer and a killed driver loses only the units in flight. Jobs must see the same
``--out`` folder (a shared filesystem): fused images and task outputs are written there. Job logs go to
``OUT/work/slurm/``. ``cluster="local"`` runs the jobs as local processes through submitit's local executor (how the
tests exercise this module without a Slurm cluster).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ivifbench.benchmarks.units import execute_unit
from ivifbench.errors import IvifError

DEFAULT_MAX_JOBS = 32


def _crash_record(unit: dict[str, Any], why: str) -> dict[str, Any]:
    rec = {k: unit.get(k) for k in ("key", "slot", "kind", "method", "dataset", "split", "task", "protocol", "seed")}
    now = time.time()
    rec.update(status="failed", error=why, traceback=why, started=now, finished=now, spec={}, worker="?")
    return rec


class SlurmExecutor:
    """``submit(unit)``, ``wait(timeout) -> [(key, record)]``, ``close()`` over submitit jobs."""

    name = "slurm"

    def __init__(
        self,
        folder: str | Path,
        *,
        partition: str | None = None,
        gpus_per_unit: int = 0,
        cpus_per_unit: int = 2,
        mem_gb: float | None = None,
        timeout_min: int = 24 * 60,
        max_jobs: int | None = None,
        cluster: str = "slurm",
        extra: dict[str, Any] | None = None,
        poll_seconds: float = 2.0,
    ) -> None:
        try:
            import submitit
        except ImportError as exc:
            raise IvifError("the Slurm executor needs submitit: pip install 'ivifbench[slurm]'") from exc
        if cluster not in ("slurm", "local"):
            raise IvifError(f"unknown submitit cluster '{cluster}' (slurm, or local for testing)")
        if gpus_per_unit < 0 or cpus_per_unit < 1:
            raise IvifError("--gpus-per-unit must be 0 or more and --cpus-per-unit 1 or more")
        self._submitit = submitit
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._ex = submitit.AutoExecutor(folder=str(self.folder / "%j"), cluster=cluster)
        except RuntimeError as exc:  # no sbatch on this machine
            raise IvifError(
                f"cannot submit Slurm jobs from this machine ({exc}); run the driver on a login node"
            ) from exc
        params: dict[str, Any] = {
            "timeout_min": int(timeout_min),
            "gpus_per_node": int(gpus_per_unit),
            "cpus_per_task": int(cpus_per_unit),
            "nodes": 1,
            "tasks_per_node": 1,
            "name": "ivifbench",
        }
        if mem_gb:
            params["mem_gb"] = mem_gb
        if cluster == "slurm":
            if partition:
                params["slurm_partition"] = partition
            params.update({f"slurm_{k}" if not k.startswith("slurm_") else k: v for k, v in (extra or {}).items()})
        self._ex.update_parameters(**params)
        self.capacity = max(1, max_jobs or DEFAULT_MAX_JOBS)
        self.poll_seconds = poll_seconds
        self._running: dict[Any, dict[str, Any]] = {}

    def submit(self, unit: dict[str, Any]) -> None:
        job = self._ex.submit(execute_unit, {**unit, "capture": True})
        self._running[job] = unit

    def wait(self, timeout: float | None = None) -> list[tuple[str, dict[str, Any]]]:
        if not self._running:
            return []
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            done = [job for job in self._running if job.done()]
            if done or (deadline is not None and time.monotonic() >= deadline):
                break
            time.sleep(min(self.poll_seconds, max(0.05, (deadline - time.monotonic()) if deadline else 1.0)))
        out = []
        for job in done:
            unit = self._running.pop(job)
            try:
                out.append((unit["key"], job.result()))
            except Exception as exc:  # the job failed outside the unit (killed, timed out, node failure, …)
                why = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
                out.append((unit["key"], _crash_record(unit, f"job {job.job_id} failed: {why} (logs: {self.folder})")))
        return out

    def close(self) -> None:
        for job in list(self._running):
            try:
                job.cancel(check=False)
            except Exception:  # best effort: the job may already be gone
                pass
        self._running.clear()
