"""Outputs never overlap inputs: every writing command refuses, in one line, an output folder that is, contains or lies
inside an input folder; a fuse unit removes only the images it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import test_sweep_fixtures as fx
from PIL import Image

from ivifbench.benchmarks.runner import run_suite
from ivifbench.benchmarks.suite import load_suite
from ivifbench.cli import main
from ivifbench.errors import InputError
from ivifbench.paths import check_outputs_apart, static_prefix


def _pairs(root: Path, n: int = 2) -> tuple[Path, Path]:
    ir, vi = root / "ir", root / "vi"
    ir.mkdir(parents=True)
    vi.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (10, 12), dtype=np.uint8)).save(ir / f"p{i}.png")
        Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(vi / f"p{i}.png")
    return ir, vi


def _digest(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", ["vi", "vi/sub", "."])
def test_fuse_refuses_an_output_over_its_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    ir, vi = _pairs(tmp_path)
    before = _digest(tmp_path)
    out = tmp_path / where
    assert main(["fuse", "--method", "average", "--ir", str(ir), "--vis", str(vi), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "input" in err[0], err
    assert _digest(tmp_path) == before  # nothing written, nothing replaced


def test_fuse_and_score_refuse_an_out_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ir, vi = _pairs(tmp_path)
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert main(["fuse", "--method", "average", "--ir", str(ir), "--vis", str(vi), "--out", str(f)]) == 2
    assert "existing file" in capsys.readouterr().err
    args = ["score", "--ir", str(ir), "--vis", str(vi), "--fused", str(vi), "--metrics", "EN"]
    assert main([*args, "--out", str(vi / "t.csv")]) == 2
    assert "inside --vis" in capsys.readouterr().err
    assert not (vi / "t.csv").exists()


def test_overlap_rules(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    with pytest.raises(InputError, match="contains"):
        check_outputs_apart({"--out": tmp_path / "a"}, {"x": tmp_path / "a" / "b"})
    with pytest.raises(InputError, match="lies inside"):
        check_outputs_apart({"--out": tmp_path / "a" / "b" / "c"}, {"x": tmp_path / "a"})
    (tmp_path / "link").symlink_to(tmp_path / "a")
    with pytest.raises(InputError, match=" is "):
        check_outputs_apart({"--out": tmp_path / "link"}, {"x": tmp_path / "a"})
    check_outputs_apart({"--out": tmp_path / "ab"}, {"x": tmp_path / "a"})  # a sibling with a common prefix is fine
    assert static_prefix("/d/{dataset}/x/{split}") == Path("/d")


def test_run_refuses_a_folder_method_inside_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fx.register_fakes()
    out = tmp_path / "out"
    mine = out / "fused" / "published" / "msrs" / "test"
    mine.mkdir(parents=True)
    (mine / "keep.png").write_bytes(b"user data")
    methods = [{"name": "published", "type": "folder", "path": str(out / "fused" / "published")}]
    suite = fx.write_suite(tmp_path / "s.yaml", methods=methods, tasks=[])
    with pytest.raises(InputError, match="folder method 'published'"):
        run_suite(load_suite(suite), out, workers=0, progress=False, report=False)
    assert (mine / "keep.png").read_bytes() == b"user data"
    root = tmp_path / "data"
    root.mkdir()
    ds = [{"name": "msrs", "root": str(root)}]
    suite = fx.write_suite(tmp_path / "s2.yaml", datasets=ds, tasks=[])
    assert main(["run", str(suite), "--out", str(root / "results"), "--workers", "0", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "dataset 'msrs'" in err[-1] and "Traceback" not in "".join(err)


def test_fuse_unit_removes_only_images_it_wrote(tmp_path: Path) -> None:
    fx.register_fakes()
    suite = fx.write_suite(tmp_path / "s.yaml", methods=["average"], tasks=[])
    out = tmp_path / "out"
    assert run_suite(load_suite(suite), out, workers=0, progress=False, report=False).failed == 0
    folder = out / "fused" / "average" / "msrs" / "test"
    ledger = json.loads((folder / ".ivifbench-written.json").read_text())
    assert sorted(ledger) == sorted(p.stem for p in folder.glob("*.png"))
    (folder / "notes.png").write_bytes(b"a file the unit did not write")
    for p in folder.glob("0*.png"):
        p.unlink()  # the fuse unit reruns
    assert run_suite(load_suite(suite), out, workers=0, progress=False, report=False).failed == 0
    assert (folder / "notes.png").read_bytes() == b"a file the unit did not write"


def test_pixel_limit_fails_that_pair_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ir, vi = _pairs(tmp_path)
    Image.fromarray(np.zeros((40, 30), np.uint8)).save(ir / "big.png")
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(vi / "big.png")
    monkeypatch.setenv("IVIFBENCH_MAX_PIXELS", "1000")
    out = tmp_path / "o"
    assert main(["fuse", "--method", "average", "--ir", str(ir), "--vis", str(vi), "--out", str(out)]) == 1
    assert sorted(p.name for p in out.glob("*.png")) == ["p0.png", "p1.png"]
    err = capsys.readouterr().err
    assert "30×40 is 0 megapixels, over the 0-megapixel limit" in err or "over the" in err


def test_a_refused_checkpoint_never_suggests_weights_only_false(tmp_path: Path) -> None:
    import torch

    from ivifbench.errors import IvifError
    from ivifbench.fusion.sage.checkpoint import read_state_dict

    bad = tmp_path / "model.pth"
    torch.save({"net": torch.nn.Linear(2, 2)}, bad)  # a pickled module, not plain weights
    with pytest.raises(IvifError) as info:
        read_state_dict(bad)
    msg = str(info.value)
    assert "not a plain weights file" in msg and "convert it with" in msg
    assert "weights_only=False" not in msg and "\n" not in msg
