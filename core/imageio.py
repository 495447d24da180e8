"""Image reading and writing that validates, so a bad file fails with one line naming it.

Reads 8- and 16-bit grey, grey+alpha, RGB and RGBA in PNG, JPEG, BMP and TIFF. Infrared images become one channel
(colour-stored grey IR, common in M3FD and TNO, is reduced by its luma); visible images keep three channels (grey
visible images are kept as one channel: grey datasets such as TNO stay grey end to end). Alpha is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from ivifbench.errors import InputError
from ivifbench.paths import temp_sibling

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
Role = Literal["ir", "vis", "fused", "any"]


@dataclass(frozen=True)
class LoadedImage:
    """An image as float32 H×W×C in [0, 1] (or, from :func:`read_image` with ``native=True``, the 8-bit file's uint8
    values), with what it was on disk."""

    pixels: np.ndarray
    path: Path
    bit_depth: int
    channels_on_disk: int

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.pixels.shape[0], self.pixels.shape[1]


def _to_array(img: Image.Image, path: Path) -> tuple[np.ndarray, int]:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img, dtype=np.uint16)
        return arr.astype(np.float32) / 65535.0, 16
    if mode == "I":  # 16-bit PNGs often open as 32-bit int
        arr = np.asarray(img)
        if arr.max(initial=0) > 65535 or arr.min(initial=0) < 0:
            raise InputError(f"{path}: 32-bit integer image; convert it to 8- or 16-bit PNG")
        return arr.astype(np.float32) / 65535.0, 16
    if mode == "F":
        raise InputError(f"{path}: floating-point image; save it as 8- or 16-bit PNG")
    if mode in ("1", "L", "P", "LA", "PA", "RGB", "RGBA", "CMYK", "YCbCr"):
        if mode in ("1", "P", "PA", "CMYK", "YCbCr"):
            img = img.convert("RGBA" if "A" in mode or img.info.get("transparency") is not None else "RGB")
        arr = np.asarray(img, dtype=np.uint8)
        if arr.ndim == 3 and arr.shape[2] in (2, 4):  # drop alpha
            arr = arr[..., :-1]
        return arr, 8  # uint8; read_image makes it float unless the caller wants the file's values
    raise InputError(f"{path}: unsupported image mode '{mode}'; use 8- or 16-bit grey or RGB")


def read_image(path: str | Path, role: Role = "any", *, native: bool = False) -> LoadedImage:
    """Read and validate one image.

    Args:
        path: the file.
        role: ``"ir"`` gives one channel; ``"vis"``/``"fused"``/``"any"`` keep one or three channels.
        native: keep an 8-bit file's values as uint8 (a quarter of the memory; :func:`as_float` gives exactly the
            float32 array ``native=False`` would); 16-bit files and colour-stored IR (its luma) are float32 either way.

    Raises:
        InputError: the file is missing, truncated, not an image, or has an unsupported depth or mode.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    limit = max_pixels()
    try:
        with Image.open(path) as img:
            w, h = img.size
            if limit and w * h > limit:  # checked before decoding: a decompression bomb costs nothing
                raise InputError(
                    f"{path}: {w}×{h} is {w * h / 1e6:.0f} megapixels, over the {limit / 1e6:.0f}-megapixel limit; "
                    "downscale it, or raise the limit with IVIFBENCH_MAX_PIXELS"
                )
            img.load()
            arr, depth = _to_array(img, path)
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path}: refused as a decompression bomb ({exc})") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: unreadable or truncated image ({exc}); re-export or remove it") from exc
    if arr.ndim == 2:
        arr = arr[..., None]
    channels = arr.shape[2]
    if channels == 3 and role == "ir":
        arr = rgb_to_luma(as_float(arr))[..., None]
    elif channels == 3 and np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]):
        arr = np.ascontiguousarray(arr[..., :1])  # grey stored as RGB
    if min(arr.shape[:2]) < 1:
        raise InputError(f"{path}: empty image")
    if not native:
        arr = as_float(arr)
    return LoadedImage(np.ascontiguousarray(arr), path, depth, channels)


