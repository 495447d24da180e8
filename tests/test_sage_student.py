"""SAGE student: official-weight parity with the released outputs, and the method contract (any size, batched)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ivifbench.errors import IvifError
from ivifbench.fusion import MethodError, create_method
from ivifbench.fusion.apply import fuse_pairs
from ivifbench.fusion.sage.student import SageStudent
from ivifbench.imageio import read_image, to_uint8

STEMS = ("00000", "00001", "00002")


@pytest.fixture(autouse=True)
def _threads(request: pytest.FixtureRequest) -> Iterator[None]:
    """One thread for the toy-size tests (too small to split, and ~10× faster on a busy runner); full-size keep 2."""
    before = torch.get_num_threads()
    torch.set_num_threads(before if "parity" in request.node.name else 1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def official_weights(shared_dir: Path) -> Path:
    path = shared_dir / "weights" / "sage_student_official.pt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels).permute(2, 0, 1)[None]


@pytest.mark.parametrize(
    "stem", [STEMS[0], *(pytest.param(s, marks=pytest.mark.slow) for s in STEMS[1:])]
)  # one 1024×768 pair takes ~4 s on 2 cores; the other two run with -m slow
def test_parity_with_official_outputs(shared_data: Path, official_weights: Path, stem: str, tmp_path: Path) -> None:
    """``ivifbench fuse``'s path (read_pair → SageFusion → write_png) reproduces the released PNG within 1 grey level."""
    method = create_method("sage", weights=official_weights)
    m3fd = shared_data / "m3fd" / "M3FD_Detection"
    report = fuse_pairs(
        method, [(stem, m3fd / "Ir" / f"{stem}.png", m3fd / "Vis" / f"{stem}.png")], tmp_path, progress=False
    )
    assert report.written == [stem], report.failed
    ours = to_uint8(read_image(tmp_path / f"{stem}.png").pixels).astype(int)
    ref = to_uint8(read_image(shared_data / "fused" / "SAGE" / "m3fd" / f"{stem}.png").pixels).astype(int)
    diff = np.abs(ours - ref)
    print(f"sage parity {stem}: max {diff.max()}, mean {diff.mean():.3g}")
    assert diff.max() <= 1, f"{stem}: max diff {diff.max()}"
    assert diff.mean() < 1e-4, f"{stem}: mean diff {diff.mean()}"


def test_official_weights_load_strictly(official_weights: Path) -> None:
    net = SageStudent()
    sd = torch.load(official_weights, map_location="cpu", weights_only=True)
    assert net.load_state_dict(sd, strict=True).missing_keys == []
    assert sum(p.numel() for p in net.parameters()) == 135_617


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from safetensors.torch import save_file

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("sage") / "student.safetensors"
    save_file(SageStudent().state_dict(), str(path))
    return path


@pytest.mark.parametrize(("h", "w"), [(37, 53), (64, 48), (5, 7), (4, 4)])
def test_any_size_and_batch_equals_single(random_weights: Path, h: int, w: int) -> None:
    method = create_method("sage", weights=random_weights)
    g = torch.Generator().manual_seed(h * w)
    ir = torch.rand(3, 1, h, w, generator=g)
    vis = torch.round(torch.rand(3, 3, h, w, generator=g) * 255) / 255
    batched = method(ir, vis)
    assert batched.shape == vis.shape
    single = torch.cat([method(ir[i : i + 1], vis[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=0)


def test_grey_visible_and_off_grid_colour(random_weights: Path) -> None:
    ir, vis = torch.rand(2, 1, 16, 20), torch.rand(2, 1, 16, 20)
    out = create_method("sage", weights=random_weights)(ir, vis)
    assert out.shape == vis.shape
    rgb = torch.rand(2, 3, 16, 20)  # off the 8-bit grid (e.g. 16-bit files): the float conversion is used
    assert create_method("sage", weights=random_weights)(ir, rgb).shape == rgb.shape


def test_channels_last_gives_same_result(random_weights: Path) -> None:
    ir, vis = torch.rand(2, 1, 24, 33), torch.rand(2, 3, 24, 33)
    a = create_method("sage", weights=random_weights, channels_last=False)(ir, vis)
    b = create_method("sage", weights=random_weights, channels_last=True)(ir, vis)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_too_small_is_a_clear_error(random_weights: Path) -> None:
    with pytest.raises(MethodError, match="at least 4"):
        create_method("sage", weights=random_weights)(torch.rand(1, 1, 3, 9), torch.rand(1, 3, 3, 9))


def test_refuses_missing_or_wrong_weights(tmp_path: Path) -> None:
    with pytest.raises(IvifError, match="RollingPlain/SAGE_IVIF"):
        create_method("sage")
    bad = tmp_path / "bad.pt"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(IvifError, match="not SAGE student weights"):
        create_method("sage", weights=bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(IvifError, match="cannot read weights"):
        create_method("sage", weights=junk)
    with pytest.raises(IvifError, match="unknown parameter"):
        create_method("sage", weights=bad, colr="x")
