"""The Ray executor on a small local Ray instance: same results as the local executor; failures come back as records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import test_sweep_fixtures as fx

from ivifbench.benchmarks.runner import run_suite
from ivifbench.benchmarks.suite import load_suite
from ivifbench.store import ResultsStore

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'ivifbench[ray]'")


def test_ray_executor_matches_inline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fx.register_fakes()
    plug = fx.make_plugin_dir(tmp_path / "plugin")
    # Ray's workers are fresh processes: they find the fake engine and the fake task (a plugin) through PYTHONPATH
    monkeypatch.setenv("PYTHONPATH", fx.subprocess_env(plug)["PYTHONPATH"])
    monkeypatch.setenv("RAY_DEDUP_LOGS", "0")
    methods = ["average", {"name": "nan", "type": "callable", "target": "test_sweep_fixtures:nan_fuse"}]
    tasks = [{"name": "fake", "dataset": "msrs", "methods": ["average"], "seeds": [0]}]
    ds = [{"name": "msrs", "synthetic": {"pairs": 4, "seed": 0, "size": [64, 48]}, "splits": ["test"]}]
    suite = load_suite(fx.write_suite(tmp_path / "s.yaml", methods=methods, tasks=tasks, datasets=ds))

    ref = run_suite(suite, tmp_path / "ref", workers=0, progress=False, report=False)
    try:
        got = run_suite(suite, tmp_path / "ray", executor="ray", workers=1, progress=False, report=False)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert (got.ok, got.failed) == (ref.ok, ref.failed) == (4, 2)
    assert "NaN" in dict(got.failures)["fuse nan/msrs/test"]

    def rows(out: Path) -> dict:
        with ResultsStore(out / "results.db", readonly=True) as s:
            snap = s.snapshot()
            workers = set(s.frame("units").worker.dropna())
        snap.pop("fused")  # absolute paths differ
        return snap, workers

    (a, _), (b, ray_workers) = rows(tmp_path / "ref"), rows(tmp_path / "ray")
    assert a == b
    assert any(w.split(":")[1] != str(os.getpid()) for w in ray_workers if ":" in w)  # the units ran elsewhere
