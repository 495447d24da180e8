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
  ``bubbliiiing/segformer-pytorch`` and hyper-parameters the paper does not publish, so this is the
  published SegFormer schedule, not theirs.

Overrides (``--set key=value``) are the fields of the protocol's settings model (:data:`PROTOCOLS`,
:mod:`~ivifbench.tasks.segmentation.settings`); all are recorded in ``details``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ivifbench.errors import InputError
from ivifbench.tasks.base import Evaluation, Task, TaskRun
from ivifbench.tasks.segmentation.settings import SegmentationPaper, SegmentationQuick
from ivifbench.tasks.settings import TaskSettings, settings_help

__all__ = ["PROTOCOLS", "RUN_OPTIONS", "SegmentationTask"]

PROTOCOLS: dict[str, type[TaskSettings]] = {"quick": SegmentationQuick, "paper": SegmentationPaper}
RUN_OPTIONS: dict[str, str] = settings_help(SegmentationQuick)


@dataclass
class _Data:
    classes: Any  # SegClasses
    prepared: dict[str, Any]  # split → PreparedSplit
    train_split: str | None
    eval_split: str
    checkpoint: Path | None
    pretrained: Path | None


class SegmentationTask(Task):
    """Semantic segmentation of fused images with mmseg SegFormer, scored with mmseg's IoUMetric."""

    name: ClassVar[str] = "segmentation"
    datasets: ClassVar[tuple[str, ...]] = ("msrs", "fmb")
    protocols: ClassVar[Mapping[str, type[TaskSettings]]] = PROTOCOLS
    version: ClassVar[str] = "1"
    headline: ClassVar[tuple[str, ...]] = ("mIoU",)
    metric_directions: ClassVar[dict[str, bool]] = dict.fromkeys(("mIoU", "aAcc", "mAcc", "IoU", "Acc"), True)
    packages: ClassVar[tuple[str, ...]] = ("mmsegmentation", "mmengine", "mmcv-lite", "torch", "numpy")

    def prepare(self, run: TaskRun) -> _Data:
        from ivifbench.tasks.segmentation.classes import class_spec
        from ivifbench.tasks.segmentation.prepare import prepare

        s = run.settings
        checkpoint = None
        if s.checkpoint is not None:
            checkpoint = Path(str(s.checkpoint).replace("{seed}", str(run.seed))).expanduser()
            if not checkpoint.is_file():
                raise InputError(f"{checkpoint}: checkpoint not found")
        pretrained = None
        if s.pretrained is not None:
            pretrained = Path(str(s.pretrained)).expanduser()
            if "://" in str(s.pretrained) or not pretrained.is_file():
                raise InputError(f"{s.pretrained}: pretrained MiT weights not found (name a local .pth file)")
        from ivifbench.datasets import DATASETS

        classes = class_spec(run.dataset, DATASETS.get(run.dataset), background=s.background)
        train_split = s.train_split if s.iters > 0 else None
        splits = tuple(dict.fromkeys(x for x in (train_split, s.eval_split) if x is not None))
        prepared = prepare(run.reader, run.images, run.out / "data", classes, splits=splits, limit=s.limit)
        return _Data(classes, prepared, train_split, s.eval_split, checkpoint, pretrained)

    def train(self, run: TaskRun, data: _Data) -> None:
        return None  # mmengine's Runner trains and tests in one go: see evaluate

    def evaluate(self, run: TaskRun, data: _Data, model: None) -> Evaluation:
        from ivifbench.tasks.segmentation import engine

        s, classes = run.settings, data.classes
        settings = s.model_dump()
        result = engine.train_and_evaluate(
            data_root=run.out / "data",
            work_dir=run.out / "work",
            classes=classes,
            prepared=data.prepared,
            train_split=data.train_split,
            eval_split=data.eval_split,
            settings=settings,
            seed=run.seed,
            checkpoint=data.checkpoint,
            pretrained=data.pretrained,
            save_checkpoint=s.save_checkpoint,
            log_interval=s.log_interval,
            verbose=run.verbose,
            val_interval=s.val_interval,
            device=run.device,
        )
        ev = data.prepared[data.eval_split]
        n = {"eval_images": len(ev.ids), "eval_pixels": int(sum(ev.pixels))}
        if data.train_split is not None:
            n["train_images"] = len(data.prepared[data.train_split].ids)
        absent = [classes.names[i] for i in ev.absent]
        details: dict[str, Any] = {
            "classes": classes.record(),
            "class_order_assumed": classes.assumed,
            "ignore_index": classes.ignore_index,
            "source_ignore_index": classes.source_ignore,
            "nan_policy": (
                "mmseg IoUMetric: IoU = I/U per class; a class with no label and no predicted pixel is NaN and left "
                "out of mIoU/mAcc (nanmean); a class absent from the labels but predicted scores 0 and counts"
            ),
            "absent_classes": absent,
            "nan_classes": result["nan_classes"],
            "counted_classes": result["counted_classes"],
            "absent_classes_counted": bool(set(result["counted_classes"]) & set(absent)),
            "split_pixels": {
                split: {"pairs": len(p.ids), "pixels": dict(zip(classes.names, p.pixels, strict=True))}
                for split, p in data.prepared.items()
            },
            "train_split": data.train_split,
            "eval_split": data.eval_split,
            "pretrained": str(data.pretrained) if data.pretrained is not None else None,
            "init_checkpoint": str(data.checkpoint) if data.checkpoint is not None else None,
            "checkpoint": result["checkpoint"],
            "final_loss": result["final_loss"],
            "engine_device": result["device"],
            "areas": result["areas"],
        }
        splits = {"train": data.train_split, "val": None, "eval": data.eval_split}
        return Evaluation(result["metrics"], n, details, splits, dict(result["timings_s"]))
