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
  publish theirs, ``specs/sage.md`` §7), batch 16, SGD lr 0.01 momentum 0.937 (pinned: ultralytics 8.4's
  ``optimizer=auto`` would pick MuSGD), 3 warm-up epochs, mosaic with the last 10 epochs without, AMP on GPU; the
  checkpoint with the best validation fitness is evaluated.
* ``frozen``: no training; evaluate a trained detector (``weights=PATH``, ``{seed}`` in the path is replaced by the
  seed) on the fused test images. Dataset classes are matched to the detector's names case-insensitively (People →
  person); classes it lacks are left out and named in ``details``.

Overrides (``--set key=value``) are the keys of the protocol's settings and :data:`RUN_OPTIONS`; all are recorded.
"""

from __future__ import annotations

import math
import platform
import time
from pathlib import Path
from typing import Any, ClassVar

from ivifbench.errors import InputError, IvifError
from ivifbench.seeding import THREADS_HELP
from ivifbench.tasks.base import Task, TaskResult

__all__ = ["PROTOCOLS", "RUN_OPTIONS", "DetectionTask"]

_QUICK: dict[str, Any] = {
    "model": "yolov8n.yaml",
    "weights": None,
    "epochs": None,  # None: from the step budget below
    "steps": 300,  # optimiser steps; epochs = ceil(steps / batches per epoch), so a small train split still learns
    "imgsz": 160,
    "batch": 8,
    "nbs": None,  # None: = batch (no gradient accumulation, so short runs get enough optimiser steps)
    "optimizer": "AdamW",
    "lr0": 0.002,
    "lrf": 0.01,
    "momentum": 0.9,
    "weight_decay": 0.0005,
    "warmup_epochs": 1.0,
    "mosaic": 0.0,
    "close_mosaic": 0,
    "patience": 100,
    "workers": 0,
    "cache": False,
    "amp": False,
    "val_each_epoch": False,
    "select": "last",
    "conf": 0.001,
    "iou": 0.7,
}

PROTOCOLS: dict[str, dict[str, Any]] = {
    "quick": _QUICK,
    "paper": {
        "model": None,  # the architecture comes from the checkpoint; a yaml here builds it and loads the weights
        "weights": None,  # required: a local pretrained .pt (yolov8n/s/m/l/x.pt, yolo11n/s/m/l/x.pt)
        "epochs": 100,
        "imgsz": 640,
        "batch": 16,
        "nbs": 64,
        "optimizer": "SGD",
        "lr0": 0.01,
        "lrf": 0.01,
        "momentum": 0.937,
        "weight_decay": 0.0005,
        "warmup_epochs": 3.0,
        "mosaic": 1.0,
        "close_mosaic": 10,
        "patience": 100,
        "workers": 8,
        "cache": False,
        "amp": True,
        "val_each_epoch": True,
        "select": "best",
        "conf": 0.001,
        "iou": 0.7,
    },
    "frozen": {
        "weights": None,  # required: the trained detector to evaluate
        "imgsz": 640,
        "batch": 16,
        "workers": 0,
        "conf": 0.001,
        "iou": 0.7,
    },
}

RUN_OPTIONS: dict[str, str] = {
    "threads": THREADS_HELP,
    "split": "default | m3fd-voc2coco | native | hash | FOLDER with train/val/test.txt (see prepare.py)",
    "eval_split": "the split evaluated at the end: 'test' (default) or 'val'",
    "limit": "use at most N pairs of each split, spread evenly (smoke runs)",
    "keep_difficult": "keep VOC difficult boxes (default false: dropped, as ultralytics' VOC conversion does)",
    "link": "'symlink' (default) or 'copy' the images into the YOLO dataset",
    "device": "cpu | 0 | cuda:0 | auto (default: auto; the quick protocol defaults to cpu)",
}

_INTS = ("epochs", "steps", "imgsz", "batch", "nbs", "close_mosaic", "patience", "workers", "limit")
_FLOATS = ("lr0", "lrf", "momentum", "weight_decay", "warmup_epochs", "mosaic", "conf", "iou")
_POSITIVE = ("epochs", "steps", "imgsz", "batch", "nbs", "limit")
_BOOLS = ("amp", "val_each_epoch", "keep_difficult")

_M3FD = ("People", "Car", "Bus", "Motorcycle", "Lamp", "Truck")
_LLVIP = ("person",)


def _directions() -> dict[str, bool]:
    out = dict.fromkeys(("mAP50", "mAP50_95", "precision", "recall"), True)
    for cls in (*_M3FD, *_LLVIP):
        out[f"AP50/{cls}"] = True
        out[f"AP50_95/{cls}"] = True
    return out


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InputError(f"{key} must be true or false, got {value!r}")


def _as_int(key: str, value: Any, minimum: int) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not number.is_integer() or number < minimum:
        kind = "positive" if minimum > 0 else "non-negative"
        raise InputError(f"{key} must be a {kind} integer, got {value!r}")
    return int(number)


def _settings(protocol: str, overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The protocol's settings with overrides applied and checked, and the run options."""
    known = set(PROTOCOLS[protocol]) | set(RUN_OPTIONS)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise IvifError(
            f"unknown detection setting '{unknown[0]}' for protocol '{protocol}' (known: {', '.join(sorted(known))})"
        )
    s = {**PROTOCOLS[protocol], **{k: v for k, v in overrides.items() if k in PROTOCOLS[protocol]}}
    opts = {k: overrides[k] for k in RUN_OPTIONS if k in overrides}
    for bag in (s, opts):
        for key in list(bag):
            value = bag[key]
            if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
                bag[key] = None
                continue
            if key in _INTS:
                bag[key] = _as_int(key, value, minimum=1 if key in _POSITIVE else 0)
            elif key in _FLOATS:
                try:
                    bag[key] = float(value)
                except (TypeError, ValueError):
                    raise InputError(f"{key} must be a number, got {value!r}") from None
                if not math.isfinite(bag[key]) or bag[key] < 0:
                    raise InputError(f"{key} must be a finite non-negative number, got {value!r}")
            elif key in _BOOLS:
                bag[key] = _as_bool(key, value)
            elif key == "cache" and str(value).lower() not in ("ram", "disk"):
                bag[key] = _as_bool(key, value)
    if "imgsz" in s and s["imgsz"] % 32:
        raise InputError(f"imgsz must be a multiple of 32 (YOLO's stride), got {s['imgsz']}")
    if s.get("select", "last") not in ("best", "last"):
        raise InputError(f"select must be 'best' or 'last', got {s.get('select')!r}")
    if opts.get("eval_split", "test") not in ("test", "val"):
        raise InputError(f"eval_split must be 'test' or 'val', got {opts.get('eval_split')!r}")
    if protocol in ("paper", "frozen") and not s.get("weights"):
        what = "the trained detector to evaluate" if protocol == "frozen" else "pretrained YOLOv8/YOLO11 weights"
        raise InputError(f"the {protocol} protocol needs weights=PATH ({what}, a local .pt); ivifbench never downloads")
    if protocol != "frozen" and not s.get("weights") and not s.get("model"):
        raise InputError("no detector: pass model=YAML (e.g. yolov8n.yaml) or weights=PATH")
    return s, opts


