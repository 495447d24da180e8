"""``SODTask``: does the fused image help find the salient object? (VT5000 / VT821 / VT1000)

One run (one method, one seed): prepare the fused images and GT masks in the task's native layout, train the
SegFormer saliency network on the VT5000 ``Train`` split (BCE + IoU), predict the evaluation split, write every map as an
8-bit PNG (``out/maps/<id>.png``) and score the maps with pysodmetrics (``Sm maxF meanF adpF maxE meanE adpE MAE wF``).

VT821 and VT1000 have no training split. Evaluate them with a network trained on VT5000, either

* ``checkpoint=PATH``: the ``model.pth`` a VT5000 run of the same method wrote (``{seed}`` in the path is replaced by the
  seed, e.g. ``checkpoint=runs/sod/vt5000/seed{seed}/model.pth``), or
* ``train_root=VT5000_ROOT`` and ``train_fused=DIR`` (the method's fused VT5000 images; omit it for a run on the visible
  images): the run trains on VT5000 ``Train`` itself.

A checkpoint can also be given for VT5000 (evaluation only). Overrides (``--set key=value``) and what each protocol sets
are listed in :data:`PROTOCOLS` and :data:`RUN_OPTIONS`; all of them are recorded in the result's ``details``.
"""

from __future__ import annotations

import platform
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, ClassVar

from ivifbench.errors import InputError, IvifError
from ivifbench.tasks.base import Task, TaskResult
from ivifbench.tasks.sod.scoring import METRIC_DIRECTIONS

PROTOCOLS: dict[str, dict[str, Any]] = {
    # CPU, from scratch, minutes: MiT-B0 with a narrow (64-channel) head on 96×96 inputs, 1500 iterations (about 250
    # CPU-seconds of training on one core; Sm 0.93 / MAE 0.028 on a 200-pair replica, see README.md)
    "quick": {
        "backbone": "mit_b0",
        "decoder_channels": 64,
        "pretrained": None,
        "size": 96,
        "batch": 8,
        "iters": 1500,
        "lr": 2e-3,
        "head_lr_mult": 1.0,
        "weight_decay": 0.01,
        "warmup": 20,
        "device": "cpu",
    },
    # GPU: SegFormer's fine-tuning recipe (AdamW 6e-5, head ×10, wd 0.01, 1500 warm-up iterations, poly decay) on
    # 352×352 inputs (the usual RGB-T SOD input size), batch 8, 30k iterations (~100 epochs of VT5000 Train);
    # the ImageNet MiT weights are a file the user names (pretrained=...)
    "paper": {
        "backbone": "mit_b2",
        "decoder_channels": None,
        "pretrained": None,
        "size": 352,
        "batch": 8,
        "iters": 30000,
        "lr": 6e-5,
        "head_lr_mult": 10.0,
        "weight_decay": 0.01,
        "warmup": 1500,
        "device": "cuda",
    },
}

RUN_OPTIONS: dict[str, str] = {
    "checkpoint": "a model.pth from an earlier VT5000 run: evaluate with it, no training ({seed} is replaced)",
    "train_root": "VT5000 root to train on when evaluating VT821/VT1000",
    "train_fused": "the method's fused VT5000 images for train_root (default: the visible images)",
    "limit": "use only the first N pairs of each split (smoke runs)",
    "eval_batch": "inference batch size",
    "save_model": "write out/model.pth (default true)",
    "progress": "print the training loss as it goes (default false)",
}


def _train_fields() -> set[str]:
    from ivifbench.tasks.sod.engine import TrainConfig

    return {f.name for f in fields(TrainConfig)}


