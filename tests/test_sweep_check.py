"""`ivifbench methods check`: a method is run on a few synthetic pairs and each contract point is reported."""

from __future__ import annotations

import torch

from ivifbench.fusion.check import check_command, check_method


def noisy_fuse(ir: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (0.5 * (ir + y) + 0.05 * torch.rand_like(ir)).clamp(0, 1)


def tinted_fuse(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    out = vis.clone()
    out[:, 0] = ir[:, 0]  # replaces the red channel with IR: a colour shift
    return out


def double_fuse(ir: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (0.5 * (ir + y)).double()


def _failed(res) -> set[str]:  # type: ignore[no-untyped-def]
    return {c.name.split(":")[0] for c in res.checks if not c.ok and not c.warning}


def test_builtin_passes() -> None:
    res = check_method("weighted")
    assert res.ok and len(res.checks) >= 7, res.lines()


def test_each_contract_point_is_caught() -> None:
    assert "determinism (two runs agree)" in _failed(check_method("test_sweep_check:noisy_fuse"))
    nan = check_method("test_sweep_fixtures:nan_fuse")
    assert not nan.ok and "NaN" in next(c.detail for c in nan.checks if c.name.startswith("grey batch"))
    assert any("shape" in c.detail for c in check_method("test_sweep_fixtures:shape_fuse").checks if not c.ok)
    assert any("float64" in c.detail for c in check_method("test_sweep_check:double_fuse").checks if not c.ok)
    tinted = check_method({"type": "callable", "target": "test_sweep_check:tinted_fuse", "colour": "native"})
    assert tinted.ok  # a native-colour method may change chroma; a luminance one may not
    unknown = check_method("averag")
    assert not unknown.ok and "did you mean 'average'" in unknown.checks[0].detail


def test_params_and_command(capsys) -> None:  # type: ignore[no-untyped-def]
    assert check_command("test_sweep_fixtures:GammaFusion", params=["gamma=0.5"]) == 0
    assert "passed" in capsys.readouterr().out
    assert check_command("test_sweep_fixtures:nan_fuse") == 1
