"""The ultralytics side: train a YOLO detector on a prepared dataset and evaluate a checkpoint, offline.

Every entry point calls :func:`~ivifbench.tasks.detection.offline.setup_offline` before ultralytics is imported.
Checkpoints are loaded by ultralytics with ``ULTRALYTICS_SAFE_LOAD`` on: ``torch.load(weights_only=True)`` against an
allow-list of its own and torch's model classes, never an arbitrary unpickle.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ivifbench.errors import InputError, IvifError
from ivifbench.seeding import apply_deterministic
from ivifbench.tasks.detection.offline import setup_offline

#: settings passed to ``YOLO.train`` as they are (the rest of a protocol's settings are ours)
TRAIN_KEYS = (
    "epochs",
    "imgsz",
    "batch",
    "nbs",
    "optimizer",
    "lr0",
    "lrf",
    "momentum",
    "weight_decay",
    "warmup_epochs",
    "warmup_bias_lr",
    "mosaic",
    "close_mosaic",
    "mixup",
    "scale",
    "fliplr",
    "hsv_h",
    "hsv_s",
    "hsv_v",
    "translate",
    "degrees",
    "patience",
    "cos_lr",
    "workers",
    "cache",
    "rect",
)


def resolve_device(device: str | None) -> str:
    """``None``/``auto`` → ``"0"`` when CUDA is there, else ``"cpu"``; anything else as given."""
    import torch

    if device in (None, "", "auto"):
        return "0" if torch.cuda.is_available() else "cpu"
    device = str(device)
    if device.startswith("cuda"):
        device = device.partition(":")[2] or "0"
    if device != "cpu" and not torch.cuda.is_available():
        raise IvifError(f"device '{device}' asked for but CUDA is not available; use device=cpu")
    return device


def local_weights(value: str | Path, what: str = "weights") -> Path:
    """A checkpoint the user names: a local ``.pt`` file (never a name to download)."""
    text = str(value)
    path = Path(text).expanduser()
    if "://" in text or not path.is_file():
        raise InputError(
            f"{text}: {what} file not found; name a local .pt checkpoint (ivifbench never downloads weights)"
        )
    if path.suffix.lower() != ".pt":
        raise InputError(f"{path}: {what} must be an ultralytics .pt checkpoint")
    return path.absolute()


def _model_spec(value: str | Path) -> str:
    """A model yaml: a file, or the name of one bundled with ultralytics (e.g. ``yolov8n.yaml``, ``yolo11s.yaml``)."""
    text = str(value)
    if "://" in text:
        raise InputError(f"model '{text}' is a URL; name a local yaml or a bundled one (ivifbench never downloads)")
    if not text.lower().endswith((".yaml", ".yml")):
        raise InputError(f"model '{text}' must be a model yaml (e.g. yolov8n.yaml); pass checkpoints as weights=PATH")
    path = Path(text).expanduser()
    return str(path.absolute()) if path.is_file() else text


@contextlib.contextmanager
def _no_amp_download() -> Iterator[None]:
    """ultralytics' AMP check downloads yolo26n.pt on CUDA; skip it (AMP stays as asked)."""
    import ultralytics.engine.trainer as trainer_mod

    original = trainer_mod.check_amp
    trainer_mod.check_amp = lambda model: True
    try:
        yield
    finally:
        trainer_mod.check_amp = original


@contextlib.contextmanager
def _keep_threads() -> Iterator[None]:
    """Keep the run's torch thread count through ultralytics' device selection.

    ``select_device`` sets ``torch.set_num_threads(min(8, cores - 1))`` for CPU runs, so the numbers would depend on
    the machine's core count; the run's count (pinned by :func:`ivifbench.seeding.seeded`) is kept instead.
    """
    import torch
    import ultralytics.utils.torch_utils as torch_utils

    original = torch_utils.NUM_THREADS
    torch_utils.NUM_THREADS = torch.get_num_threads()
    try:
        yield
    finally:
        torch_utils.NUM_THREADS = original


def load_model(model: str | None, weights: Path | None) -> Any:
    """A ``YOLO`` from a yaml (random init), a checkpoint, or a yaml initialised from a checkpoint."""
    setup_offline()
    from ultralytics import YOLO

    try:
        if model and weights:
            return YOLO(_model_spec(model)).load(str(weights))
        if weights:
            return YOLO(str(weights))
        if model:
            return YOLO(_model_spec(model))
    except (FileNotFoundError, TypeError, KeyError, RuntimeError, AttributeError) as exc:
        raise InputError(f"cannot build the detector from model={model} weights={weights}: {exc}") from exc
    raise InputError("no detector: pass model=YAML or weights=PATH")


