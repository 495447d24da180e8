"""The Python API (``ivifbench.score/fuse/run/load_results``): input kinds agree with each other and with the CLI's
files path, doctests pass, the notebook script in docs/ runs, and results load as tidy frames."""

from __future__ import annotations

import doctest
import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

try:
    import ivifbench.api
except ModuleNotFoundError:  # an editable install made before api/ existed maps no ivifbench.api
    pytest.skip("ivifbench.api is not importable: reinstall with `pip install -e . --no-deps`", allow_module_level=True)

import ivifbench
from ivifbench.errors import InputError, IvifError
from ivifbench.imageio import write_png
from ivifbench.metrics import score_folders

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("module", ["ivifbench.api", "ivifbench.api.images", "ivifbench.api.results"])
def test_doctests(module: str) -> None:
    mod = importlib.import_module(module)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(mod)
    assert sum(len(t.examples) for t in tests) > 0
    out: list[str] = []
    for t in tests:
        runner.run(t, out=out.append)
    assert runner.failures == 0, "".join(out)


def test_top_level_is_lazy() -> None:
    code = "import sys, ivifbench; print('torch' in sys.modules, 'ivifbench.api' in sys.modules, callable(ivifbench.score))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.split() == ["False", "False", "True"]
    with pytest.raises(AttributeError):
        _ = ivifbench.no_such_thing  # type: ignore[attr-defined]


def _pair(seed: int = 0, h: int = 40, w: int = 56) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ir = rng.integers(0, 256, (h, w), dtype=np.uint8)
    vis = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return ir, vis


def test_score_input_kinds_agree(tmp_path: Path) -> None:
    ir, vis = _pair()
    fused = ivifbench.fuse("laplacian", ir, vis)
    assert fused.shape == vis.shape and fused.dtype == np.float32
    names = ["EN", "SD", "MI", "SSIM"]
    ref = ivifbench.score(ir, vis, fused, metrics=names)
    assert list(ref.columns) == names and len(ref) == 1
    # the same images as files, as uint16, as tensors (C×H×W) and as 0..255 floats
    for d, arr in (("ir", ir), ("vis", vis), ("fused", fused)):
        write_png(tmp_path / d / "a.png", arr)
    files = ivifbench.score(*(tmp_path / d / "a.png" for d in ("ir", "vis", "fused")), metrics=names)
    folders = ivifbench.score(*(tmp_path / d for d in ("ir", "vis", "fused")), metrics=names)
    cli = score_folders(tmp_path / "ir", tmp_path / "vis", tmp_path / "fused", names, "canonical", progress=False)
    q8 = np.floor(fused.astype(np.float64) * 255 + 0.5)
    u16 = ivifbench.score(ir.astype(np.uint16) * 257, vis.astype(np.uint16) * 257, q8.astype(np.uint16) * 257, names)
    tens = ivifbench.score(
        torch.from_numpy(ir), torch.from_numpy(vis).permute(2, 0, 1), torch.from_numpy(q8).permute(2, 0, 1), names
    )
    for other in (files, folders, u16, tens):
        np.testing.assert_allclose(other.to_numpy(), ref.to_numpy(), rtol=1e-10)
    assert files.index.tolist() == ["a"] and folders.index.tolist() == ["a"]
    np.testing.assert_allclose(cli.set_index("metric").loc[names, "value"].to_numpy(), ref.iloc[0].to_numpy())


def test_score_batches_and_errors() -> None:
    ir, vis = _pair()
    ir2, vis2 = _pair(1)
    batch = ivifbench.score(np.stack([ir, ir2])[..., None], np.stack([vis, vis2]), np.stack([vis, vis2]), "EN")
    one = ivifbench.score(ir2, vis2, vis2, "EN", as_dict=True)
    assert len(batch) == 2 and batch["EN"].iloc[1] == pytest.approx(one["EN"])
    with pytest.raises(InputError, match="one size"):
        ivifbench.score(ir, vis[:20], vis, "EN")
    with pytest.raises(InputError, match="channels"):
        ivifbench.score(ir, vis, np.zeros((40, 56, 2), np.uint8), "EN")
    with pytest.raises(InputError, match=r"\[0, 1\] or 0..255"):
        ivifbench.score(ir, vis, vis.astype(np.float32) * 2, "EN")
    with pytest.raises(InputError, match="file path, a numpy array or a torch tensor"):
        ivifbench.score([1, 2], vis, vis, "EN")