class DetectionTask(Task):
    """Object detection on fused images with ultralytics YOLO, scored with ultralytics' mAP."""

    name: ClassVar[str] = "detection"
    datasets: ClassVar[tuple[str, ...]] = ("m3fd", "llvip")
    protocols: ClassVar[tuple[str, ...]] = ("quick", "paper", "frozen")
    version: ClassVar[str] = "1"
    metric_directions: ClassVar[dict[str, bool]] = _directions()

    def run(
        self,
        *,
        dataset: str,
        root: Path,
        fused: Path | None,
        out: Path,
        protocol: str = "quick",
        seed: int = 0,
        device: str | None = None,
        **overrides: Any,
    ) -> TaskResult:
        """Prepare, train and evaluate in a scope seeded with ``seed`` on ``threads`` torch threads (default 1).

        See :meth:`_run`; ``threads=N`` (an override) pins torch's CPU thread count, recorded with the result.
        """
        from ivifbench.seeding import pop_threads, seeded

        overrides = dict(overrides)
        threads = pop_threads(overrides)
        # seeded before the model is built: its random initialisation is part of the run
        with seeded(int(seed), threads=threads) as repro:
            return self._run(
                dataset=dataset,
                root=root,
                fused=fused,
                out=out,
                protocol=protocol,
                seed=int(seed),
                device=device,
                repro=repro,
                **overrides,
            )

    def _run(
        self,
        *,
        dataset: str,
        root: Path,
        fused: Path | None,
        out: Path,
        protocol: str = "quick",
        seed: int = 0,
        device: str | None = None,
        repro: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> TaskResult:
        """Prepare, train (not for ``frozen``), evaluate; write ``out/metrics.json``; return the result.

        See the module docstring for the protocols and :data:`RUN_OPTIONS` for the other overrides. Every user error
        is an :class:`~ivifbench.errors.IvifError` with one line naming the file or setting.
        """
        from ivifbench.datasets import DATASETS
        from ivifbench.tasks.detection import engine
        from ivifbench.tasks.detection.prepare import ClassMap, assign_splits, limit_pairs, prepare

        t0 = time.perf_counter()
        self.check_request(dataset, protocol)
        if device is not None:
            overrides["device"] = device
        s, opts = _settings(protocol, overrides)
        if s.get("weights"):
            s["weights"] = engine.local_weights(str(s["weights"]).replace("{seed}", str(seed)))
        dev_opt = opts.get("device")
        if dev_opt is None and protocol == "quick":
            dev_opt = "cpu"
        dev = engine.resolve_device(dev_opt)
        root, out = Path(root), Path(out).absolute()
        fused = Path(fused) if fused is not None else None
        out.mkdir(parents=True, exist_ok=True)

        reader_cls = DATASETS.get(dataset)
        reader = reader_cls(root)
        classes = tuple(reader_cls.classes) or (_M3FD if dataset == "m3fd" else _LLVIP)
        plan = assign_splits(dataset, reader, str(opts.get("split") or "default"))
        limit = opts.get("limit")
        for role in plan.roles:
            plan.roles[role] = limit_pairs(plan.roles[role], limit)
        eval_split = str(opts.get("eval_split") or "test")
        training = protocol != "frozen"
        roles = ("train", "val", eval_split) if training else (eval_split,)
        class_map = ClassMap.onto(classes, engine.checkpoint_names(s["weights"])) if not training else None
        prepared = prepare(
            dataset=dataset,
            reader=reader,
            classes=classes,
            fused=fused,
            out=out / "data",
            plan=plan,
            roles=tuple(dict.fromkeys(roles)),
            class_map=class_map,
            keep_difficult=bool(opts.get("keep_difficult", False)),
            link=str(opts.get("link") or "symlink"),
        )
        t_prep = time.perf_counter() - t0

        project = out / "ultralytics"
        trained: dict[str, Any] = {}
        if training:
            s["epochs"] = _epochs(s, prepared.splits["train"].images)
            trained = engine.train(data_yaml=prepared.data_yaml, project=project, settings=s, seed=seed, device=dev)
            weights = trained["best"] if s.get("select") == "best" else trained["last"]
        else:
            weights = s["weights"]
        eval_folder = plan.folders[eval_split]
        eval_boxes = prepared.splits[eval_folder].boxes
        eval_classes = [n for n in prepared.class_map.names if eval_boxes.get(n)]
        metrics, ev = engine.evaluate(
            weights=weights,
            data_yaml=prepared.data_yaml,
            split=eval_split,
            project=project,
            settings=s,
            device=dev,
            eval_classes=eval_classes,
        )
        if class_map is not None:  # frozen: report under the dataset's class names
            back = {class_map.names[i]: c for c, i in class_map.ids.items()}
            metrics = {_rename(k, back): v for k, v in metrics.items()}
            eval_classes = [back.get(c, c) for c in eval_classes]

        details: dict[str, Any] = {
            "protocol_settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in s.items()},
            "overrides": {k: (str(v) if isinstance(v, Path) else v) for k, v in overrides.items()},
            "classes": list(classes),
            "evaluated_classes": eval_classes,
            "absent_classes": [c for c in classes if c not in eval_classes],
            "metric_convention": (
                "ultralytics DetectionValidator: COCO-style 101-point interpolated AP at IoU 0.50 and 0.50:0.95, "
                f"conf={s['conf']}, iou(NMS)={s['iou']}, means over the classes with boxes in the evaluated split"
            ),
            "input": prepared.input,
            "fused": str(fused) if fused is not None else None,
            "root": str(root),
            "dataset_prep": prepared.record(),
            "split": plan.name,
            "split_files": plan.files,
            "images": {role: len(plan.roles[role]) for role in dict.fromkeys(roles)},
            "train_split": "train" if training else None,
            "val_split": plan.folders["val"] if training else None,
            "eval_split": eval_split,
            "limit": limit,
            "weights_evaluated": str(weights),
            "init_weights": str(s["weights"]) if s.get("weights") else None,
            "model": s.get("model"),
            "frozen_class_map": class_map.ids if class_map is not None else None,
            "epochs_run": trained.get("epochs_run"),
            "amp": trained.get("amp", False),
            "device": dev,
            "ultralytics_dirs": {"train": str(trained["save_dir"]) if trained else None, "eval": ev["save_dir"]},
            "speed_ms_per_image": ev["speed_ms_per_image"],
            "timings_s": {
                "prepare": round(t_prep, 3),
                "train": round(trained.get("train_s", 0.0), 3),
                "eval": ev["eval_s"],
                "total": round(time.perf_counter() - t0, 3),
            },
            "versions": _versions(),
            "reproducibility": repro,
        }
        result = TaskResult(
            task=self.name, dataset=dataset, protocol=protocol, seed=seed, metrics=metrics, details=details
        )
        result.write_json(out / "metrics.json")
        return result


def _epochs(s: dict[str, Any], n_train: int) -> int:
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


def _versions() -> dict[str, str]:
    import numpy as np
    import torch
    import ultralytics

    from ivifbench import __version__

    return {
        "ivifbench": __version__,
        "task": DetectionTask.version,
        "ultralytics": ultralytics.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
