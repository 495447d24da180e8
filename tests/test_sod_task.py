"""SOD task: prepare on a replica, the quick protocol end to end (tiny), 8-bit maps, checkpoints, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ivifbench.datasets import DATASETS
from ivifbench.errors import InputError, IvifError
from ivifbench.tasks.sod import SOD_METRICS, SODTask
from ivifbench.tasks.sod.data import prepare, split_named

# the smallest run that still exercises every step: 64×48 replica, 32×32 inputs, two iterations of batch 2
TINY = {"size": 32, "iters": 2, "batch": 2, "threads": 1}


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vt5000")
    return DATASETS.get("vt5000").synthesize(out, pairs=6, seed=0, size=(64, 48))


@pytest.fixture(scope="module")
def fused(replica: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in method's fused images in the sweep's layout (``<dataset folder>/<split>/<id>.png``): IR/visible mean."""
    from ivifbench.imageio import read_pair, write_png

    out = tmp_path_factory.mktemp("fused")
    for p in DATASETS.get("vt5000")(replica).pairs():
        ir, vis = read_pair(p.ir, p.vis)
        write_png(out / p.split / f"{p.id}.png", 0.5 * ir.pixels + 0.5 * vis.pixels)
    return out


@pytest.fixture(scope="module")
def quick_run(replica: Path, fused: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("run") / "seed0"
    result = SODTask().run(dataset="vt5000", root=replica, fused=fused, out=out, protocol="quick", seed=0, **TINY)
    return out, result


def test_prepare_writes_native_layout(replica: Path, fused: Path, tmp_path: Path) -> None:
    reader = DATASETS.get("vt5000")(replica)
    split = split_named(reader, "train")
    assert split == "Train"
    samples = prepare(reader, split, fused, tmp_path)
    assert [s.id for s in samples] == [p.id for p in reader.pairs("Train")]
    for s in samples:
        assert s.image == tmp_path / "train" / "Image" / f"{s.id}.png"
        img, gt = Image.open(s.image), Image.open(s.mask)
        assert img.mode == "RGB" and gt.mode == "L" and img.size == gt.size == (64, 48)
        assert set(np.unique(np.asarray(gt)).tolist()) <= {0, 255}
        # the input is the fused image, not the visible one
        assert np.array_equal(
            np.asarray(img)[..., 0], np.asarray(Image.open(fused / "Train" / f"{s.id}.png").convert("RGB"))[..., 0]
        )


def test_prepare_flat_fused_folder_and_missing_fused(replica: Path, fused: Path, tmp_path: Path) -> None:
    reader = DATASETS.get("vt5000")(replica)
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in (fused / "Test").iterdir():
        (flat / p.name).write_bytes(p.read_bytes())
    assert len(prepare(reader, "Test", flat, tmp_path / "a")) == len(reader.pairs("Test"))
    first_train = reader.pairs("Train")[0].id
    with pytest.raises(InputError, match=rf"flat/{first_train}\.png.*no fused image"):
        prepare(reader, "Train", flat, tmp_path / "b")


def test_missing_gt_names_the_file(replica: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(replica, root)
    reader = DATASETS.get("vt5000")(root)
    victim = reader.pairs("Test")[0]
    assert victim.label is not None
    victim.label.unlink()
    with pytest.raises(InputError, match=rf"Test/GT/{victim.id}\.png.*GT mask"):
        prepare(DATASETS.get("vt5000")(root), "Test", None, tmp_path / "data")


def test_quick_end_to_end(quick_run: tuple[Path, object], replica: Path) -> None:
    out, result = quick_run
    assert list(result.metrics) == list(SOD_METRICS)
    assert all(np.isfinite(v) for v in result.metrics.values())
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["task"] == "sod" and saved["protocol"] == "quick" and saved["seed"] == 0
    assert saved["metrics"] == pytest.approx(result.metrics)
    d = saved["details"]
    assert d["protocol_settings"]["iters"] == 2 and d["protocol_settings"]["size"] == 32
    assert d["overrides"]["iters"] == 2 and d["input"] == "fused" and d["trained"] is True
    assert d["train_images"] == len(DATASETS.get("vt5000")(replica).pairs("Train"))
    assert (out / "model.pth").is_file()


def test_maps_are_8bit_pngs_at_gt_size_and_rescore(quick_run: tuple[Path, object], replica: Path) -> None:
    from ivifbench.tasks.sod.scoring import score_folder

    out, result = quick_run
    test = DATASETS.get("vt5000")(replica).pairs("Test")
    maps = sorted((out / "maps").glob("*.png"))
    assert [p.stem for p in maps] == sorted(p.id for p in test)
    for p in maps:
        with Image.open(p) as img:
            assert img.mode == "L" and img.size == (64, 48)
    # another tool rescoring the written maps gets the same numbers
    rescored = score_folder(out / "maps", {p.id: p.label for p in test})
    assert rescored == pytest.approx(result.metrics, rel=1e-12)


def test_vt821_needs_a_vt5000_model(quick_run: tuple[Path, object], tmp_path: Path) -> None:
    out, _ = quick_run
    root = DATASETS.get("vt821").synthesize(tmp_path / "vt821", pairs=2, seed=1, size=(64, 48))
    with pytest.raises(IvifError, match="checkpoint="):
        SODTask().run(dataset="vt821", root=root, fused=None, out=tmp_path / "r0", **TINY)
    ckpt = str(out / "model.pth").replace("seed0", "seed{seed}")
    result = SODTask().run(dataset="vt821", root=root, fused=None, out=tmp_path / "r1", seed=0, checkpoint=ckpt)
    assert list(result.metrics) == list(SOD_METRICS)
    assert result.details["trained"] is False and result.details["checkpoint"] == str(out / "model.pth")
    assert result.details["engine_settings"]["size"] == 32  # taken from the checkpoint
    assert len(list((tmp_path / "r1" / "maps").glob("*.png"))) == 2


def test_vt821_trained_inside_the_run(replica: Path, fused: Path, tmp_path: Path) -> None:
    root = DATASETS.get("vt821").synthesize(tmp_path / "vt821", pairs=2, seed=1, size=(64, 48))
    with pytest.raises(IvifError, match="train_fused="):  # VT821 fused images cannot train on VT5000
        SODTask().run(dataset="vt821", root=root, fused=fused, out=tmp_path / "r0", train_root=str(replica), **TINY)
    result = SODTask().run(
        dataset="vt821", root=root, fused=None, out=tmp_path / "r1", train_root=str(replica), save_model=False, **TINY
    )
    d = result.details
    assert d["trained"] is True and d["train_dataset"] == "vt5000" and d["train_split"] == "Train"
    assert d["eval_split"] == "test" and d["eval_images"] == 2 and d["input"] == "visible"
    assert not (tmp_path / "r1" / "model.pth").exists()


def test_bad_settings(replica: Path, tmp_path: Path) -> None:
    task = SODTask()
    base = {"dataset": "vt5000", "root": replica, "fused": None, "out": tmp_path / "o"}
    with pytest.raises(IvifError, match="unknown sod setting 'epochs'"):
        task.run(**base, epochs=3)
    with pytest.raises(IvifError, match="multiple of 32"):
        task.run(**base, size=50)
    with pytest.raises(IvifError, match="no protocol 'fast'"):
        task.run(**base, protocol="fast")
    with pytest.raises(IvifError, match="does not support dataset 'msrs'"):
        task.run(**{**base, "dataset": "msrs"})
    with pytest.raises(IvifError, match="pretrained="):  # the paper protocol needs ImageNet MiT weights
        task.run(**base, protocol="paper", device="cpu")
    with pytest.raises(InputError, match="nope.pth"):
        task.run(**base, pretrained=str(tmp_path / "nope.pth"))
    with pytest.raises(InputError, match="fused-image folder not found"):
        task.run(**{**base, "fused": tmp_path / "missing"})
    with pytest.raises(InputError, match="bad.pth"):
        bad = tmp_path / "bad.pth"
        bad.write_bytes(b"not a checkpoint")
        task.run(**base, checkpoint=str(bad))


def test_registry_and_directions() -> None:
    from ivifbench.tasks import TASKS

    cls = TASKS.get("sod")
    assert cls is SODTask
    assert cls.datasets == ("vt5000", "vt821", "vt1000")
    assert cls.metric_directions["MAE"] is False and cls.metric_directions["Sm"] is True
    assert cls.headline == ("Sm", "maxF", "MAE")
