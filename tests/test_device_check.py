"""benchmarks/perf/device_check.sh: the GPU check runs, in its --dry CPU mode, wherever the tests run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "perf" / "device_check.sh"


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def test_script_is_valid_bash_and_rejects_unknown_sections() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], check=False).returncode == 0
    out = _run("--dry", "--only", "sage,warp")
    assert out.returncode == 2 and "unknown section(s) warp" in out.stderr


def test_without_a_gpu_it_says_so_in_one_line() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible here")
    out = _run("--only", "sage")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: no CUDA device visible to torch; run with --dry for the CPU check"
    ]


@pytest.mark.slow
def test_dry_run_of_every_section(tmp_path: Path) -> None:
    """All five sections at toy size on the CPU: SAGE timing, metric values equal across devices, and each task's
    paper protocol fed by a randomly initialised pretrained-weights file."""
    if shutil.which("timeout") is None:
        pytest.skip("coreutils timeout not found")
    results = tmp_path / "results.json"
    out = _run("--dry", "--json", str(results), "--work", str(tmp_path / "work"), timeout=3600)
    assert out.returncode == 0, out.stdout + out.stderr
    got = json.loads(results.read_text())
    assert set(got) == {"sage", "metrics", "detection", "segmentation", "sod"}
    assert all(r["ok"] for r in got.values()), got
    assert got["sage"]["ms_per_pair"] > 0 and got["metrics"]["values_equal"]
    assert (tmp_path / "work" / "mit_b3_random.pth").is_file() and (tmp_path / "work" / "yolov8n_random.pt").is_file()
