"""``DetectionTask``: what is a fused image worth to an object detector? ultralytics YOLO on M3FD (6 classes) and LLVIP.

One run (one method, one seed, self-contained): prepare the fused images and VOC boxes as a YOLO dataset
(:mod:`~ivifbench.tasks.detection.prepare`), train ultralytics YOLO on ``train`` (validating on ``val``), evaluate the
``test`` split, and write ``out/metrics.json`` beside the ultralytics run folders (``out/ultralytics/{train,eval}``).
Everything runs offline (:mod:`~ivifbench.tasks.detection.offline`).

Metrics (fractions in [0, 1], higher is better): ``mAP50``, ``mAP50_95``, ``precision``, ``recall`` — ultralytics'
means over the classes that have boxes in the evaluated split — and per class ``AP50/<class>``, ``AP50_95/<class>`` for
those classes (``details["absent_classes"]`` names the others).

Protocols (:data:`PROTOCOLS`):

* ``quick``: YOLOv8n from its yaml (random init), CPU, on a synthetic replica (``DATASETS.get("m3fd").synthesize``);
  160 px, batch 8 with one optimiser step per batch (``nbs = batch``), AdamW lr 0.002, one warm-up epoch, no mosaic,
  a budget of 300 optimiser steps (epochs = ceil(300 / batches per epoch), so a small replica trains more epochs);
  the final weights are evaluated. Learns the warm-object replica within minutes on two cores (README); shrink it
  with ``steps``/``epochs``/``imgsz``/``limit`` for smoke runs.
* ``paper``: fine-tune the YOLOv8/YOLO11 checkpoint the user names (``weights=PATH``, e.g. COCO ``yolov8s.pt``) at
  the published input size, 640 px, for 100 epochs (ultralytics' default fine-tuning length; the IVIF papers do not
  publish theirs), batch 16, SGD lr 0.01 momentum 0.937 (pinned: ultralytics 8.4's
  ``optimizer=auto`` would pick MuSGD), 3 warm-up epochs, mosaic with the last 10 epochs without, AMP on GPU; the
  checkpoint with the best validation fitness is evaluated.
* ``frozen``: no training; evaluate a trained detector (``weights=PATH``, ``{seed}`` in the path is replaced by the
  seed) on the fused test images. Dataset classes are matched to the detector's names case-insensitively (People →
  person); classes it lacks are left out and named in ``details``.

Overrides (``--set key=value``) are the fields of the protocol's settings model (:data:`PROTOCOLS`,
:mod:`~ivifbench.tasks.detection.settings`); all are recorded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ivifbench.errors import InputError
from ivifbench.tasks.base import Evaluation, Task, TaskRun
from ivifbench.tasks.detection.settings import DetectionFrozen, DetectionPaper, DetectionQuick, DetectionSettings
from ivifbench.tasks.settings import TaskSettings, settings_help

__all__ = ["PROTOCOLS", "RUN_OPTIONS", "DetectionTask"]

PROTOCOLS: dict[str, type[TaskSettings]] = {"quick": DetectionQuick, "paper": DetectionPaper, "frozen": DetectionFrozen}
RUN_OPTIONS: dict[str, str] = settings_help(DetectionSettings)  # the keys every protocol has

_M3FD = ("People", "Car", "Bus", "Motorcycle", "Lamp", "Truck")
_LLVIP = ("person",)


@dataclass
class _Data:
    prepared: Any  # PreparedDataset
    plan: Any  # SplitPlan
    classes: tuple[str, ...]
    class_map: Any  # ClassMap | None (frozen: dataset classes onto the detector's)
    roles: tuple[str, ...]
    settings: dict[str, Any]  # the settings as a plain dict, weights resolved, epochs filled in


class DetectionTask(Task):
    """Object detection on fused images with ultralytics YOLO, scored with ultralytics' mAP."""

    name: ClassVar[str] = "detection"
    datasets: ClassVar[tuple[str, ...]] = ("m3fd", "llvip")
    protocols: ClassVar[Mapping[str, type[TaskSettings]]] = PROTOCOLS
    version: ClassVar[str] = "1"
    headline: ClassVar[tuple[str, ...]] = ("mAP50", "mAP50_95")
    metric_directions: ClassVar[dict[str, bool]] = dict.fromkeys(
        ("mAP50", "mAP50_95", "precision", "recall", "AP50", "AP50_95"), True
    )
    packages: ClassVar[tuple[str, ...]] = ("ultralytics", "torch", "numpy")

    def prepare(self, run: TaskRun) -> _Data:
        from ivifbench.datasets import DATASETS
        from ivifbench.tasks.detection import engine
        from ivifbench.tasks.detection.prepare import ClassMap, assign_splits, limit_pairs, prepare

        s = run.settings.model_dump()
        if s.get("weights"):
            s["weights"] = engine.local_weights(str(s["weights"]).replace("{seed}", str(run.seed)))
        classes = tuple(DATASETS.get(run.dataset).classes) or (_M3FD if run.dataset == "m3fd" else _LLVIP)
        plan = assign_splits(run.dataset, run.reader, str(s["split"]))
        for role in plan.roles:
            plan.roles[role] = limit_pairs(plan.roles[role], s["limit"])
        training = run.protocol != "frozen"
        roles = ("train", "val", s["eval_split"]) if training else (s["eval_split"],)
        class_map = None if training else ClassMap.onto(classes, engine.checkpoint_names(s["weights"]))
        prepared = prepare(
            dataset=run.dataset,
            reader=run.reader,
            classes=classes,
            fused=run.images,
            out=run.out / "data",
            plan=plan,
            roles=tuple(dict.fromkeys(roles)),
            class_map=class_map,
            keep_difficult=bool(s["keep_difficult"]),
            link=str(s["link"]),
        )
        if training:
            s["epochs"] = _epochs(s, prepared.splits[plan.folders["train"]].images)
        return _Data(prepared, plan, classes, class_map, tuple(dict.fromkeys(roles)), s)

    def train(self, run: TaskRun, data: _Data) -> dict[str, Any]:
        from ivifbench.tasks.detection import engine

        if run.protocol == "frozen":
            return {}
        return engine.train(
            data_yaml=data.prepared.data_yaml,
            project=run.out / "ultralytics",
            settings=data.settings,
            seed=run.seed,
            device=engine.resolve_device(run.device),
            on_epoch=lambda done, total: run.tick("epoch", done, total),
        )

    def evaluate(self, run: TaskRun, data: _Data, trained: dict[str, Any]) -> Evaluation:
        from ivifbench.tasks.detection import engine

        s, plan = data.settings, data.plan
        if trained:
            weights = trained["best"] if s.get("select") == "best" else trained["last"]
        else:
            weights = s["weights"]
        eval_split = s["eval_split"]
        eval_boxes = data.prepared.splits[plan.folders[eval_split]].boxes
        eval_classes = [n for n in data.prepared.class_map.names if eval_boxes.get(n)]
        metrics, ev = engine.evaluate(
            weights=weights,
            data_yaml=data.prepared.data_yaml,
            split=eval_split,
            project=run.out / "ultralytics",
            settings=s,
            device=engine.resolve_device(run.device),
            eval_classes=eval_classes,
        )
        class_map = data.class_map
        if class_map is not None:  # frozen: report under the dataset's class names
            back = {class_map.names[i]: c for c, i in class_map.ids.items()}
            metrics = {_rename(k, back): v for k, v in metrics.items()}
            eval_classes = [back.get(c, c) for c in eval_classes]
        training = bool(trained)
        n = {"eval_images": len(plan.roles[eval_split]), "eval_boxes": int(sum(eval_boxes.values()))}
        if training:
            n["train_images"] = len(plan.roles["train"])
        details: dict[str, Any] = {
            "classes": list(data.classes),
            "evaluated_classes": eval_classes,
            "absent_classes": [c for c in data.classes if c not in eval_classes],
            "metric_convention": (
                "ultralytics DetectionValidator: COCO-style 101-point interpolated AP at IoU 0.50 and 0.50:0.95 "
                f"(not pycocotools), conf={s['conf']}, iou(NMS)={s['iou']}, means over the classes with boxes in the "
                "evaluated split"
            ),
            "dataset_prep": data.prepared.record(),
            "split": plan.name,
            "split_files": plan.files,
            "images": {role: len(plan.roles[role]) for role in data.roles},
            "eval_boxes": dict(eval_boxes),
            "train_split": "train" if training else None,
            "val_split": plan.folders["val"] if training else None,
            "eval_split": eval_split,
            "weights_evaluated": str(weights),
            "init_weights": str(s["weights"]) if s.get("weights") else None,
            "model": s.get("model"),
            "frozen_class_map": class_map.ids if class_map is not None else None,
            "epochs_run": trained.get("epochs_run"),
            "amp": trained.get("amp", False),
            "ultralytics_dirs": {"train": str(trained["save_dir"]) if trained else None, "eval": ev["save_dir"]},
            "speed_ms_per_image": ev["speed_ms_per_image"],
        }
        splits = {
            "train": plan.folders["train"] if training else None,
            "val": plan.folders["val"] if training else None,
            "eval": plan.folders[eval_split],
        }
        return Evaluation(metrics, n, details, splits, {"train": trained.get("train_s", 0.0), "eval": ev["eval_s"]})


def _epochs(s: Mapping[str, Any], n_train: int) -> int:
    """The epochs to train: as set, or enough for ``steps`` optimiser steps (one per batch, ``nbs = batch``)."""
    if s.get("epochs"):
        return int(s["epochs"])
    if not s.get("steps"):
        raise InputError("set epochs=N or steps=N")
    batches = math.ceil(n_train / int(s["batch"]))
    accumulate = max(round((s.get("nbs") or s["batch"]) / s["batch"]), 1)  # ultralytics steps every nbs/batch batches
    return max(1, math.ceil(int(s["steps"]) * accumulate / batches))


def _rename(key: str, back: dict[str, str]) -> str:
    head, sep, cls = key.partition("/")
    return f"{head}/{back.get(cls, cls)}" if sep else key
