"""Segmentation task: class lists and label handling, prepare on a replica, quick end to end, checkpoint reload, errors."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ivifbench.datasets import DATASETS
from ivifbench.datasets.labels import read_label_map
from ivifbench.errors import InputError, IvifError
from ivifbench.tasks import TASKS
from ivifbench.tasks.inputs import InputImages
from ivifbench.tasks.segmentation.classes import class_spec
from ivifbench.tasks.segmentation.engine import class_weights
from ivifbench.tasks.segmentation.prepare import prepare
from ivifbench.tasks.segmentation.task import PROTOCOLS, SegmentationTask

MSRS_PALETTE = DATASETS.get("msrs").palette
FMB_PALETTE = DATASETS.get("fmb").palette
MSRS_CLASSES = ("unlabelled", "car", "person", "bike", "curve", "car_stop", "guardrail", "color_cone", "bump")


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smallest MSRS replica that still has every class in train and test: 4 pairs (3 train, 1 test), 64×48."""
    return DATASETS.get("msrs").synthesize(tmp_path_factory.mktemp("msrs"), pairs=4, seed=0, size=(64, 48))


# ------------------------------------------------------------------------------------------------ classes & labels


def test_msrs_classes_and_palette(shared_data: Path) -> None:
    spec = class_spec("msrs")
    assert spec.names == MSRS_CLASSES and spec.num_classes == 9 and not spec.assumed
    with (shared_data / "msrs" / "class_list_segmentation.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == list(spec.names)
    assert [tuple(int(r[f"palette_{c}"]) for c in "rgb") for r in rows] == list(spec.palette) == list(MSRS_PALETTE)
    assert spec.ignore_index == 255 and spec.source_ignore == 255


def test_fmb_classes_assumed_and_background_policy() -> None:
    spec = class_spec("fmb")
    assert spec.num_classes == 15 and spec.assumed and spec.names[0] == "background" and spec.names[-1] == "Pole"
    assert spec.palette == FMB_PALETTE and len(set(spec.palette)) == 15
    ign = class_spec("fmb", background="ignore")
    assert ign.num_classes == 14 and ign.names[0] == "Road"
    ids = ign.to_train_ids(np.array([[0, 1, 14, 255]]))
    assert ids.tolist() == [[255, 0, 13, 255]]
    with pytest.raises(InputError, match="background must be"):
        class_spec("fmb", background="drop")
    with pytest.raises(InputError, match="no segmentation labels"):
        class_spec("tno")


def test_labels_are_integers_never_scaled(tmp_path: Path) -> None:
    spec = class_spec("msrs")
    ids = np.array([[0, 1, 2], [7, 8, 255]], dtype=np.uint8)
    grey = tmp_path / "grey.png"
    Image.fromarray(ids).save(grey)
    pal = tmp_path / "pal.png"
    p = Image.fromarray(ids, mode="P")
    p.putpalette([v for c in MSRS_PALETTE for v in c] + [0] * (768 - 27))
    p.save(pal)
    wide = tmp_path / "wide.png"
    Image.fromarray(ids.astype(np.uint16)).save(wide)  # 16-bit grey: same ids, not rescaled
    for path in (grey, pal, wide):
        got = read_label_map(path)
        assert got.dtype == np.int64 and got.tolist() == ids.astype(np.int64).tolist()
        assert spec.to_train_ids(got).tolist() == ids.tolist()  # 255 stays the ignore value
    scaled = ids.astype(np.int64) * 28  # a label saved "for viewing" (ids × 28) is refused, not silently wrong
    scaled[1, 2] = 255
    with pytest.raises(InputError, match=r"label ids \[28, 56, 196, 224\] are not msrs classes"):
        spec.to_train_ids(scaled, where="viewer.png")
    with pytest.raises(InputError, match="must be integers"):
        spec.to_train_ids(np.zeros((2, 2), dtype=np.float32))


def test_class_weights() -> None:
    assert class_weights(None, [10, 10]) is None
    w = class_weights("balanced", [900, 100, 0])
    assert w is not None and w[0] < 1 < w[1] and w[2] == 1.0
    assert class_weights([1, 2], [5, 5]) == [1.0, 2.0]
    with pytest.raises(InputError, match="2 values for 3 classes"):
        class_weights([1, 2], [1, 1, 1])
    with pytest.raises(InputError, match="class_weight must be"):
        class_weights("inverse", [1, 1])


# ------------------------------------------------------------------------------------------------ prepare


def test_prepare_replica_with_fused_folders(replica: Path, tmp_path: Path) -> None:
    reader = DATASETS.get("msrs")(replica)
    spec = class_spec("msrs")
    # a grey "fused" method in the sweep's split layout
    fused = tmp_path / "fused"
    for pair in reader.pairs():
        (fused / pair.split).mkdir(parents=True, exist_ok=True)
        grey = np.asarray(Image.open(pair.ir).convert("L"))
        Image.fromarray(grey).save(fused / pair.split / f"{pair.id}.png")
    prepared = prepare(reader, fused, tmp_path / "data", spec)
    assert {s: len(p.ids) for s, p in prepared.items()} == {"train": 3, "test": 1}
    for split, p in prepared.items():
        assert p.absent == [], f"replica {split} lacks classes {p.absent}"
        img = Image.open(p.img_dir / f"{p.ids[0]}.png")
        assert img.mode == "RGB" and img.size == (64, 48)
        label = read_label_map(p.ann_dir / f"{p.ids[0]}.png")
        src = read_label_map(reader.root / split / "Segmentation_labels" / f"{p.ids[0]}.png")
        assert np.array_equal(label, src)
    meta = json.loads((tmp_path / "data" / "classes.json").read_text())
    assert meta["names"] == list(MSRS_CLASSES) and meta["input"] == "fused" and meta["ignore_index"] == 255
    # a flat fused folder works too; a missing image or a wrong size is one clear error
    pair = reader.pairs("test")[0]
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(flat / f"{pair.id}.png")
    assert InputImages.of(flat).path(reader, pair) == flat / f"{pair.id}.png"
    with pytest.raises(InputError, match="no fused image for pair"):
        prepare(reader, flat, tmp_path / "d2", spec)
    Image.fromarray(np.zeros((40, 64), np.uint8)).save(fused / "test" / f"{pair.id}.png")
    with pytest.raises(InputError, match="must keep the pair's size"):
        prepare(reader, fused, tmp_path / "d3", spec, splits=("test",))


def test_prepare_fmb_replica_has_15_classes(tmp_path: Path) -> None:
    root = DATASETS.get("fmb").synthesize(tmp_path / "fmb", pairs=4, seed=0, size=(64, 48))
    spec = class_spec("fmb")
    prepared = prepare(DATASETS.get("fmb")(root), None, tmp_path / "data", spec)
    assert all(len(p.pixels) == 15 and p.absent == [] for p in prepared.values())
    meta = json.loads((tmp_path / "data" / "classes.json").read_text())
    assert meta["assumed"] is True and meta["num_classes"] == 15 and meta["input"] == "visible"


# ------------------------------------------------------------------------------------------------ end to end


def test_registered_and_directions() -> None:
    assert TASKS.get("segmentation") is SegmentationTask
    assert SegmentationTask.datasets == ("msrs", "fmb")
    direction = SegmentationTask.direction
    assert direction("mIoU") and direction("aAcc") and direction("mAcc") and direction("IoU/car")
    assert direction("IoU/Pole") and direction("Acc/bike") and all(SegmentationTask.metric_directions.values())
    assert SegmentationTask.headline == ("mIoU",)


def test_quick_end_to_end_then_reload_checkpoint(replica: Path, tmp_path: Path) -> None:
    """Smallest path: 2 iterations, batch 2, 48×48 crops on the 64×48 replica, then evaluation of the saved checkpoint."""
    small = {"iters": 2, "batch": 2, "crop": 48, "warmup": 1, "log_interval": 1}
    result = SegmentationTask().run(
        dataset="msrs", root=replica, fused=None, out=tmp_path / "run", protocol="quick", seed=1, **small
    )
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["metrics"] == pytest.approx(result.metrics)
    m = result.metrics
    for key in ("mIoU", "aAcc", "mAcc"):
        assert 0.0 <= m[key] <= 1.0
    d = result.details
    per_class = {k.split("/", 1)[1] for k in m if k.startswith("IoU/")}
    assert per_class == set(d["counted_classes"]) and per_class | set(d["nan_classes"]) == set(MSRS_CLASSES)
    assert math.isclose(m["mIoU"], np.mean([m[f"IoU/{c}"] for c in per_class]))
    assert d["absent_classes"] == [] and d["ignore_index"] == 255 and d["class_order_assumed"] is False
    assert d["protocol_settings"]["variant"] == "b0" and d["protocol_settings"]["iters"] == 2
    assert d["overrides"]["crop"] == 48 and d["versions"]["mmsegmentation"] == "1.2.2"
    assert d["areas"]["label"][0] > 0 and d["final_loss"] is not None and math.isfinite(d["final_loss"])
    ckpt = Path(d["checkpoint"])
    assert ckpt.is_file()

    from ivifbench.networks.mmseg_compat import load_checkpoint

    saved = load_checkpoint(ckpt)  # weights_only=True
    assert saved["meta"]["iter"] == 2 and tuple(saved["meta"]["dataset_meta"]["classes"]) == MSRS_CLASSES

    again = SegmentationTask().run(
        dataset="msrs", root=replica, fused=None, out=tmp_path / "eval", seed=1, iters=0, checkpoint=str(ckpt)
    )
    assert again.metrics == pytest.approx(result.metrics, abs=1e-12)
    assert again.details["init_checkpoint"] == str(ckpt) and again.details["checkpoint"] is None


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"dataset": "m3fd"}, IvifError, "does not support dataset 'm3fd'"),
        ({"protocol": "fast"}, IvifError, "no protocol 'fast'"),
        ({"epochs": 3}, IvifError, "unknown segmentation setting 'epochs'"),
        ({"crop": "big"}, InputError, "crop must be"),
        ({"crop": 16}, InputError, "at least 32"),
        ({"batch": 0}, InputError, "batch: Input should be greater than or equal to 1"),
        ({"lr": -1}, InputError, "lr: Input should be greater than or equal to 0"),
        ({"ratio_range": [2, 1]}, InputError, "ratio_range"),
        ({"limit": 0}, InputError, "limit: Input should be greater than or equal to 1"),
        ({"iters": 0}, InputError, "pass checkpoint=PATH"),
        ({"checkpoint": "nowhere/{seed}.pth"}, InputError, "nowhere/0.pth: checkpoint not found"),
        ({"protocol": "paper"}, InputError, "pass pretrained=PATH"),
        ({"protocol": "paper", "pretrained": "https://x/mit_b3.pth"}, InputError, "local .pth"),
        ({"fused": "no/such/folder"}, InputError, "fused-image folder not found"),
        ({"root": "no/such/root"}, InputError, "not found"),
    ],
)
def test_bad_inputs(replica: Path, tmp_path: Path, kwargs: dict, error: type, match: str) -> None:
    args = {"dataset": "msrs", "root": replica, "fused": None, "out": tmp_path / "out", "protocol": "quick", "seed": 0}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        SegmentationTask().run(**args)


def _defaults(protocol: str) -> dict:
    return {k: f.default for k, f in PROTOCOLS[protocol].model_fields.items()}


def test_protocols_are_documented() -> None:
    assert _defaults("quick")["variant"] == "b0" and _defaults("quick")["pretrained"] is None
    paper = _defaults("paper")
    assert paper["variant"] == "b3" and paper["crop"] == (512, 512) and paper["iters"] == 160000
    assert paper["lr"] == 6e-5 and paper["head_lr_mult"] == 10.0 and paper["batch"] == 16


@pytest.mark.slow
def test_quick_protocol_reaches_half_miou(tmp_path: Path) -> None:
    """The quick protocol as documented: SegFormer-B0 from scratch on the reference replica, mIoU >= 0.5."""
    root = DATASETS.get("msrs").synthesize(tmp_path / "msrs", pairs=48, seed=0, size=(256, 192))
    result = SegmentationTask().run(dataset="msrs", root=root, fused=None, out=tmp_path / "run", seed=0)
    assert result.details["protocol_settings"]["iters"] == _defaults("quick")["iters"]
    assert result.metrics["mIoU"] >= 0.5, result.metrics
