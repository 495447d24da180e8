"""The quick protocol's claim: on a synthetic VT5000 replica, on the CPU, the network beats the raw IR by far.

Slow (minutes): run with ``pytest -m slow tests/test_sod_quick_protocol.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ivifbench.datasets import DATASETS
from ivifbench.tasks.sod import SODTask

REPLICA_PAIRS = 200  # 150 Train / 50 Test at the replica's default 256×192


@pytest.mark.slow
def test_quick_protocol_reaches_its_targets(tmp_path: Path) -> None:
    from ivifbench.imageio import read_pair, write_png

    root = DATASETS.get("vt5000").synthesize(tmp_path / "vt5000", pairs=REPLICA_PAIRS, seed=0)
    fused = tmp_path / "fused"
    for p in DATASETS.get("vt5000")(root).pairs():  # a stand-in fusion method: the IR/visible mean
        ir, vis = read_pair(p.ir, p.vis)
        write_png(fused / p.split / f"{p.id}.png", 0.5 * ir.pixels + 0.5 * vis.pixels)
    t0 = time.perf_counter()
    result = SODTask().run(dataset="vt5000", root=root, fused=fused, out=tmp_path / "run", protocol="quick", seed=0)
    wall = time.perf_counter() - t0
    print(f"quick protocol: {result.metrics} in {wall:.0f} s ({result.details['timings_s']})")
    assert result.metrics["Sm"] >= 0.9
    assert result.metrics["MAE"] <= 0.03
