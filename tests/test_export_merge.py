"""``ivifbench export`` (JSON/CSV/Parquet with provenance and intervals) and ``ivifbench merge`` (stores from two
"machines" merge into the store of one run of the union; conflicts are reported and nothing is written)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from ivifbench.benchmarks.runner import run_suite
from ivifbench.benchmarks.suite import parse_suite
from ivifbench.cli import main
from ivifbench.reports import write_reports
from ivifbench.store import ResultsStore

DATASET = {"name": "tno", "synthetic": {"pairs": 3, "seed": 0, "size": [64, 48]}}


def _run(out: Path, methods: list) -> Path:
    suite = parse_suite({"name": "t", "methods": methods, "metrics": {"names": ["EN", "SD"]}, "datasets": [DATASET]})
    summary = run_suite(suite, out, workers=0, progress=False, report=False)
    assert summary.failed == 0
    return out


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("stores")
    return {
        "a": _run(root / "a", ["average", "max"]),
        "b": _run(root / "b", ["dwt", "laplacian"]),
        "union": _run(root / "union", ["average", "max", "dwt", "laplacian"]),
    }


def _results(out: Path) -> dict[str, list]:
    with ResultsStore(out / "results.db", readonly=True) as s:
        snap = s.snapshot()
    snap["fused"] = sorted((r[:4], Path(r[4]).relative_to(out).as_posix()) for r in snap["fused"])
    return snap


def test_merge_two_machines_equals_one_run(stores: dict[str, Path], tmp_path: Path, capsys) -> None:
    merged = tmp_path / "merged"
    assert main(["merge", str(stores["a"]), str(stores["b"]), "--out", str(merged)]) == 0
    assert "8 units" in capsys.readouterr().out
    assert _results(merged) == _results(stores["union"])
    assert all((merged / p).is_file() for _, p in _results(merged)["fused"])  # images came along
    with ResultsStore(merged / "results.db", readonly=True) as s:
        runs = s.runs()  # both sources' runs, then the merge, whose suite names the union (the report's scope)
        assert len(runs) == 3 and runs[-1]["status"] == "merged"
        assert [m["name"] for m in runs[-1]["config"]["methods"]] == ["average", "max", "dwt", "laplacian"]
        assert len(runs[-1]["manifest"]["merged_from"]) == 2
    reports = {}
    for name, folder in (("merged", merged), ("union", stores["union"])):
        write_reports(folder / "results.db", tmp_path / f"rep-{name}", formats=["csv"])
        reports[name] = {
            f: (tmp_path / f"rep-{name}" / f).read_text() for f in ("fusion_metrics.csv", "leaderboard.csv")
        }
    assert reports["merged"] == reports["union"]
    # merging again (into the same folder, with an overlapping store) changes nothing
    before = _results(merged)
    assert main(["merge", str(stores["a"]), str(stores["union"]), "--out", str(merged)]) == 0
    assert _results(merged) == before


def test_merge_conflicts_are_reported_not_resolved(stores: dict[str, Path], tmp_path: Path, capsys) -> None:
    # the same unit key with different numbers
    tampered = tmp_path / "tampered"
    shutil.copytree(stores["a"], tampered)
    db = sqlite3.connect(tampered / "results.db")
    db.execute("UPDATE image_metrics SET value = value + 0.5 WHERE method = 'max' AND metric = 'EN'")
    db.commit()
    db.close()
    out = tmp_path / "m1"
    assert main(["merge", str(stores["a"]), str(tampered), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "conflict: score max/tno" in err and "disagree" in err and "EN" in err and "nothing was written" in err
    assert not (out / "results.db").exists()
    # one slot, two keys: the same method with other parameters on another machine
    c = _run(tmp_path / "c", [{"name": "weighted", "params": {"sigma": 1.0}}])
    d = _run(tmp_path / "d", [{"name": "weighted", "params": {"sigma": 3.0}}])
    assert main(["merge", str(c), str(d), "--out", str(tmp_path / "m2")]) == 2
    err = capsys.readouterr().err
    assert "fuse weighted/tno" in err and "different parameters" in err
    assert main(["merge", str(tmp_path / "nowhere"), "--out", str(tmp_path / "m3")]) != 0
    assert "no results store to merge" in capsys.readouterr().err


def test_merge_prefers_a_finished_unit_and_says_so(stores: dict[str, Path], tmp_path: Path, capsys) -> None:
    failed = tmp_path / "failed"
    shutil.copytree(stores["a"], failed)
    db = sqlite3.connect(failed / "results.db")
    db.execute("PRAGMA foreign_keys = ON")
    key = db.execute("SELECT key FROM units WHERE kind = 'score' AND method = 'max'").fetchone()[0]
    db.execute("DELETE FROM image_metrics WHERE unit_key = ?", (key,))
    db.execute("UPDATE units SET status = 'failed', error = 'boom' WHERE key = ?", (key,))
    db.commit()
    db.close()
    out = tmp_path / "m"
    assert main(["merge", str(failed), str(stores["a"]), "--out", str(out)]) == 0
    assert "failed in" in capsys.readouterr().out
    with (
        ResultsStore(out / "results.db", readonly=True) as s,
        ResultsStore(stores["a"] / "results.db", readonly=True) as ref,
    ):
        # (the copied store's fused paths still point into the original folder, so compare the numbers only)
        assert {k: v for k, v in s.snapshot().items() if k != "fused"} == {
            k: v for k, v in ref.snapshot().items() if k != "fused"
        }


def test_export_json_document(stores: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "r.json"
    assert main(["export", "--results", str(stores["union"]), "--out", str(dest), "--per-image"]) == 0
    doc = json.loads(dest.read_text())
    assert doc["format"] == "ivifbench-results" and doc["format_version"] == 1
    (run,) = doc["runs"]
    assert run["suite"] == "t" and run["suite_resolved"]["datasets"][0]["name"] == "tno"
    assert {"scipy", "scikit-image", "PyWavelets", "torch", "numpy"} <= set(run["versions"])
    assert "git_revision" in run and run["host"] and run["device"]["device"] == "cpu"
    assert set(run["timings"]["stage_wall_seconds"]) == {"fuse", "score"}
    fusion = pd.DataFrame(doc["results"]["fusion"])
    assert len(fusion) == 4 * 2 and set(fusion.convention) == {"canonical"} and (fusion.n == 3).all()
    assert ((fusion.ci_low <= fusion["mean"]) & (fusion["mean"] <= fusion.ci_high)).all()
    per = pd.DataFrame(doc["per_image"]["fusion"])
    assert len(per) == 4 * 3 * 2
    en = per[(per.method == "dwt") & (per.metric == "EN")].value
    assert fusion.set_index(["method", "metric"]).loc[("dwt", "EN"), "mean"] == pytest.approx(en.mean())
    assert doc["results"]["tasks"] == [] and doc["failures"] == []
    again = tmp_path / "again.json"
    main(["export", "--results", str(stores["union"]), "--out", str(again)])
    assert json.loads(again.read_text())["results"] == doc["results"]  # seeded: the same intervals


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_tables(stores: dict[str, Path], tmp_path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow", reason="--format parquet needs pyarrow")
    dest = tmp_path / fmt
    assert main(["export", "-r", str(stores["a"] / "results.db"), "-f", fmt, "-o", str(dest), "--per-image"]) == 0
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    fusion = read(dest / f"fusion.{fmt}")
    assert set(fusion.method) == {"average", "max"} and {"ci_low", "ci_high", "higher_is_better"} <= set(fusion.columns)
    assert len(read(dest / f"images.{fmt}")) == 2 * 3 * 2 and len(read(dest / f"runs.{fmt}")) == 1
    man = json.loads((dest / "manifest.json").read_text())
    assert man["tables"]["fusion"] == f"fusion.{fmt}" and man["runs"][0]["versions"]["scipy"]
    assert main(["export", "-r", str(stores["a"]), "-f", "xml", "-o", str(dest)]) != 0
