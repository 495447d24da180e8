"""``prepare``: fused images + VOC boxes → YOLO dataset; splits; settings; bad input (no ultralytics needed)."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from ivifbench.datasets import DATASETS
from ivifbench.datasets.labels import read_voc_xml
from ivifbench.errors import InputError, IvifError
from ivifbench.tasks import TASKS
from ivifbench.tasks.detection import DetectionTask
from ivifbench.tasks.detection.boxes import YoloBox, yolo_to_voc
from ivifbench.tasks.detection.prepare import (
    M3FD_SPLIT_FILES,
    ClassMap,
    assign_splits,
    limit_pairs,
    prepare,
)
from ivifbench.tasks.detection.task import _epochs


def _settings(protocol: str, overrides: dict) -> dict:
    return DetectionTask.settings(protocol, overrides).model_dump()


SIZE = (128, 96)


@pytest.fixture(scope="module")
def m3fd_replica(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return DATASETS.get("m3fd").synthesize(tmp_path_factory.mktemp("m3fd"), pairs=24, seed=0, size=SIZE)


@pytest.fixture(scope="module")
def llvip_replica(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return DATASETS.get("llvip").synthesize(tmp_path_factory.mktemp("llvip"), pairs=8, seed=0, size=SIZE)


def _fused(reader, out: Path, skip: str | None = None, size: tuple[int, int] | None = None) -> Path:
    """A fake method's fused folder: the mean of IR and visible, as <id>.png."""
    out.mkdir(parents=True, exist_ok=True)
    for p in reader.pairs():
        if p.id == skip:
            continue
        ir = np.asarray(Image.open(p.ir).convert("RGB"), dtype=np.float32)
        vis = np.asarray(Image.open(p.vis).convert("RGB"), dtype=np.float32)
        img = Image.fromarray(((ir + vis) / 2).astype(np.uint8))
        (img.resize(size) if size else img).save(out / f"{p.id}.png")
    return out


def test_registered_and_light() -> None:
    assert TASKS.get("detection") is DetectionTask
    assert tuple(DetectionTask.protocols) == ("quick", "paper", "frozen")
    assert all(DetectionTask.direction(k) for k in ("mAP50", "mAP50_95", "precision", "recall", "AP50/Car"))
    assert DetectionTask.headline == ("mAP50", "mAP50_95")


def test_shipped_m3fd_split_files() -> None:
    from ivifbench.datasets.detection import read_split_file

    ids = {role: read_split_file(path) for role, path in M3FD_SPLIT_FILES.items()}
    assert {r: len(v) for r, v in ids.items()} == {"train": 2727, "val": 633, "test": 840}
    union = set().union(*ids.values())
    assert len(union) == 4200 and union == {f"{i:05d}" for i in range(4200)}  # disjoint and complete


def test_split_plans(m3fd_replica: Path, llvip_replica: Path, tmp_path: Path) -> None:
    m3fd = DATASETS.get("m3fd")(m3fd_replica)
    plan = assign_splits("m3fd", m3fd)
    assert plan.name == "m3fd-voc2coco" and plan.unassigned == 0
    assert {r: len(p) for r, p in plan.roles.items()} == {"train": 12, "val": 2, "test": 10}  # ids 00000-00023
    assert [p.id for p in plan.roles["val"]] == ["00015", "00023"]
    hashed = assign_splits("m3fd", m3fd, "hash")
    for role, pairs in hashed.roles.items():
        for p in pairs:
            k = zlib.crc32(p.id.encode()) % 10
            assert role == ("train" if k < 7 else "val" if k == 7 else "test")
    with pytest.raises(InputError, match="no train/val/test split"):
        assign_splits("m3fd", m3fd, "native")

    llvip = DATASETS.get("llvip")(llvip_replica)
    lplan = assign_splits("llvip", llvip)
    assert lplan.name == "native" and lplan.folders["val"] == "test" and lplan.roles["val"] == lplan.roles["test"]
    assert len(lplan.roles["train"]) == 6 and len(lplan.roles["test"]) == 2

    folder = tmp_path / "split"
    folder.mkdir()
    (folder / "train.txt").write_text("00000\n00001\n00002\n")
    (folder / "test.txt").write_text("# a comment\n00003\n")
    fplan = assign_splits("m3fd", m3fd, str(folder))
    assert [len(fplan.roles[r]) for r in ("train", "val", "test")] == [3, 1, 1] and fplan.unassigned == 20
    (folder / "val.txt").write_text("00001\n")
    with pytest.raises(InputError, match="also in the"):
        assign_splits("m3fd", m3fd, str(folder))
    with pytest.raises(InputError, match="not 'default'"):
        assign_splits("m3fd", m3fd, str(tmp_path / "nowhere"))
    assert [p.id for p in limit_pairs(plan.roles["test"], 3)] == [plan.roles["test"][i].id for i in (0, 3, 6)]


