"""Sweeps in this process (``workers=0``): plan, cache, overwrite policies, failures, and the ways to add a method."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import test_sweep_fixtures as fx

from ivifbench.benchmarks.runner import run_suite
from ivifbench.benchmarks.suite import SuiteError, load_suite
from ivifbench.benchmarks.validate import check_suite
from ivifbench.store import ResultsStore


@pytest.fixture(autouse=True)
def _fakes() -> None:
    fx.register_fakes()


def _run(suite_path: Path, out: Path, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("workers", 0)
    kw.setdefault("progress", False)
    return run_suite(load_suite(suite_path), out, **kw)


def _snap(out: Path) -> dict:
    with ResultsStore(out / "results.db", readonly=True) as s:
        return s.snapshot()


def test_run_cache_and_layout(tmp_path: Path) -> None:
    suite = fx.write_suite(tmp_path / "s.yaml")
    out = tmp_path / "out"
    first = _run(suite, out)
    # 2 methods × 2 splits × (fuse + score) + 2 methods × 2 seeds of the task
    assert (first.total, first.ok, first.failed, first.cached) == (12, 12, 0, 0)
    fused = sorted(p.relative_to(out).as_posix() for p in (out / "fused").rglob("*.png"))
    assert len(fused) == 2 * 6 and all(p.startswith(("fused/average/msrs/", "fused/max/msrs/")) for p in fused)
    assert {p.split("/")[3] for p in fused} == {"train", "test"}
    with ResultsStore(out / "results.db", readonly=True) as s:
        im = s.frame("image_metrics")
        assert len(im) == 2 * 6 * 3 and set(im.convention) == {"canonical"}
        tr = s.frame("task_results")
        assert set(tr.seed) == {0, 1} and set(tr.metric) == {"acc", "err", "acc/cls"}
        run = s.latest_run()
        man = run["manifest"]
        assert run["status"] == "finished" and "git_revision" in man
        assert man["versions"]["ivifbench"] and man["host"] and man["device"]["device"] == "cpu"
        assert set(man["timings"]["stage_wall_seconds"]) == {"fuse", "score", "task"}
        assert set(man["timings"]["unit_cpu_seconds"]) == {"fuse", "score", "task"}
        assert man["datasets"]["msrs"]["synthetic"] is True
    before = _snap(out)
    second = _run(suite, out)
    assert (second.ok, second.failed, second.cached) == (0, 0, 12)
    assert _snap(out) == before
    assert (out / "report" / "leaderboard.md").is_file() and (out / "report" / "leaderboard.csv").is_file()

    # fused images deleted → only those fuse units run again ("missing"), nothing downstream changes
    shutil.rmtree(out / "fused" / "max" / "msrs" / "test")
    third = _run(suite, out)
    assert third.ok == 1 and third.cached == 11
    assert (out / "fused" / "max" / "msrs" / "test").is_dir()
    assert _snap(out) == before

    # --overwrite always: everything runs again, same results
    again = _run(suite, out, overwrite="always")
    assert again.ok == 12 and again.cached == 0
    assert _snap(out) == before


def test_changed_parameters_rerun_only_that_method(tmp_path: Path) -> None:
    methods = ["average", {"name": "weighted", "params": {"sigma": 3.0}}]
    tasks = [{"name": "fake", "dataset": "msrs", "methods": ["average", "weighted"], "seeds": [0]}]
    out = tmp_path / "out"
    _run(fx.write_suite(tmp_path / "a.yaml", methods=methods, tasks=tasks), out)
    before = _snap(out)
    methods[1] = {"name": "weighted", "params": {"sigma": 1.0}}
    s = _run(fx.write_suite(tmp_path / "b.yaml", methods=methods, tasks=tasks), out)
    assert s.ok == 5 and s.cached == 5  # weighted: 2 fuse + 2 score + 1 task
    after = _snap(out)
    assert len(after["image_metrics"]) == len(before["image_metrics"])  # superseded, not duplicated
    old_w = {r for r in before["image_metrics"] if r[0] == "weighted"}
    new_w = {r for r in after["image_metrics"] if r[0] == "weighted"}
    assert old_w and not (old_w & new_w)
    assert {r for r in after["image_metrics"] if r[0] == "average"} == {
        r for r in before["image_metrics"] if r[0] == "average"
    }


def test_failures_are_recorded_and_others_carry_on(tmp_path: Path) -> None:
    methods = [
        "average",
        {"name": "nan", "type": "callable", "target": "test_sweep_fixtures:nan_fuse"},
        {"name": "shape", "type": "callable", "target": "test_sweep_fixtures:shape_fuse"},
    ]
    tasks = [
        {"name": "fake", "dataset": "msrs", "methods": ["average", "nan"], "seeds": [0]},
        {
            "name": "fake",
            "dataset": "msrs",
            "methods": ["average"],
            "seeds": [0],
            "protocol": "paper",
            "overrides": {"fail": True},
        },
    ]
    out = tmp_path / "out"
    suite = fx.write_suite(tmp_path / "s.yaml", methods=methods, tasks=tasks, datasets=[
        {"name": "msrs", "synthetic": {"pairs": 4, "seed": 0, "size": [64, 48]}, "splits": ["test"]}])  # fmt: skip
    s = _run(suite, out)
    # average: 2 fuse, 1 score, 2 tasks (one fails); nan and shape: 2 fuse fail, 1 score + (nan) 1 task not run
    assert s.failed == 2 + 2 + 1 + 1 + 1 and s.exit_code == 1
    labels = dict(s.failures)
    assert "NaN" in labels["fuse nan/msrs/test"] and "size" in labels["fuse shape/msrs/test"]
    assert "not run" in labels["score nan/msrs/test"]
    with ResultsStore(out / "results.db", readonly=True) as st:
        failed = {u["key"]: u for u in st.units("failed")}
        assert len(failed) == 7
        task_fail = next(u for u in failed.values() if u["kind"] == "task" and u["method"] == "average")
        full = st.unit(task_fail["key"])
        assert "fake task asked to fail" in full["error"] and "RuntimeError" in full["traceback"]
        assert len(st.units("ok")) == 2 + 1 + 1
    # never: failed units stay failed without running; missing: they run again (and fail again)
    s2 = _run(suite, out, overwrite="never")
    assert s2.ok == 0 and s2.failed == 0 and s2.cached == s.total
    s3 = _run(suite, out)
    assert s3.failed == 7 and s3.ok == 0
    md = (out / "report" / "leaderboard.md").read_text()
    assert "## Failures" in md and "NaN" in md


def test_folder_and_callable_methods(tmp_path: Path) -> None:
    out = tmp_path / "out"
    ds = [{"name": "msrs", "synthetic": {"pairs": 4, "seed": 0, "size": [64, 48]}}]
    _run(fx.write_suite(tmp_path / "a.yaml", methods=["average"], tasks=[], datasets=ds), out)
    # publish average's images as another method's folder, as JPEG-free PNG copies in <path>/<dataset>/<split>
    pub = tmp_path / "published"
    for split in ("train", "test"):
        shutil.copytree(out / "fused" / "average" / "msrs" / split, pub / "msrs" / split)
    methods = [
        "average",
        {"name": "published", "type": "folder", "path": str(pub), "trained_on": ["msrs"]},
        {"name": "bright", "type": "callable", "target": "test_sweep_fixtures:brighter_fuse", "params": {"gain": 1.1}},
        {"name": "gamma", "type": "callable", "target": "test_sweep_fixtures:GammaFusion", "params": {"gamma": 0.7}},
    ]
    suite = fx.write_suite(tmp_path / "b.yaml", methods=methods, tasks=[], datasets=ds)
    s = _run(suite, out)
    assert s.failed == 0 and s.cached == 4 and s.ok == 12
    with ResultsStore(out / "results.db", readonly=True) as st:
        im = st.frame("image_metrics").pivot_table(index=["split", "image", "metric"], columns="method", values="value")
        assert (im["published"] - im["average"]).abs().max() < 1e-9  # same pixels → same numbers
        assert (im["bright"] != im["average"]).any() and (im["gamma"] != im["average"]).any()
        assert st.method_infos()["published"]["trained_on"] == ["msrs"]
    md = (out / "report" / "leaderboard.md").read_text()
    assert "published" in md and "published†" not in md  # trained on MSRS, but this is a synthetic replica of it
    # a folder missing an image: that unit fails naming the file, the rest is cached
    sorted((pub / "msrs" / "test").glob("*.png"))[0].unlink()
    s = _run(suite, out)
    assert s.failed == 2 and "no fused image named" in dict(s.failures)["fuse published/msrs/test"]
    # editing a callable's parameters reruns it only
    methods[2] = {
        "name": "bright",
        "type": "callable",
        "target": "test_sweep_fixtures:brighter_fuse",
        "params": {"gain": 1.3},
    }
    s = _run(fx.write_suite(tmp_path / "c.yaml", methods=methods, tasks=[], datasets=ds), out)
    assert s.ok == 4 and s.failed == 2


def test_validate_reports_every_problem(tmp_path: Path) -> None:
    bad = fx.write_suite(
        tmp_path / "bad.yaml",
        methods=["averge", {"name": "sage"}, {"name": "mine", "type": "callable", "target": "no_such_module:fn"}],
        datasets=[{"name": "msr", "root": str(tmp_path / "nope")}, {"name": "tno", "root": str(tmp_path / "missing")}],
        metrics={"names": ["MEAN", "MEEN"], "convention": "canonical", "engine": "test_sweep_fixtures:score_folders"},
        tasks=[{"name": "detecton", "dataset": "m3fd"}],
    )
    errors, _notes = check_suite(load_suite(bad))
    text = "\n".join(errors)
    assert "did you mean 'average'" in text
    assert "did you mean 'msrs'" in text
    assert "root not found" in text and "missing" in text
    assert "needs weights" in text
    assert "no_such_module" in text
    assert "did you mean 'MEAN'" in text
    assert "did you mean 'detection'" in text and "'m3fd' is not in this suite's datasets" in text
    with pytest.raises(SuiteError, match="problem"):
        run_suite(load_suite(bad), tmp_path / "out", workers=0, progress=False)
    assert not (tmp_path / "out" / "results.db").exists()  # nothing ran

    from ivifbench.cli import main

    assert main(["validate", str(bad)]) == 2
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        "name: x\nmethods: [{name: a, type: folder}]\ndatasets: [{name: tno}, {name: tno, root: a, synthetic: {}}]\nbogus: 1\n"
    )
    with pytest.raises(SuiteError) as exc:
        load_suite(schema)
    msg = str(exc.value)
    assert "needs path" in msg and "bogus" in msg and "exactly one of root" in msg


def test_include_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("name: base\nmethods: [average, max]\ndatasets: [{name: tno, synthetic: {pairs: 2}}]\n"
                    "metrics: {names: [EN], convention: canonical}\n")  # fmt: skip
    monkeypatch.setenv("MYROOT", str(tmp_path))
    child = tmp_path / "child.yaml"
    child.write_text("include: base.yaml\nname: child\nmethods: [{name: max, params: {a: 1}}, gff]\n"
                     "datasets: [{name: msrs, root: '${MYROOT}/msrs'}]\nmetrics: {convention: tang}\n")  # fmt: skip
    s = load_suite(child)
    assert s.name == "child" and [m.name for m in s.methods] == ["average", "max", "gff"]
    assert s.method("max").params == {"a": 1}
    assert [d.name for d in s.datasets] == ["tno", "msrs"] and s.dataset("msrs").root == f"{tmp_path}/msrs"
    assert s.metrics and s.metrics.names == ["EN"] and s.metrics.convention == "tang"
    (tmp_path / "deep.yaml").write_text("include: child.yaml\nname: deep\n")
    with pytest.raises(SuiteError, match="one level"):
        load_suite(tmp_path / "deep.yaml")


def test_builtin_suites_parse() -> None:
    from ivifbench.benchmarks.suite import builtin_suites

    suites = builtin_suites()
    assert {"quick", "paper", "full"} <= set(suites)
    quick = load_suite("quick")
    assert quick.name == "quick" and all(d.synthetic for d in quick.datasets)
    assert {t.name for t in quick.tasks} == {"detection", "segmentation", "sod"}
    assert all(len(t.methods or []) >= 2 for t in quick.tasks)
    classical = {"average", "max", "weighted", "laplacian", "dwt", "gff"}
    assert classical <= {m.name for m in quick.methods} and quick.method("sage").optional
    full = load_suite("full")
    assert {d.name for d in full.datasets} >= {"tno", "msrs", "m3fd", "vt5000", "kaist", "flir"}
    assert load_suite("paper").method("sage").optional is False


def test_quick_suite_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every name in the embedded default resolves (tasks, metrics, datasets, methods); SAGE is a note, not an error."""
    monkeypatch.delenv("IVIFBENCH_SAGE_WEIGHTS", raising=False)
    errors, notes = check_suite(load_suite("quick"))
    assert errors == []
    assert any("sage" in n and "skipped" in n for n in notes)


