"""``SODTask``: does the fused image help find the salient object? (VT5000 / VT821 / VT1000)

One run (one method, one seed): prepare the fused images and GT masks in the task's native layout, train the
SegFormer saliency network on the VT5000 ``Train`` split (BCE + IoU), predict the evaluation split, write every map as an
8-bit PNG (``out/maps/<id>.png``) and score the maps with pysodmetrics (``Sm maxF meanF adpF maxE meanE adpE MAE wF``).

VT821 and VT1000 have no training split. Evaluate them with a network trained on VT5000, either

* ``checkpoint=PATH``: the ``model.pth`` a VT5000 run of the same method wrote (``{seed}`` in the path is replaced by the
  seed, e.g. ``checkpoint=runs/sod/vt5000/seed{seed}/model.pth``), or
* ``train_root=VT5000_ROOT`` and ``train_fused=DIR`` (the method's fused VT5000 images; omit it for a run on the visible
  images): the run trains on VT5000 ``Train`` itself.

A checkpoint can also be given for VT5000 (evaluation only). Overrides (``--set key=value``) are the fields of the
protocol's settings model (:data:`PROTOCOLS`, :mod:`~ivifbench.tasks.sod.settings`); all are recorded in ``details``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ivifbench.errors import InputError, IvifError
from ivifbench.tasks.base import Evaluation, Task, TaskRun
from ivifbench.tasks.inputs import InputImages
from ivifbench.tasks.settings import TaskSettings, settings_help
from ivifbench.tasks.sod.scoring import METRIC_DIRECTIONS
from ivifbench.tasks.sod.settings import SODPaper, SODQuick

__all__ = ["PROTOCOLS", "RUN_OPTIONS", "SODTask"]

PROTOCOLS: dict[str, type[TaskSettings]] = {"quick": SODQuick, "paper": SODPaper}
RUN_OPTIONS: dict[str, str] = settings_help(SODQuick)


@dataclass
class _Data:
    cfg: Any  # engine.TrainConfig
    test: list[Any]  # SODSample
    train: list[Any] | None
    model: Any = None  # a loaded checkpoint's network
    record: dict[str, Any] = field(default_factory=dict)


class SODTask(Task):
    """Salient object detection on fused RGB-T images, scored with pysodmetrics."""

    name: ClassVar[str] = "sod"
    datasets: ClassVar[tuple[str, ...]] = ("vt5000", "vt821", "vt1000")
    protocols: ClassVar[Mapping[str, type[TaskSettings]]] = PROTOCOLS
    version: ClassVar[str] = "1"
    headline: ClassVar[tuple[str, ...]] = ("Sm", "maxF", "MAE")
    metric_directions: ClassVar[dict[str, bool]] = dict(METRIC_DIRECTIONS)
    packages: ClassVar[tuple[str, ...]] = ("torch", "pysodmetrics", "mmsegmentation", "mmengine", "mmcv-lite", "numpy")

    def prepare(self, run: TaskRun) -> _Data:
        from ivifbench.tasks.sod import data as sod_data
        from ivifbench.tasks.sod import engine

        s = run.settings
        if s.pretrained is not None and not Path(str(s.pretrained)).is_file():
            raise InputError(f"{s.pretrained}: pretrained MiT weights not found (pass pretrained=<mit_bX .pth file>)")
        cfg = engine.TrainConfig(**{**s.train_config(), "device": run.device})
        reader = run.reader
        eval_split = sod_data.split_named(reader, "test")
        record: dict[str, Any] = {
            "dataset_root": str(reader.root),
            "eval_split": eval_split or "all",
            "maps": str(run.out / "maps"),
            "data": str(run.out / "data"),
        }
        # everything that can fail on the user's input fails here, before the long part
        model = None
        if s.checkpoint:
            path = Path(str(s.checkpoint).replace("{seed}", str(run.seed)))
            model, meta = engine.load_model(path, cfg)
            record.update({"trained": False, "checkpoint": str(path), "checkpoint_meta": meta})
        else:
            train_reader, train_images, train_split = self._train_source(run)
            record.update(
                {
                    "trained": True,
                    "train_dataset": train_reader.name,
                    "train_root": str(train_reader.root),
                    **{f"train_{k}": v for k, v in train_images.record().items()},
                    "train_split": train_split,
                }
            )
        test = sod_data.prepare(reader, eval_split, run.images, run.out / "data", limit=s.limit)
        train = None
        if not s.checkpoint:
            train = sod_data.prepare(train_reader, train_split, train_images, run.out / "data", limit=s.limit)
        return _Data(cfg, test, train, model, record)

    def train(self, run: TaskRun, data: _Data) -> tuple[Any, dict[str, Any]]:
        from ivifbench.tasks.sod import engine

        if data.train is None:
            return data.model, {}
        model = engine.build_model(data.cfg)
        total = data.cfg.iters

        def progress(it: int, loss: float) -> None:
            run.tick("iteration", it, total)

        log = engine.train(model, data.train, data.cfg, run.seed, progress=progress)
        if run.settings.save_model:
            train_name = data.record.get("train_dataset", run.dataset)
            saved = engine.save_checkpoint(
                model, data.cfg, run.out / "model.pth", {"seed": run.seed, "train_dataset": train_name}
            )
            data.record["model"] = str(saved)
        return model, log

    def evaluate(self, run: TaskRun, data: _Data, trained: tuple[Any, dict[str, Any]]) -> Evaluation:
        from ivifbench.tasks.sod import engine

        model, train_log = trained
        for stale in (run.out / "maps").glob("*.png"):  # a rerun into the same folder must not leave other runs' maps
            stale.unlink()
        metrics, eval_log = engine.predict(model, data.test, data.cfg, run.out / "maps", batch=run.settings.eval_batch)
        import torch

        details = {
            **data.record,
            "engine_settings": data.cfg.to_dict(),
            "loss": "bce+iou",
            "scoring": "pysodmetrics 1.6.2: Sm alpha=0.5; F beta^2=0.3 (curve averaged over images, then max/mean); "
            "adaptive threshold min(2*mean, 1); E-measure likewise; wF beta=1; GT > 128",
            "eval_images": len(data.test),
            "train_images": train_log.get("train_images", 0),
            "loss_log": train_log.get("loss", []),
            "torch_threads": torch.get_num_threads(),
        }
        n = {"eval_images": len(data.test)}
        if data.train is not None:
            n["train_images"] = len(data.train)
        eval_split = data.record["eval_split"]
        train_split = data.record.get("train_split") if data.record.get("train_dataset") == run.dataset else None
        splits = {"train": train_split, "val": None, "eval": eval_split}
        timings = {k: v for k, v in train_log.items() if k.endswith("_s")}
        timings["eval"] = eval_log["eval_s"]
        return Evaluation(metrics, n, details, splits, timings)

    @staticmethod
    def _train_source(run: TaskRun) -> tuple[Any, InputImages, str]:
        """(reader, input images, split) to train on: VT5000 Train, from this dataset or from ``train_root``."""
        from ivifbench.datasets import DATASETS
        from ivifbench.tasks.sod.data import split_named

        s, reader, dataset = run.settings, run.reader, run.dataset
        if s.train_root is None:
            split = split_named(reader, "train")
            if split is None:
                raise IvifError(
                    f"{dataset} has no training split: evaluate it with a network trained on VT5000, "
                    f"--set checkpoint=<vt5000 run>/seed{{seed}}/model.pth, or --set train_root=<VT5000 root> "
                    f"(with --set train_fused=<the method's fused VT5000 images>)"
                )
            return reader, run.images, split
        train_reader = DATASETS.get("vt5000")(Path(str(s.train_root)))
        if run.images.kind == "fused" and s.train_fused is None:
            raise IvifError(
                f"--fused names {dataset} fused images, but training on VT5000 needs the same method's fused VT5000 "
                "images: add --set train_fused=DIR"
            )
        if s.train_fused is not None:
            train_fused = Path(str(s.train_fused))
            if not train_fused.is_dir():
                raise InputError(f"{train_fused}: train_fused folder not found")
            images = InputImages.of(train_fused)
        else:
            images = InputImages.of(None, run.images.kind)
        split = split_named(train_reader, "train")
        if split is None:  # pragma: no cover - the VT5000 reader always has Train
            raise IvifError(f"{train_reader.root}: the VT5000 reader has no Train split")
        return train_reader, images, split
