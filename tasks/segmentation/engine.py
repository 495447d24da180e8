"""Train and evaluate SegFormer on a prepared dataset with mmengine's ``Runner`` (mmseg data pipeline and IoUMetric).

:func:`train_and_evaluate` is what :class:`~ivifbench.tasks.segmentation.task.SegmentationTask` calls;
:func:`runner_config` gives the pieces of the Runner config (pipelines, optimiser, schedule) for a settings dict.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

import numpy as np
import torch

from ivifbench.errors import InputError
from ivifbench.networks.mmseg_compat import import_mmseg, quiet_mmengine
from ivifbench.networks.segformer import build_segformer
from ivifbench.tasks.segmentation.classes import SegClasses
from ivifbench.tasks.segmentation.prepare import PreparedSplit

__all__ = ["FractionIoUMetric", "class_weights", "runner_config", "train_and_evaluate"]


def _metric_class() -> type:
    import_mmseg()
    from mmseg.evaluation import IoUMetric

    class FractionIoUMetric(IoUMetric):
        """mmseg's IoUMetric (same per-image intersect/union), reported as unrounded fractions in [0, 1].

        ``compute_metrics`` returns ``mIoU``, ``aAcc``, ``mAcc``, ``IoU/<class>`` and ``Acc/<class>`` (NaN for a class
        with no label and no prediction, as mmseg) and keeps the summed areas in ``self.areas``.
        """

        default_prefix = "seg"  # mmengine prefixes the keys ("seg/mIoU"); train_and_evaluate strips it

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(iou_metrics=["mIoU"], **kwargs)
            self.areas: dict[str, list[int]] = {}

        def compute_metrics(self, results: list[Any]) -> dict[str, float]:
            cols = tuple(zip(*results, strict=True))
            inter, union, pred, label = (torch.stack(list(c)).sum(0).double() for c in cols)
            self.areas = {
                "intersect": inter.long().tolist(),
                "union": union.long().tolist(),
                "pred": pred.long().tolist(),
                "label": label.long().tolist(),
            }
            with np.errstate(divide="ignore", invalid="ignore"):
                iou = (inter / union).numpy()
                acc = (inter / label).numpy()
            total = float(label.sum())
            names = list(self.dataset_meta["classes"])
            out: dict[str, float] = {
                "mIoU": float(np.nanmean(iou)) if np.isfinite(iou).any() else math.nan,
                "aAcc": float(inter.sum() / total) if total > 0 else math.nan,
                "mAcc": float(np.nanmean(acc)) if np.isfinite(acc).any() else math.nan,
            }
            for name, v in zip(names, iou.tolist(), strict=True):
                out[f"IoU/{name}"] = float(v)
            for name, v in zip(names, acc.tolist(), strict=True):
                out[f"Acc/{name}"] = float(v)
            return out

    return FractionIoUMetric


FractionIoUMetric: type | None = None  # the class, created on first use (it subclasses an mmseg class)


def class_weights(spec: Any, pixels: list[int] | None) -> list[float] | None:
    """Cross-entropy class weights: ``None``, an explicit list, or ``"balanced"``.

    ``"balanced"`` is the square root of median-frequency balancing on the training split's labelled pixels,
    ``sqrt(median(f) / f_c)``, clipped to [0.1, 10] (classes without pixels get 1).
    """
    if spec is None or spec is False:
        return None
    if isinstance(spec, str):
        if spec != "balanced":
            raise InputError(f"class_weight must be null, 'balanced' or a list of numbers, got '{spec}'")
        if not pixels:
            return None
        counts = np.asarray(pixels, dtype=np.float64)
        freq = counts / max(counts.sum(), 1.0)
        present = freq > 0
        med = float(np.median(freq[present])) if present.any() else 1.0
        w = np.ones_like(freq)
        w[present] = np.clip(np.sqrt(med / freq[present]), 0.1, 10.0)
        return [round(float(x), 4) for x in w]
    try:
        values = [float(x) for x in spec]
    except (TypeError, ValueError):
        raise InputError(f"class_weight must be null, 'balanced' or a list of numbers, got {spec!r}") from None
    if pixels is not None and len(values) != len(pixels):
        raise InputError(f"class_weight has {len(values)} values for {len(pixels)} classes")
    return values


def _dataset_cfg(data_root: Path, split: str, classes: SegClasses, pipeline: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "BaseSegDataset",
        "data_root": str(data_root),
        "data_prefix": {"img_path": f"img_dir/{split}", "seg_map_path": f"ann_dir/{split}"},
        "img_suffix": ".png",
        "seg_map_suffix": ".png",
        "metainfo": {"classes": tuple(classes.names), "palette": [list(c) for c in classes.palette]},
        "reduce_zero_label": False,
        "ignore_index": classes.ignore_index,
        "pipeline": pipeline,
    }


def runner_config(settings: dict[str, Any], native_hw: tuple[int, int]) -> dict[str, Any]:
    """Pipelines, optimiser wrapper and LR schedule for ``settings`` (a protocol dict) on images of ``native_hw``."""
    crop_h, crop_w = settings["crop"]
    h, w = native_hw
    train_pipeline: list[dict[str, Any]] = [
        {"type": "LoadImageFromFile"},
        {"type": "LoadAnnotations"},
        {"type": "RandomResize", "scale": (w, h), "ratio_range": tuple(settings["ratio_range"]), "keep_ratio": True},
        {"type": "RandomCrop", "crop_size": (crop_h, crop_w), "cat_max_ratio": settings["cat_max_ratio"]},
        {"type": "RandomFlip", "prob": 0.5},
    ]
    if settings["photometric"]:
        train_pipeline.append({"type": "PhotoMetricDistortion"})
    train_pipeline.append({"type": "PackSegInputs"})
    test_pipeline = [
        {"type": "LoadImageFromFile"},
        {"type": "LoadAnnotations"},
        {"type": "PackSegInputs"},
    ]
    optim_wrapper = {
        "type": "OptimWrapper",
        "optimizer": {
            "type": "AdamW",
            "lr": settings["lr"],
            "betas": (0.9, 0.999),
            "weight_decay": settings["weight_decay"],
        },
        "paramwise_cfg": {
            "custom_keys": {
                "pos_block": {"decay_mult": 0.0},
                "norm": {"decay_mult": 0.0},
                "head": {"lr_mult": settings["head_lr_mult"]},
            }
        },
    }
    iters, warmup = settings["iters"], min(settings["warmup"], settings["iters"])
    schedulers: list[dict[str, Any]] = []
    if warmup > 0:
        schedulers.append({"type": "LinearLR", "start_factor": 1e-6, "by_epoch": False, "begin": 0, "end": warmup})
    if iters > warmup:
        schedulers.append(
            {"type": "PolyLR", "eta_min": 0.0, "power": 1.0, "begin": warmup, "end": iters, "by_epoch": False}
        )
    return {
        "train_pipeline": train_pipeline,
        "test_pipeline": test_pipeline,
        "optim_wrapper": optim_wrapper,
        "param_scheduler": schedulers,
    }


_BENIGN = (
    "has been called more than once",  # the Runner re-calls init_weights; the built model is already initialised
    '"FileClient" will be deprecated',
    '"HardDiskBackend" is the alias',
)


class _DropBenign(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not any(b in msg for b in _BENIGN)


def _quiet_console(logger: logging.Logger) -> None:
    """Keep mmengine's INFO lines in the run's log file, off the console, and drop known-benign warnings there."""
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)
            handler.addFilter(_DropBenign())


def _close_logs(runner: Any) -> None:
    """Close the run's log file handlers (a sweep runs many tasks in one process)."""
    logger = getattr(runner, "logger", None)
    if logger is None:
        return
    for handler in list(getattr(logger, "handlers", [])):
        if isinstance(handler, logging.FileHandler):
            handler.close()
            logger.removeHandler(handler)


