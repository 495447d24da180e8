"""The Slurm executor through submitit's local executor (no Slurm here): units run as submitit jobs, the driver
commits their records, and the store equals that of a run in this process."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivifbench.benchmarks.runner import run_suite
from ivifbench.benchmarks.suite import parse_suite
from ivifbench.cli import main
from ivifbench.store import ResultsStore

pytest.importorskip("submitit", reason="the Slurm executor needs submitit")

SUITE = {
    "name": "s",
    "methods": ["average", "max"],
    "metrics": {"names": ["EN", "SD"]},
    "datasets": [{"name": "tno", "synthetic": {"pairs": 2, "seed": 0, "size": [64, 48]}}],
}


def _numbers(out: Path) -> dict:
    with ResultsStore(out / "results.db", readonly=True) as s:
        return {k: v for k, v in s.snapshot().items() if k != "fused"}


def test_slurm_executor_via_submitit_local(tmp_path: Path) -> None:
    ref = run_suite(parse_suite(SUITE), tmp_path / "inline", workers=0, progress=False, report=False)
    opts = {"cluster": "local", "cpus_per_unit": 1, "timeout_min": 10, "poll_seconds": 0.2}
    got = run_suite(
        parse_suite(SUITE), tmp_path / "slurm", executor="slurm", executor_options=opts, workers=2, progress=False,
        report=False,
    )  # fmt: skip
    assert (got.ok, got.failed) == (ref.ok, ref.failed) == (4, 0)
    assert _numbers(tmp_path / "slurm") == _numbers(tmp_path / "inline")
    logs = list((tmp_path / "slurm" / "work" / "slurm").rglob("*_log.out"))
    assert len(logs) == 4  # one job per unit, logs beside the results
    with ResultsStore(tmp_path / "slurm" / "results.db", readonly=True) as s:
        man = s.latest_run()["manifest"]
        assert man["executor"] == "slurm" and man["executor_options"]["cluster"] == "local"


def test_slurm_cli_checks(tmp_path: Path, capsys) -> None:
    assert main(["run", "quick", "--out", str(tmp_path), "--partition", "gpu"]) != 0
    assert "--executor slurm" in capsys.readouterr().err
    assert main(["run", "quick", "--out", str(tmp_path), "--executor", "sge"]) != 0
    assert "local, ray or slurm" in capsys.readouterr().err