class SODTask(Task):
    """Salient object detection on fused RGB-T images, scored with pysodmetrics."""

    name: ClassVar[str] = "sod"
    datasets: ClassVar[tuple[str, ...]] = ("vt5000", "vt821", "vt1000")
    protocols: ClassVar[tuple[str, ...]] = ("quick", "paper")
    version: ClassVar[str] = "1"
    metric_directions: ClassVar[dict[str, bool]] = dict(METRIC_DIRECTIONS)

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
        """Prepare, train (or load ``checkpoint``), predict and score; write ``out/metrics.json`` and ``out/maps``.

        See the module docstring for the overrides. Raises :class:`~ivifbench.errors.IvifError` subclasses, with one
        line naming the file or setting, for every user error.
        """
        from ivifbench.seeding import DEFAULT_THREADS, seeded

        self.check_request(dataset, protocol)
        # seeded before the network is built: its random initialisation is part of the run
        with seeded(int(seed), threads=overrides.get("threads", DEFAULT_THREADS)) as repro:
            return self._run(dataset, Path(root), fused, Path(out), protocol, int(seed), overrides, repro)

    def _run(
        self,
        dataset: str,
        root: Path,
        fused: Path | None,
        out: Path,
        protocol: str,
        seed: int,
        overrides: dict[str, Any],
        repro: dict[str, Any],
    ) -> TaskResult:
        from ivifbench.datasets import DATASETS
        from ivifbench.tasks.sod import data as sod_data
        from ivifbench.tasks.sod import engine

        t_start = time.perf_counter()
        known = _train_fields() | set(RUN_OPTIONS)
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise IvifError(f"unknown sod setting '{unknown[0]}' (known: {', '.join(sorted(known))})")
        settings = {**PROTOCOLS[protocol], **{k: v for k, v in overrides.items() if k in _train_fields()}}
        cfg = engine.TrainConfig(**settings)
        _check_settings(cfg)
        opts = {k: overrides[k] for k in RUN_OPTIONS if k in overrides}
        limit = opts.get("limit")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise IvifError(f"limit must be a positive integer, got {limit!r}")
        fused = Path(fused) if fused is not None else None
        if fused is not None and not fused.is_dir():
            raise InputError(f"{fused}: fused-image folder not found")
        out.mkdir(parents=True, exist_ok=True)

        engine.resolve_device(cfg.device)
        checkpoint = opts.get("checkpoint")
        if protocol == "paper" and not cfg.pretrained and not checkpoint:
            raise IvifError(
                "the paper protocol fine-tunes an ImageNet-pretrained MiT encoder: pass --set pretrained=<mit_b2 .pth> "
                "(NVlabs' mit_b2.pth or mmseg's mit_b2_20220624-66e8bf70.pth; another variant with backbone=mit_bX)"
            )
        reader = DATASETS.get(dataset)(root)
        eval_split = sod_data.split_named(reader, "test")
        details: dict[str, Any] = {
            "dataset_root": str(reader.root),
            "fused": str(fused) if fused is not None else None,
            "input": "fused" if fused is not None else "visible",
            "eval_split": eval_split or "all",
            "maps": str(out / "maps"),
            "data": str(out / "data"),
        }
        # everything that can fail on the user's input fails here, before the long part
        if checkpoint:
            path = Path(str(checkpoint).replace("{seed}", str(seed)))
            model, meta = engine.load_model(path, cfg)
            details.update({"trained": False, "checkpoint": str(path), "checkpoint_meta": meta})
        else:
            train_reader, train_fused, train_split = self._train_source(reader, dataset, fused, opts)
            details.update(
                {
                    "trained": True,
                    "train_dataset": train_reader.name,
                    "train_root": str(train_reader.root),
                    "train_fused": str(train_fused) if train_fused is not None else None,
                    "train_split": train_split,
                }
            )
        t0 = time.perf_counter()
        test = sod_data.prepare(reader, eval_split, fused, out / "data", limit=limit)
        details["eval_images"] = len(test)
        train_log: dict[str, Any] = {}
        if not checkpoint:
            train = sod_data.prepare(train_reader, train_split, train_fused, out / "data", limit=limit)
        prepare_s = time.perf_counter() - t0
        if not checkpoint:
            model = engine.build_model(cfg)
            progress = _print_progress(cfg.iters) if opts.get("progress") else None
            train_log = engine.train(model, train, cfg, seed, progress=progress)
            if opts.get("save_model", True):
                saved = engine.save_checkpoint(
                    model, cfg, out / "model.pth", {"seed": seed, "train_dataset": train_reader.name}
                )
                details["model"] = str(saved)

        for stale in (out / "maps").glob("*.png"):  # a rerun into the same folder must not leave other runs' maps
            stale.unlink()
        metrics, eval_log = engine.predict(model, test, cfg, out / "maps", batch=opts.get("eval_batch"))
        details.update(
            {
                "protocol_settings": cfg.to_dict(),
                "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in opts.items()},
                "overrides": {k: (str(v) if isinstance(v, Path) else v) for k, v in overrides.items()},
                "loss": "bce+iou",
                "scoring": "pysodmetrics 1.6.2: Sm alpha=0.5; F beta^2=0.3 (curve averaged over images, then max/mean); "
                "adaptive threshold min(2*mean, 1); E-measure likewise; wF beta=1; GT > 128",
                "timings_s": {
                    "prepare": round(prepare_s, 3),
                    **{k: round(v, 3) for k, v in train_log.items() if k.endswith("_s")},
                    "eval": round(eval_log["eval_s"], 3),
                    "total": round(time.perf_counter() - t_start, 3),
                },
                "train_images": train_log.get("train_images", 0),
                "loss_log": train_log.get("loss", []),
                "versions": _versions(),
                "torch_threads": repro["torch_threads"],
                "reproducibility": repro,
            }
        )
        result = TaskResult(self.name, dataset, protocol, int(seed), metrics, details)
        result.write_json(out / "metrics.json")
        return result

    @staticmethod
    def _train_source(
        reader: Any, dataset: str, fused: Path | None, opts: dict[str, Any]
    ) -> tuple[Any, Path | None, str]:
        """(reader, fused folder, split) to train on: VT5000 Train, from this dataset or from ``train_root``."""
        from ivifbench.datasets import DATASETS
        from ivifbench.tasks.sod.data import split_named

        train_root = opts.get("train_root")
        if train_root is None:
            split = split_named(reader, "train")
            if split is None:
                raise IvifError(
                    f"{dataset} has no training split: evaluate it with a network trained on VT5000, "
                    f"--set checkpoint=<vt5000 run>/seed{{seed}}/model.pth, or --set train_root=<VT5000 root> "
                    f"(with --set train_fused=<the method's fused VT5000 images>)"
                )
            return reader, fused, split
        train_reader = DATASETS.get("vt5000")(Path(str(train_root)))
        train_fused = opts.get("train_fused")
        if fused is not None and train_fused is None:
            raise IvifError(
                f"--fused names {dataset} fused images, but training on VT5000 needs the same method's fused VT5000 "
                "images: add --set train_fused=DIR"
            )
        if train_fused is not None:
            train_fused = Path(str(train_fused))
            if not train_fused.is_dir():
                raise InputError(f"{train_fused}: train_fused folder not found")
        split = split_named(train_reader, "train")
        if split is None:  # pragma: no cover - the VT5000 reader always has Train
            raise IvifError(f"{train_reader.root}: the VT5000 reader has no Train split")
        return train_reader, train_fused, split


def _check_settings(cfg: Any) -> None:
    from ivifbench.tasks.sod.model import variant_name

    variant_name(cfg.backbone)
    for key in ("size", "batch", "iters"):
        value = getattr(cfg, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise IvifError(f"{key} must be a positive integer, got {value!r}")
    if cfg.size % 32:
        raise IvifError(f"size must be a multiple of 32 (SegFormer's coarsest stride), got {cfg.size}")
    if not isinstance(cfg.lr, int | float) or cfg.lr <= 0:
        raise IvifError(f"lr must be a positive number, got {cfg.lr!r}")
    if cfg.pretrained is not None and not Path(str(cfg.pretrained)).is_file():
        raise InputError(f"{cfg.pretrained}: pretrained MiT weights not found (pass pretrained=<mit_bX .pth file>)")
    if cfg.pretrained is not None:
        cfg.pretrained = str(cfg.pretrained)


def _print_progress(total: int):
    import sys

    def show(it: int, loss: float) -> None:
        print(f"sod: iter {it}/{total} loss {loss:.4f}", file=sys.stderr, flush=True)

    return show


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("torch", "pysodmetrics", "mmsegmentation", "mmengine", "mmcv-lite", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out