def as_float(arr: np.ndarray) -> np.ndarray:
    """uint8 file values → float32 in [0, 1] (k / 255, divided in float32); float32 arrays are returned as they are."""
    if arr.dtype != np.uint8:
        return np.asarray(arr, dtype=np.float32)
    out = arr.astype(np.float32)
    out /= 255.0  # in place: the same float32 division as ``arr / 255.0`` without a second image-sized copy
    return out


DEFAULT_MAX_PIXELS = 100_000_000  # per image; 100 MP of float32 RGB is 1.2 GB before any method runs


def pixels_from_env(name: str, default: int, zero_means: str) -> int:
    """A pixel count from the environment variable ``name`` (``default`` when unset; ``1e6`` style accepted); a clear
    error, saying what ``0`` means (``zero_means``), when it is not a whole number ≥ 0."""
    import os

    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        value = -1
    if value < 0:
        raise InputError(f"{name}={raw!r}: give a whole number of pixels ≥ 0 (0: {zero_means})")
    return value


def max_pixels() -> int:
    """The per-image pixel limit: ``IVIFBENCH_MAX_PIXELS`` (0: none), else :data:`DEFAULT_MAX_PIXELS`."""
    return pixels_from_env("IVIFBENCH_MAX_PIXELS", DEFAULT_MAX_PIXELS, "no limit")


def rgb_to_luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma (OpenCV's weights) of an H×W×3 array."""
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def read_pair(ir_path: str | Path, vis_path: str | Path, *, native: bool = False) -> tuple[LoadedImage, LoadedImage]:
    """Read an IR/visible pair and check that the sizes agree (``native``: as :func:`read_image`)."""
    ir = read_image(ir_path, "ir", native=native)
    vis = read_image(vis_path, "vis", native=native)
    if ir.size != vis.size:
        raise InputError(
            f"{ir.path} is {ir.size[1]}×{ir.size[0]} but {vis.path} is {vis.size[1]}×{vis.size[0]}; "
            "the pair must be registered to one size"
        )
    return ir, vis


_CHUNK = 1 << 21  # elements per step of to_uint8: its float64 temporaries stay ~16 MB whatever the image size


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """[0, 1] float → uint8 with round-half-up, as torchvision's ``save_image`` does."""
    pixels = np.asarray(pixels)
    out = np.empty(pixels.shape, dtype=np.uint8)
    flat_in, flat_out = pixels.reshape(-1), out.reshape(-1)  # reshape copies only non-contiguous input
    for i in range(0, flat_in.size, _CHUNK):
        part = flat_in[i : i + _CHUNK].astype(np.float64)
        flat_out[i : i + _CHUNK] = np.clip(np.floor(part * 255.0 + 0.5), 0, 255)
    return out


def write_png(path: str | Path, pixels: np.ndarray) -> Path:
    """Write an H×W or H×W×{1,3} [0, 1] float (or uint8) array as a lossless 8-bit PNG, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = pixels if pixels.dtype == np.uint8 else to_uint8(pixels)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    tmp = temp_sibling(path)
    try:
        Image.fromarray(arr).save(tmp, format="PNG", compress_level=1)  # lossless; level 1 is ~3× faster to write
    except OSError as exc:  # e.g. a full disk: leave no partial file, and name the file the user asked for
        tmp.unlink(missing_ok=True)
        if exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    tmp.replace(path)
    return path


def list_images(folder: str | Path) -> dict[str, Path]:
    """Image files in ``folder`` by stem; two files with one stem is an error (the pairing would be ambiguous)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."):
            if p.stem in found:
                raise InputError(f"{folder}: both {found[p.stem].name} and {p.name} have stem '{p.stem}'; keep one")
            found[p.stem] = p
    return found


def pair_folders(ir_dir: str | Path, vis_dir: str | Path) -> list[tuple[str, Path, Path]]:
    """Pair two folders by file stem; a file without its partner is an error that names it."""
    ir, vis = list_images(ir_dir), list_images(vis_dir)
    missing = sorted(set(ir) ^ set(vis))
    if missing:
        stem = missing[0]
        have, lack = (ir[stem], vis_dir) if stem in ir else (vis[stem], ir_dir)
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise InputError(f"{have} has no partner named '{stem}.*' in {lack}{more}; add it or remove the file")
    if not ir:
        raise InputError(f"{ir_dir}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return [(s, ir[s], vis[s]) for s in sorted(ir)]
