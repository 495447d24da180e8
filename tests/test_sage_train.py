"""``train sage`` end to end at toy size on the CPU: tiny SAM, synthetic FMB replica, two short epochs, resume, fuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

from ivifbench.datasets import DATASETS
from ivifbench.errors import IvifError
from ivifbench.fusion import create_method
from ivifbench.fusion.sage.checkpoint import read_state_dict
from ivifbench.fusion.sage.cli import train_sage
from ivifbench.fusion.sage.sam import build_sam
from ivifbench.fusion.sage.train import SageTrainConfig, train

CROP = (16, 32)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sage_train")
    root = DATASETS.get("fmb").synthesize(base / "fmb", pairs=8, seed=0, size=(64, 48))
    torch.manual_seed(0)
    sam = base / "tiny_sam.pt"
    torch.save(build_sam("tiny").state_dict(), sam)
    return {"base": base, "root": Path(root), "sam": sam, "cache": base / "cache"}


def _cfg(toy: dict[str, Path], out: Path, epochs: int, **kw: object) -> SageTrainConfig:
    return SageTrainConfig(
        dataset="fmb",
        root=str(toy["root"]),
        out=str(out),
        epochs=epochs,
        batch_size=2,
        crop=CROP,
        sam_checkpoint=str(toy["sam"]),
        sam_size="tiny",
        mask_cache=str(toy["cache"]),
        device="cpu",
        student_epoch=0,  # distil from the first epoch so both networks train in two short epochs
        progress=False,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def straight(toy: dict[str, Path]) -> Path:
    out = toy["base"] / "straight"
    train(_cfg(toy, out, epochs=2), log=lambda _: None)
    return out


def test_two_epochs_losses_finite_and_falling(straight: Path) -> None:
    steps = [json.loads(line) for line in (straight / "losses.jsonl").read_text().splitlines()]
    assert {s["epoch"] for s in steps} == {0, 1}
    assert all(all(v == v and abs(v) < float("inf") for k, v in s.items() if k not in ("net",)) for s in steps)
    assert {s["net"] for s in steps} == {"student", "teacher"}
    assert [s["net"] for s in steps if s["epoch"] == 0] == ["student", "teacher", "student"]  # even S, odd T
    record = json.loads((straight / "config.json").read_text())
    assert record["epochs_done"] == 2 and record["segmentation_guidance"] is False
    # losses on the fixed probe batch fall from before training to after each epoch
    history = record["history"]
    assert [h["epoch"] for h in history] == [-1, 0, 1]
    for net in ("probe_student", "probe_teacher"):
        values = [h[net] for h in history]
        assert values[-1] < values[0], f"{net} did not fall: {values}"
    assert history[2]["lr_student"] < history[1]["lr_student"]  # cosine schedule steps


class _Killed(Exception):
    pass


def _kill_after_first_epoch(message: str) -> None:
    if message.startswith("epoch 1/"):  # logged right after the epoch's checkpoint is written
        raise _Killed


def test_resume_continues_where_it_stopped(toy: dict[str, Path], straight: Path) -> None:
    out = toy["base"] / "resumed"
    with pytest.raises(_Killed):  # a 2-epoch run killed after its first epoch
        train(_cfg(toy, out, epochs=2), log=_kill_after_first_epoch)
    with pytest.raises(IvifError, match="--resume"):
        train(_cfg(toy, out, epochs=2), log=lambda _: None)  # would overwrite the run
    app = typer.Typer()
    app.command()(train_sage)
    args = ["--dataset", "fmb", "--root", str(toy["root"]), "--out", str(out), "--epochs", "2", "--batch-size", "2"]
    args += ["--crop", f"{CROP[0]}x{CROP[1]}", "--sam-checkpoint", str(toy["sam"]), "--sam-size", "tiny"]
    args += ["--mask-cache", str(toy["cache"]), "--device", "cpu", "--student-epoch", "0", "--resume", "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "resuming" in result.output and "segmentation guidance off" in result.output
    a = read_state_dict(out / "sage_state.safetensors")
    b = read_state_dict(straight / "sage_state.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    steps = [json.loads(line) for line in (out / "losses.jsonl").read_text().splitlines()]
    assert [s["epoch"] for s in steps] == [0, 0, 0, 1, 1, 1]


def test_trained_student_fuses(straight: Path) -> None:
    method = create_method("sage", weights=straight / "student.safetensors")
    ir = torch.rand(2, 1, 30, 41)
    vis = torch.round(torch.rand(2, 3, 30, 41) * 255) / 255
    out = method(ir, vis)
    assert out.shape == vis.shape and torch.isfinite(out).all()


def test_refusals(toy: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(IvifError, match="--sam-checkpoint"):
        train(SageTrainConfig(dataset="fmb", root=str(toy["root"]), out=str(tmp_path / "x")), log=lambda _: None)
    with pytest.raises(IvifError, match="no sage_state"):
        train(_cfg(toy, tmp_path / "y", epochs=1, resume=True), log=lambda _: None)


@pytest.fixture(scope="module")
def segformer(toy: dict[str, Path]) -> Path:
    """A randomly initialised SegFormer-B0 for FMB's 15 classes, saved as a user-named checkpoint."""
    pytest.importorskip("mmseg")
    from ivifbench.networks.segformer import build_segformer

    torch.manual_seed(0)
    path = toy["base"] / "segformer_b0.pth"
    torch.save(build_segformer("b0", 15).state_dict(), path)
    return path


def test_seg_guidance_is_frozen_and_passes_gradients(segformer: Path) -> None:
    from ivifbench.fusion.sage.seg import SegGuidance

    seg = SegGuidance(segformer, num_classes=15)
    y = torch.rand(2, 1, 32, 48, requires_grad=True)
    label = torch.randint(0, 15, (2, 32, 48))
    label[0, :4] = 255
    loss = seg.loss(y, torch.full((2, 2, 32, 48), 0.5), label)
    assert loss is not None and torch.isfinite(loss)
    loss.backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in seg.model.parameters())
    assert seg.loss(y, torch.full((2, 2, 32, 48), 0.5), torch.full((2, 32, 48), 255)) is None  # nothing labelled
    with pytest.raises(IvifError, match="classes"):
        SegGuidance(segformer, num_classes=9)


@pytest.mark.slow
def test_train_with_segmentation_guidance(toy: dict[str, Path], segformer: Path) -> None:
    out = toy["base"] / "with_seg"
    logs: list[str] = []
    train(_cfg(toy, out, epochs=1, seg_checkpoint=str(segformer), ini_epoch=0), log=logs.append)
    assert any("segmentation guidance on" in m for m in logs)
    steps = [json.loads(line) for line in (out / "losses.jsonl").read_text().splitlines()]
    seg = [s["seg"] for s in steps if s["net"] == "teacher"]
    assert seg and all(v == v for v in seg)
