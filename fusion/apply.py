"""Run a fusion method over IR/visible pairs and write fused PNGs named by pair id."""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ivifbench.color import assume_8bit_grid
from ivifbench.errors import IvifError
from ivifbench.fusion.tiling import fuse_tiled, tile_plan
from ivifbench.fusion.tiling import tile_threshold as default_tile_threshold
from ivifbench.imageio import LoadedImage, as_float, read_pair, write_png
from ivifbench.malloc import tune_malloc
from ivifbench.progress import track

if TYPE_CHECKING:  # FusionMethod.produce calls in here
    from ivifbench.fusion.base import FusionMethod


_PENDING_WRITES = 4
_PENDING_BYTES = 256 << 20  # and at most this much of fused images waiting for the writer (beyond the newest one)


def disk_full(exc: BaseException | None) -> bool:
    """Whether a write failed because the disk (or the user's quota) is full: every later write would fail alike."""
    import errno

    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _header_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header without decoding it; (0, 0) when unreadable (reading reports it)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.size
    except Exception:  # any failure here is reported, one line, when the pair is read
        return (0, 0)


@dataclass
class FuseReport:
    """What a fusing pass did: written ids, and failed ids with a one-line reason each."""

    written: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def fuse_pairs(
    method: FusionMethod,
    pairs: Sequence[tuple[str, Path, Path]],
    out_dir: str | Path,
    *,
    batch_size: int = 1,
    progress: bool = True,
    skip_existing: bool = False,
    tile_threshold: int | None = None,
    tile_size: int | None = None,
) -> FuseReport:
    """Fuse ``(id, ir_path, vis_path)`` pairs into ``out_dir/<id>.png``.

    Pairs of one size and channel count are batched (up to ``batch_size``; with ``batch_size`` > 1 the list is first
    grouped by image size, read from the files' headers). A pair of more than
    ``tile_threshold`` pixels (default :func:`~ivifbench.fusion.tiling.tile_threshold`) is fused alone, in tiles of
    ``tile_size`` when its method declares a :meth:`~ivifbench.fusion.base.FusionMethod.tile_halo`. A pair that
    cannot be read, or a batch the method fails on, is recorded in the report and the others carry on.
    """
    import time

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tune_malloc()  # networks free and reallocate image-sized feature maps: reuse them instead of page-faulting anew
    report = FuseReport()
    start = time.perf_counter()
    todo = [p for p in pairs if not (skip_existing and (out_dir / f"{p[0]}.png").is_file())]
    order = {p[0]: i for i, p in enumerate(todo)}
    if batch_size > 1:  # pairs of one size side by side across the whole list, so that batches fill up
        todo.sort(key=lambda p: _header_size(p[2]))
    batch: list[tuple[str, torch.Tensor, torch.Tensor, bool]] = []  # (id, ir, vis, visible read from an 8-bit file)
    writer = ThreadPoolExecutor(1, thread_name_prefix="ivifbench-png")
    writes: list[tuple[str, Future[Path]]] = []
    checked = 0  # writes known to have succeeded (the writer finishes them in order)

    def stop_if_disk_full() -> None:
        """A full disk ends the pass with one error (OSError naming the file) instead of failing every later pair."""
        nonlocal checked
        while checked < len(writes) and writes[checked][1].done():
            exc = writes[checked][1].exception()
            if disk_full(exc):
                writer.shutdown(wait=True, cancel_futures=True)
                raise exc  # type: ignore[misc]
            checked += 1

    pending: deque[tuple[Future[Path], int]] = deque()

    def submit(pid: str, img: np.ndarray) -> None:
        # PNG encoding (zlib, GIL released) overlaps the next batch's reading and fusing
        fut = writer.submit(write_png, out_dir / f"{pid}.png", img)
        writes.append((pid, fut))
        pending.append((fut, img.nbytes))
        # bounded: fused images wait in memory for the writer, a few small ones or one large one
        while len(pending) > 1 and (
            len(pending) > _PENDING_WRITES or sum(n for _, n in list(pending)[:-1]) > _PENDING_BYTES
        ):
            wait([pending.popleft()[0]])

    def failure(exc: Exception) -> str:
        return f"{type(exc).__name__}: {exc}" if not isinstance(exc, IvifError) else str(exc)

    def flush() -> None:
        if not batch:
            return
        ids = [b[0] for b in batch]
        # 8-bit files are on the 8-bit grid by construction: skip the colour path's six passes that would check it
        grid: AbstractContextManager[None] = assume_8bit_grid(True) if all(b[3] for b in batch) else nullcontext()
        try:
            with grid:
                fused = method(torch.stack([b[1] for b in batch]), torch.stack([b[2] for b in batch]))
        except Exception as exc:  # a method's failure is recorded per pair; the pass carries on
            report.failed.update(dict.fromkeys(ids, failure(exc)))
        else:
            images = fused.permute(0, 2, 3, 1).float().cpu().numpy()
            for pid, img in zip(ids, images, strict=True):
                submit(pid, img)
        batch.clear()

    # the next pair is decoded while this one fuses; pairs above the tile threshold are read alone (memory)
    reader = ThreadPoolExecutor(1, thread_name_prefix="ivifbench-read")
    threshold = default_tile_threshold() if tile_threshold is None else tile_threshold

    @functools.cache  # asked for each pair twice (as the next pair, then as the current one)
    def whole(k: int) -> bool:
        w, h = _header_size(todo[k][2])
        return threshold <= 0 or w * h <= threshold

    def read(k: int) -> Future[tuple[LoadedImage, LoadedImage]]:
        return reader.submit(read_pair, todo[k][1], todo[k][2], native=True)  # 8-bit files stay uint8 until fused

    ahead: Future[tuple[LoadedImage, LoadedImage]] | None = None
    for k, (pid, _, _) in enumerate(track(todo, len(todo), f"fuse {method.info.name}", enabled=progress)):
        stop_if_disk_full()
        current = ahead if ahead is not None else read(k)
        ahead = read(k + 1) if k + 1 < len(todo) and whole(k) and whole(k + 1) else None
        try:
            ir, vis = current.result()
        except IvifError as exc:
            report.failed[pid] = str(exc)
            continue
        tiles = tile_plan(method, *ir.size, threshold=tile_threshold, size=tile_size)
        if tiles is not None:
            flush()
            try:
                fused_u8 = fuse_tiled(method, ir.pixels, vis.pixels, *tiles)
            except Exception as exc:  # as for a batch: this pair fails, the pass carries on
                report.failed[pid] = failure(exc)
            else:
                submit(pid, fused_u8)
            del ir, vis
            continue
        t_ir = torch.from_numpy(as_float(ir.pixels)).permute(2, 0, 1)
        t_vis = torch.from_numpy(as_float(vis.pixels)).permute(2, 0, 1)
        if batch and (batch[0][2].shape != t_vis.shape or len(batch) >= batch_size):
            flush()
        batch.append((pid, t_ir, t_vis, vis.pixels.dtype == np.uint8))
    flush()
    reader.shutdown(wait=True)
    writer.shutdown(wait=True)
    stop_if_disk_full()
    for pid, fut in writes:
        try:
            fut.result()
        except (OSError, ValueError) as exc:  # a full disk or an unwritable file fails that pair, not the pass
            report.failed[pid] = f"cannot write {out_dir / f'{pid}.png'}: {exc}"
        else:
            report.written.append(pid)
    report.written.sort(key=order.__getitem__)  # the caller's order, whatever order the batches ran in
    report.seconds = time.perf_counter() - start
    return report