def _runner_class(verbose: bool) -> type:
    from mmengine.runner import Runner

    class QuietRunner(Runner):
        """mmengine's Runner whose console shows warnings only (the log file keeps INFO) unless ``verbose``."""

        def build_logger(self, *args: Any, **kwargs: Any) -> Any:
            logger = super().build_logger(*args, **kwargs)
            if not verbose:
                _quiet_console(logger)
            return logger

    return QuietRunner


@contextmanager
def _on_device(device: str | None) -> Iterator[None]:
    """Make mmengine's Runner put the model on ``device`` (it otherwise takes the GPU whenever there is one)."""
    if device is None:
        yield
        return
    import torch
    from mmengine.runner import runner as runner_module

    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    with patch.object(runner_module, "get_device", lambda: "cpu" if device == "cpu" else "cuda"):
        yield


def train_and_evaluate(
    *,
    data_root: Path,
    work_dir: Path,
    classes: SegClasses,
    prepared: dict[str, PreparedSplit],
    train_split: str | None,
    eval_split: str,
    settings: dict[str, Any],
    seed: int,
    checkpoint: Path | None = None,
    pretrained: Path | None = None,
    save_checkpoint: bool = True,
    log_interval: int = 50,
    verbose: bool = False,
    val_interval: int = 0,
    device: str | None = None,
) -> dict[str, Any]:
    """Train (unless ``train_split`` is ``None``) and evaluate; return metrics, areas, checkpoint path, timings.

    Args:
        data_root: the folder :func:`~ivifbench.tasks.segmentation.prepare.prepare` wrote.
        work_dir: mmengine's work dir (logs, checkpoint).
        classes: the scored classes.
        prepared: what ``prepare`` returned (for the native image size).
        train_split: split to train on, or ``None`` to only evaluate (``checkpoint`` is then required).
        eval_split: split to evaluate.
        settings: a protocol dict with overrides applied (see :data:`~ivifbench.tasks.segmentation.task.PROTOCOLS`).
        seed: seeds Python, numpy and torch through the Runner.
        checkpoint: a trained SegFormer to start from.
        pretrained: ImageNet MiT weights for the encoder (when no ``checkpoint``).
        save_checkpoint: write ``work_dir/iter_<iters>.pth`` at the end of training.
        log_interval: iterations between log lines.
        verbose: also print mmengine's INFO log on the console.
        val_interval: also evaluate ``eval_split`` every this many iterations (logged only; 0: never).
        device: ``cpu`` or ``cuda:N`` (the tasks' device rule); ``None`` leaves mmengine's choice (a GPU when there).
    """
    global FractionIoUMetric
    import_mmseg()
    from mmengine.evaluator import Evaluator

    if FractionIoUMetric is None:
        FractionIoUMetric = _metric_class()
    first = prepared[train_split or eval_split]
    native_hw = first.sizes[0]
    parts = runner_config(settings, native_hw)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    weights = class_weights(settings.get("class_weight"), prepared[train_split].pixels if train_split else None)
    with quiet_mmengine():
        model = build_segformer(
            settings["variant"],
            classes.num_classes,
            checkpoint=checkpoint,
            backbone_checkpoint=pretrained,
            crop_size=tuple(settings["crop"]),
            ignore_index=classes.ignore_index,
            cfg_options={"class_weight": weights} if weights is not None else None,
        )
    metric = FractionIoUMetric(ignore_index=classes.ignore_index)
    iters = settings["iters"] if train_split is not None else 0
    loader_common = {"num_workers": settings["num_workers"], "persistent_workers": settings["num_workers"] > 0}
    kwargs: dict[str, Any] = {
        "model": model,
        "work_dir": str(work_dir),
        "test_dataloader": {
            **loader_common,
            "batch_size": 1,
            "sampler": {"type": "DefaultSampler", "shuffle": False},
            "dataset": _dataset_cfg(data_root, eval_split, classes, parts["test_pipeline"]),
        },
        "test_cfg": {"type": "TestLoop"},
        "test_evaluator": Evaluator([metric]),
        "default_scope": "mmseg",
        "default_hooks": {
            "timer": {"type": "IterTimerHook"},
            "logger": {"type": "LoggerHook", "interval": max(1, log_interval), "log_metric_by_epoch": False},
            "param_scheduler": {"type": "ParamSchedulerHook"},
            "checkpoint": {
                "type": "CheckpointHook",
                "by_epoch": False,
                "interval": iters if save_checkpoint and iters > 0 else -1,
                "max_keep_ckpts": 1,
                "save_optimizer": True,
                "save_param_scheduler": True,
            },
            "sampler_seed": {"type": "DistSamplerSeedHook"},
        },
        "env_cfg": {
            "cudnn_benchmark": False,
            "mp_cfg": {"mp_start_method": "fork", "opencv_num_threads": 0},
            "dist_cfg": {"backend": "gloo"},
        },
        "randomness": {"seed": int(seed), "deterministic": False},
        "log_processor": {"by_epoch": False},
        "log_level": "INFO",
        "launcher": "none",
    }
    if iters > 0:
        assert train_split is not None
        kwargs.update(
            train_dataloader={
                **loader_common,
                "batch_size": settings["batch"],
                "sampler": {"type": "InfiniteSampler", "shuffle": True},
                "dataset": _dataset_cfg(data_root, train_split, classes, parts["train_pipeline"]),
            },
            train_cfg={
                "type": "IterBasedTrainLoop",
                "max_iters": iters,
                "val_interval": val_interval if 0 < val_interval < iters else iters + 1,
            },
            optim_wrapper=parts["optim_wrapper"],
            param_scheduler=parts["param_scheduler"] or None,
        )
        if 0 < val_interval < iters:
            kwargs.update(
                val_dataloader=kwargs["test_dataloader"],
                val_cfg={"type": "ValLoop"},
                val_evaluator=Evaluator([FractionIoUMetric(ignore_index=classes.ignore_index)]),
            )
    kwargs["experiment_name"] = f"ivifbench_seg_{uuid.uuid4().hex[:12]}"  # unique: loggers/scopes are per name
    with quiet_mmengine(logging.DEBUG if verbose else logging.WARNING), _on_device(device):
        runner = _runner_class(verbose)(**kwargs)
        try:
            timings["build"] = round(time.perf_counter() - t, 3)
            final_loss = None
            if iters > 0:
                t, c = time.perf_counter(), time.process_time()
                runner.train()
                timings["train"] = round(time.perf_counter() - t, 3)
                timings["train_cpu"] = round(time.process_time() - c, 3)
                timings["train_s_per_iter"] = round(timings["train"] / iters, 4)
                buf = runner.message_hub.log_scalars.get("train/loss")
                if buf is not None:
                    final_loss = float(buf.mean(min(10, iters)))
            t = time.perf_counter()
            metrics = {k.removeprefix("seg/"): v for k, v in runner.test().items()}
            timings["eval"] = round(time.perf_counter() - t, 3)
            device = str(next(runner.model.parameters()).device)
        finally:
            _close_logs(runner)
    ckpt_path = None
    if iters > 0 and save_checkpoint:
        candidate = Path(work_dir) / f"iter_{iters}.pth"
        ckpt_path = str(candidate) if candidate.is_file() else None
    names = list(classes.names)
    nan = [n for n in names if not math.isfinite(metrics.get(f"IoU/{n}", math.nan))]
    clean = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    return {
        "metrics": clean,
        "nan_classes": nan,
        "counted_classes": [n for n in names if n not in nan],
        "areas": dict(metric.areas),
        "checkpoint": ckpt_path,
        "final_loss": final_loss,
        "device": device,
        "timings_s": timings,
    }
