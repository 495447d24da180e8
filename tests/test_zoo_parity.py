"""CAF and TarDAL reproduce the official inference within one grey level on the luminance of every reference image.

The references are outputs of each release's own inference with its defaults (see the shared data's provenance); the
tests read the shared folder in place and skip when it is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ivifbench.color import rgb_to_ycrcb_8bit
from ivifbench.fusion import create_method
from ivifbench.imageio import read_image, read_pair

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA, WEIGHTS = SHARED / "data", SHARED / "weights"
INPUTS = {"m3fd": ("m3fd/M3FD_Detection/Ir", "m3fd/M3FD_Detection/Vis"), "tno": ("tno/ir", "tno/vi")}
MEMBERS = {"caf": ("CAF", "caf_det_final_official.pth"), "tardal": ("TarDAL", "tardal_official.pt")}


def _cases(member: str) -> list[object]:
    """Every reference image; the 1024×768 M3FD ones are slow (seconds each on one thread), TNO's run by default."""
    folder = DATA / "fused" / MEMBERS[member][0]
    found = [(p.parent.name, p.stem) for p in sorted(folder.glob("*/*.png"))] or [("tno", "missing")]
    return [pytest.param(d, s, marks=pytest.mark.slow) if d == "m3fd" else pytest.param(d, s) for d, s in found]


def _luma(pixels: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(pixels).permute(2, 0, 1)[None]
    y = rgb_to_ycrcb_8bit(t)[:, :1] if t.shape[1] == 3 else t
    return np.round(y[0, 0].numpy() * 255).astype(int)


@pytest.fixture(scope="module")
def methods() -> dict[str, object]:
    return {}


def _method(cache: dict[str, object], member: str) -> object:
    weights = WEIGHTS / MEMBERS[member][1]
    if not weights.is_file():
        pytest.skip(f"official {member} weights not available ({weights})")
    if member not in cache:
        cache[member] = create_method(member, weights=weights)
    return cache[member]


def _pair(dataset: str, stem: str) -> tuple[torch.Tensor, torch.Tensor]:
    ir_dir, vis_dir = INPUTS[dataset]
    ir, vis = read_pair(DATA / ir_dir / f"{stem}.png", DATA / vis_dir / f"{stem}.png")
    return torch.from_numpy(ir.pixels).permute(2, 0, 1)[None], torch.from_numpy(vis.pixels).permute(2, 0, 1)[None]


@pytest.mark.parametrize(("dataset", "stem"), _cases("caf"))
def test_caf_matches_release(methods: dict[str, object], one_torch_thread: None, dataset: str, stem: str) -> None:
    ref_path = DATA / "fused" / "CAF" / dataset / f"{stem}.png"
    if not ref_path.is_file():
        pytest.skip(f"CAF reference outputs not available ({ref_path.parent})")
    method = _method(methods, "caf")
    ir, vis = _pair(dataset, stem)
    out = method(ir, vis)  # type: ignore[operator]
    ours = _luma(out[0].permute(1, 2, 0).numpy())
    ref = _luma(read_image(ref_path).pixels)
    diff = np.abs(ours - ref)
    assert diff.max() <= 1, f"{dataset}/{stem}: max |Δ| {diff.max()} at {int((diff > 1).sum())} pixels"
    assert diff.mean() < 0.01


@pytest.mark.parametrize(("dataset", "stem"), _cases("tardal"))
def test_tardal_matches_release(methods: dict[str, object], one_torch_thread: None, dataset: str, stem: str) -> None:
    ref_path = DATA / "fused" / "TarDAL" / dataset / f"{stem}.png"
    if not ref_path.is_file():
        pytest.skip(f"TarDAL reference outputs not available ({ref_path.parent})")
    method = _method(methods, "tardal")
    ir, vis = _pair(dataset, stem)
    with torch.inference_mode():
        grey = method.fuse_grey(ir, method.visible_grey(vis))  # type: ignore[attr-defined]
    ours = np.round(grey[0, 0].numpy() * 255).astype(int)
    ref = _luma(read_image(ref_path).pixels)  # the release writes grey
    diff = np.abs(ours - ref)
    assert diff.max() <= 1, f"{dataset}/{stem}: max |Δ| {diff.max()} at {int((diff > 1).sum())} pixels"
    assert diff.mean() < 0.01
    # the colour output carries the same luminance wherever the colour does not clip
    coloured = method(ir, vis)  # type: ignore[operator]
    assert coloured.shape == vis.shape


def test_caf_batched_equals_single(methods: dict[str, object], one_torch_thread: None) -> None:
    method = _method(methods, "caf")
    g = torch.Generator().manual_seed(0)
    ir = torch.round(torch.rand(3, 1, 40, 56, generator=g) * 255) / 255
    vis = torch.round(torch.rand(3, 3, 40, 56, generator=g) * 255) / 255
    batched = method(ir, vis)  # type: ignore[operator]
    single = torch.cat([method(ir[i : i + 1], vis[i : i + 1]) for i in range(3)])  # type: ignore[operator]
    assert (batched - single).abs().max() <= 1 / 255 + 1e-6


def test_tardal_per_image_norm_is_independent_of_the_batch(methods: dict[str, object], one_torch_thread: None) -> None:
    method = _method(methods, "tardal")
    g = torch.Generator().manual_seed(1)
    ir, y = torch.rand(2, 1, 32, 48, generator=g), torch.rand(2, 1, 32, 48, generator=g)
    with torch.inference_mode():
        batched = method.fuse_grey(ir, y)  # type: ignore[attr-defined]
        first = method.fuse_grey(ir[:1], y[:1])  # type: ignore[attr-defined]
        brighter = method.fuse_grey(torch.cat((ir[:1], ir[1:] * 0.2)), torch.cat((y[:1], y[1:] * 0.2)))  # type: ignore[attr-defined]
    assert torch.allclose(batched[:1], first, atol=1e-5)
    assert torch.allclose(brighter[:1], first, atol=1e-5)  # another image in the batch changes nothing
