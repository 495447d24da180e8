"""SOD settings: one typed model per protocol (``quick``, ``paper``); see the task's docstring."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from ivifbench.tasks.settings import TaskSettings

__all__ = ["SODPaper", "SODQuick"]

_TRAIN_FIELDS = (
    "backbone",
    "decoder_channels",
    "pretrained",
    "size",
    "batch",
    "iters",
    "lr",
    "head_lr_mult",
    "weight_decay",
    "warmup",
    "flip",
    "drop_path",
    "device",
    "threads",
    "log_every",
)


class SODQuick(TaskSettings):
    """CPU, from scratch, minutes: MiT-B0 with a narrow (64-channel) head on 96×96 inputs, 1500 iterations.

    About 250 CPU-seconds of training on one core; Sm 0.93 / MAE 0.028 on a 200-pair replica (README.md).
    """

    backbone: str = Field("mit_b0", description="MiT encoder (mit_b0..mit_b5)")
    decoder_channels: int | None = Field(64, ge=1, description="decoder width (none: SegFormer's)")
    pretrained: str | None = Field(None, description="ImageNet MiT weights, a local .pth")
    size: int = Field(96, ge=32, description="square input side (a multiple of 32)")
    batch: int = Field(8, ge=1, description="batch size")
    iters: int = Field(1500, ge=1, description="training iterations")
    lr: float = Field(2e-3, gt=0, description="AdamW learning rate")
    head_lr_mult: float = Field(1.0, ge=0, description="decoder learning-rate multiplier")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    warmup: int = Field(20, ge=0, description="linear warm-up iterations, then poly decay")
    flip: bool = Field(True, description="random horizontal flips")
    drop_path: float = Field(0.1, ge=0, description="stochastic depth rate")
    log_every: int = Field(25, ge=1, description="iterations between loss records")
    checkpoint: str | None = Field(
        None, description="a model.pth from an earlier VT5000 run: evaluate with it, no training ({seed} replaced)"
    )
    train_root: str | None = Field(None, description="VT5000 root to train on when evaluating VT821/VT1000")
    train_fused: str | None = Field(None, description="the method's fused VT5000 images for train_root")
    eval_batch: int | None = Field(None, ge=1, description="inference batch size")
    save_model: bool = Field(True, description="write out/model.pth")

    @field_validator("size")
    @classmethod
    def _stride(cls, v: int) -> int:
        if v % 32:
            raise ValueError(f"size must be a multiple of 32 (SegFormer's coarsest stride), got {v}")
        return v

    @field_validator("backbone")
    @classmethod
    def _backbone(cls, v: str) -> str:
        from ivifbench.tasks.sod.model import variant_name

        variant_name(v)
        return v

    def train_config(self) -> dict[str, Any]:
        """The fields :class:`~ivifbench.tasks.sod.engine.TrainConfig` takes."""
        return {k: getattr(self, k) for k in _TRAIN_FIELDS}


class SODPaper(SODQuick):
    """SegFormer's fine-tuning recipe on 352×352 inputs (the usual RGB-T SOD size), 30k iterations, on a GPU."""

    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    backbone: str = Field("mit_b2", description="MiT encoder (mit_b0..mit_b5)")
    decoder_channels: int | None = Field(None, ge=1, description="decoder width (none: SegFormer's)")
    size: int = Field(352, ge=32, description="square input side (a multiple of 32)")
    iters: int = Field(30000, ge=1, description="training iterations (~100 epochs of VT5000 Train)")
    lr: float = Field(6e-5, gt=0, description="AdamW learning rate")
    head_lr_mult: float = Field(10.0, ge=0, description="decoder learning-rate multiplier")
    warmup: int = Field(1500, ge=0, description="linear warm-up iterations, then poly decay")

    @model_validator(mode="after")
    def _needs_pretrained(self) -> SODPaper:
        if not self.pretrained and not self.checkpoint:
            raise ValueError(
                "the paper protocol fine-tunes an ImageNet-pretrained MiT encoder: pass --set pretrained=<mit_b2 .pth> "
                "(NVlabs' mit_b2.pth or mmseg's mit_b2_20220624-66e8bf70.pth; another variant with backbone=mit_bX)"
            )
        return self
