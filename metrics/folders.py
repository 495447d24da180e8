"""``score_folders``: pair IR, visible and fused folders by file stem and score every triple."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from PIL import Image

if TYPE_CHECKING:
    from rich.progress import Progress

from ivifbench.errors import InputError
from ivifbench.imageio import list_images, pair_folders, read_image
from ivifbench.metrics import engine
from ivifbench.metrics.conventions import CONVENTIONS
from ivifbench.metrics.engine import compute, resolve_metrics
from ivifbench.metrics.strips import compact_grey

COLUMNS = ["image", "metric", "convention", "value"]


def read_raw(path: str | Path) -> np.ndarray:
    """An image as H×W×C holding its raw 8-bit values 0..255 (channels kept; grey-as-RGB becomes 1 channel).

    8-bit files give the exact integers on disk as uint8 (converted to float64 by ``compute``, a strip at a time for
    large images); 16-bit files are rescaled to 0..255 in float64 (not integer-valued).
    """
    img = read_image(path, "any", native=True)
    if img.pixels.dtype == np.uint8:  # the 8-bit file's values, as they are (compute converts them)
        return img.pixels
    return img.pixels.astype(np.float64) * 255.0


def _triples(ir_dir: str | Path, vis_dir: str | Path, fused_dir: str | Path) -> list[tuple[str, Path, Path, Path]]:
    pairs = pair_folders(ir_dir, vis_dir)
    fused = list_images(fused_dir)
    out = []
    for stem, ir_path, vis_path in pairs:
        if stem not in fused:
            raise InputError(
                f"{fused_dir}: no fused image named '{stem}.*' for the pair {ir_path.name}/{vis_path.name}; "
                "fuse it or remove the pair"
            )
        out.append((stem, ir_path, vis_path, fused[stem]))
    return out


def _load(triple: tuple[str, Path, Path, Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, ir_path, vis_path, fused_path = triple
    ir, vis, fused = read_raw(ir_path), read_raw(vis_path), read_raw(fused_path)
    if ir.shape[:2] != vis.shape[:2]:
        raise InputError(
            f"{ir_path} is {ir.shape[1]}×{ir.shape[0]} but {vis_path} is {vis.shape[1]}×{vis.shape[0]}; "
            "the pair must be registered to one size"
        )
    if fused.shape[:2] != vis.shape[:2]:
        raise InputError(
            f"{fused_path} is {fused.shape[1]}×{fused.shape[0]} but its sources are {vis.shape[1]}×{vis.shape[0]}; "
            "fused images must keep the source size"
        )
    return fused, ir, vis


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file header alone, or None when unreadable (decoding then reports it properly)."""
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, SyntaxError, ValueError):
        return None


