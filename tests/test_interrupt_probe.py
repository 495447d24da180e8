"""The interrupt probe (tools/interrupt_probe.py) in short: three random kill -9 / SIGINT / SIGTERM trials on a real
tiny sweep, each followed by the same command, must all end with the uninterrupted run's results and no process left.

No timing assumption decides the outcome: wherever a signal lands (start-up, planning, a unit in flight, the report,
or after the end), the probe accepts only the documented outcomes for that moment; its time limits only bound a hang.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_interrupt_probe_three_trials(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "tools" / "interrupt_probe.py"), "--trials", "3", "--seed", "20261130",
           "--workers", "1", "--no-task", "--work", str(tmp_path)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "summary: 3 of 3 trials ok" in done.stdout, done.stdout[-4000:]
