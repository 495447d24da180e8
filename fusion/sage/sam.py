"""SAM for SAGE: offline semantic priors from the automatic mask generator (sage.md §3a) and the truncated ViT
image encoder whose feature space the contrastive loss uses (§3b). Both are built from a checkpoint the user names.

Fixes to the release (sage.md §8): RGB (not BGR) goes into SAM; the truncated encoder must load every one of its
weights from the checkpoint, otherwise it is an error (the release could silently run a random encoder).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from ivifbench.errors import IvifError
from ivifbench.fusion.base import file_sha256
from ivifbench.fusion.sage.checkpoint import read_state_dict

# How many masks per image the cache keeps (the release's top 20 by area).
TOP_MASKS = 20


@dataclass(frozen=True)
class SamSize:
    """One SAM configuration: the image encoder and the prompt/mask-decoder widths, plus AMG settings."""

    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    window_size: int
    img_size: int
    prompt_dim: int
    mask_in_chans: int
    decoder_depth: int
    decoder_mlp_dim: int
    decoder_heads: int
    iou_head_depth: int
    iou_head_hidden_dim: int
    amg: dict[str, Any] = field(default_factory=dict)


# The release's AMG settings (sage.md §3a).
RELEASE_AMG: dict[str, Any] = {
    "points_per_side": 128,
    "pred_iou_thresh": 0.86,
    "stability_score_thresh": 0.92,
    "crop_n_layers": 1,
    "crop_n_points_downscale_factor": 2,
    "min_mask_region_area": 100,
    "output_mode": "binary_mask",
}

SAM_SIZES: dict[str, SamSize] = {
    # segment-anything's vit_b (sam_vit_b_01ec64.pth)
    "vit_b": SamSize(768, 12, 12, (2, 5, 8, 11), 14, 1024, 256, 16, 2, 2048, 8, 3, 256, RELEASE_AMG),
    # A toy configuration of the same classes for tests and demos on a CPU (random weights saved by the caller).
    # Its thresholds and NMS are off so that an untrained network still yields several masks.
    "tiny": SamSize(
        32,
        2,
        2,
        (),
        2,
        64,
        16,
        4,
        1,
        32,
        2,
        1,
        16,
        {
            "points_per_side": 4,
            "points_per_batch": 16,
            "pred_iou_thresh": -1e9,
            "stability_score_thresh": -1e9,
            "box_nms_thresh": 1.0,
            "crop_n_layers": 0,
            "min_mask_region_area": 0,
            "output_mode": "binary_mask",
        },
    ),
}


def sam_size(name: str) -> SamSize:
    if name not in SAM_SIZES:
        raise IvifError(f"unknown SAM size '{name}' (known: {', '.join(SAM_SIZES)})")
    return SAM_SIZES[name]


def _image_encoder(cfg: SamSize, depth: int, global_attn: tuple[int, ...], abs_pos: bool) -> nn.Module:
    from segment_anything.modeling import ImageEncoderViT

    return ImageEncoderViT(
        depth=depth,
        embed_dim=cfg.embed_dim,
        img_size=cfg.img_size,
        mlp_ratio=4,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        num_heads=cfg.num_heads,
        patch_size=16,
        qkv_bias=True,
        use_rel_pos=True,
        use_abs_pos=abs_pos,
        global_attn_indexes=global_attn,
        window_size=cfg.window_size,
        out_chans=cfg.prompt_dim,
    )


def build_sam(size: str = "vit_b", checkpoint: str | Path | None = None) -> nn.Module:
    """segment-anything's ``Sam`` of the named size; ``checkpoint`` (if given) must match it key for key.

    We build the model ourselves and load with ``weights_only=True`` (segment-anything's builder unpickles freely).
    """
    from segment_anything.modeling import MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    cfg = sam_size(size)
    emb = cfg.img_size // 16
    sam = Sam(
        image_encoder=_image_encoder(cfg, cfg.depth, cfg.global_attn_indexes, abs_pos=True),
        prompt_encoder=PromptEncoder(
            embed_dim=cfg.prompt_dim,
            image_embedding_size=(emb, emb),
            input_image_size=(cfg.img_size, cfg.img_size),
            mask_in_chans=cfg.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=cfg.decoder_depth,
                embedding_dim=cfg.prompt_dim,
                mlp_dim=cfg.decoder_mlp_dim,
                num_heads=cfg.decoder_heads,
            ),
            transformer_dim=cfg.prompt_dim,
            iou_head_depth=cfg.iou_head_depth,
            iou_head_hidden_dim=cfg.iou_head_hidden_dim,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    if checkpoint is not None:
        sd = read_state_dict(checkpoint)
        result = sam.load_state_dict(sd, strict=False)
        if result.missing_keys or result.unexpected_keys:
            bad = (result.missing_keys or result.unexpected_keys)[0]
            raise IvifError(
                f"{checkpoint}: not a SAM '{size}' checkpoint ({len(result.missing_keys)} missing, "
                f"{len(result.unexpected_keys)} unexpected keys, e.g. {bad}); pass --sam-size to match it"
            )
    return sam.eval()


# --------------------------------------------------------------------------------------------------------------------
# (b) the truncated encoder: the contrastive loss's feature space
# --------------------------------------------------------------------------------------------------------------------


class SamFeatureEncoder(nn.Module):
    """SAM's ViT image encoder cut after 2 blocks (both windowed, relative position, no absolute position, no neck).

    ``forward(x)`` takes B×1×H×W (or B×3) images in [0, 1], repeats grey to 3 channels with no mean/std normalisation
    and no padding to 1024 (as the release does), and returns the features after blocks 0 and 1, each B×C×H/16×W/16.
    Frozen: parameters do not train, gradients flow to the input.
    """

    def __init__(self, size: str = "vit_b", blocks: int = 2) -> None:
        super().__init__()
        enc = _image_encoder(sam_size(size), blocks, (), abs_pos=False)
        self.patch_embed = cast(nn.Module, enc.patch_embed)
        self.blocks = cast(nn.ModuleList, enc.blocks)  # the neck is dropped

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, size: str = "vit_b") -> SamFeatureEncoder:
        """Load from a full SAM checkpoint (``image_encoder.*`` keys) or an encoder-only export (no prefix).

        Every weight of the truncated encoder must be present with the right shape; otherwise this raises instead of
        leaving a random encoder (the release's silent failure, sage.md §3b).
        """
        enc = cls(size)
        sd = read_state_dict(checkpoint)
        own = enc.state_dict()
        prefix = "image_encoder." if any(k.startswith("image_encoder.") for k in sd) else ""
        picked = {k: sd[prefix + k] for k in own if prefix + k in sd}
        missing = [k for k in own if k not in picked]
        wrong = [k for k in picked if tuple(picked[k].shape) != tuple(own[k].shape)]
        if missing or wrong:
            what = f"missing {missing[0]}" if missing else f"{wrong[0]} has shape {tuple(picked[wrong[0]].shape)}"
            raise IvifError(
                f"{checkpoint}: the SAM encoder for the contrastive loss did not load ({len(missing)} of {len(own)} "
                f"weights missing, {len(wrong)} of another shape; {what}). Pass the SAM '{size}' checkpoint "
                "(e.g. sam_vit_b_01ec64.pth) or set --sam-size to match it."
            )
        enc.load_state_dict(picked, strict=True)
        for p in enc.parameters():
            p.requires_grad_(False)
        return enc.eval()

    def train(self, mode: bool = True) -> SamFeatureEncoder:
        return super().train(False)  # always frozen (LayerNorm only, but keep it explicit)

    def forward(self, x: Tensor) -> list[Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        t = self.patch_embed(x)  # B×h×w×C
        feats = []
        for blk in self.blocks:
            t = blk(t)
            feats.append(t.permute(0, 3, 1, 2))
        return feats


# --------------------------------------------------------------------------------------------------------------------
# (a) the offline semantic priors, cached per image
# --------------------------------------------------------------------------------------------------------------------


class SamPriors:
    """SAM automatic masks for IR and visible images, cached on disk as ``.npz`` keyed by image and settings.

    Args:
        checkpoint: the SAM checkpoint the user named.
        size: its configuration (``vit_b`` for ``sam_vit_b_01ec64.pth``; ``tiny`` for tests).
        cache_dir: where the ``.npz`` files go.
        device: where SAM runs.
        amg_overrides: replace any of the AMG settings (e.g. ``points_per_side``).
    """

    def __init__(
        self,
        checkpoint: str | Path,
        size: str,
        cache_dir: str | Path,
        device: str | torch.device = "cpu",
        amg_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.checkpoint = Path(checkpoint)
        if not self.checkpoint.is_file():
            raise IvifError(f"{self.checkpoint}: SAM checkpoint not found (pass the file with --sam-checkpoint)")
        self.size = size
        self.cache_dir = Path(cache_dir)
        self.device = torch.device(device)
        self.amg = {**sam_size(size).amg, **(amg_overrides or {})}
        self._generator: Any = None
        self.key = hashlib.sha256(
            json.dumps(
                {"ckpt": file_sha256(self.checkpoint), "size": asdict(sam_size(size)) | {"amg": self.amg}},
                sort_keys=True,
                default=str,
            ).encode()
        ).hexdigest()[:12]

    def settings(self) -> dict[str, Any]:
        return {"checkpoint": str(self.checkpoint), "size": self.size, "amg": self.amg, "key": self.key}

    def _mask_generator(self) -> Any:
        if self._generator is None:
            from segment_anything import SamAutomaticMaskGenerator

            sam = build_sam(self.size, self.checkpoint).to(self.device)
            self._generator = SamAutomaticMaskGenerator(sam, **self.amg)
        return self._generator

    def cache_path(self, image_u8: np.ndarray) -> Path:
        h = hashlib.sha256(np.ascontiguousarray(image_u8).tobytes())
        h.update(repr(image_u8.shape).encode())
        return self.cache_dir / f"{h.hexdigest()[:20]}-{self.key}.npz"

    def masks(self, image_u8: np.ndarray) -> np.ndarray:
        """Up to 20 binary masks (n×H×W bool), largest first, for an H×W×3 RGB uint8 image; cached."""
        path = self.cache_path(image_u8)
        if path.is_file():
            with np.load(path) as z:
                n, h, w = (int(v) for v in z["shape"])
                return np.unpackbits(z["bits"], count=n * h * w).reshape(n, h, w).astype(bool)
        with torch.inference_mode():
            records = self._mask_generator().generate(image_u8)
        records.sort(key=lambda r: int(r["area"]), reverse=True)
        h, w = image_u8.shape[:2]
        masks = np.stack([r["segmentation"] for r in records[:TOP_MASKS]]) if records else np.zeros((0, h, w), bool)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.npz")
        np.savez_compressed(tmp, bits=np.packbits(masks.reshape(-1)), shape=np.array(masks.shape))
        tmp.replace(path)
        return masks


def semantic_patches(y: Tensor, ir: Tensor, vi_masks: Tensor, ir_masks: Tensor, k: int = 4) -> tuple[Tensor, Tensor]:
    """The K masked intensity patches per modality (sage.md §3a, "At load time").

    Args:
        y, ir: 1×H×W source intensities.
        vi_masks, ir_masks: n_vi×H×W and n_ir×H×W boolean masks, largest first.
        k: patches per modality.
    Returns:
        (K×H×W VIS patches = Y inside the k-th VIS mask, K×H×W IR patches). Indices are the first k where both the
        IR and the VIS mask exist and are non-empty; missing ones are padded with the full image. The k-th IR and VIS
        regions are not matched to each other, as in the release.
    """
    n = min(len(vi_masks), len(ir_masks))
    both = [i for i in range(n) if bool(vi_masks[i].any()) and bool(ir_masks[i].any())][:k]
    vi_p = [y[0] * vi_masks[i] for i in both] + [y[0]] * (k - len(both))
    ir_p = [ir[0] * ir_masks[i] for i in both] + [ir[0]] * (k - len(both))
    return torch.stack(vi_p), torch.stack(ir_p)


def to_rgb_u8(x: np.ndarray) -> np.ndarray:
    """H×W×{1,3} float [0, 1] → H×W×3 uint8 RGB (grey repeated), SAM's input format."""
    u8 = np.clip(np.floor(x * 255.0 + 0.5), 0, 255).astype(np.uint8)
    if u8.ndim == 2:
        u8 = u8[..., None]
    return np.repeat(u8, 3, axis=2) if u8.shape[2] == 1 else u8