def test_prepare_writes_exact_labels(m3fd_replica: Path, tmp_path: Path) -> None:
    reader = DATASETS.get("m3fd")(m3fd_replica)
    fused = _fused(reader, tmp_path / "fused")
    plan = assign_splits("m3fd", reader)
    classes = reader.classes
    prep = prepare(dataset="m3fd", reader=reader, classes=classes, fused=fused, out=tmp_path / "yolo", plan=plan)
    data = yaml.safe_load(prep.data_yaml.read_text())
    assert data["nc"] == 6 and data["names"] == dict(enumerate(classes))
    for role in ("train", "val", "test"):
        folder = Path(data[role])
        assert folder.is_absolute() and folder == tmp_path / "yolo" / "images" / role
        assert sorted(p.stem for p in folder.iterdir()) == [p.id for p in plan.roles[role]]
        assert prep.splits[role].images == len(plan.roles[role])
    total = 0
    for p in plan.roles["train"]:
        img = tmp_path / "yolo" / "images" / "train" / f"{p.id}.png"
        assert img.resolve() == (fused / f"{p.id}.png").resolve()  # the fused image, not the visible one
        ann = read_voc_xml(p.label)
        lines = (tmp_path / "yolo" / "labels" / "train" / f"{p.id}.txt").read_text().splitlines()
        assert len(lines) == len(ann.objects)
        for line, o in zip(lines, ann.objects, strict=True):
            yb = YoloBox.parse(line)
            assert classes[yb.cls] == o.name
            assert yolo_to_voc(yb.cx, yb.cy, yb.w, yb.h, *SIZE) == (o.xmin, o.ymin, o.xmax, o.ymax)
            total += 1
    assert total == sum(prep.splits["train"].boxes.values()) > 0
    rec = prep.record()
    assert rec["input"] == "fused" and rec["split"]["name"] == "m3fd-voc2coco" and rec["dropped_difficult"] == 0


def test_prepare_visible_copy_and_frozen_class_map(llvip_replica: Path, tmp_path: Path) -> None:
    reader = DATASETS.get("llvip")(llvip_replica)
    plan = assign_splits("llvip", reader)
    coco = ["bicycle", "person", "car"]
    cmap = ClassMap.onto(reader.classes, coco)
    assert cmap.ids == {"person": 1} and cmap.names == coco
    prep = prepare(
        dataset="llvip",
        reader=reader,
        classes=reader.classes,
        fused=None,
        out=tmp_path / "yolo",
        plan=plan,
        roles=("test",),
        class_map=cmap,
        link="copy",
    )
    data = yaml.safe_load(prep.data_yaml.read_text())
    assert data["names"] == dict(enumerate(coco)) and Path(data["test"]).name == "test"
    imgs = sorted((tmp_path / "yolo" / "images" / "test").iterdir())
    assert [p.stem for p in imgs] == [p.id for p in plan.roles["test"]] and not imgs[0].is_symlink()
    assert imgs[0].read_bytes() == plan.roles["test"][0].vis.read_bytes()  # visible images when fused is None
    labels = (tmp_path / "yolo" / "labels" / "test").glob("*.txt")
    assert {line.split()[0] for f in labels for line in f.read_text().splitlines()} == {"1"}
    assert ClassMap.onto(("People", "Car", "Lamp"), ["person", "car"]).unmapped == ["Lamp"]
    with pytest.raises(InputError, match="include none"):
        ClassMap.onto(("Lamp",), ["person"])


def test_missing_fused_image_is_named(m3fd_replica: Path, tmp_path: Path) -> None:
    reader = DATASETS.get("m3fd")(m3fd_replica)
    fused = _fused(reader, tmp_path / "fused", skip="00004")
    with pytest.raises(InputError) as err:
        DetectionTask().run(dataset="m3fd", root=m3fd_replica, fused=fused, out=tmp_path / "run", epochs=1)
    msg = str(err.value)
    assert "'00004'" in msg and str(fused) in msg and "\n" not in msg
    with pytest.raises(InputError, match="fused-image folder not found"):
        DetectionTask().run(dataset="m3fd", root=m3fd_replica, fused=tmp_path / "nope", out=tmp_path / "run")


