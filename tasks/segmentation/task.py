"""``SegmentationTask``: does the fused image help segment the scene? SegFormer on MSRS (9 classes) and FMB (15).

One run (one method, one seed): prepare the fused images and label maps as an mmseg dataset
(:mod:`~ivifbench.tasks.segmentation.prepare`), train mmseg's SegFormer with mmengine's ``Runner`` on the ``train``
split, evaluate the ``test`` split with mmseg's ``IoUMetric`` (whole-image inference at the native size), save the
mmengine checkpoint, and write ``out/metrics.json``.

Metrics (fractions in [0, 1], higher is better): ``mIoU``, ``aAcc``, ``mAcc`` and per class ``IoU/<class>`` and
``Acc/<class>``. As in mmseg, a class's IoU is NaN when it is neither in the evaluated labels nor predicted, and is
then left out of ``mIoU`` (and out of ``metrics``); a class absent from the labels but predicted scores 0 and counts.
``details["nan_classes"]`` and ``details["absent_classes"]`` say which classes that was.

Protocols (:data:`PROTOCOLS`):

* ``quick``: SegFormer-B0, random init, CPU, on the synthetic replica (``DATASETS.get(name).synthesize``); budgeted in
  iterations.
* ``paper``: SegFormer-B3 with ImageNet MiT-B3 weights the user names (``pretrained=PATH``; NVlabs ``mit_b3.pth`` or
  mmseg's converted ``mit_b3_20220624-13b1141c.pth``), the SegFormer recipe (mmseg
  ``segformer_mit-b3_8xb2-160k_ade20k-512x512``: AdamW 6e-5, head lr ×10, weight decay 0.01, 1500 warm-up
  iterations, poly decay, 160k iterations, batch 16, 512×512 crops, random rescale 0.5–2, flip, photometric
  distortion), at the dataset's native scale, on a GPU. SAGE's authors trained SegFormer-B3 with
  ``bubbliiiing/segformer-pytorch`` and unpublished hyper-parameters (``specs/sage.md`` §7), so this is the
  published SegFormer schedule, not theirs.

Overrides (``--set key=value``) are the keys of :data:`PROTOCOLS` and :data:`RUN_OPTIONS`; all are recorded in
``details``.
"""

from __future__ import annotations

import math
import platform
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ivifbench.errors import InputError, IvifError
from ivifbench.seeding import THREADS_HELP
from ivifbench.tasks.base import Task, TaskResult

__all__ = ["PROTOCOLS", "RUN_OPTIONS", "SegmentationTask"]

PROTOCOLS: dict[str, dict[str, Any]] = {
    # CPU, from scratch. Reference replica: DATASETS.get("msrs").synthesize(out, pairs=48, seed=0, size=(256, 192))
    # (36 train / 12 test pairs). Measured (seed 0, visible images): mIoU 0.602, aAcc 0.922 after 600 iterations
    # (192 CPU-seconds of training on one thread, ~0.32 s per iteration); 0.665 after 1000. Class-balanced cross-entropy
    # (sqrt median-frequency weights) lifts the small classes (cone, car_stop, bike) that decide mIoU: with a 1000-step
    # schedule plain CE had mIoU 0.30 vs 0.43 at 250 iterations and 0.52 vs 0.59 at 500.
    # Small budget (the embedded suite, ~1 minute): iters=200, warmup=20 on the suite's 24-pair 256×192 replica gave
    # mIoU 0.385 (66 CPU-seconds of training).
    "quick": {
        "variant": "b0",
        "pretrained": None,
        "crop": (128, 128),  # (H, W)
        "iters": 600,
        "batch": 4,
        "lr": 1e-3,
        "head_lr_mult": 1.0,
        "weight_decay": 0.01,
        "warmup": 50,
        "ratio_range": (0.75, 1.5),
        "photometric": False,
        "cat_max_ratio": 1.0,
        "class_weight": "balanced",
        "num_workers": 0,
    },
    "paper": {
        "variant": "b3",
        "pretrained": None,  # required: ImageNet MiT-B3 weights, a file the user names
        "crop": (512, 512),
        "iters": 160000,
        "batch": 16,
        "lr": 6e-5,
        "head_lr_mult": 10.0,
        "weight_decay": 0.01,
        "warmup": 1500,
        "ratio_range": (0.5, 2.0),
        "photometric": True,
        "cat_max_ratio": 0.75,
        "class_weight": None,
        "num_workers": 4,
    },
}

