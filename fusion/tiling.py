"""Fuse one large pair tile by tile, so that a method's memory follows the tile, not the image.

A method that is local (its output at a pixel depends only on inputs within some radius) declares a :class:`Halo`
through :meth:`~ivifbench.fusion.base.FusionMethod.tile_halo`. Each tile is fused with that much context on every side
(clipped at the image's borders, where the method sees the same border as on the whole image) and only its core is
kept. Tile origins and the halo sit on multiples of ``align``, so that decimating methods (pyramids, wavelets, pooling
U-Nets) keep the whole image's sampling phase. Inputs stay uint8 where the files were 8-bit; the output is assembled
as uint8, exactly as the untiled path would round it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ivifbench.color import assume_8bit_grid, on_8bit_grid
from ivifbench.imageio import as_float, pixels_from_env, to_uint8

if TYPE_CHECKING:
    from ivifbench.fusion.base import FusionMethod

# Pairs above this many pixels are fused in tiles when their method allows it: 2 × 2048² (8.4 MP) keeps every common
# dataset (M3FD 0.8 MP, LLVIP 1.3 MP, 4K UHD 8.3 MP) on the whole-image path, bit for bit as before.
DEFAULT_TILE_THRESHOLD = 2 * 2048 * 2048
DEFAULT_TILE_SIZE = 2048  # core side of a tile (rounded up to the method's alignment)


@dataclass(frozen=True)
class Halo:
    """How a method can be tiled: ``pixels`` of context each side, tile origins on multiples of ``align``, and the
    side of a tile's core (``tile``; methods that hold many planes per pixel take smaller tiles)."""

    pixels: int
    align: int = 1
    tile: int = DEFAULT_TILE_SIZE


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


def tile_spans(n: int, size: int, halo: int) -> Iterator[tuple[int, int, int, int]]:
    """Along one axis of length ``n``: (read start, read end, core start, core end) for each tile."""
    for c0 in range(0, n, size):
        c1 = min(n, c0 + size)
        yield max(0, c0 - halo), min(n, c1 + halo), c0, c1


def tile_threshold() -> int:
    """Pixels above which a pair is tiled: ``IVIFBENCH_TILE_PIXELS`` (0: never), else :data:`DEFAULT_TILE_THRESHOLD`."""
    return pixels_from_env("IVIFBENCH_TILE_PIXELS", DEFAULT_TILE_THRESHOLD, "never tile")


def tile_plan(
    method: FusionMethod, height: int, width: int, *, threshold: int | None = None, size: int | None = None
) -> tuple[int, int] | None:
    """(tile size, halo), both on the method's alignment, for an H×W pair; None: fuse it whole.

    Whole when the pair has at most ``threshold`` pixels (default :func:`tile_threshold`), when the method declares
    no halo for it, or when one tile with its halo would read most of the image anyway. ``size``: the tile's core
    side instead of the method's.
    """
    threshold = tile_threshold() if threshold is None else threshold
    if threshold <= 0 or height * width <= threshold:
        return None
    halo = method.tile_halo(height, width)
    if halo is None:
        return None
    align = max(1, halo.align)
    size = _round_up(max(size or halo.tile, align), align)
    pad = _round_up(halo.pixels, align)
    if size + 2 * pad >= height and size + 2 * pad >= width:
        return None
    return size, pad


def _grid(vis: np.ndarray) -> bool:
    """:func:`on_8bit_grid` of the whole visible image, by rows (uint8 data is on the grid by construction)."""
    if vis.dtype == np.uint8:
        return True
    step = max(1, (1 << 22) // max(1, vis.shape[1] * vis.shape[2]))
    return all(on_8bit_grid(torch.from_numpy(vis[r : r + step])) for r in range(0, vis.shape[0], step))


def fuse_tiled(method: FusionMethod, ir: np.ndarray, vis: np.ndarray, size: int, halo: int) -> np.ndarray:
    """Fuse H×W×1 IR and H×W×C visible arrays (uint8 or float32) into an H×W×C uint8 image, tile by tile."""
    height, width, channels = vis.shape
    out = np.empty((height, width, channels), dtype=np.uint8)
    with assume_8bit_grid(_grid(vis)):
        for r0, r1, cr0, cr1 in tile_spans(height, size, halo):
            for c0, c1, cc0, cc1 in tile_spans(width, size, halo):
                t_ir = torch.from_numpy(as_float(ir[r0:r1, c0:c1])).permute(2, 0, 1)[None]
                t_vis = torch.from_numpy(as_float(vis[r0:r1, c0:c1])).permute(2, 0, 1)[None]
                fused = method(t_ir, t_vis)[0, :, cr0 - r0 : cr1 - r0, cc0 - c0 : cc1 - c0]
                out[cr0:cr1, cc0:cc1] = to_uint8(fused.permute(1, 2, 0).float().cpu().numpy())
    return out
