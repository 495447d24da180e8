"""SAGE teacher, SPA, losses and SAM pieces at toy size on the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ivifbench.errors import IvifError
from ivifbench.fusion.sage.losses import (
    LossWeights,
    contrastive_loss,
    feature_loss,
    sobel_magnitude,
    student_loss,
    teacher_loss,
)
from ivifbench.fusion.sage.sam import SamFeatureEncoder, SamPriors, build_sam, semantic_patches
from ivifbench.fusion.sage.student import SageStudent
from ivifbench.fusion.sage.teacher import SageTeacher, SpatialTransformer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy SAM (segment-anything's classes, small depth/width), random weights saved as a checkpoint."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("sam") / "tiny_sam.pt"
    torch.save(build_sam("tiny").state_dict(), path)
    return path


def test_teacher_parameter_count_and_taps() -> None:
    teacher = SageTeacher()
    assert sum(p.numel() for p in SpatialTransformer().parameters()) == 91_456
    # sage.md's layers give 2,787,025; the release reports 2,787,043 (18 undescribed parameters, see teacher.py)
    assert sum(p.numel() for p in teacher.parameters()) == 2_787_025
    assert sum(p.numel() for p in teacher.compress_and_upsample.parameters()) == 147_520
    student = SageStudent()
    y, ir, masks = torch.rand(2, 1, 37, 53), torch.rand(2, 1, 37, 53), torch.rand(2, 4, 37, 53)
    with torch.no_grad():
        out, taps = teacher(y, ir, masks, masks)
        _, s_taps = student(y, ir)
    assert out.shape == y.shape and len(taps) == 5
    assert [t.shape for t in taps] == [s.shape for s in s_taps]


def test_spatial_transformer_starts_as_identity_and_modes() -> None:
    st = SpatialTransformer()
    x = torch.rand(2, 64, 6, 7)
    out, (k, v) = st(x, mode="self")
    torch.testing.assert_close(out, x)  # zero-initialised proj_out
    assert k.shape == v.shape == (2, 42, 64)
    _, kv2 = st(torch.rand(2, 64, 6, 7), (k, v), mode="reproject")
    assert kv2[0].shape == k.shape and not torch.equal(kv2[0], k)
    _, kv3 = st(torch.rand(2, 64, 6, 7), (k, v), mode="given")
    assert kv3[0] is k


def test_sobel_and_feature_loss() -> None:
    ramp = torch.arange(8.0).repeat(8, 1)[None, None]
    g = sobel_magnitude(ramp)
    assert torch.allclose(g[..., 1:-1, 1:-1], torch.full((6, 6), 8.0))  # |gx| = 8 per unit step, gy = 0
    a = [torch.rand(2, 3, 4, 4) for _ in range(5)]
    assert feature_loss(a, a).abs() < 1e-5
    assert feature_loss(a, [-t for t in a]) == pytest.approx(10.0, abs=1e-4)


def test_contrastive_loss_matches_its_definition(tiny_sam: Path) -> None:
    enc = SamFeatureEncoder.from_checkpoint(tiny_sam, "tiny")
    g = torch.Generator().manual_seed(0)
    b, k = 2, 2
    f, t, y, ir = (torch.rand(b, 1, 32, 48, generator=g) for _ in range(4))
    vp, ip = torch.rand(b, k, 32, 48, generator=g), torch.rand(b, k, 32, 48, generator=g)

    def dist(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return sum((F.instance_norm(x) - F.instance_norm(z)).norm() for x, z in zip(enc(a), enc(c), strict=True))

    naive = sum(
        dist(f * vp[:, i : i + 1], t * vp[:, i : i + 1]) / (dist(f * vp[:, i : i + 1], y * vp[:, i : i + 1]) + 1e-7)
        for i in range(k)
    )
    naive += sum(
        dist(f * ip[:, i : i + 1], t * ip[:, i : i + 1]) / (dist(f * ip[:, i : i + 1], ir * ip[:, i : i + 1]) + 1e-7)
        for i in range(k)
    )
    ours = contrastive_loss(enc, f, t, y, ir, vp, ip)
    torch.testing.assert_close(ours, naive, rtol=1e-4, atol=1e-5)
    # the encoder is frozen but passes gradients to its input
    f.requires_grad_(True)
    contrastive_loss(enc, f, t, y, ir, vp, ip).backward()
    assert f.grad is not None and f.grad.abs().sum() > 0
    assert all(p.grad is None for p in enc.parameters())


def test_losses_finite_and_distillation_terms(tiny_sam: Path) -> None:
    enc = SamFeatureEncoder.from_checkpoint(tiny_sam, "tiny")
    s_net, t_net = SageStudent(), SageTeacher()
    y, ir, masks = torch.rand(2, 1, 32, 48), torch.rand(2, 1, 32, 48), torch.rand(2, 4, 32, 48)
    t, t_taps = t_net(y, ir, masks, masks)
    s, s_taps = s_net(y, ir)
    w = LossWeights()
    sl = student_loss(enc, s, s_taps, t.detach(), [x.detach() for x in t_taps], y, ir, masks, masks, w)
    expected = 3 * sl["fuse"] + 3 * sl["grad"] + sl["cs"] / 3000 + 0.3 * sl["fea"]
    torch.testing.assert_close(sl["total"], expected)
    pre = teacher_loss(enc, t, t_taps, y, ir, masks, masks, w)
    assert set(pre) == {"mse", "grad_src", "total"}  # teacher pre-training: no distillation terms
    full = teacher_loss(
        enc, t, t_taps, y, ir, masks, masks, w, s.detach(), [x.detach() for x in s_taps], torch.tensor(2.0)
    )
    expected = pre["total"] + 0.3 * 2.0 + 0.1 * full["swapped"] + 0.01 * full["fea"]
    torch.testing.assert_close(full["total"], expected)
    assert all(torch.isfinite(v) for v in full.values())


def test_semantic_patches_padding_rule() -> None:
    y, ir = torch.full((1, 4, 4), 0.5), torch.full((1, 4, 4), 0.25)
    vm = torch.zeros(3, 4, 4, dtype=torch.bool)
    vm[0, :2], vm[2, 2:] = True, True  # mask 1 empty: index 1 is skipped
    im = torch.ones(2, 4, 4, dtype=torch.bool)
    vp, ip = semantic_patches(y, ir, vm, im, k=4)
    assert vp.shape == ip.shape == (4, 4, 4)
    assert torch.equal(vp[0], y[0] * vm[0]) and torch.equal(ip[0], ir[0])
    assert torch.equal(vp[1], y[0]) and torch.equal(vp[3], y[0])  # padded with the full image


def test_sam_encoder_must_load(tiny_sam: Path, tmp_path: Path) -> None:
    with pytest.raises(IvifError, match="did not load"):
        SamFeatureEncoder.from_checkpoint(tiny_sam, "vit_b")  # wrong size: shapes differ
    sd = torch.load(tiny_sam, weights_only=True)
    cut = tmp_path / "cut.pt"
    torch.save({k: v for k, v in sd.items() if "blocks.1." not in k}, cut)
    with pytest.raises(IvifError, match="missing"):
        SamFeatureEncoder.from_checkpoint(cut, "tiny")
    # an encoder-only export without the image_encoder. prefix loads too
    bare = tmp_path / "bare.pt"
    torch.save({k.removeprefix("image_encoder."): v for k, v in sd.items() if k.startswith("image_encoder.")}, bare)
    enc = SamFeatureEncoder.from_checkpoint(bare, "tiny")
    feats = enc(torch.rand(1, 1, 48, 64))
    assert [f.shape for f in feats] == [(1, 32, 3, 4)] * 2


def test_sam_priors_cache(tiny_sam: Path, tmp_path: Path) -> None:
    priors = SamPriors(tiny_sam, "tiny", tmp_path / "cache")
    img = (np.random.default_rng(0).random((40, 56, 3)) * 255).astype(np.uint8)
    masks = priors.masks(img)
    assert masks.dtype == bool and masks.shape[1:] == (40, 56) and 1 <= len(masks) <= 20
    areas = masks.sum((1, 2))
    assert (np.diff(areas) <= 0).all()  # largest first
    assert priors.cache_path(img).is_file()

    def boom() -> None:
        raise AssertionError("SAM ran again despite the cache")

    priors._mask_generator = boom  # type: ignore[method-assign]
    assert np.array_equal(priors.masks(img), masks)
    other = SamPriors(tiny_sam, "tiny", tmp_path / "cache", amg_overrides={"points_per_side": 2})
    assert other.cache_path(img) != priors.cache_path(img)  # settings are part of the key


def test_sam_gets_rgb_not_bgr(tmp_path: Path, tiny_sam: Path) -> None:
    """The release passed cv2's BGR to SAM (sage.md §8.6); we pass the visible image as RGB, IR as grey ×3."""
    from PIL import Image

    from ivifbench.datasets.base import Pair
    from ivifbench.fusion.sage.data import load_sources, pair_masks

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (24, 40), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "vis.png")
    Image.fromarray(grey).save(tmp_path / "ir.png")
    seen: list[np.ndarray] = []
    priors = SamPriors(tiny_sam, "tiny", tmp_path / "cache")
    priors.masks = lambda image: seen.append(image) or np.zeros((0, *image.shape[:2]), bool)  # type: ignore[method-assign]
    pair_masks(priors, load_sources(Pair("x", "train", tmp_path / "ir.png", tmp_path / "vis.png"), False))
    assert np.array_equal(seen[0], rgb)
    assert np.array_equal(seen[1], np.repeat(grey[..., None], 3, axis=2))
