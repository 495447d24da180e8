"""DetectionTask end to end, offline: the quick protocol at toy size, then the frozen protocol on its checkpoint.

The frozen runs evaluate the M3FD checkpoint on M3FD and on LLVIP (its People class is LLVIP's person).

Both run in one fresh Python process with every socket entry point replaced by a recorder that refuses, and with an
empty ``IVIFBENCH_HOME`` (so ultralytics' config, settings and fonts are created from nothing, as on a first run): the
test asserts that nothing tried to connect. The quick protocol's learning (mAP50 >= 0.5 on the replica within minutes)
is the slow test at the end.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ivifbench.datasets import DATASETS

CHILD = textwrap.dedent(
    """
    import json, socket, sys
    attempts = []

    def _refuse(name):
        def refuse(*args, **kwargs):
            attempts.append([name, repr(args[:2])])
            raise OSError(f"network disabled in test ({name})")
        return refuse

    socket.socket.connect = _refuse("connect")
    socket.socket.connect_ex = _refuse("connect_ex")
    socket.create_connection = _refuse("create_connection")
    socket.getaddrinfo = _refuse("getaddrinfo")
    socket.gethostbyname = _refuse("gethostbyname")

    from pathlib import Path
    import torch
    torch.set_num_threads(2)
    from ivifbench.tasks.detection import DetectionTask

    root, fused, out, llvip = (Path(a) for a in sys.argv[1:5])
    small = dict(imgsz=64, batch=4)
    quick = DetectionTask().run(
        dataset="m3fd", root=root, fused=fused, out=out / "quick", protocol="quick", seed=0, epochs=2, **small
    )
    weights = Path(quick.details["weights_evaluated"])
    frozen = DetectionTask().run(
        dataset="m3fd", root=root, fused=fused, out=out / "frozen", protocol="frozen", seed=0,
        weights=str(weights), **small
    )
    cross = DetectionTask().run(  # the M3FD detector on LLVIP's visible test images: People is LLVIP's person
        dataset="llvip", root=llvip, fused=None, out=out / "llvip", protocol="frozen", seed=0,
        weights=str(weights), **small
    )
    (out / "attempts.json").write_text(json.dumps(attempts))
    """
)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("det")
    root = DATASETS.get("m3fd").synthesize(base / "m3fd", pairs=24, seed=0, size=(128, 96))
    fused = base / "fused"
    fused.mkdir()
    for p in DATASETS.get("m3fd")(root).pairs():  # a stand-in method: the mean of IR and visible
        ir = np.asarray(Image.open(p.ir).convert("RGB"), dtype=np.float32)
        vis = np.asarray(Image.open(p.vis).convert("RGB"), dtype=np.float32)
        Image.fromarray(((ir + vis) / 2).astype(np.uint8)).save(fused / f"{p.id}.png")
    llvip = DATASETS.get("llvip").synthesize(base / "llvip", pairs=8, seed=0, size=(128, 96))
    out = base / "out"
    out.mkdir()
    home = base / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "ULTRALYTICS_"))}
    env.update(IVIFBENCH_HOME=str(home), OMP_NUM_THREADS="2")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(fused), str(out), str(llvip)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {"out": out, "home": home, "root": root, "fused": fused}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _check_metrics(metrics: dict[str, float], classes: list[str]) -> None:
    for key in ("mAP50", "mAP50_95", "precision", "recall"):
        assert key in metrics
    for cls in classes:
        assert f"AP50/{cls}" in metrics and f"AP50_95/{cls}" in metrics
    assert len(metrics) == 4 + 2 * len(classes)
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in metrics.values()), metrics


def test_no_socket_opened(toy_run: dict[str, Any]) -> None:
    assert _load(toy_run["out"] / "attempts.json") == []
    cfg = toy_run["home"] / "ultralytics" / "Ultralytics"
    assert (cfg / "Arial.ttf").stat().st_size > 100_000 and (cfg / "Arial.Unicode.ttf").is_file()
    settings = _load(cfg / "settings.json")
    assert settings["sync"] is False and not any(settings[k] for k in ("clearml", "comet", "mlflow", "wandb", "dvc"))


def test_quick_protocol_end_to_end(toy_run: dict[str, Any]) -> None:
    out = toy_run["out"] / "quick"
    res = _load(out / "metrics.json")
    assert (res["task"], res["dataset"], res["protocol"], res["seed"]) == ("detection", "m3fd", "quick", 0)
    d = res["details"]
    assert d["evaluated_classes"] and set(d["evaluated_classes"]) | set(d["absent_classes"]) == set(d["classes"])
    _check_metrics(res["metrics"], d["evaluated_classes"])
    assert d["split"] == "m3fd-voc2coco" and d["split_files"]["train"].endswith("m3fd_train.txt")
    assert d["images"] == {"train": 12, "val": 2, "test": 10} and d["input"] == "fused"
    assert d["protocol_settings"]["epochs"] == 2 and d["protocol_settings"]["imgsz"] == 64
    assert d["overrides"] == {"epochs": 2, "imgsz": 64, "batch": 4}
    assert d["epochs_run"] == 2 and d["device"] == "cpu" and d["amp"] is False
    assert d["versions"]["ultralytics"].startswith("8.4")
    assert Path(d["weights_evaluated"]).is_file() and Path(d["ultralytics_dirs"]["train"]).is_dir()
    assert (out / "data" / "data.yaml").is_file()
    assert (
        res["schema"] == 2
        and res["input"] == "fused"
        and d["splits"] == {"train": "train", "val": "val", "eval": "test"}
    )
    assert res["n"]["eval_images"] == 10 and res["n"]["train_images"] == 12 and res["n"]["eval_boxes"] > 0
    assert any(n.startswith("small sample: 10 evaluated images") for n in res["notes"])


def test_frozen_protocol_reproduces_the_evaluation(toy_run: dict[str, Any]) -> None:
    quick = _load(toy_run["out"] / "quick" / "metrics.json")
    res = _load(toy_run["out"] / "frozen" / "metrics.json")
    d = res["details"]
    assert res["protocol"] == "frozen" and d["ultralytics_dirs"]["train"] is None and d["epochs_run"] is None
    assert d["weights_evaluated"] == quick["details"]["weights_evaluated"]
    assert d["images"] == {"test": 10} and d["frozen_class_map"] == {c: i for i, c in enumerate(d["classes"])}
    _check_metrics(res["metrics"], d["evaluated_classes"])
    assert res["metrics"] == pytest.approx(quick["metrics"], abs=1e-9)  # same checkpoint, same images, same numbers


def test_frozen_cross_dataset_class_map(toy_run: dict[str, Any]) -> None:
    res = _load(toy_run["out"] / "llvip" / "metrics.json")
    d = res["details"]
    assert d["frozen_class_map"] == {"person": 0} and d["classes"] == ["person"] and d["input"] == "visible"
    assert d["images"] == {"test": 2} and d["split"] == "native"
    _check_metrics(res["metrics"], ["person"])


@pytest.mark.slow
def test_quick_protocol_learns_the_replica(tmp_path: Path) -> None:
    """The full quick protocol on a 100-pair replica (71 train / 8 val / 21 test): mAP50 >= 0.5 (minutes on 2 cores)."""
    from ivifbench.tasks.detection import DetectionTask

    root = DATASETS.get("m3fd").synthesize(tmp_path / "m3fd", pairs=100, seed=0)
    res = DetectionTask().run(dataset="m3fd", root=root, fused=None, out=tmp_path / "out", protocol="quick")
    assert res.metrics["mAP50"] >= 0.5, res.metrics
    assert res.details["epochs_run"] == 34  # 300 steps / 9 batches of 8