def test_fuse_tensors_files_and_instances(tmp_path: Path) -> None:
    from ivifbench.fusion import create_method
    from ivifbench.fusion.apply import fuse_pairs

    ir, vis = _pair()
    a = ivifbench.fuse("weighted", ir, vis, sigma=2.0)
    b = ivifbench.fuse(create_method("weighted", sigma=2.0), ir / 255.0, vis / 255.0)  # floats in [0, 1]
    np.testing.assert_allclose(a, b, atol=1e-6)
    t = ivifbench.fuse("weighted", torch.from_numpy(ir), torch.from_numpy(vis).permute(2, 0, 1), sigma=2.0)
    assert isinstance(t, torch.Tensor) and t.shape == (3, 40, 56)
    np.testing.assert_allclose(t.permute(1, 2, 0).numpy(), a, atol=1e-6)
    # the same as the fuse command's files
    write_png(tmp_path / "ir.png", ir)
    write_png(tmp_path / "vis.png", vis)
    fuse_pairs(create_method("weighted", sigma=2.0), [("p", tmp_path / "ir.png", tmp_path / "vis.png")],
               tmp_path / "out", progress=False)  # fmt: skip
    from ivifbench.imageio import read_image, to_uint8

    np.testing.assert_array_equal(to_uint8(a), to_uint8(read_image(tmp_path / "out" / "p.png").pixels))
    from_files = ivifbench.fuse("weighted", tmp_path / "ir.png", tmp_path / "vis.png", sigma=2.0)
    np.testing.assert_allclose(from_files, a, atol=1e-6)
    with pytest.raises(InputError, match="one size"):
        ivifbench.fuse("average", ir[:10], vis)
    with pytest.raises(InputError, match="when creating the method"):
        ivifbench.fuse(create_method("average"), ir, vis, sigma=1.0)


def _tiny_suite(path: Path, methods: list[str], name: str = "tiny") -> Path:
    path.write_text(
        f"name: {name}\nmethods: [{', '.join(methods)}]\nmetrics: {{names: [EN, SD]}}\n"
        "datasets:\n  - {name: tno, synthetic: {pairs: 3, seed: 0, size: [64, 48]}}\nreport: {formats: [md]}\n",
        encoding="utf-8",
    )
    return path


def test_run_and_load_results_scopes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = ivifbench.run(_tiny_suite(tmp_path / "a.yaml", ["average", "max"]), out=out, workers=0)
    assert first.summary is not None and first.summary.ok == 4 and (out / "report" / "leaderboard.md").is_file()
    second = ivifbench.run(_tiny_suite(tmp_path / "b.yaml", ["max", "dwt"], "other"), out=out, workers=0)
    assert second.summary is not None and second.summary.cached == 2
    everything = ivifbench.load_results(out)
    assert set(everything.fusion.method) == {"average", "max", "dwt"}
    assert len(everything.runs) == 2 and everything.runs.status.tolist() == ["finished", "finished"]
    assert set(second.fusion.method) == {"max", "dwt"}  # run() scopes to its own suite
    latest = ivifbench.load_results(out / "results.db", scope="latest")
    assert set(latest.fusion.method) == {"max", "dwt"} and len(latest.runs) == 1
    byid = ivifbench.load_results(out, scope=first.summary.run_id)
    assert set(byid.fusion.method) == {"average", "max"}
    f = everything.fusion
    assert list(f.columns) == [
        "dataset",
        "split",
        "convention",
        "method",
        "metric",
        "mean",
        "std",
        "n",
        "higher_is_better",
    ]
    assert (f.n == 3).all() and f.higher_is_better.all()
    img = everything.images
    en = img[(img.method == "max") & (img.metric == "EN")].value
    assert f[(f.method == "max") & (f.metric == "EN")]["mean"].item() == pytest.approx(en.mean())
    board = everything.leaderboard()
    assert board.shape == (3, 2) and board.loc["dwt", "SD"] == pytest.approx(
        f.query("method=='dwt' and metric=='SD'")["mean"].item()
    )
    assert everything.tasks.empty and everything.failures.empty
    sig = everything.significance()
    assert len(sig) == len(f) and sig.groupby(["metric"]).best.sum().tolist() == [1, 1]
    both = sig.merge(f, on=["dataset", "split", "convention", "method", "metric"])
    assert (
        len(both) == len(f) and ((both.ci_low <= both["mean"] + 1e-12) & (both["mean"] <= both.ci_high + 1e-12)).all()
    )
    (doc,) = everything.export(tmp_path / "r.json")
    assert doc.is_file() and "ivifbench-results" in doc.read_text()
    with pytest.raises(IvifError, match="no run 'nope'"):
        _ = ivifbench.load_results(out, scope="nope").fusion
    with pytest.raises(IvifError, match="no results store"):
        ivifbench.load_results(tmp_path / "missing")
    with pytest.raises(IvifError, match="unknown run option"):
        ivifbench.run("quick", out=out, wrokers=0)


def test_notebook_script_runs(tmp_path: Path) -> None:
    script = REPO / "docs" / "notebook.py"
    code = [
        ln for ln in script.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith(("#", '"""'))
    ]
    assert len(code) < 20
    suite = _tiny_suite(tmp_path / "tiny.yaml", ["average", "laplacian"])
    res = subprocess.run([sys.executable, str(script), str(suite)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "'average': {'EN'" in res.stdout and "laplacian" in res.stdout and "tiny" in res.stdout


@pytest.mark.slow
def test_notebook_script_quick_suite() -> None:
    res = subprocess.run([sys.executable, str(REPO / "docs" / "notebook.py")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "detection" in res.stdout and "segmentation" in res.stdout
