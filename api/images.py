"""``score`` and ``fuse`` on images given as files, folders, numpy arrays or torch tensors.

Layouts: numpy arrays are H×W, H×W×C or N×H×W×C; tensors are H×W, C×H×W or N×C×H×W; C is 1 or 3 (a fourth, alpha,
channel is dropped). Pixel values by dtype: ``uint8`` as they are, ``uint16`` rescaled to 8-bit range, floats in
[0, 1] (what :func:`fuse` returns) quantised to 8 bits exactly as a saved PNG would be, so the numbers equal those of
``ivifbench score`` on the saved files; floats above 1 are taken as 0..255 values as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ivifbench.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from ivifbench.fusion.base import FusionMethod

ImageLike = Any  # str | Path | np.ndarray | torch.Tensor (torch stays unimported until needed)


def _is_tensor(x: object) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _to_nhwc(x: ImageLike, name: str) -> tuple[np.ndarray, str, list[str]]:
    """(N×H×W×C array in its own dtype, layout tag, image names). Layout tags: ``hw``, ``hwc``, ``nhwc``, ``chw``,
    ``nchw`` (the input's, for returning results in the same shape). A file is read as float32 in [0, 1]."""
    if isinstance(x, str | Path):
        from ivifbench.imageio import read_image

        pixels = read_image(x, "any").pixels  # float32 [0, 1], H×W×C
        return pixels[None], "hw" if pixels.shape[2] == 1 else "hwc", [Path(x).stem]
    if _is_tensor(x):
        arr = x.detach().cpu().numpy()
        layouts = {2: "hw", 3: "chw", 4: "nchw"}
        if arr.ndim not in layouts:
            raise InputError(f"{name}: a tensor must be H×W, C×H×W or N×C×H×W, got shape {tuple(arr.shape)}")
        layout = layouts[arr.ndim]
        arr = arr[None, None] if arr.ndim == 2 else arr[None] if arr.ndim == 3 else arr
        arr = arr.transpose(0, 2, 3, 1)
    elif isinstance(x, np.ndarray):
        layouts = {2: "hw", 3: "hwc", 4: "nhwc"}
        if x.ndim not in layouts:
            raise InputError(f"{name}: an array must be H×W, H×W×C or N×H×W×C, got shape {x.shape}")
        layout = layouts[x.ndim]
        arr = x[None, ..., None] if x.ndim == 2 else x[None] if x.ndim == 3 else x
    else:
        raise InputError(f"{name}: expected a file path, a numpy array or a torch tensor, got {type(x).__name__}")
    if arr.shape[3] == 4:
        arr = arr[..., :3]
    if arr.shape[3] not in (1, 3):
        raise InputError(f"{name}: images need 1 or 3 channels, got {arr.shape[3]} (shape {tuple(arr.shape)})")
    if arr.size == 0:
        raise InputError(f"{name}: empty image")
    return arr, layout, [str(i) for i in range(arr.shape[0])]


def _raw255(arr: np.ndarray, name: str) -> np.ndarray:
    """Pixel values as float64 on the 8-bit scale 0..255 (see the module docstring for the dtype rules)."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float64)
    if arr.dtype == np.uint16:
        return arr.astype(np.float64) * (255.0 / 65535.0)
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        out = arr.astype(np.float64)
        if out.min() < 0 or out.max() > 255:
            raise InputError(f"{name}: integer pixels must lie in 0..255 (or use uint16), got {out.min()}..{out.max()}")
        return out
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"{name}: unsupported pixel type {arr.dtype}")
    out = arr.astype(np.float64)
    if not np.isfinite(out).all():
        raise InputError(f"{name}: NaN or infinite pixels")
    lo, hi = float(out.min()), float(out.max())
    if lo < 0 or hi > 255:
        raise InputError(f"{name}: float pixels must lie in [0, 1] or 0..255, got {lo:.4g}..{hi:.4g}")
    if hi <= 1.0:
        from ivifbench.imageio import to_uint8

        return to_uint8(out).astype(np.float64)
    return out


def _unit(arr: np.ndarray, name: str) -> np.ndarray:
    """Pixel values as float32 in [0, 1] (the fusion methods' scale)."""
    if np.issubdtype(arr.dtype, np.floating) and float(arr.max(initial=0)) <= 1.0:
        if float(arr.min(initial=0)) < 0 or not np.isfinite(arr).all():
            raise InputError(f"{name}: float pixels must lie in [0, 1] or 0..255")
        return arr.astype(np.float32)
    return (_raw255(arr, name) / 255.0).astype(np.float32)


def score(
    ir: ImageLike,
    vis: ImageLike,
    fused: ImageLike,
    metrics: str | Iterable[str] | None = "default",
    convention: str = "canonical",
    *,
    as_dict: bool = False,
    device: str | None = None,
) -> pd.DataFrame | dict[str, Any]:
    """Fusion-quality metrics of ``fused`` against its infrared and visible sources.

    Args:
        ir, vis, fused: one image each (file, numpy array or tensor), a batch of equal-sized images (N×H×W×C arrays,
            N×C×H×W tensors), or three folders paired by file stem (as ``ivifbench score``). See the module docstring
            for layouts and value ranges.
        metrics: ``"default"`` (all but the slow FMI family and Qp), ``"all"``, ``"EN,SD"`` or a list of names.
        convention: whose published formulas to follow: ``canonical``, ``vifb``, ``tang``, ``tang-legacy``,
            ``cddfuse`` (it also fixes the colour handling).
        as_dict: return ``{metric: value}`` (one image) or ``{metric: [values]}`` instead of a DataFrame.
        device: ``cpu`` or ``cuda`` (default: CUDA when available for folders, else the CPU).

    Returns:
        A DataFrame with one row per image (index ``image``: the file stem, or the position in the batch) and one
        column per metric.

    Raises:
        InputError: a shape, size or range problem (the message names the input), an unknown metric or convention.

    >>> import numpy as np
    >>> ir = np.zeros((16, 16), np.uint8); ir[4:12, 4:12] = 200
    >>> vis = np.full((16, 16, 3), 90, np.uint8)
    >>> row = score(ir, vis, np.maximum(ir, 90).astype(np.uint8), metrics=["EN", "SD"], as_dict=True)
    >>> sorted(row), round(row["EN"], 4)
    (['EN', 'SD'], 0.8113)
    """
    import torch

    from ivifbench.metrics import compute, resolve_metrics

    names = resolve_metrics(metrics, convention)
    if all(isinstance(p, str | Path) and Path(p).is_dir() for p in (ir, vis, fused)):
        from ivifbench.metrics import score_folders

        long = score_folders(ir, vis, fused, names, convention, device=device, progress=False)
        wide = long.pivot(index="image", columns="metric", values="value")[names]
    else:
        arrays = {}
        for label, x in (("ir", ir), ("vis", vis), ("fused", fused)):
            if isinstance(x, str | Path):
                from ivifbench.metrics.folders import read_raw  # 16-bit files keep their precision, as in `score`

                arrays[label] = (read_raw(x)[None], [Path(x).stem])
            else:
                arr, _, ids = _to_nhwc(x, label)
                arrays[label] = (_raw255(arr, label), ids)
        n = {a.shape[0] for a, _ in arrays.values()}
        if len({a.shape[1:3] for a, _ in arrays.values()}) != 1 or len(n) != 1:
            shapes = ", ".join(f"{k} {a.shape[0]}×{a.shape[1]}×{a.shape[2]}" for k, (a, _) in arrays.items())
            raise InputError(f"ir, vis and fused must hold as many images of one size (N×H×W): {shapes}")
        dev = torch.device(device or "cpu")
        # np.array copies: a decoded file may be a read-only array, which torch would share (and warn about)
        t = {k: torch.from_numpy(np.array(a.transpose(0, 3, 1, 2), order="C")).to(dev) for k, (a, _) in arrays.items()}
        values = compute(t["fused"], t["ir"], t["vis"], names, convention)
        ids = arrays["fused"][1]
        import pandas as pd

        wide = pd.DataFrame({m: values[m].detach().cpu().numpy() for m in names}, index=pd.Index(ids, name="image"))
    wide.columns.name = None
    if as_dict:
        if len(wide) == 1:
            return {m: float(wide[m].iloc[0]) for m in wide.columns}
        return {m: [float(v) for v in wide[m]] for m in wide.columns}
    return wide


def fuse(
    method: str | FusionMethod,
    ir: ImageLike,
    vis: ImageLike,
    weights: str | Path | None = None,
    *,
    device: str = "cpu",
    **params: Any,
) -> np.ndarray | torch.Tensor:
    """Fuse an infrared and a visible image (or batches of them) with a registered method.

    Args:
        method: a registered name (``average``, ``max``, ``weighted``, ``laplacian``, ``dwt``, ``gff``, ``sage``, …;
            ``ivifbench methods list``) or a :class:`~ivifbench.fusion.FusionMethod` instance (reuse one for many
            calls to avoid reloading weights).
        ir, vis: files, numpy arrays or tensors of one size (see the module docstring); colour IR is reduced to its
            luma, the visible image keeps its colour.
        weights: the weights file, for methods that need one.
        device: where the method runs.
        params: the method's parameters (e.g. ``sigma=3.0`` for ``weighted``).

    Returns:
        The fused image as float32 in [0, 1], shaped like ``vis`` (numpy for arrays and files, a tensor for tensors).

    >>> import numpy as np
    >>> ir = np.array([[0, 255], [255, 0]], np.uint8)
    >>> vis = np.array([[255, 255], [0, 0]], np.uint8)
    >>> fuse("average", ir, vis)
    array([[0.5, 1. ],
           [0.5, 0. ]], dtype=float32)
    """
    import torch

    from ivifbench.fusion.base import FusionMethod

    if isinstance(method, FusionMethod):
        if weights is not None or params:
            raise InputError("pass weights and parameters when creating the method, not with an instance")
        m = method
    else:
        from ivifbench.fusion.registry import create_method

        m = create_method(method, weights=weights, device=device, **params)
    a, _, _ = _to_nhwc(ir, "ir")
    b, layout, _ = _to_nhwc(vis, "vis")
    a, b = _unit(a, "ir"), _unit(b, "vis")
    if a.shape[3] == 3:
        from ivifbench.imageio import rgb_to_luma

        a = rgb_to_luma(a)[..., None]
    if a.shape[:3] != b.shape[:3]:
        raise InputError(
            f"ir ({a.shape[0]}×{a.shape[1]}×{a.shape[2]}) and vis ({b.shape[0]}×{b.shape[1]}×{b.shape[2]}) must hold "
            "as many images of one size (N×H×W); register the pair first"
        )
    ti = torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
    tv = torch.from_numpy(np.ascontiguousarray(b.transpose(0, 3, 1, 2)))
    out = m(ti, tv).float().clamp(0, 1).cpu()
    if _is_tensor(vis):
        return out[0, 0] if layout == "hw" else out[0] if layout == "chw" else out
    arr = out.numpy().transpose(0, 2, 3, 1)
    if layout == "hw" or (layout == "hwc" and arr.shape[3] == 1 and isinstance(vis, str | Path)):
        return np.ascontiguousarray(arr[0, ..., 0])
    return np.ascontiguousarray(arr[0] if layout == "hwc" else arr)