RUN_OPTIONS: dict[str, str] = {
    "threads": THREADS_HELP,
    "checkpoint": "a SegFormer checkpoint (this task's .pth) to start from; with iters=0 it is only evaluated "
    "({seed} is replaced by the seed)",
    "limit": "use at most N pairs of each split, spread evenly (smoke runs)",
    "background": "'score' (default: class 0 counts in mIoU) or 'ignore' (class 0 not trained or scored)",
    "train_split": "split to train on (default 'train')",
    "eval_split": "split to evaluate (default 'test')",
    "save_checkpoint": "write the mmengine checkpoint (default true)",
    "log_interval": "iterations between mmengine log lines (default 50)",
    "verbose": "print mmengine's INFO log to the console (default false; it always goes to the run's log file)",
    "val_interval": "also evaluate the eval split every N iterations, into the run's log (default 0: never)",
}


def _directions() -> dict[str, bool]:
    from ivifbench.datasets import DATASETS

    out = {"mIoU": True, "aAcc": True, "mAcc": True}
    for name in dict.fromkeys(c for d in ("msrs", "fmb") for c in DATASETS.get(d).classes):
        out[f"IoU/{name}"] = True
        out[f"Acc/{name}"] = True
    return out


def _pair(value: Any, what: str) -> tuple[int, int]:
    """``128`` / ``[96, 128]`` / ``"96x128"`` → ``(96, 128)`` (height, width)."""
    if isinstance(value, str):
        parts = value.lower().replace("×", "x").replace(",", "x").split("x")
        value = [p.strip() for p in parts if p.strip()]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value, value]
    try:
        h, w = (int(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be N, [H, W] or 'HxW', got {value!r}") from None
    if h < 32 or w < 32:
        raise InputError(f"{what} must be at least 32×32, got {h}×{w}")
    return h, w


def _settings(protocol: str, overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    known = set(PROTOCOLS[protocol]) | set(RUN_OPTIONS)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise IvifError(f"unknown segmentation setting '{unknown[0]}' (known: {', '.join(sorted(known))})")
    s = {**PROTOCOLS[protocol], **{k: v for k, v in overrides.items() if k in PROTOCOLS[protocol]}}
    opts = {k: overrides[k] for k in RUN_OPTIONS if k in overrides}
    s["crop"] = _pair(s["crop"], "crop")
    for key in ("iters", "batch", "warmup", "num_workers"):
        v = s[key]
        if not isinstance(v, int) or isinstance(v, bool) or v < 0 or (key == "batch" and v < 1):
            raise InputError(f"{key} must be a {'positive' if key == 'batch' else 'non-negative'} integer, got {v!r}")
    for key in ("lr", "head_lr_mult", "weight_decay", "cat_max_ratio"):
        v = s[key]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise InputError(f"{key} must be a non-negative number, got {v!r}")
        s[key] = float(v)
    rr = s["ratio_range"]
    try:
        lo, hi = (float(x) for x in rr)
    except (TypeError, ValueError):
        raise InputError(f"ratio_range must be [low, high], got {rr!r}") from None
    if not 0 < lo <= hi:
        raise InputError(f"ratio_range must satisfy 0 < low <= high, got {rr!r}")
    s["ratio_range"] = (lo, hi)
    limit = opts.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InputError(f"limit must be a positive integer, got {limit!r}")
    if s["iters"] == 0 and not opts.get("checkpoint"):
        raise InputError("iters=0 evaluates a trained model: pass checkpoint=PATH too")
    return s, opts


class SegmentationTask(Task):
    """Semantic segmentation of fused images with mmseg SegFormer, scored with mmseg's IoUMetric."""

    name: ClassVar[str] = "segmentation"
    datasets: ClassVar[tuple[str, ...]] = ("msrs", "fmb")
    protocols: ClassVar[tuple[str, ...]] = ("quick", "paper")
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
        repro: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> TaskResult:
        """Prepare, train (or load ``checkpoint``), evaluate; write ``out/metrics.json``; return the result.

        See the module docstring for protocols and overrides. Every user error is an
        :class:`~ivifbench.errors.IvifError` with one line naming the file or setting.
        """
        from ivifbench.datasets import DATASETS
        from ivifbench.tasks.segmentation.classes import class_spec
        from ivifbench.tasks.segmentation.prepare import prepare

        t0 = time.perf_counter()
        self.check_request(dataset, protocol)
        s, opts = _settings(protocol, overrides)
        checkpoint = opts.get("checkpoint")
        if checkpoint is not None:
            checkpoint = Path(str(checkpoint).replace("{seed}", str(seed))).expanduser()
            if not checkpoint.is_file():
                raise InputError(f"{checkpoint}: checkpoint not found")
        pretrained = s.get("pretrained")
        if pretrained is not None:
            pretrained = Path(str(pretrained)).expanduser()
            if "://" in str(s["pretrained"]) or not pretrained.is_file():
                raise InputError(f"{s['pretrained']}: pretrained MiT weights not found (name a local .pth file)")
        if protocol == "paper" and pretrained is None and checkpoint is None:
            raise InputError(
                "the paper protocol fine-tunes ImageNet MiT weights: pass pretrained=PATH (e.g. mit_b3.pth); "
                "ivifbench never downloads"
            )
        root, out = Path(root), Path(out)
        fused = Path(fused) if fused is not None else None
        if fused is not None and not fused.is_dir():
            raise InputError(f"{fused}: fused-image folder not found")
        out.mkdir(parents=True, exist_ok=True)

        reader_cls = DATASETS.get(dataset)
        reader = reader_cls(root)
        classes = class_spec(dataset, reader_cls, background=str(opts.get("background", "score")))
        train_split = str(opts.get("train_split", "train"))
        eval_split = str(opts.get("eval_split", "test"))
        splits = (eval_split,) if s["iters"] == 0 else tuple(dict.fromkeys((train_split, eval_split)))
        prepared = prepare(reader, fused, out / "data", classes, splits=splits, limit=opts.get("limit"))
        t_prep = time.perf_counter() - t0

        from ivifbench.tasks.segmentation import engine

        result = engine.train_and_evaluate(
            data_root=out / "data",
            work_dir=out / "work",
            classes=classes,
            prepared=prepared,
            train_split=train_split if s["iters"] > 0 else None,
            eval_split=eval_split,
            settings=s,
            seed=seed,
            checkpoint=checkpoint,
            pretrained=pretrained,
            save_checkpoint=bool(opts.get("save_checkpoint", True)),
            log_interval=int(opts.get("log_interval", 50)),
            verbose=bool(opts.get("verbose", False)),
            val_interval=int(opts.get("val_interval", 0)),
        )
        ev = prepared[eval_split]
        details: dict[str, Any] = {
            "protocol_settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items()},
            "overrides": {k: (str(v) if isinstance(v, Path) else v) for k, v in overrides.items()},
            "classes": classes.record(),
            "class_order_assumed": classes.assumed,
            "ignore_index": classes.ignore_index,
            "source_ignore_index": classes.source_ignore,
            "nan_policy": (
                "mmseg IoUMetric: IoU = I/U per class; a class with no label and no predicted pixel is NaN and left "
                "out of mIoU/mAcc (nanmean); a class absent from the labels but predicted scores 0 and counts"
            ),
            "absent_classes": [classes.names[i] for i in ev.absent],
            "nan_classes": result["nan_classes"],
            "counted_classes": result["counted_classes"],
            "absent_classes_counted": bool(set(result["counted_classes"]) & {classes.names[i] for i in ev.absent}),
            "input": "fused" if fused is not None else "visible",
            "fused": str(fused) if fused is not None else None,
            "root": str(root),
            "splits": {
                split: {"pairs": len(p.ids), "pixels": dict(zip(classes.names, p.pixels, strict=True))}
                for split, p in prepared.items()
            },
            "train_split": train_split if s["iters"] > 0 else None,
            "eval_split": eval_split,
            "pretrained": str(pretrained) if pretrained is not None else None,
            "init_checkpoint": str(checkpoint) if checkpoint is not None else None,
            "checkpoint": result["checkpoint"],
            "final_loss": result["final_loss"],
            "device": result["device"],
            "timings_s": {"prepare": round(t_prep, 3), **result["timings_s"], "total": 0.0},
            "areas": result["areas"],
            "versions": _versions(),
            "reproducibility": repro,
        }
        details["timings_s"]["total"] = round(time.perf_counter() - t0, 3)
        task_result = TaskResult(
            task=self.name,
            dataset=dataset,
            protocol=protocol,
            seed=seed,
            metrics=result["metrics"],
            details=details,
        )
        task_result.write_json(out / "metrics.json")
        return task_result


def _versions() -> dict[str, str]:
    import mmengine
    import torch

    from ivifbench import __version__

    try:
        import mmseg

        mmseg_version = mmseg.__version__
    except ImportError:  # pragma: no cover
        mmseg_version = "?"
    try:
        import mmcv

        mmcv_version = mmcv.__version__
    except ImportError:  # pragma: no cover
        mmcv_version = "?"
    return {
        "ivifbench": __version__,
        "task": SegmentationTask.version,
        "mmsegmentation": mmseg_version,
        "mmengine": mmengine.__version__,
        "mmcv": mmcv_version,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
