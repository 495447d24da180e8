"""SegFormer builders: configs, forward, checkpoint round trip, MiT key conversion, refused URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ivifbench.errors import InputError
from ivifbench.networks.segformer import (
    build_mit_backbone,
    build_segformer,
    convert_mit_state_dict,
    freeze,
    infer_segformer_variant,
    segformer_cfg,
    segformer_logits,
)


@pytest.fixture(scope="module")
def b0() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_segformer("b0", num_classes=9)


def test_cfg_follows_mmseg_segformer() -> None:
    cfg = segformer_cfg("b3", 15, crop_size=(64, 96))
    bb, head = cfg["backbone"], cfg["decode_head"]
    assert bb["type"] == "MixVisionTransformer" and bb["embed_dims"] == 64 and bb["num_layers"] == [3, 4, 18, 3]
    assert bb["init_cfg"] is None  # never a URL: weights are files the caller names
    assert head["in_channels"] == [64, 128, 320, 512] and head["num_classes"] == 15
    assert head["norm_cfg"]["type"] == "BN" and head["ignore_index"] == 255
    assert cfg["data_preprocessor"]["size"] == (64, 96)
    with pytest.raises(InputError, match="unknown SegFormer variant"):
        segformer_cfg("b9", 9)
    with pytest.raises(InputError, match="num_classes"):
        segformer_cfg("b0", 0)


def test_logits_shape_and_gradient(b0: torch.nn.Module) -> None:
    b0.train()
    x = torch.rand(2, 3, 64, 96, requires_grad=True)
    y = segformer_logits(b0, x)
    assert y.shape == (2, 9, 64, 96)
    y.logsumexp(1).mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert segformer_logits(b0.eval(), torch.rand(1, 1, 32, 32)).shape == (1, 9, 32, 32)  # grey input
    with pytest.raises(InputError, match="expects"):
        segformer_logits(b0, torch.rand(3, 32, 32))


def test_checkpoint_round_trip_and_inference(b0: torch.nn.Module, tmp_path: Path) -> None:
    path = tmp_path / "seg.pth"
    torch.save({"meta": {"iter": 1}, "state_dict": b0.state_dict()}, path)
    assert infer_segformer_variant(b0.state_dict()) == ("b0", 9)
    again = freeze(build_segformer(None, None, checkpoint=path))  # variant and classes read from the file
    assert not any(p.requires_grad for p in again.parameters()) and not again.training
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(segformer_logits(b0.eval(), x), segformer_logits(again, x))
    with pytest.raises(InputError, match="does not fit"):
        build_segformer("b0", 15, checkpoint=path)  # wrong class count
    with pytest.raises(InputError, match="never downloads"):
        build_segformer("b0", 9, checkpoint="https://example.org/segformer.pth")


def test_mit_conversion_and_backbone_weights(tmp_path: Path) -> None:
    # NVlabs keys → mmseg keys: q and kv are concatenated, fc weights become 1×1 convs, head is dropped
    official = {
        "patch_embed1.proj.weight": torch.zeros(32, 3, 7, 7),
        "block1.0.attn.q.weight": torch.ones(32, 32),
        "block1.0.attn.kv.weight": torch.full((64, 32), 2.0),
        "block1.0.attn.proj.weight": torch.zeros(32, 32),
        "block1.0.mlp.fc1.weight": torch.zeros(128, 32),
        "block1.0.mlp.dwconv.dwconv.weight": torch.zeros(128, 1, 3, 3),
        "norm1.weight": torch.zeros(32),
        "head.weight": torch.zeros(1000, 256),
    }
    conv = convert_mit_state_dict(official)
    assert conv["layers.0.0.projection.weight"].shape == (32, 3, 7, 7)
    assert conv["layers.0.1.0.attn.attn.in_proj_weight"].shape == (96, 32)
    assert conv["layers.0.1.0.attn.attn.out_proj.weight"].shape == (32, 32)
    assert conv["layers.0.1.0.ffn.layers.0.weight"].shape == (128, 32, 1, 1)
    assert "layers.0.1.0.ffn.layers.1.weight" in conv and "layers.0.2.weight" in conv
    assert not any(k.startswith("head") for k in conv)

    backbone = build_mit_backbone("b0")
    feats = backbone(torch.rand(1, 3, 64, 64))
    assert [tuple(f.shape[1:]) for f in feats] == [(32, 16, 16), (64, 8, 8), (160, 4, 4), (256, 2, 2)]
    weights = tmp_path / "mit_b0.pth"
    torch.save({k: v + 1.0 for k, v in backbone.state_dict().items()}, weights)
    loaded = build_mit_backbone("b0", checkpoint=weights)
    k = "layers.0.0.projection.weight"
    torch.testing.assert_close(loaded.state_dict()[k], backbone.state_dict()[k] + 1.0)
    model = build_segformer("b0", 9, backbone_checkpoint=weights)
    torch.testing.assert_close(model.backbone.state_dict()[k], backbone.state_dict()[k] + 1.0)
    with pytest.raises(InputError, match="does not fit the MiT encoder"):
        build_mit_backbone("b1", checkpoint=weights)


def test_class_weighted_loss_ignores_255() -> None:
    """mmseg 1.2.2's CrossEntropyLoss with class_weight fails on ignored pixels; ours is torch's weighted mean."""
    model = build_segformer("b0", 3, cfg_options={"class_weight": [1.0, 2.0, 3.0]})
    loss = model.decode_head.loss_decode
    logits = torch.randn(2, 3, 4, 4)
    label = torch.tensor([[[0, 1, 2, 255]] * 4] * 2)
    want = torch.nn.functional.cross_entropy(logits, label, weight=torch.tensor([1.0, 2.0, 3.0]), ignore_index=255)
    torch.testing.assert_close(loss(logits, label, ignore_index=255), want)
    assert loss.loss_name == "loss_ce"
