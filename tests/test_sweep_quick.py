"""The embedded default end to end (`ivifbench run` with no suite): minutes, so marked slow (`pytest -m slow`).

CI runs it anyway as the README's first command; this test checks what it leaves behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ivifbench.store import ResultsStore


@pytest.mark.slow
def test_quick_suite_cold_then_cached(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "IVIFBENCH_SAGE_WEIGHTS"}
    t0 = time.time()
    cold = subprocess.run([sys.executable, "-m", "ivifbench.cli", "run", "-q"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    t_cold = time.time() - t0
    assert cold.returncode == 0, cold.stdout[-3000:] + cold.stderr[-3000:]
    out = tmp_path / "ivifbench-out"
    md = (out / "report" / "leaderboard.md").read_text()
    for needle in ("EN ↑", "Detection", "Segmentation", "Sod", "Method 'sage' was skipped"):
        assert needle in md, needle
    with ResultsStore(out / "results.db", readonly=True) as s:
        units = s.frame("units")
        assert set(units.kind) == {"fuse", "score", "task"} and (units.status == "ok").all()
        assert set(s.frame("task_results").task) == {"detection", "segmentation", "sod"}
        assert {"average", "max", "weighted", "laplacian", "dwt", "gff"} <= set(s.frame("image_metrics").method)
    assert t_cold < 600, f"the embedded default took {t_cold:.0f} s"
    t0 = time.time()
    warm = subprocess.run([sys.executable, "-m", "ivifbench.cli", "run", "-q"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert warm.returncode == 0 and " 0 ran ok" in warm.stdout, warm.stdout
    assert time.time() - t0 < 0.2 * t_cold
