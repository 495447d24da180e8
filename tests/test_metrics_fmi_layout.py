"""FMI does not depend on memory layout, batching or chunking, and decides its constant-window case explicitly.

FMI is *not* transpose-invariant: ``fmi.m`` builds each window's cdf over MATLAB's column-major positions, so a
window and its transpose have different joint-pdf bounds (checked against the line-by-line transcription of
``fmi.m`` here). What must hold is that the same logical triplet gives bit-identical values whatever its strides,
its place in a batch or the chunk size, and that a constant window is decided exactly (no round-off in a mean).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from metric_images import smooth_image
from test_metrics_independent import _fmi_term

import ivifbench.metrics.fmi as fmi_mod
from ivifbench.metrics.fmi import fmi

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FEATURES = ("none", "dct", "wavelet")


def _saturated(h: int = 24, w: int = 32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A triplet with saturated blocks: constant windows in F and in the sources, at different levels."""
    f, a, b = (smooth_image(seed, (1, 1, h, w)) for seed in (1, 2, 3))
    f[..., 2:10, 3:14] = 250.0
    a[..., 2:10, 3:14] = 255.0
    b[..., 4:12, 8:20] = 0.0
    f[..., 14:20, 20:30] = 255.0
    a[..., 14:20, 20:30] = 255.0  # equal raw windows: 1
    return f, a, b


@pytest.mark.parametrize("feature", FEATURES)
def test_same_triplet_any_layout_same_bits(feature: str, monkeypatch: pytest.MonkeyPatch) -> None:
    f, a, b = _saturated()
    want = fmi(f, a, b, feature=feature)
    # transposed storage of the same logical images (a strided view)
    ft, at, bt = (x.transpose(-1, -2).contiguous().transpose(-1, -2) for x in (f, a, b))
    assert not ft.is_contiguous()
    assert torch.equal(fmi(ft, at, bt, feature=feature), want)
    # inside a batch, between other images, and as a slice of a wider tensor
    g, c, d = _saturated()
    g, c, d = g.flip(-1), c.flip(-2), d.flip(-1)
    batch = [torch.cat((g, x, g)) for x in (f, a, b)]
    got = fmi(*batch, feature=feature)
    assert torch.equal(got[1:2], want)
    wide = [torch.cat((x, x), -1)[..., : x.shape[-1]] for x in (f, a, b)]
    assert torch.equal(fmi(*wide, feature=feature), want)
    # another chunk size (chunk boundaries in other places)
    monkeypatch.setattr(fmi_mod, "_CHUNK", 37)
    assert torch.allclose(fmi(f, a, b, feature=feature), want, rtol=1e-14, atol=0)


@pytest.mark.parametrize("feature", FEATURES)
def test_transpose_of_a_transpose_symmetric_triplet(feature: str) -> None:
    """Where transposing does not change the triplet the value is identical, and F = A = B scores exactly 1."""
    f, a, b = _saturated(24, 24)
    f, a, b = (x + x.transpose(-1, -2) for x in (f, a, b))
    assert torch.equal(fmi(f, a, b, feature=feature), fmi(*(x.transpose(-1, -2) for x in (f, a, b)), feature=feature))
    assert fmi(a, a, a, feature=feature).item() == 1.0


def test_constant_windows_are_decided_exactly() -> None:
    """Two constant windows at different levels: uniform pdfs, c = 0, independence, fmi = 0 (not ±1 by round-off)."""
    c1, c2 = np.full((3, 3), 255.0), np.full((3, 3), 250.0)
    assert _fmi_term(c1, c2)[0] == pytest.approx(0.0, abs=1e-12)  # round-off of an exact 0 (independence)
    f = torch.full((1, 1, 3, 3), 250.0, dtype=torch.float64)
    a = torch.full_like(f, 255.0)
    for x in (f, f.transpose(-1, -2).contiguous().transpose(-1, -2), f.to(memory_format=torch.channels_last)):
        assert fmi(x, a, a).item() == 0.0  # A term 0, B term 0 (A = B ≠ F)
    assert fmi(f, f, a).item() == 0.5  # A's raw window equals F's: that term is 1


def test_fmi_is_not_transpose_invariant_by_definition() -> None:
    """The line-by-line transcription of fmi.m gives a window and its transpose different values (column-major cdf)."""
    a = np.array([88, 84, 80, 85, 82, 80, 82, 81, 80.0]).reshape(3, 3, order="F")
    f = np.array([51, 47, 47, 87, 85, 84, 109, 105, 102.0]).reshape(3, 3, order="F")
    assert abs(_fmi_term(a, f)[0] - _fmi_term(a.T, f.T)[0]) > 1e-3
    ft = torch.from_numpy(f)[None, None]
    at = torch.from_numpy(a)[None, None]
    assert fmi(ft, at, at).item() == pytest.approx(_fmi_term(a, f)[0], rel=1e-12)


