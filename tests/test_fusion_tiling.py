"""Large pairs fused in tiles with a halo: same PNGs as whole-image fusion, and normal sizes untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ivifbench.errors import IvifError
from ivifbench.fusion import create_method
from ivifbench.fusion.apply import fuse_pairs
from ivifbench.fusion.tiling import DEFAULT_TILE_THRESHOLD, tile_plan, tile_spans, tile_threshold
from ivifbench.imageio import as_float, read_image, read_pair, to_uint8

TILEABLE = ["average", "max", "weighted", "laplacian", "dwt", "gff"]


def _structured_pair(folder: Path, h: int, w: int, seed: int = 0) -> tuple[Path, Path]:
    """An 8-bit IR/RGB pair with edges, blobs, texture and noise (so that every scale of a pyramid has content)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = 120 + 60 * np.sin(xx * 23) * np.cos(yy * 17) + 50 * (((xx * 9).astype(int) + (yy * 7).astype(int)) % 2)
    ir = np.clip(base + 70 * ((xx - 0.4) ** 2 + (yy - 0.5) ** 2 < 0.03) + rng.normal(0, 18, (h, w)), 0, 255)
    vis = np.stack([np.clip(base * f + rng.normal(0, 22, (h, w)), 0, 255) for f in (0.7, 1.0, 1.2)], -1)
    (folder / "ir").mkdir(parents=True, exist_ok=True)
    (folder / "vis").mkdir(parents=True, exist_ok=True)
    ir_path, vis_path = folder / "ir" / "p.png", folder / "vis" / "p.png"
    Image.fromarray(ir.astype(np.uint8)).save(ir_path)
    Image.fromarray(vis.astype(np.uint8)).save(vis_path)
    return ir_path, vis_path


def _fuse_both(method_name: str, ir: Path, vis: Path, out: Path, size: int, **kw: object) -> tuple[np.ndarray, ...]:
    method = create_method(method_name, **kw)
    whole = fuse_pairs(method, [("p", ir, vis)], out / "whole", progress=False)
    tiled = fuse_pairs(method, [("p", ir, vis)], out / "tiled", progress=False, tile_threshold=1, tile_size=size)
    assert whole.written == ["p"] and tiled.written == ["p"], (whole.failed, tiled.failed)
    a = np.asarray(Image.open(out / "whole" / "p.png")).astype(int)
    b = np.asarray(Image.open(out / "tiled" / "p.png")).astype(int)
    h, w = a.shape[:2]
    assert tile_plan(method, h, w, threshold=1, size=size) is not None  # the tiled path really ran
    return a, b


@pytest.mark.parametrize("name", TILEABLE)
def test_tiled_matches_whole_on_a_structured_pair(tmp_path: Path, name: str) -> None:
    ir, vis = _structured_pair(tmp_path, 301, 263)  # odd sizes: tiles end short at the far borders
    a, b = _fuse_both(name, ir, vis, tmp_path, size=64 if name == "gff" else 128)  # gff's halo is 97
    diff = np.abs(a - b)
    # float round-off (conv vectorisation varies with the tile's width) can flip a value sitting on .5 after ×255
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-4, (diff.max(), int((diff > 0).sum()))
    if name in ("average", "max"):
        assert diff.max() == 0


def test_tiled_matches_whole_on_a_real_pair(tmp_path: Path, shared_data: Path) -> None:
    """A 640×480 crop of an M3FD pair in tiles of 256: within 1 grey level (round-off), on a handful of pixels."""
    root = shared_data / "m3fd" / "M3FD_Detection"
    if not (root / "Ir" / "00000.png").is_file():
        pytest.skip(f"M3FD sample pair not found under {root}")
    for sub in ("ir", "vis"):
        (tmp_path / sub).mkdir()
        src = root / ("Ir" if sub == "ir" else "Vis") / "00000.png"
        Image.open(src).crop((200, 150, 840, 630)).save(tmp_path / sub / "p.png")
    for name in ("laplacian", "gff"):
        a, b = _fuse_both(name, tmp_path / "ir" / "p.png", tmp_path / "vis" / "p.png", tmp_path / name, size=256)
        diff = np.abs(a - b)
        assert diff.max() <= 1 and int((diff > 0).sum()) <= 20, (name, diff.max(), int((diff > 0).sum()))


@pytest.mark.slow
def test_sage_tiled_matches_whole(tmp_path: Path, shared_data: Path, shared_dir: Path) -> None:
    root, weights = shared_data / "m3fd" / "M3FD_Detection", shared_dir / "weights" / "sage_student_official.pt"
    if not weights.is_file() or not (root / "Ir" / "00000.png").is_file():
        pytest.skip("SAGE official weights or the M3FD sample pair not found beside the repository")
    a, b = _fuse_both("sage", root / "Ir" / "00000.png", root / "Vis" / "00000.png", tmp_path, 256, weights=weights)
    assert np.abs(a - b).max() <= 1


