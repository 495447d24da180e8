"""benchmarks/perf/bench_memory.py measures what a whole process holds: checked on a process of known size."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "perf" / "bench_memory.py"


def _load() -> Any:  # a script, not a package module
    spec = importlib.util.spec_from_file_location("bench_memory", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_peak_rss_of_a_child_and_its_tree(tmp_path: Path) -> None:
    bench = _load()
    hold = "import time; x = bytearray(300 << 20); x[::4096] = b'1' * len(x[::4096]); time.sleep(0.5)"
    wall, peak, tree = bench.run_measured([sys.executable, "-c", hold], tmp_path / "log")
    assert 300 * 1024 <= peak < 600 * 1024  # KiB: the 300 MiB it touched, plus an interpreter
    assert 250 * 1024 <= tree <= peak + 50 * 1024 and wall > 0.5


def test_synthetic_pair_has_the_asked_size(tmp_path: Path) -> None:
    _load().make_pair(tmp_path, 600)
    ir, vis = np.asarray(Image.open(tmp_path / "ir" / "p.png")), np.asarray(Image.open(tmp_path / "vis" / "p.png"))
    assert ir.shape == (600, 600) and vis.shape == (600, 600, 3) and ir.std() > 10 and vis.std() > 10
