"""SAGE training data: IR/visible pairs from any dataset reader, SAM patches, random crop + flip (sage.md §3a, §5).

Crops and flips are drawn from a generator seeded by (seed, epoch, index), so an epoch's batches are the same whether
a run goes straight through or is resumed, and nothing but the epoch number has to be stored to continue a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ivifbench.datasets.base import Pair
from ivifbench.errors import InputError
from ivifbench.fusion.sage.sam import SamPriors, semantic_patches, to_rgb_u8
from ivifbench.imageio import read_pair

IGNORE_INDEX = 255
PROBE_EPOCH = 2**31 - 1  # the crop seed of the fixed probe batch (no training epoch reaches it)


@dataclass(frozen=True)
class Sources:
    """One pair, full size: IR, Y and CrCb (visible converted as the inference path does), label or None."""

    ir: Tensor  # 1×H×W
    vis: Tensor  # C×H×W as read (RGB or grey), for SAM
    y: Tensor  # 1×H×W
    crcb: Tensor  # 2×H×W (0.5 for grey visible images)
    label: Tensor | None  # H×W int64


def load_sources(pair: Pair, read_labels: bool, palette: Sequence[Sequence[int]] | None = None) -> Sources:
    ir_img, vis_img = read_pair(pair.ir, pair.vis)
    ir = torch.from_numpy(ir_img.pixels).permute(2, 0, 1).contiguous()
    vis = torch.from_numpy(vis_img.pixels).permute(2, 0, 1).contiguous()
    if vis.shape[0] == 1:
        y, crcb = vis, torch.full((2, *vis.shape[1:]), 0.5)
    else:
        # the OpenCV 8-bit conversion the release trains on, when the file is 8-bit; the float one otherwise
        from ivifbench.color import luminance_and_chroma

        y, crcb = (t[0] for t in luminance_and_chroma(vis[None]))
    label = None
    if read_labels and pair.label is not None:
        from ivifbench.datasets.labels import read_label_map

        lab = read_label_map(pair.label, palette)
        if lab.shape != tuple(ir.shape[1:]):
            raise InputError(
                f"{pair.label}: label is {lab.shape[1]}×{lab.shape[0]}, images are {ir.shape[2]}×{ir.shape[1]}"
            )
        label = torch.from_numpy(lab.astype(np.int64))
    return Sources(ir, vis, y, crcb, label)


def pair_masks(priors: SamPriors, src: Sources) -> tuple[np.ndarray, np.ndarray]:
    """SAM masks of the visible (RGB, the release's BGR fixed) and IR images at full resolution; cached."""
    vis_masks = priors.masks(to_rgb_u8(src.vis.permute(1, 2, 0).numpy()))
    ir_masks = priors.masks(to_rgb_u8(src.ir[0].numpy()))
    return vis_masks, ir_masks


class SageTrainSet(Dataset[dict[str, Tensor]]):
    """Random ``crop`` (H, W) + horizontal flip (p = 0.5) of each pair, with its K SAM patches per modality.

    Items: dict with ``y``, ``ir`` (1×h×w), ``crcb`` (2×h×w), ``vi_patches``, ``ir_patches`` (K×h×w), ``label``
    (h×w int64, ``IGNORE_INDEX`` where there is none) and ``has_label``. Images smaller than the crop are padded
    with zeros (labels with the ignore index).
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        crop: tuple[int, int],
        priors: SamPriors | None,
        k: int = 4,
        seed: int = 0,
        read_labels: bool = False,
        palette: Sequence[Sequence[int]] | None = None,
        ignore_index: int = IGNORE_INDEX,
    ) -> None:
        self.pairs = list(pairs)
        self.crop = crop
        self.priors = priors
        self.k = k
        self.seed = seed
        self.read_labels = read_labels
        self.palette = palette
        self.ignore_index = ignore_index
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.pairs)

    def precompute_masks(self, progress: bool = True) -> None:
        """Run SAM on every pair not in the cache yet (minutes per image for ViT-B at the release's settings)."""
        if self.priors is None:
            return
        from tqdm import tqdm

        for pair in tqdm(self.pairs, desc="SAM masks", disable=not progress, leave=False):
            pair_masks(self.priors, load_sources(pair, False))

    def probe_batch(self, n: int) -> dict[str, Tensor]:
        """The first ``n`` pairs with one fixed crop and flip each (independent of the epoch), collated."""
        from torch.utils.data import default_collate

        epoch = self.epoch
        self.epoch = PROBE_EPOCH
        try:
            return default_collate([self[i] for i in range(min(n, len(self)))])
        finally:
            self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        src = load_sources(self.pairs[index], self.read_labels, self.palette)
        h, w = src.y.shape[1:]
        if self.priors is not None:
            vm, im = pair_masks(self.priors, src)
            vi_p, ir_p = semantic_patches(src.y, src.ir, torch.from_numpy(vm), torch.from_numpy(im), self.k)
        else:  # no SAM: every patch is the full image (the release's padding rule with zero masks)
            vi_p, ir_p = src.y.expand(self.k, -1, -1), src.ir.expand(self.k, -1, -1)
        label = src.label if src.label is not None else torch.full((h, w), self.ignore_index, dtype=torch.int64)
        # one stack so that every tensor gets the same crop and flip
        stack = torch.cat((src.y, src.ir, src.crcb, vi_p, ir_p, label[None].float()))
        ch, cw = self.crop
        if h < ch or w < cw:
            pad = torch.zeros(stack.shape[0], max(h, ch), max(w, cw))
            pad[-1] = self.ignore_index
            pad[:, :h, :w] = stack
            stack, h, w = pad, pad.shape[1], pad.shape[2]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        stack = stack[:, top : top + ch, left : left + cw]
        if rng.random() < 0.5:
            stack = stack.flip(-1)
        k = self.k
        return {
            "y": stack[0:1].contiguous(),
            "ir": stack[1:2].contiguous(),
            "crcb": stack[2:4].contiguous(),
            "vi_patches": stack[4 : 4 + k].contiguous(),
            "ir_patches": stack[4 + k : 4 + 2 * k].contiguous(),
            "label": stack[-1].round().long(),
            "has_label": torch.tensor(src.label is not None),
        }


def parse_crop(text: str) -> tuple[int, int]:
    """``"192x256"`` (H×W) → (192, 256)."""
    try:
        h, w = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise InputError(f"--crop must be HxW, e.g. 192x256 (got '{text}')") from None
    if h < 16 or w < 16:
        raise InputError(f"--crop {text}: both sides must be at least 16 (the SAM encoder's patch size)")
    return h, w