def checkpoint_names(weights: Path) -> list[str]:
    """Class names stored in an ultralytics checkpoint (loaded with ``weights_only=True``)."""
    yolo = load_model(None, weights)
    names = yolo.names
    return [names[i] for i in sorted(names)] if isinstance(names, Mapping) else list(names)


def train(
    *,
    data_yaml: Path,
    project: Path,
    settings: Mapping[str, Any],
    seed: int,
    device: str,
    name: str = "train",
    on_epoch: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Train on ``data_yaml``'s train split (validating on its val split); return the run's paths and timings.

    ``on_epoch(done, total)`` is called after each epoch (a progress display).
    """
    setup_offline()
    yolo = load_model(settings.get("model"), settings.get("weights"))
    if on_epoch is not None:
        yolo.add_callback("on_train_epoch_end", lambda trainer: on_epoch(int(trainer.epoch) + 1, int(trainer.epochs)))
    args = {k: settings[k] for k in TRAIN_KEYS if k in settings and settings[k] is not None}
    if args.get("nbs") is None:
        args["nbs"] = int(settings["batch"])  # one optimiser step per batch: no gradient accumulation
    amp = bool(settings.get("amp", False)) and device != "cpu"
    t0 = time.perf_counter()
    with _no_amp_download(), _keep_threads():
        yolo.train(
            data=str(data_yaml),
            project=str(project),
            name=name,
            exist_ok=True,
            seed=int(seed),
            deterministic=True,
            device=device,
            amp=amp,
            plots=False,
            val=bool(settings.get("val_each_epoch", True)),
            verbose=False,
            pretrained=bool(settings.get("weights")),
            **args,
        )
    elapsed = time.perf_counter() - t0
    apply_deterministic()  # ultralytics' trainer switches deterministic mode off when it ends; evaluation follows
    trainer = yolo.trainer
    save_dir = Path(trainer.save_dir)
    best = save_dir / "weights" / "best.pt"
    last = save_dir / "weights" / "last.pt"
    if not best.is_file() and not last.is_file():
        raise IvifError(f"{save_dir}: ultralytics wrote no checkpoint; see its log above")
    return {
        "save_dir": save_dir,
        "best": best if best.is_file() else last,
        "last": last,
        "epochs_run": int(getattr(trainer, "epoch", -1)) + 1,
        "train_s": elapsed,
        "amp": amp,
    }


def evaluate(
    *,
    weights: Path,
    data_yaml: Path,
    split: str,
    project: Path,
    settings: Mapping[str, Any],
    device: str,
    eval_classes: Sequence[str],
    name: str = "eval",
) -> tuple[dict[str, float], dict[str, Any]]:
    """Evaluate ``weights`` on ``split`` of ``data_yaml``; return the metrics and what ultralytics reported.

    Metrics: ``mAP50``, ``mAP50_95``, ``precision``, ``recall`` (ultralytics' means over the classes present in the
    split's labels) and ``AP50/<class>``, ``AP50_95/<class>`` for each class in ``eval_classes`` (the classes that have
    boxes in the split; a class with no true positive scores 0).
    """
    setup_offline()
    yolo = load_model(None, weights)
    t0 = time.perf_counter()
    with _keep_threads():
        res = yolo.val(
            data=str(data_yaml),
            split=split,
            imgsz=int(settings["imgsz"]),
            batch=int(settings.get("eval_batch") or settings["batch"]),
            conf=float(settings.get("conf", 0.001)),
            iou=float(settings.get("iou", 0.7)),
            device=device,
            half=False,
            plots=False,
            save_json=False,
            project=str(project),
            name=name,
            exist_ok=True,
            workers=int(settings.get("workers", 0)),
            verbose=False,
            rect=True,
        )
    elapsed = time.perf_counter() - t0
    box = res.box
    names = res.names
    metrics: dict[str, float] = {
        "mAP50": float(box.map50),
        "mAP50_95": float(box.map),
        "precision": float(box.mp),
        "recall": float(box.mr),
    }
    index = {names[c]: i for i, c in enumerate(box.ap_class_index)}
    for cls in eval_classes:
        i = index.get(cls)
        metrics[f"AP50/{cls}"] = float(box.ap50[i]) if i is not None else 0.0
        metrics[f"AP50_95/{cls}"] = float(box.ap[i]) if i is not None else 0.0
    bad = [k for k, v in metrics.items() if not math.isfinite(v)]
    if bad:
        raise IvifError(f"ultralytics returned a non-finite {bad[0]} for {weights}; see its log")
    info = {"save_dir": str(res.save_dir), "eval_s": round(elapsed, 3), "speed_ms_per_image": dict(res.speed)}
    return metrics, info
