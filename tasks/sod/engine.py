"""Training and inference of the saliency network: BCE + IoU loss, AdamW with warm-up and poly decay, maps as PNGs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ivifbench.errors import IvifError
from ivifbench.seeding import torch_generator
from ivifbench.tasks.sod.data import SODSample, load_resized
from ivifbench.tasks.sod.model import SaliencyNet
from ivifbench.tasks.sod.scoring import SODScorer, read_map


@dataclass
class TrainConfig:
    """Everything that shapes one training run (recorded in ``TaskResult.details``)."""

    backbone: str = "mit_b0"
    decoder_channels: int | None = None  # None: SegFormer's (256 for B0/B1, 768 for B2-B5)
    pretrained: str | None = None  # ImageNet MiT weights file (mmseg or NVlabs keys); None trains from scratch
    size: int = 96  # square training/inference input side
    batch: int = 8
    iters: int = 300
    lr: float = 1e-3
    head_lr_mult: float = 1.0  # SegFormer fine-tuning uses 10 (the head learns faster than a pretrained encoder)
    weight_decay: float = 0.01
    warmup: int = 20  # linear warm-up iterations, then poly (power 1) decay to 0
    flip: bool = True  # random horizontal flips
    drop_path: float = 0.1
    device: str = "cpu"
    threads: int = 1  # torch CPU threads the run computes with (ivifbench.seeding.seeded pins them; restored after)
    log_every: int = 25

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def bce_iou_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Binary cross-entropy + (1 − soft IoU), each averaged over the batch (BASNet/F3Net-style SOD loss, unweighted).

    Args:
        logits: B×1×H×W raw scores.
        target: B×1×H×W ground truth in [0, 1] (soft targets allowed).
    """
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum(dim=(1, 2, 3))
    union = (prob + target - prob * target).sum(dim=(1, 2, 3))
    iou = 1.0 - (inter + 1.0) / (union + 1.0)
    return bce + iou.mean()


def _to_float(images: Tensor) -> Tensor:
    """B×H×W×3 uint8 → B×3×H×W float in [0, 1] (the network normalises with ImageNet statistics itself)."""
    return images.permute(0, 3, 1, 2).float().div_(255.0)


def lr_factor(it: int, cfg: TrainConfig) -> float:
    """Linear warm-up over ``cfg.warmup`` iterations, then poly (power 1) decay to 0 at ``cfg.iters``."""
    if cfg.warmup > 0 and it < cfg.warmup:
        return (it + 1) / cfg.warmup
    span = max(cfg.iters - cfg.warmup, 1)
    return max(1.0 - (it - cfg.warmup) / span, 0.0)


def resolve_device(name: str) -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:1"``... checked against what this machine has."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise IvifError(f"device '{name}' asked for, but torch sees no CUDA device; pass device=cpu")
    return device


def build_model(cfg: TrainConfig) -> SaliencyNet:
    """The network of ``cfg``, with its pretrained backbone loaded when one is named."""
    return SaliencyNet(cfg.backbone, cfg.decoder_channels, pretrained=cfg.pretrained, drop_path=cfg.drop_path)