def plan_units(sizes: list[tuple[int, int] | None], batch_size: int, pixels: int) -> list[list[int]]:
    """Indices grouped into work units: one size per unit, grouped across the whole folder (not only consecutive
    images), at most ``batch_size`` images and, when ``pixels`` > 0, at most that many pixels per plane (but at least
    one image: compute() scores a CPU batch in chunks of that size anyway). Largest units first, so that the last unit to finish is a small one."""
    groups: dict[tuple[int, int] | None, list[int]] = {}
    for i, size in enumerate(sizes):
        groups.setdefault(size, []).append(i)
    units: list[tuple[int, list[int]]] = []
    for size, idx in groups.items():
        area = size[0] * size[1] if size else 1
        per = batch_size if pixels <= 0 else max(1, min(batch_size, pixels // area))
        units += [(area * len(idx[i : i + per]), idx[i : i + per]) for i in range(0, len(idx), per)]
    units.sort(key=lambda u: -u[0])  # stable: equal work keeps folder order
    return [idx for _, idx in units]


def score_folders(
    ir_dir: str | Path,
    vis_dir: str | Path,
    fused_dir: str | Path,
    metrics: str | list[str] | None = None,
    convention: str = "canonical",
    batch_size: int = 8,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Score every fused image against its IR/visible pair (matched by file stem).

    Args:
        ir_dir, vis_dir, fused_dir: folders of images; IR and visible must pair one to one, and every pair needs a
            fused image of the same size (extra fused files are ignored).
        metrics: names, ``"EN,SD"`` or ``None``/``"all"`` (every metric of the convention).
        convention: see :data:`ivifbench.metrics.CONVENTIONS`.
        batch_size: images of one size scored together (grouped across the whole folder).
        device: where to compute; default CUDA when available, else CPU.
        progress: show a progress bar on stderr.

    On a CPU, ``torch.get_num_threads()`` workers each decode and score one unit (a few images of one size) at a time
    with single-threaded torch, so one worker's decoding overlaps another's scoring; on a GPU, decoding runs in
    threads ahead of the scoring. Every value is per image, so neither the grouping nor the thread count changes it.

    Returns:
        Long table with columns ``image, metric, convention, value`` (one row per image and metric, in the folder's
        order).

    Raises:
        InputError: a file without its partner, a missing fused image, a size mismatch or an unreadable file (the
            message names the file).
    """
    names = resolve_metrics(metrics, convention)
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    triples = _triples(ir_dir, vis_dir, fused_dir)
    on_cpu = dev.type == "cpu"
    sizes = [_header_size(t[1]) for t in triples]
    units = plan_units(sizes, batch_size, engine.CPU_CHUNK_PIXELS if on_cpu else 0)
    large = threading.Lock()  # images scored in strips are decoded and scored one at a time (memory, not speed)

    def work(unit: list[int]) -> int:
        size = sizes[unit[0]]
        if size is not None and 0 < engine.STRIP_MIN_PIXELS < size[0] * size[1]:
            with large:
                return score(load(unit))
        return score(load(unit))

    values = np.empty((len(triples), len(names)), dtype=np.float64)

    conv = CONVENTIONS.get(convention)

    def load(unit: list[int]) -> list[tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        out = []
        for i in unit:
            item = _load(triples[i])
            h, w = item[0].shape[:2]
            if on_cpu and 0 < engine.STRIP_MIN_PIXELS < h * w:  # scored in strips: hold colour as its uint8 grey
                item = (compact_grey(item[0], conv), compact_grey(item[1], conv), compact_grey(item[2], conv))
            out.append((i, item))
        return out

    def score(loaded: list[tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]]]) -> int:
        # the header size groups the unit; the decoded channel layout (grey, RGB, grey stored as RGB) splits it further
        by_layout: dict[tuple[tuple[int, ...], ...], list[int]] = {}
        for k, (_, item) in enumerate(loaded):
            by_layout.setdefault(tuple(a.shape for a in item), []).append(k)
        # the decoded arrays are released as they are copied into the batch tensors (a large image is not held twice)
        arrays: list[list[np.ndarray | None]] = [list(item) for _, item in loaded]
        order = [i for i, _ in loaded]
        loaded.clear()
        for ks in by_layout.values():

            def stack(j: int, ks: list[int] = ks) -> torch.Tensor:
                parts = [arrays[k][j] for k in ks]
                h, w, c = parts[0].shape  # type: ignore[union-attr]
                out = np.empty((len(ks), c, h, w), np.result_type(*parts))  # B×C×H×W, one copy
                for n, k in enumerate(ks):
                    out[n] = parts[n].transpose(2, 0, 1)  # type: ignore[union-attr]
                    parts[n] = arrays[k][j] = None
                return torch.from_numpy(out).to(dev)

            got = compute(stack(0), stack(1), stack(2), names, convention)
            block = torch.stack([got[n] for n in names], dim=1).detach().cpu().numpy()
            values[[order[k] for k in ks]] = block
        return len(order)

    bar, advance = _progress(progress, convention, len(triples))
    try:
        if on_cpu:
            workers = min(torch.get_num_threads(), len(units))
            if workers <= 1:
                for unit in units:
                    advance(score(load(unit)))
            else:
                threads = torch.get_num_threads()
                torch.set_num_threads(1)  # one intra-op thread per worker; n workers × n threads would oversubscribe
                try:
                    with ThreadPoolExecutor(workers, thread_name_prefix="ivifbench-score") as pool:
                        futures = [pool.submit(work, unit) for unit in units]
                        try:
                            for fut in as_completed(futures):
                                advance(fut.result())
                        except BaseException:
                            for fut in futures:
                                fut.cancel()
                            raise
                finally:
                    torch.set_num_threads(threads)
        else:  # decode ahead in threads while the device scores
            with ThreadPoolExecutor(min(4, os.cpu_count() or 1), thread_name_prefix="ivifbench-decode") as pool:
                pending = [pool.submit(load, unit) for unit in units[:2]]
                for k in range(len(units)):
                    if k + 2 < len(units):
                        pending.append(pool.submit(load, units[k + 2]))
                    advance(score(pending[k].result()))
    finally:
        if bar is not None:
            bar.stop()
    stems = np.array([t[0] for t in triples], dtype=object)
    return pd.DataFrame(
        {
            "image": np.repeat(stems, len(names)),
            "metric": np.tile(np.array(names, dtype=object), len(triples)),
            "convention": convention,
            "value": values.reshape(-1),
        },
        columns=COLUMNS,
    )


def _progress(show: bool, convention: str, total: int) -> tuple[Progress | None, Callable[[int], None]]:
    """A rich progress bar on stderr (started) and its advance function; (None, no-op) when not shown."""
    if not show:
        return None, lambda n: None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    task = bar.add_task(f"scoring ({convention})", total=total)
    bar.start()
    return bar, lambda n: bar.advance(task, n)
