"""Detection settings: one typed model per protocol (``quick``, ``paper``, ``frozen``); see the task's docstring."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ivifbench.tasks.settings import TaskSettings

__all__ = ["DetectionFrozen", "DetectionPaper", "DetectionQuick", "DetectionSettings"]

_NEVER = "ivifbench never downloads"


class DetectionSettings(TaskSettings):
    """What every detection protocol sets: evaluation, the split plan and how the dataset is written."""

    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    weights: str | None = Field(None, description="a local YOLO .pt ({seed} is replaced by the seed)")
    imgsz: int = Field(640, ge=32, description="input size (a multiple of 32)")
    batch: int = Field(16, ge=1, description="batch size")
    workers: int = Field(0, ge=0, description="dataloader workers")
    conf: float = Field(0.001, ge=0, description="confidence threshold of the evaluation")
    iou: float = Field(0.7, ge=0, description="NMS IoU threshold of the evaluation")
    split: str = Field(
        "default", description="default | m3fd-voc2coco | native | hash | FOLDER with train/val/test.txt"
    )
    eval_split: Literal["test", "val"] = Field("test", description="the split evaluated at the end")
    keep_difficult: bool = Field(False, description="keep VOC difficult boxes (ultralytics' VOC conversion drops them)")
    link: Literal["symlink", "copy"] = Field("symlink", description="symlink or copy the images into the YOLO dataset")

    @field_validator("imgsz")
    @classmethod
    def _stride(cls, v: int) -> int:
        if v % 32:
            raise ValueError(f"imgsz must be a multiple of 32 (YOLO's stride), got {v}")
        return v


class DetectionQuick(DetectionSettings):
    """YOLOv8n from its yaml, random init, CPU, a budget of optimiser steps (minutes on two cores)."""

    device: str = Field("cpu", description="auto | cpu | cuda | cuda:N")
    model: str | None = Field("yolov8n.yaml", description="architecture yaml (or a .pt with weights=)")
    epochs: int | None = Field(None, ge=1, description="epochs (none: from steps)")
    steps: int | None = Field(
        300, ge=1, description="optimiser steps; epochs = ceil(steps / batches per epoch) when epochs is none"
    )
    imgsz: int = Field(160, ge=32, description="input size (a multiple of 32)")
    batch: int = Field(8, ge=1, description="batch size")
    nbs: int | None = Field(None, ge=1, description="nominal batch size (none: = batch, no accumulation)")
    optimizer: str = Field("AdamW", description="ultralytics optimizer name")
    lr0: float = Field(0.002, ge=0, description="initial learning rate")
    lrf: float = Field(0.01, ge=0, description="final learning rate fraction")
    momentum: float = Field(0.9, ge=0, description="momentum / Adam beta1")
    weight_decay: float = Field(0.0005, ge=0, description="weight decay")
    warmup_epochs: float = Field(1.0, ge=0, description="warm-up epochs")
    mosaic: float = Field(0.0, ge=0, description="mosaic probability")
    close_mosaic: int = Field(0, ge=0, description="last epochs without mosaic")
    patience: int = Field(100, ge=0, description="early-stopping patience (epochs)")
    cache: bool | Literal["ram", "disk"] = Field(False, description="ultralytics image cache")
    amp: bool = Field(False, description="mixed precision (GPU only)")
    val_each_epoch: bool = Field(False, description="validate after every epoch")
    select: Literal["best", "last"] = Field("last", description="the checkpoint evaluated")

    @model_validator(mode="after")
    def _detector(self) -> DetectionQuick:
        if not self.weights and not self.model:
            raise ValueError("no detector: pass model=YAML (e.g. yolov8n.yaml) or weights=PATH")
        return self


class DetectionPaper(DetectionQuick):
    """Fine-tune the user's YOLOv8/YOLO11 checkpoint with ultralytics' fine-tuning defaults, on a GPU."""

    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    model: str | None = Field(None, description="architecture yaml (none: from the checkpoint)")
    epochs: int | None = Field(100, ge=1, description="epochs")
    steps: int | None = Field(None, ge=1, description="optimiser steps (used when epochs is none)")
    imgsz: int = Field(640, ge=32, description="input size (a multiple of 32)")
    batch: int = Field(16, ge=1, description="batch size")
    nbs: int | None = Field(64, ge=1, description="nominal batch size")
    optimizer: str = Field("SGD", description="ultralytics optimizer name (pinned: 8.4's auto picks MuSGD)")
    lr0: float = Field(0.01, ge=0, description="initial learning rate")
    momentum: float = Field(0.937, ge=0, description="momentum")
    warmup_epochs: float = Field(3.0, ge=0, description="warm-up epochs")
    mosaic: float = Field(1.0, ge=0, description="mosaic probability")
    close_mosaic: int = Field(10, ge=0, description="last epochs without mosaic")
    workers: int = Field(8, ge=0, description="dataloader workers")
    amp: bool = Field(True, description="mixed precision (GPU only)")
    val_each_epoch: bool = Field(True, description="validate after every epoch")
    select: Literal["best", "last"] = Field("best", description="the checkpoint evaluated")

    @model_validator(mode="after")
    def _detector(self) -> DetectionPaper:  # replaces the quick protocol's check: the checkpoint is required
        if not self.weights:
            raise ValueError(
                f"the paper protocol needs weights=PATH (pretrained YOLOv8/YOLO11 weights, a local .pt); {_NEVER}"
            )
        return self


class DetectionFrozen(DetectionSettings):
    """No training: evaluate the trained detector ``weights`` on the input images."""

    @model_validator(mode="after")
    def _weights(self) -> DetectionFrozen:
        if not self.weights:
            raise ValueError(
                f"the frozen protocol needs weights=PATH (the trained detector to evaluate, a local .pt); {_NEVER}"
            )
        return self
