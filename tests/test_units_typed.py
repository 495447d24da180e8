"""Typed units cross process boundaries intact and keep their keys; FusedSet is the one fused-image layout."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from ivifbench import __version__
from ivifbench.benchmarks.unit_types import (
    FUSE_VERSION,
    SCORE_VERSION,
    TASK_RUNNER_VERSION,
    FuseUnit,
    ScoreUnit,
    TaskUnit,
    digest,
    unit_from_dict,
)
from ivifbench.fusion.external import FolderMethod, load_method
from ivifbench.fusion.fused import FusedSet
from ivifbench.fusion.spec import MethodSpec
from ivifbench.imageio import write_png

PAIRS = [("a", "/d/ir/a.png", "/d/vis/a.png", None), ("b", "/d/ir/b.png", "/d/vis/b.png", "/d/lab/b.png")]


def _units() -> tuple[FuseUnit, ScoreUnit, TaskUnit]:
    spec = MethodSpec(name="w", method="weighted", params={"alpha": 0.5})
    fuse = FuseUnit.make(spec, "fp123", "msrs", "test", "files9", PAIRS, "/o/fused/w/msrs/test", "cpu")
    score = ScoreUnit.make(fuse, ["EN", "SD"], "canonical", "ivifbench.metrics:score_folders", "7", 8, "/o/work")
    task = TaskUnit.make("sod", "2", [fuse], "/d", "quick", 1, {"epochs": 1}, "/o/tasks/x", "cpu",
                         method="w", dataset="msrs")  # fmt: skip
    return fuse, score, task


def test_keys_hash_what_they_always_hashed() -> None:
    """The formulas of the string-and-dict units, written out: stored results stay valid."""
    fuse, score, task = _units()
    assert fuse.key == "fuse-" + digest(["fuse", FUSE_VERSION, __version__, "w", "fp123", "msrs", "test", "files9"])
    assert score.key == "score-" + digest(
        ["score", SCORE_VERSION, __version__, fuse.key, ["EN", "SD"], "canonical", "ivifbench.metrics:score_folders",
         "7"]
    )  # fmt: skip
    assert task.key == "task-" + digest(
        ["task", TASK_RUNNER_VERSION, __version__, "sod", "2", "w", "msrs", [("test", fuse.key)], "quick", 1,
         {"epochs": 1}]
    )  # fmt: skip
    assert (fuse.slot, score.slot, task.slot) == (
        "fuse|w|msrs|test", "score|w|msrs|test|canonical", "task|sod|w|msrs|quick|1"
    )  # fmt: skip
    assert score.deps == [fuse.key] and task.deps == [fuse.key]
    assert task.label == "sod/w/msrs/quick/seed1" and fuse.label == "fuse w/msrs/test"


@pytest.mark.parametrize("index", [0, 1, 2])
def test_units_round_trip_as_plain_data(index: int) -> None:
    unit = _units()[index]
    data = pickle.loads(pickle.dumps(unit.to_dict()))  # what a worker process or Ray receives
    data["capture"] = True
    data["something_an_executor_adds"] = 1  # ignored
    back = unit_from_dict(data)
    assert type(back) is type(unit) and back.key == unit.key
    assert back.record_spec() == unit.record_spec()
    assert "pairs" not in unit.record_spec()
    if isinstance(back, FuseUnit):
        assert back.method_spec == MethodSpec(name="w", method="weighted", params={"alpha": 0.5})
        assert back.pairs == PAIRS


def _png(path: Path, value: int = 100, size: tuple[int, int] = (8, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, np.full((size[1], size[0], 3), value / 255, dtype=np.float32))


def test_fused_set_layouts(tmp_path: Path) -> None:
    flat = FusedSet(tmp_path / "flat")
    _png(flat.path("a"))
    (flat.root / "b.JPG").write_bytes(b"x")
    assert flat.path("a") == tmp_path / "flat" / "a.png"
    assert flat.find("b") == flat.root / "b.JPG" and flat.find("c") is None
    assert flat.missing(["a", "b", "c"]) == ["b", "c"]  # writers write PNG: only .png counts as present
    assert flat.complete(["a"]) and not flat.complete(["a", "c"])
    assert flat.files(["a", "b", "c"]) == {"a": flat.path("a"), "b": flat.root / "b.JPG", "c": None}
    _png(flat.path("old"))
    _png(flat.path("users"))
    flat.prune(["a", "old"], written=["a", "old"])  # a unit wrote these
    flat.prune(["a"])  # a later run no longer has "old": it goes; a file nobody recorded stays
    assert [i for _s, i, _p in flat] == ["a", "users"]

    root = tmp_path / "split"
    _png(root / "train" / "a.png")
    _png(root / "test" / "b.png")
    per = FusedSet.detect(root, ["train", "test"])
    assert per.per_split and per.path("b", "test") == root / "test" / "b.png"
    assert list(per) == [("test", "b", root / "test" / "b.png"), ("train", "a", root / "train" / "a.png")]
    assert not FusedSet.detect(tmp_path / "flat", ["train"]).per_split
    with pytest.raises(ValueError, match="needs the split"):
        per.path("a")


def test_folder_and_computed_methods_share_one_protocol(tmp_path: Path) -> None:
    """Both produce into a FusedSet and fingerprint a split; the caller never asks which kind it has."""
    ir, vis = tmp_path / "ir.png", tmp_path / "vis.png"
    _png(ir, 50)
    _png(vis, 200)
    published = tmp_path / "published" / "msrs" / "test"
    _png(published / "p1.png", 120)
    pairs = [("p1", str(ir), str(vis))]
    sources = [
        load_method(MethodSpec(name="average")),
        load_method(MethodSpec(name="pub", type="folder", path=str(tmp_path / "published"))),
    ]
    assert isinstance(sources[1], FolderMethod)
    for n, source in enumerate(sources):
        out = FusedSet(tmp_path / f"out{n}")
        out.root.mkdir()
        rep = source.produce("msrs", "test", pairs, out)
        assert rep.written == ["p1"] and rep.failed == {} and out.complete(["p1"])
        assert source.split_fingerprint("msrs", "test", ["p1"]) == source.split_fingerprint("msrs", "test", ["p1"])
    missing = sources[1].produce("msrs", "test", [("nope", str(ir), str(vis))], FusedSet(tmp_path / "out1"))
    assert "no fused image named 'nope" in missing.failed["nope"]
