"""Timing of whole processes for the benchmark scripts (what a user meets: start-up, reading and writing included)."""

from __future__ import annotations

import resource
import subprocess
import time


def whole_process(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds and CPU seconds (user+sys of the process and its threads) of one run of ``cmd``, and its stdout.

    Exits with the command's last output when it fails: a benchmark of a failed run is meaningless.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])} ... failed:\n{(out.stderr or out.stdout)[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out.stdout