def train(
    model: SaliencyNet,
    samples: Sequence[SODSample],
    cfg: TrainConfig,
    seed: int,
    progress: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place on ``samples`` for ``cfg.iters`` iterations; return the loss log and timings."""
    if not samples:
        raise IvifError("no training images")
    device = resolve_device(cfg.device)
    torch.manual_seed(seed)
    gen = torch_generator(seed)  # batch order and flips: a local stream
    t0 = time.perf_counter()
    images_np, masks_np = load_resized(samples, cfg.size)
    images = torch.from_numpy(images_np)
    masks = torch.from_numpy(masks_np)
    load_s = time.perf_counter() - t0
    model.to(device).train()
    head = [p for n, p in model.named_parameters() if ".decode_head." in f".{n}"]
    body = [p for n, p in model.named_parameters() if ".decode_head." not in f".{n}"]
    if not head or not body:  # pragma: no cover - guards the head_lr_mult split against a renamed module
        raise IvifError("cannot tell the SegFormer head from its encoder (no 'decode_head' parameters)")
    opt = torch.optim.AdamW(
        [{"params": body, "lr": cfg.lr}, {"params": head, "lr": cfg.lr * cfg.head_lr_mult}],
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
    )
    base_lrs = [g["lr"] for g in opt.param_groups]
    n = len(samples)
    batch = min(cfg.batch, n)
    order = torch.randperm(n, generator=gen)
    cursor = 0
    log: list[dict[str, float]] = []
    running = 0.0
    t1, c1 = time.perf_counter(), time.process_time()
    for it in range(cfg.iters):
        if cursor + batch > n:
            order, cursor = torch.randperm(n, generator=gen), 0
        idx = order[cursor : cursor + batch]
        cursor += batch
        x = _to_float(images[idx].to(device))
        y = masks[idx].to(device).unsqueeze(1).float().div_(255.0)
        if cfg.flip:
            flip = torch.rand(batch, generator=gen) < 0.5
            if flip.any():
                x[flip] = x[flip].flip(-1)
                y[flip] = y[flip].flip(-1)
        for group, base in zip(opt.param_groups, base_lrs, strict=True):
            group["lr"] = base * lr_factor(it, cfg)
        loss = bce_iou_loss(model(x), y)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise IvifError(f"training diverged at iteration {it + 1} (loss {value}); lower lr=")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running += value
        if (it + 1) % cfg.log_every == 0 or it + 1 == cfg.iters:
            k = (it % cfg.log_every) + 1
            log.append({"iter": it + 1, "loss": running / k})
            running = 0.0
            if progress is not None:
                progress(it + 1, log[-1]["loss"])
    return {
        "loss": log,
        "load_s": load_s,
        "train_s": time.perf_counter() - t1,
        "train_cpu_s": time.process_time() - c1,  # CPU seconds of this process (all its threads)
        "train_images": n,
    }


@torch.inference_mode()
def predict(
    model: SaliencyNet, samples: Sequence[SODSample], cfg: TrainConfig, maps: Path, batch: int | None = None
) -> tuple[dict[str, float], dict[str, Any]]:
    """Predict every sample at ``cfg.size``, resize each map to its GT's size, write ``maps/<id>.png`` and score it.

    The map is the sigmoid of the bilinearly resized logits, written as an 8-bit grey PNG; the score is computed from
    exactly those 8-bit values, so rescoring the folder with pysodmetrics gives the same numbers.
    """
    from ivifbench.imageio import write_png

    if not samples:
        raise IvifError("no evaluation images")
    device = resolve_device(cfg.device)
    model.to(device).eval()
    t0 = time.perf_counter()
    images_np, _ = load_resized(samples, cfg.size)
    scorer = SODScorer()
    step = batch or max(cfg.batch, 1)
    for start in range(0, len(samples), step):
        chunk = samples[start : start + step]
        logits = model(_to_float(torch.from_numpy(images_np[start : start + len(chunk)]).to(device)))
        for k, sample in enumerate(chunk):
            gt = read_map(sample.mask)
            up = F.interpolate(logits[k : k + 1], size=gt.shape, mode="bilinear", align_corners=False)
            prob = torch.sigmoid(up)[0, 0].float().cpu().numpy()
            pred = np.clip(np.floor(prob.astype(np.float64) * 255.0 + 0.5), 0, 255).astype(np.uint8)
            write_png(maps / f"{sample.id}.png", pred)
            scorer.step(pred, gt, name=str(sample.mask))
    return scorer.results(), {"eval_s": time.perf_counter() - t0, "eval_images": len(samples)}


def save_checkpoint(model: SaliencyNet, cfg: TrainConfig, path: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the weights and the settings that rebuild the network; loadable with ``weights_only=True``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": {"task": "sod", **model.arch, "size": cfg.size, **(extra or {})},
    }
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_model(path: str | Path, cfg: TrainConfig) -> tuple[SaliencyNet, dict[str, Any]]:
    """Rebuild a network saved by :func:`save_checkpoint` (weights-only); its architecture and ``size`` go into ``cfg``.

    Raises:
        InputError: the file is not an ivifbench SOD checkpoint.
    """
    from ivifbench.errors import InputError
    from ivifbench.networks.mmseg_compat import load_checkpoint

    ckpt = load_checkpoint(path)
    meta = ckpt.get("meta")
    if not isinstance(meta, dict) or meta.get("task") != "sod" or "state_dict" not in ckpt:
        raise InputError(
            f"{path}: not an ivifbench SOD checkpoint (write one with a vt5000 run: out/seed<k>/model.pth)"
        )
    cfg.backbone, cfg.decoder_channels, cfg.size = (
        str(meta["backbone"]),
        int(meta["decoder_channels"]),
        int(meta["size"]),
    )
    cfg.pretrained = None
    model = SaliencyNet(cfg.backbone, cfg.decoder_channels, drop_path=cfg.drop_path)
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as exc:
        raise InputError(
            f"{path}: weights do not fit a {cfg.backbone} saliency network ({str(exc).splitlines()[0]})"
        ) from exc
    return model, meta
