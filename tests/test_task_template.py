"""The task template: docs/adding-a-task.md's toy task run as written (API and generated CLI), one settings/limit/layout
rule for every task, and the same images for every task from one ``limit`` and one fused folder."""

from __future__ import annotations

import json
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ivifbench.datasets import DATASETS
from ivifbench.errors import InputError
from ivifbench.tasks import TASKS
from ivifbench.tasks.inputs import InputImages, limit_pairs

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding-a-task.md"
BUILTIN = ("detection", "segmentation", "sod")


@pytest.fixture(scope="module")
def toy() -> Iterator[type]:
    """The toy task, executed from the document's code block (so the document stays true)."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code is not None
    module = types.ModuleType("adding_a_task_doc")
    exec(compile(code.group(1), str(DOC), "exec"), module.__dict__)  # registers "threshold"
    try:
        yield module.ThresholdTask
    finally:
        TASKS.unregister("threshold")


@pytest.fixture(scope="module")
def vt5000(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return DATASETS.get("vt5000").synthesize(tmp_path_factory.mktemp("vt5000"), pairs=40, seed=0, size=(64, 48))


def _both_layouts(reader: Any, out: Path) -> Path:
    """A fused folder holding both layouts: the split folders hold the real images, the flat copies are black."""
    for p in reader.pairs():
        ir = np.asarray(Image.open(p.ir).convert("RGB"), np.float32)
        vis = np.asarray(Image.open(p.vis).convert("RGB"), np.float32)
        (out / p.split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(((ir + vis) / 2).astype(np.uint8)).save(out / p.split / f"{p.id}.png")
        Image.fromarray(np.zeros_like(vis, np.uint8)).save(out / f"{p.id}.png")
    return out


# ------------------------------------------------------------------------------------------------ the toy task


def test_toy_task_runs_through_the_template(toy: type, vt5000: Path, tmp_path: Path) -> None:
    result = toy().run(dataset="vt5000", root=vt5000, fused=None, out=tmp_path / "run", seed=0, levels="16")
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(result.to_dict(), default=str))
    assert saved["schema"] == 2 and saved["input"] == "visible" and saved["task"] == "threshold"
    assert 0.0 < saved["metrics"]["IoU"] <= 1.0 and 0.0 <= saved["metrics"]["pixel_error"] < 1.0
    test_ids = [p.id for p in DATASETS.get("vt5000")(vt5000).pairs("Test")]
    assert saved["n"] == {"eval_images": len(test_ids), "eval_pixels": len(test_ids) * 64 * 48, "train_images": 30}
    assert any(n.startswith(f"small sample: {len(test_ids)} evaluated images") for n in saved["notes"])
    d = saved["details"]
    assert d["protocol_settings"] == {"limit": None, "device": "cpu", "threads": 1, "levels": 16}  # "16": coerced
    assert d["reproducibility"]["seed"] == 0 and d["reproducibility"]["torch_threads"] == 1
    assert d["versions"]["task"] == "threshold 1" and set(d["versions"]) >= {"ivifbench", "python", "numpy", "pillow"}
    assert set(d["timings_s"]) >= {"prepare", "train", "eval", "total"} and d["device"] == "cpu"
    assert toy.direction("IoU") is True and toy.direction("pixel_error") is False
    with pytest.raises(InputError, match=r"unknown threshold setting 'level' for protocol 'quick' \(accepted: "):
        toy().run(dataset="vt5000", root=vt5000, fused=None, out=tmp_path / "bad", level=3)


def test_toy_task_through_the_generated_cli(toy: type, vt5000: Path, tmp_path: Path, capsys: Any) -> None:
    from ivifbench.cli import main

    out = tmp_path / "avg"
    args = ["task", "threshold", "--dataset", "vt5000", "--root", str(vt5000), "--set", "limit=4"]
    assert main([*args, "--method", "average", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["method"] == "average" and summary["input"] == "fused" and "average" in summary["fused_by"]
    assert sorted(p.name for p in (out / "fused").iterdir()) == ["Test", "Train"]  # fused here, by the method
    assert summary["n"]["eval_images"] == 4 and summary["headline"] == ["IoU"]
    assert "IoU" in printed.out and "n: 4 eval images, " in printed.out and "note: small sample" in printed.out
    assert (out / "task.log").is_file()

    base = tmp_path / "ir"
    assert main([*args, "--method", "infrared", "--out", str(base)]) == 0
    summary = json.loads((base / "metrics.json").read_text())
    assert summary["method"] == "infrared" and summary["input"] == "infrared" and not (base / "fused").exists()
    assert summary["per_seed"][0]["input"] == "infrared"

    given = tmp_path / "given"
    assert main([*args, "--method", "mine", "--fused", str(out / "fused"), "--out", str(given)]) == 0
    summary = json.loads((given / "metrics.json").read_text())
    assert summary["method"] == "mine" and summary["fused_by"] == "given (--fused)"
    assert summary["metrics"]["IoU"] == pytest.approx(json.loads((out / "metrics.json").read_text())["metrics"]["IoU"])
    capsys.readouterr()
    assert main([*args, "--method", "visible", "--weights", "x.pt", "--out", str(tmp_path / "no")]) != 0
    assert "is a baseline" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ one rule for all


def test_limit_rule() -> None:
    assert limit_pairs(list(range(10)), 3) == [0, 3, 6]
    assert limit_pairs(list(range(10)), 4) == [0, 2, 5, 7]
    assert limit_pairs(list(range(3)), 5) == [0, 1, 2] and limit_pairs(list(range(3)), None) == [0, 1, 2]


@pytest.mark.parametrize("task", BUILTIN)
def test_every_task_coerces_and_rejects_alike(task: str) -> None:
    cls = TASKS.get(task)
    assert cls.headline and all(cls.direction(m) is not None for m in cls.headline)
    s = cls.settings("quick", {"limit": "3", "device": "cpu"})
    assert s.limit == 3 and s.device == "cpu"
    assert cls.settings("quick", {"limit": "none"}).limit is None
    with pytest.raises(InputError, match=rf"^{task} \(quick\): limit: Input should be greater than or equal to 1"):
        cls.settings("quick", {"limit": 0})
    with pytest.raises(InputError, match=rf"^unknown {task} setting 'nope' for protocol 'quick' \(accepted: .*limit"):
        cls.settings("quick", {"nope": 1})


def test_fused_layout_rule(vt5000: Path, tmp_path: Path) -> None:
    reader = DATASETS.get("vt5000")(vt5000)
    fused = _both_layouts(reader, tmp_path / "both")
    pair = reader.pairs("Test")[0]
    assert InputImages.of(fused).path(reader, pair) == fused / "Test" / f"{pair.id}.png"  # the split folder wins
    assert InputImages.of(None, "infrared").path(reader, pair) == pair.ir
    with pytest.raises(InputError, match="fused-image folder not found"):
        InputImages.of(tmp_path / "nowhere")


def test_same_limit_and_fused_folder_give_every_task_the_same_images(toy: type, tmp_path: Path) -> None:
    """limit=3 keeps the same positions of each split in every task, and every task reads the split-folder images."""
    setups = {
        "detection": ("llvip", {"split": "native"}, lambda out: out / "data" / "images" / "test"),
        "segmentation": ("msrs", {}, lambda out: out / "data" / "img_dir" / "test"),
        "sod": ("vt5000", {}, lambda out: out / "data" / "test" / "Image"),
        "threshold": ("vt5000", {}, None),
    }
    positions = {}
    for task, (dataset, extra, folder_of) in setups.items():
        root = DATASETS.get(dataset).synthesize(tmp_path / task / "root", pairs=40, seed=0, size=(64, 48))
        reader = DATASETS.get(dataset)(root)
        fused = _both_layouts(reader, tmp_path / task / "fused")
        instance = TASKS.get(task)()
        run = instance.start(dataset=dataset, root=root, fused=fused, out=tmp_path / task / "out", limit=3, **extra)
        data = instance.prepare(run)
        split = next(s for s in reader.splits if s.lower() == "test")
        all_ids = [p.id for p in reader.pairs(split)]
        if folder_of is None:
            used = {i: g for i, g, _ in data["test"]}
            for pid, grey in used.items():
                want = np.asarray(Image.open(fused / split / f"{pid}.png").convert("L"), np.float32) / 255
                assert np.array_equal(grey, want)
        else:
            files = sorted(folder_of(run.out).iterdir())
            used = {f.stem: f for f in files}
            for pid, f in used.items():
                got = np.asarray(Image.open(f).convert("RGB"))
                assert np.array_equal(got, np.asarray(Image.open(fused / split / f"{pid}.png").convert("RGB"))), task
        positions[task] = sorted(all_ids.index(pid) for pid in used)
        assert len(all_ids) >= 9, (task, len(all_ids))
        assert positions[task] == [int(i * len(all_ids) / 3) for i in range(3)], task


# ------------------------------------------------------------------------------------------------ what reports read


def test_reports_read_headline_metrics_and_sample_notes_from_the_store(tmp_path: Path) -> None:
    """The leaderboard shows the headline metrics a task's units recorded (no task names in reports/); the task table
    carries each run's sample sizes and notes."""
    from ivifbench.reports.tables import build_report
    from ivifbench.store import ResultsStore, UnitRecord

    db = tmp_path / "results.db"
    with ResultsStore(db) as s:
        s.start_run("r1", "demo", "1", {}, {})
        for i, m in enumerate(("a", "b")):
            values = [("score", 0.5 + i / 10), ("secondary", 0.1), ("score/cls", 0.2), ("loss", 1.0 - i / 10)]
            info = [("score", "plugin", True, {"headline": 1}), ("loss", "plugin", False, {"headline": 0})]
            info += [("secondary", "plugin", True, {}), ("score/cls", "plugin", True, {})]
            payload = {"n": {"eval_images": 12, "eval_pixels": 3072}, "notes": ["small sample: 12 evaluated images"]}
            s.commit_unit(UnitRecord(key=f"t-{m}", slot=f"task|plugin|{m}|msrs|quick|0", kind="task", status="ok",
                                     method=m, dataset="msrs", task="plugin", protocol="quick", seed=0,
                                     task_results=values, metric_info=info, payload=payload))  # fmt: skip
        s.finish_run("r1", status="finished", n_ok=2, n_failed=0, n_cached=0, manifest={})
    rep = build_report(db)
    assert rep.leaderboard is not None
    assert list(rep.leaderboard.values.columns) == ["plugin msrs loss", "plugin msrs score"]  # the task's order
    assert rep.leaderboard.directions["plugin msrs loss"] is False
    table = next(t for t in rep.tables if t.kind == "task")
    assert list(table.values.columns)[:2] == ["loss", "score"]
    assert "n: 12 eval images, 3072 eval pixels." in table.notes
    assert "Note: small sample: 12 evaluated images." in table.notes


def test_validate_checks_task_overrides_with_the_tasks_own_settings_model(tmp_path: Path) -> None:
    from ivifbench.benchmarks.suite import load_suite
    from ivifbench.benchmarks.validate import check_suite

    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\nmethods: [average]\ndatasets: [{name: m3fd, synthetic: {pairs: 4}}, {name: msrs, synthetic: {}}]\n"
        "tasks:\n"
        "  - {name: detection, dataset: m3fd, overrides: {epoch: 3}}\n"
        "  - {name: segmentation, dataset: msrs, overrides: {iters: '400', limit: 0}}\n"
    )
    errors, _ = check_suite(load_suite(suite))
    text = "\n".join(errors)
    assert "tasks[0] 'detection': unknown detection setting 'epoch' for protocol 'quick' (accepted:" in text
    assert "tasks[1] 'segmentation': segmentation (quick): limit: Input should be greater than or equal to 1" in text
