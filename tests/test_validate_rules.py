"""`validate` is the run's own check: every problem a run (or one of its units) would reject is found first, and
`run` refuses on the same list before any work. Then conventions as an axis through a real (tiny) run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ivifbench.benchmarks.runner import run_suite
from ivifbench.benchmarks.suite import SuiteError, load_suite
from ivifbench.benchmarks.validate import RULES, check_suite
from ivifbench.datasets import DATASETS
from ivifbench.reports.tables import build_report
from ivifbench.store import ResultsStore

NOT_CALLABLE = 42


def _write(path: Path, suite: dict[str, Any]) -> Path:
    path.write_text(json.dumps(suite))  # JSON is YAML
    return path


def _real_root(tmp_path: Path, name: str, pairs: int = 3) -> Path:
    """A dataset in its native layout on disk (the reader's own replica, used as a real root)."""
    return Path(DATASETS.get(name).synthesize(tmp_path / f"{name}-root", pairs=pairs, seed=0, size=(64, 48)))


def _tiny(tmp_path: Path, **over: Any) -> dict[str, Any]:
    suite: dict[str, Any] = {
        "name": "t",
        "device": "cpu",
        "methods": ["average"],
        "datasets": [{"name": "tno", "synthetic": {"pairs": 2, "seed": 0, "size": [64, 48]}}],
        "metrics": {"names": ["EN"], "convention": "canonical"},
        "report": {"formats": ["md"]},
    }
    suite.update(over)
    return suite


def test_every_rule_is_found_by_validate_and_run_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IVIFBENCH_NO_SUCH_ROOT", raising=False)
    monkeypatch.delenv("IVIFBENCH_SAGE_WEIGHTS", raising=False)
    tno = _real_root(tmp_path, "tno")
    msrs = _real_root(tmp_path, "msrs")
    # a folder method with fused images for TNO only
    pub = tmp_path / "published"
    (pub / "tno").mkdir(parents=True)
    for p in next(tno.rglob("ir")).iterdir():
        shutil.copy(p, pub / "tno" / p.name)
    assert any((pub / "tno").iterdir()), "the TNO replica's layout changed"
    boom = tmp_path / "boom_module.py"
    boom.write_text("raise RuntimeError('cannot load the model\\nsecond line')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    suite = _write(
        tmp_path / "bad.yaml",
        _tiny(
            tmp_path,
            methods=[
                "average",
                {"name": "pub", "type": "folder", "path": str(pub / "{dataset}")},
                {"name": "typo", "type": "folder", "path": str(pub / "{datset}")},
                {"name": "num", "type": "callable", "target": "test_validate_rules:NOT_CALLABLE"},
                {"name": "boom", "type": "callable", "target": "boom_module:fuse"},
                {"name": "sage", "weights": "${IVIFBENCH_SAGE_WEIGHTS}", "optional": True},
            ],
            datasets=[
                {"name": "tno", "root": str(tno)},
                {"name": "msrs", "root": str(msrs), "convention": "vifb"},
                {"name": "vifb", "root": "${IVIFBENCH_NO_SUCH_ROOT}/vifb"},
            ],
            metrics={"names": ["EN", "SCD", "VIF"], "convention": ["canonical", "tangg"]},
        ),
    )
    errors, notes = check_suite(load_suite(suite))
    text = "\n".join(errors)
    assert "'SCD' has no 'vifb' variant (used for msrs)" in text and "'VIF' has no 'vifb' variant" in text
    assert "unknown convention 'tangg'; did you mean 'tang'" in text
    assert "methods[1] 'pub'" in text and "msrs/" in text and "fused images" in text  # no MSRS images
    assert "'pub'" not in " ".join(e for e in errors if "tno/" in e)  # TNO is covered
    assert "placeholder {datset} is unknown" in text
    assert "target 'test_validate_rules:NOT_CALLABLE' is a int, not a function or class" in text
    assert "importing 'boom_module:fuse' raised RuntimeError: cannot load the model" in text
    assert all("\n" not in e for e in errors) and "second line" not in text
    assert "environment variable IVIFBENCH_NO_SUCH_ROOT is not set" in text
    assert not any("sage" in e for e in errors) and any("sage" in n and "skipped" in n for n in notes)
    # run refuses on the same list, before anything is written
    with pytest.raises(SuiteError) as exc:
        run_suite(load_suite(suite), tmp_path / "out", workers=0, progress=False)
    assert all(e in str(exc.value) for e in errors)
    assert not (tmp_path / "out" / "results.db").exists()
    assert len(RULES) >= 15


@pytest.mark.parametrize(
    "over, needle",
    [
        ({"datasets": [{"name": "tno", "synthetic": {"pairs": 2, "seed": -1}}]}, "greater than or equal to 0"),
        ({"tasks": [{"name": "detection", "dataset": "tno", "seeds": [-1]}]}, "seed -1 is out of range"),
        ({"tasks": [{"name": "detection", "dataset": "tno", "seeds": [2**32]}]}, "seed 4294967296 is out of range"),
        ({"tasks": [{"name": "detection", "dataset": "tno", "seeds": [2**63]}]}, "out of range"),
    ],
)
def test_seed_ranges(tmp_path: Path, over: dict[str, Any], needle: str) -> None:
    with pytest.raises(SuiteError, match=needle):
        load_suite(_write(tmp_path / "s.yaml", _tiny(tmp_path, **over)))


def test_validate_command_and_unset_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from ivifbench.cli import main

    monkeypatch.delenv("IVIFBENCH_NO_SUCH_ROOT", raising=False)
    suite = _write(
        tmp_path / "s.yaml", _tiny(tmp_path, datasets=[{"name": "tno", "root": "${IVIFBENCH_NO_SUCH_ROOT}"}])
    )
    monkeypatch.chdir(tmp_path)  # the current directory must not stand in for the unset root
    assert main(["validate", str(suite)]) == 2
    assert "IVIFBENCH_NO_SUCH_ROOT is not set" in capsys.readouterr().err
    good = _write(tmp_path / "g.yaml", _tiny(tmp_path))
    assert main(["validate", str(good)]) == 0
    assert "valid" in capsys.readouterr().out


def test_conventions_per_dataset_through_a_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    ds = [
        {"name": "tno", "synthetic": {"pairs": 3, "seed": 0, "size": [64, 48]}, "convention": ["tang", "canonical"]},
        {"name": "msrs", "synthetic": {"pairs": 3, "seed": 0, "size": [64, 48]}},
    ]
    first = _tiny(tmp_path, methods=["average", "max", "weighted"], datasets=ds,
                  metrics={"names": ["EN", "SD", "SF"], "convention": ["canonical", "vifb"]})  # fmt: skip
    s1 = run_suite(load_suite(_write(tmp_path / "a.yaml", first)), out, workers=0, progress=False)
    assert s1.failed == 0 and s1.report_error is None
    with ResultsStore(out / "results.db", readonly=True) as st:
        im = st.frame("image_metrics")
    assert set(im.loc[im.dataset == "tno", "convention"]) == {"tang", "canonical"}
    assert set(im.loc[im.dataset == "msrs", "convention"]) == {"canonical", "vifb"}
    rep = build_report(out / "results.db")
    assert {(t.dataset, t.convention) for t in rep.tables} == {
        ("tno", "tang"), ("tno", "canonical"), ("msrs", "canonical"), ("msrs", "vifb")
    }  # fmt: skip
    assert {t.dataset for t in rep.sensitivity} == {"tno", "msrs"}
    assert rep.leaderboard is not None and rep.leaderboard.full is not None
    cols = list(rep.leaderboard.full.columns)  # each dataset (split) once, under its first convention
    assert len(cols) == 9 and {c.split(" ")[0] for c in cols} == {"msrs/test", "msrs/train", "tno"}
    # rerun: drop max, add gff, score TNO under canonical only
    ds[0]["convention"] = "canonical"
    second = {**first, "methods": ["average", "weighted", "gff"], "datasets": ds}
    s2 = run_suite(load_suite(_write(tmp_path / "b.yaml", second)), out, workers=0, progress=False)
    assert s2.failed == 0
    md = (out / "report" / "leaderboard.md").read_text()
    assert "| max |" not in md and "| gff |" in md and "(tang)" not in md
    full = build_report(out / "results.db", everything=True)
    assert "max" in set(full.fusion.method) and "tang" in set(full.fusion.convention)