def test_tno40_layouts(shared_data: Path) -> None:
    """TNO 40 fused by IFCNN: one value whatever the layout; the transposed triplet's value is its own (see above)."""
    from ivifbench.imageio import read_image

    def t(p: Path, role: str) -> torch.Tensor:
        return torch.from_numpy(read_image(p, role).pixels).permute(2, 0, 1)[None].double()[..., :96, :128] * 255

    d = shared_data
    f = t(d / "fused" / "IFCNN" / "tno" / "40.png", "fused")
    a, b = t(d / "tno" / "ir" / "40.png", "ir"), t(d / "tno" / "vi" / "40.png", "vis")
    want = fmi(f, a, b)
    strided = [x.transpose(-1, -2).contiguous().transpose(-1, -2) for x in (f, a, b)]
    assert torch.equal(fmi(*strided), want)
    assert torch.equal(fmi(*(torch.cat((x.flip(-1), x)) for x in (f, a, b)))[1:], want)


# ----------------------------------------------------------------------------------------------------------------------
# real images: the same logical triplet in every storage layout, alone and inside batches, bit for bit
# ----------------------------------------------------------------------------------------------------------------------


def _tno40(shared_data: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """TNO 40 fused by IFCNN (F, A, B, 1×1×576×768, 0..255 float64) and TNO 39's fused image as a batch neighbour."""
    from ivifbench.imageio import read_image

    paths = {
        "f": (shared_data / "fused" / "IFCNN" / "tno" / "40.png", "fused"),
        "a": (shared_data / "tno" / "ir" / "40.png", "ir"),
        "b": (shared_data / "tno" / "vi" / "40.png", "vis"),
        "g": (shared_data / "fused" / "IFCNN" / "tno" / "39.png", "fused"),
    }
    missing = [str(p) for p, _ in paths.values() if not p.is_file()]
    if missing:
        pytest.skip(f"TNO 40 / 39 (IFCNN) not found: {', '.join(missing)}")
    out = {k: torch.from_numpy(read_image(p, role).pixels).permute(2, 0, 1)[None].double()[:, :1] * 255
           for k, (p, role) in paths.items()}  # fmt: skip
    return out["f"], out["a"], out["b"], out["g"]


def _layouts(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The same logical image stored four ways: contiguous, transposed storage, a window into a larger canvas (another
    offset and row stride), and every other column of an interleaved tensor (column stride 2)."""
    big = torch.full((1, 1, x.shape[-2] + 7, x.shape[-1] + 13), -1.0, dtype=x.dtype)
    big[..., 3 : 3 + x.shape[-2], 5 : 5 + x.shape[-1]] = x
    out = {
        "contiguous": x.contiguous(),
        "transposed-storage": x.transpose(-1, -2).contiguous().transpose(-1, -2),
        "canvas-view": big[..., 3 : 3 + x.shape[-2], 5 : 5 + x.shape[-1]],
        "every-other-column": torch.stack((x, x.flip(-1)), -1).flatten(-2)[..., ::2],
    }
    assert not out["transposed-storage"].is_contiguous() and not out["canvas-view"].is_contiguous()
    assert not out["every-other-column"].is_contiguous()
    for v in out.values():
        assert torch.equal(v, x)
    return out


def _check_layouts(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor, g: torch.Tensor, feature: str) -> None:
    from ivifbench.metrics import compute

    metric = {"none": "FMI_pixel", "dct": "FMI_dct", "wavelet": "FMI_w"}[feature]
    want = fmi(f.contiguous(), a.contiguous(), b.contiguous(), feature=feature)
    lf, la, lb = _layouts(f), _layouts(a), _layouts(b)
    for name in lf:
        got = fmi(lf[name], la[name], lb[name], feature=feature)
        assert torch.equal(got, want), (feature, name, got.item(), want.item())
    # inside a batch, between other images (a neighbour's saturated windows and flips of the triplet itself)
    batch = [torch.cat((g, lf["canvas-view"], x.flip(-1))) for x in (f, a, b)]
    batch[1], batch[2] = torch.cat((a.flip(-2), la["transposed-storage"], g)), torch.cat((b, lb["canvas-view"], g))
    assert torch.equal(fmi(*batch, feature=feature)[1:2], want), feature
    # through the engine (its chunking and threads), with the batch stored in transposed layout
    engine = compute(*(x.transpose(-1, -2).contiguous().transpose(-1, -2) for x in batch), metrics=metric)[metric]
    assert torch.equal(engine[1:2], want), feature


@pytest.mark.parametrize("feature", FEATURES)
def test_tno40_crop_any_layout_any_batch(shared_data: Path, feature: str) -> None:
    """A 160×200 crop of TNO 40 holding its saturated windows (F: 97 constant windows, IR: 117 in these rows): FMI_pixel,
    FMI_dct and FMI_w give the same bits contiguous, as strided views, alone, inside a batch and through ``compute``."""
    f, a, b, g = (x[..., -160:, 160:360] for x in _tno40(shared_data))
    _check_layouts(f, a, b, g, feature)


@pytest.mark.slow
@pytest.mark.parametrize("feature", FEATURES)
def test_tno40_full_any_layout_any_batch(shared_data: Path, feature: str) -> None:
    """The whole 576×768 TNO 40 triplet, as above (about 30 s per feature on one thread)."""
    _check_layouts(*_tno40(shared_data), feature)