def test_cli_run_prints_where_things_went(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ivifbench.cli import main

    methods = ["average", {"name": "nan", "type": "callable", "target": "test_sweep_fixtures:nan_fuse"}]
    ds = [{"name": "msrs", "synthetic": {"pairs": 3, "seed": 0, "size": [64, 48]}, "splits": ["test"]}]
    suite = fx.write_suite(tmp_path / "s.yaml", methods=methods, tasks=[], datasets=ds)
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--workers", "0"]) == 1
    captured = capsys.readouterr()
    text = captured.out
    # not a terminal: one progress line per finished unit, with counts, rate and ETA
    assert "[fuse 1/2]" in captured.err and "units/min" in captured.err and "eta" in captured.err
    assert "2 failed" in text and "fuse nan/msrs/test" in text and "--failures" in text
    assert f"results: {out.resolve() / 'results.db'}" in text and "leaderboard.md" in text
    assert main(["run", str(suite), "--out", str(out), "--overwrite", "sometimes"]) == 2


@pytest.mark.slow  # two worker-process starts (torch imports): ~6 s on an idle machine, 30+ s on a busy one
def test_local_worker_crash_is_recorded(tmp_path: Path) -> None:
    """A worker process that dies takes only its unit with it; the pool is rebuilt and the sweep carries on."""
    methods = [{"name": "die", "type": "callable", "target": "test_sweep_fixtures:die_fuse"}, "average"]
    ds = [{"name": "msrs", "synthetic": {"pairs": 3, "seed": 0, "size": [64, 48]}, "splits": ["test"]}]
    suite = fx.write_suite(tmp_path / "s.yaml", methods=methods, tasks=[], datasets=ds)
    s = _run(suite, tmp_path / "out", workers=1)
    assert s.failed == 2 and s.ok == 2  # die: fuse crashed, its score not run; average: fuse and score
    assert "worker process died" in dict(s.failures)["fuse die/msrs/test"]


def test_a_metric_version_bump_rescores_but_keeps_fused_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stored values never outlive the metric code that made them: a new METRICS_VERSION re-runs the score units."""
    import ivifbench.metrics
    from ivifbench.benchmarks.planner import _engine_version

    assert _engine_version("ivifbench.metrics:score_folders") == ivifbench.metrics.METRICS_VERSION
    out = tmp_path / "out"
    suite = fx.write_suite(tmp_path / "a.yaml", methods=["average"], tasks=[])  # the fixtures' engine
    first = _run(suite, out)
    assert first.ok > 0 and first.cached == 0
    assert _run(suite, out).cached == first.ok
    monkeypatch.setattr(fx, "METRICS_VERSION", "bumped", raising=False)
    bumped = _run(suite, out)
    assert bumped.stage_counts["score"]["ok"] == first.stage_counts["score"]["ok"] > 0
    assert bumped.stage_counts["fuse"]["ok"] == 0, "fused images stay cached"