def test_normal_sizes_take_the_whole_image_path_bit_for_bit(tmp_path: Path) -> None:
    """Below the threshold fuse_pairs writes exactly what the method returns on the float image, rounded once."""
    ir, vis = _structured_pair(tmp_path, 120, 160)
    for name in TILEABLE:
        method = create_method(name)
        for h, w in ((768, 1024), (1024, 1280), (2160, 3840)):  # M3FD, LLVIP, 4K UHD
            assert tile_plan(method, h, w) is None
        rep = fuse_pairs(method, [("p", ir, vis)], tmp_path / name, progress=False)
        assert rep.written == ["p"]
        a, b = read_pair(ir, vis)  # the float path every pair took before tiling existed
        ref = method(
            torch.from_numpy(a.pixels).permute(2, 0, 1)[None], torch.from_numpy(b.pixels).permute(2, 0, 1)[None]
        )
        expected = to_uint8(ref[0].permute(1, 2, 0).numpy())
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / name / "p.png")), expected)
    assert DEFAULT_TILE_THRESHOLD > 3840 * 2160


def test_native_read_gives_the_same_floats(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (21, 17, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(np.repeat(rgb[..., :1], 3, -1)).save(tmp_path / "greyrgb.png")
    Image.fromarray(rng.integers(0, 65536, (21, 17), dtype=np.uint16)).save(tmp_path / "g16.png")
    for name in ("rgb", "greyrgb", "g16"):
        for role in ("ir", "vis"):
            ref = read_image(tmp_path / f"{name}.png", role)  # type: ignore[arg-type]
            nat = read_image(tmp_path / f"{name}.png", role, native=True)  # type: ignore[arg-type]
            assert ref.pixels.dtype == np.float32
            luma = role == "ir" and name != "g16"  # colour-stored IR becomes its (float) luma
            assert nat.pixels.dtype == (np.float32 if luma or name == "g16" else np.uint8)
            np.testing.assert_array_equal(as_float(nat.pixels), ref.pixels)
            assert nat.pixels.shape == ref.pixels.shape


def test_chunked_to_uint8_equals_the_formula(monkeypatch: pytest.MonkeyPatch) -> None:
    import ivifbench.imageio as imageio

    x = np.random.default_rng(0).uniform(-0.1, 1.1, (37, 29, 3)).astype(np.float32)
    x[0, 0, :] = [0.5 / 255, 1.5 / 255, 254.5 / 255]
    monkeypatch.setattr(imageio, "_CHUNK", 100)
    want = np.clip(np.floor(x.astype(np.float64) * 255.0 + 0.5), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(to_uint8(x), want)
    np.testing.assert_array_equal(to_uint8(x[:, ::2]), want[:, ::2])  # non-contiguous input


def test_tile_spans_cover_each_pixel_once() -> None:
    for n, size, halo in ((1000, 256, 80), (257, 256, 0), (64, 256, 10)):
        cover = np.zeros(n, int)
        for r0, r1, c0, c1 in tile_spans(n, size, halo):
            assert 0 <= r0 <= c0 < c1 <= r1 <= n and c0 - r0 in (c0, halo) and r1 - c1 in (n - c1, halo)
            cover[c0:c1] += 1
        assert (cover == 1).all()


def test_methods_that_cannot_be_tiled_run_whole() -> None:
    assert create_method("dwt", mode="periodization").tile_halo(8000, 8000) is None  # wraps around the image
    assert create_method("laplacian", levels=12).tile_halo(1000, 8000) is None  # depth capped by the short side
    assert create_method("laplacian").tile_halo(8000, 8000) is not None
    # a pair small enough for one tile is never split
    assert tile_plan(create_method("laplacian"), 1000, 1200, threshold=1) is None


def test_tile_threshold_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVIFBENCH_TILE_PIXELS", "1e6")
    assert tile_threshold() == 1_000_000
    monkeypatch.setenv("IVIFBENCH_TILE_PIXELS", "0")
    assert tile_plan(create_method("average"), 9000, 9000) is None  # 0: never tile
    monkeypatch.setenv("IVIFBENCH_TILE_PIXELS", "lots")
    with pytest.raises(IvifError, match="IVIFBENCH_TILE_PIXELS"):
        tile_threshold()


def test_a_16bit_image_keeps_one_colour_conversion_across_tiles() -> None:
    from ivifbench.color import assume_8bit_grid, on_8bit_grid

    flat = torch.full((1, 3, 4, 4), 1.0)  # a saturated tile of a 16-bit image lies on the 8-bit grid by itself
    assert on_8bit_grid(flat)
    with assume_8bit_grid(False):
        assert not on_8bit_grid(flat)
    assert on_8bit_grid(flat)
