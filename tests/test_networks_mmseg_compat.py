"""mmseg_compat: the pure-PyTorch point_sample, refused compiled ops, and weights-only mmengine checkpoints."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ivifbench.errors import InputError, IvifError, NotFoundError
from ivifbench.networks import mmseg_compat
from ivifbench.networks.mmseg_compat import (
    CompiledOpUnavailable,
    import_mmseg,
    load_checkpoint,
    point_sample,
)


def _reference_bilinear(img: np.ndarray, px: float, py: float, align_corners: bool) -> np.ndarray:
    """Bilinear sample of (C, H, W) at normalised (px, py) in [0, 1], zero outside, by hand."""
    c, h, w = img.shape
    if align_corners:
        x, y = px * (w - 1), py * (h - 1)
    else:
        x, y = px * w - 0.5, py * h - 0.5
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    out = np.zeros(c)
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                out += wy * wx * img[:, yy, xx]
    return out


@pytest.mark.parametrize("align_corners", [False, True])
def test_point_sample_matches_hand_bilinear(align_corners: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    feats = torch.rand(2, 3, 5, 7, generator=gen, dtype=torch.float64)
    points = torch.rand(2, 11, 2, generator=gen, dtype=torch.float64) * 1.2 - 0.1  # a few fall outside
    points[0, 0] = torch.tensor([0.0, 0.0])
    points[0, 1] = torch.tensor([1.0, 1.0])
    got = point_sample(feats, points, align_corners=align_corners)
    assert got.shape == (2, 3, 11)
    for n in range(2):
        for p in range(11):
            px, py = points[n, p].tolist()
            want = _reference_bilinear(feats[n].numpy(), px, py, align_corners)
            np.testing.assert_allclose(got[n, :, p].numpy(), want, atol=1e-10)


def test_point_sample_grid_points_keep_their_shape() -> None:
    feats = torch.arange(12.0).view(1, 1, 3, 4)
    grid = torch.tensor([[[[0.125, 1 / 6], [0.375, 0.5]], [[0.875, 5 / 6], [0.625, 0.5]]]])  # pixel centres
    got = point_sample(feats, grid)
    assert got.shape == (1, 1, 2, 2)
    torch.testing.assert_close(got[0, 0], torch.tensor([[0.0, 5.0], [11.0, 6.0]]))


def test_import_mmseg_installs_the_shim_once() -> None:
    mmseg = import_mmseg()
    assert import_mmseg() is mmseg
    assert mmseg.__version__ == "1.2.2"
    import mmcv.ops

    if not mmseg_compat.mmcv_has_compiled_ops():
        assert getattr(sys.modules["mmcv.ops"], "__ivifbench_shim__", False)
        assert mmcv.ops.point_sample is point_sample
        from mmseg.models.decode_heads import point_head  # imported mmcv.ops.point_sample at module level

        assert point_head.point_sample is point_sample


@pytest.mark.skipif(mmseg_compat.mmcv_has_compiled_ops(), reason="a full mmcv is installed: nothing is refused")
def test_compiled_op_is_refused_by_name() -> None:
    import_mmseg()
    from mmcv.ops import DeformConv2d, sigmoid_focal_loss

    with pytest.raises(CompiledOpUnavailable, match=r"mmcv\.ops\.DeformConv2d is a compiled mmcv operator"):
        DeformConv2d(3, 3, 3)
    with pytest.raises(CompiledOpUnavailable, match="sigmoid_focal_loss"):
        sigmoid_focal_loss(torch.zeros(1), torch.zeros(1))
    assert issubclass(CompiledOpUnavailable, IvifError)
    assert not isinstance(torch.nn.Conv2d(1, 1, 1), DeformConv2d)  # isinstance checks stay harmless
    with pytest.raises(ModuleNotFoundError):
        import mmcv.ops.deform_conv  # noqa: F401


def _toy_runner_checkpoint(work_dir: Path) -> Path:
    """Train a 2-parameter model 2 iterations with mmengine's Runner and save its checkpoint (as mmseg's would)."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import Dataset

    class Toy(BaseModel):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def forward(self, x, mode="loss"):  # type: ignore[no-untyped-def]
            return {"loss": self.lin(torch.stack(x)).pow(2).mean()}

    class Data(Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> dict:
            return {"x": torch.full((2,), float(i))}

    runner = Runner(
        model=Toy(),
        work_dir=str(work_dir),
        train_dataloader={
            "dataset": Data(),
            "batch_size": 2,
            "sampler": {"type": "DefaultSampler", "shuffle": False},
            "collate_fn": {"type": "pseudo_collate"},
        },
        train_cfg={"by_epoch": False, "max_iters": 2},
        optim_wrapper={"optimizer": {"type": "SGD", "lr": 0.01}},
        default_hooks={"checkpoint": {"type": "CheckpointHook", "interval": 2, "by_epoch": False}},
        log_level="WARNING",
    )
    runner.train()
    return work_dir / "iter_2.pth"


def test_mmengine_checkpoint_loads_weights_only(tmp_path: Path) -> None:
    import_mmseg()
    path = _toy_runner_checkpoint(tmp_path / "work")
    # in a fresh interpreter, torch's weights-only default refuses it: the allow-list is what makes it load
    probe = "import sys, torch; torch.load(sys.argv[1], weights_only=True)"
    fresh = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=120)
    assert fresh.returncode != 0 and "Weights only load failed" in fresh.stderr
    ckpt = load_checkpoint(path)
    assert set(ckpt) >= {"meta", "state_dict", "message_hub", "optimizer"}
    assert ckpt["meta"]["iter"] == 2
    buf = ckpt["message_hub"]["log_scalars"]["train/loss"]
    assert np.isfinite(buf.mean())
    # torch's own default (weights_only=True) also works now: exactly those globals were allow-listed
    assert torch.load(path, map_location="cpu", weights_only=True)["meta"]["iter"] == 2


def test_weights_only_still_refuses_other_globals(tmp_path: Path) -> None:
    from mmengine.logging.history_buffer import HistoryBuffer

    import_mmseg()
    evil = tmp_path / "evil.pth"
    torch.save({"f": os.path.join}, evil)
    with pytest.raises(InputError, match="refused under weights-only"):
        load_checkpoint(evil)
    sneaky = tmp_path / "sneaky.pth"
    torch.save({"f": HistoryBuffer.__init__}, sneaky)  # pickled as getattr(HistoryBuffer, "__init__")
    with pytest.raises(InputError, match="refused"):
        load_checkpoint(sneaky)


def test_load_checkpoint_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError):
        load_checkpoint(junk)
    bare = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], bare)
    with pytest.raises(InputError, match="expected a checkpoint dict"):
        load_checkpoint(bare)
