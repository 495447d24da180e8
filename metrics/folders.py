"""``score_folders``: pair IR, visible and fused folders by file stem and score every triple."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ivifbench.errors import InputError
from ivifbench.imageio import list_images, pair_folders, read_image
from ivifbench.metrics.engine import compute, resolve_metrics

COLUMNS = ["image", "metric", "convention", "value"]


def read_raw(path: str | Path) -> np.ndarray:
    """An image as H×W×C float64 holding its raw 8-bit values 0..255 (channels kept; grey-as-RGB becomes 1 channel).

    8-bit files give the exact integers on disk; 16-bit files are rescaled to 0..255 (not integer-valued).
    """
    img = read_image(path, "any")
    raw = img.pixels.astype(np.float64) * 255.0
    return np.rint(raw) if img.bit_depth == 8 else raw


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
        batch_size: images scored together (consecutive images of one size and channel layout).
        device: where to compute; default CUDA when available, else CPU.
        progress: show a progress bar on stderr.

    Returns:
        Long table with columns ``image, metric, convention, value`` (one row per image and metric).

    Raises:
        InputError: a file without its partner, a missing fused image, a size mismatch or an unreadable file (the
            message names the file).
    """
    names = resolve_metrics(metrics, convention)
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    triples = _triples(ir_dir, vis_dir, fused_dir)
    rows: list[tuple[str, str, str, float]] = []

    def flush(stems: list[str], batch: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        def stack(k: int) -> torch.Tensor:
            arr = np.stack([b[k] for b in batch]).transpose(0, 3, 1, 2)
            return torch.from_numpy(np.ascontiguousarray(arr)).to(dev)

        values = compute(stack(0), stack(1), stack(2), names, convention)
        host = {n: v.detach().cpu().tolist() for n, v in values.items()}
        for i, stem in enumerate(stems):
            rows.extend((stem, n, convention, float(host[n][i])) for n in names)

    bar = None
    if progress:
        from rich.console import Console
        from rich.progress import Progress

        bar = Progress(console=Console(stderr=True), transient=True)
        task = bar.add_task(f"scoring ({convention})", total=len(triples))
        bar.start()
    try:
        stems: list[str] = []
        batch: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for triple in triples:
            item = _load(triple)
            key = tuple(a.shape for a in item)
            if batch and (len(batch) >= batch_size or tuple(a.shape for a in batch[0]) != key):
                flush(stems, batch)
                if bar is not None:
                    bar.advance(task, len(batch))
                stems, batch = [], []
            stems.append(triple[0])
            batch.append(item)
        if batch:
            flush(stems, batch)
            if bar is not None:
                bar.advance(task, len(batch))
    finally:
        if bar is not None:
            bar.stop()
    return pd.DataFrame(rows, columns=COLUMNS)