def test_wrong_size_fused_and_bad_class(m3fd_replica: Path, tmp_path: Path) -> None:
    reader = DATASETS.get("m3fd")(m3fd_replica)
    fused = _fused(reader, tmp_path / "fused", size=(64, 48))
    plan = assign_splits("m3fd", reader)
    with pytest.raises(InputError, match="fuse at the source size"):
        prepare(dataset="m3fd", reader=reader, classes=reader.classes, fused=fused, out=tmp_path / "y", plan=plan)
    with pytest.raises(InputError, match="not one of m3fd's classes"):
        prepare(dataset="m3fd", reader=reader, classes=("People",), fused=None, out=tmp_path / "y", plan=plan)


def test_real_m3fd_samples_with_published_fused_images(shared_data: Path, tmp_path: Path) -> None:
    """The 10 real pairs under the shipped split; SAGE's 3 published fused images cover only some of them."""
    reader = DATASETS.get("m3fd")(shared_data / "m3fd")
    plan = assign_splits("m3fd", reader)
    assert {r: [p.id for p in v] for r, v in plan.roles.items()} == {
        "train": ["00000", "00001", "00004", "00005", "00471", "00512", "01670", "03878"],
        "val": ["00002", "00003"],  # no val ids among the samples: validation reuses test
        "test": ["00002", "00003"],
    }
    prep = prepare(dataset="m3fd", reader=reader, classes=reader.classes, fused=None, out=tmp_path / "y", plan=plan)
    assert sum(sum(s.boxes.values()) for s in prep.splits.values()) == 106 and prep.clipped_boxes == 0
    with pytest.raises(InputError, match="no fused image for pair '00004'.*and 6 more"):
        prepare(
            dataset="m3fd",
            reader=reader,
            classes=reader.classes,
            fused=shared_data / "fused" / "SAGE" / "m3fd",
            out=tmp_path / "y2",
            plan=plan,
        )


def test_settings_validation() -> None:
    s = _settings("quick", {"epochs": "3", "imgsz": 64, "limit": 5, "amp": "false", "split": "hash"})
    assert s["epochs"] == 3 and s["imgsz"] == 64 and s["limit"] == 5 and s["split"] == "hash" and s["amp"] is False
    assert s["steps"] == 300 and _epochs({**s, "epochs": None}, 71) == 300 // 9 + 1  # 9 batches of 8 per epoch
    assert _epochs({**s, "epochs": None, "batch": 16, "nbs": 64}, 64) == 300  # 4 batches = 1 step per epoch
    assert _epochs(s, 71) == 3  # epochs, when set, win
    with pytest.raises(IvifError, match="unknown detection setting 'epoch'"):
        _settings("quick", {"epoch": 3})
    with pytest.raises(InputError, match="multiple of 32"):
        _settings("quick", {"imgsz": 100})
    with pytest.raises(InputError, match="batch: Input should be greater than or equal to 1"):
        _settings("quick", {"batch": 0})
    with pytest.raises(InputError, match="needs weights=PATH"):
        _settings("paper", {})
    with pytest.raises(InputError, match="needs weights=PATH"):
        _settings("frozen", {})
    with pytest.raises(
        IvifError, match=r"unknown detection setting 'epochs' for protocol 'frozen' \(accepted: .*weights"
    ):
        _settings("frozen", {"epochs": 1, "weights": "x.pt"})


def test_weights_must_be_local(m3fd_replica: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="never downloads"):
        DetectionTask().run(
            dataset="m3fd", root=m3fd_replica, fused=None, out=tmp_path, protocol="frozen", weights="yolov8n.pt"
        )
    with pytest.raises(IvifError, match="no protocol 'fast'"):
        DetectionTask().run(dataset="m3fd", root=m3fd_replica, fused=None, out=tmp_path, protocol="fast")
    with pytest.raises(IvifError, match="does not support dataset 'msrs'"):
        DetectionTask().run(dataset="msrs", root=m3fd_replica, fused=None, out=tmp_path)


def test_ultralytics_does_not_change_how_the_process_reads_images(tmp_path: Path) -> None:
    """ultralytics patches PIL.Image.open on import (a bad file → it tries to install pi-heif); we undo that, so a bad
    image after a detection run in the same process is still a plain UnidentifiedImageError."""
    import subprocess
    import sys

    from PIL import UnidentifiedImageError

    from ivifbench.tasks.detection.offline import setup_offline

    setup_offline()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(UnidentifiedImageError):
        Image.open(bad)
    # nor how arrays print (ultralytics sets a "{:11.5g}" NumPy format on import): checked in a fresh interpreter
    code = (
        "import numpy as np, torch; a = repr(np.array([0.5, 1.0])); t = repr(torch.tensor([0.123456789]));"
        "from ivifbench.tasks.detection.offline import setup_offline; setup_offline();"
        "print(a == repr(np.array([0.5, 1.0])), t == repr(torch.tensor([0.123456789])))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split() == ["True", "True"], out.stderr[-2000:]
