"""Declared method parameters: defaults, ranges, unknown keys; the same check for create_method and suites."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from ivifbench.fusion import METHODS, create_method
from ivifbench.fusion.params import ParamError
from ivifbench.fusion.registry import check_params


def test_every_builtin_declares_its_parameters() -> None:
    for name in ("average", "max", "weighted", "laplacian", "dwt", "gff", "sage", "caf", "tardal"):
        assert METHODS.get(name).Params is not None, name


def test_weighted_w_changes_the_output() -> None:
    g = torch.Generator().manual_seed(0)
    ir, vis = torch.rand(1, 1, 16, 16, generator=g), torch.rand(1, 1, 16, 16, generator=g)
    plain = create_method("weighted")(ir, vis)
    fixed = create_method("weighted", w=0.7)(ir, vis)
    assert not torch.equal(plain, fixed)
    assert torch.allclose(fixed, 0.7 * ir + 0.3 * vis)


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("laplacian", {"levels": -2}, "levels"),
        ("laplacian", {"levels": 2.5}, "levels"),
        ("weighted", {"w": 1.5}, "'w'"),
        ("weighted", {"W": 0.7}, r"unknown parameter 'W' \(accepted: w, sigma, eps\)"),
        ("average", {"x": 1}, r"accepted: none"),
        ("dwt", {"wavelet": "nope"}, "discrete wavelet"),
        ("gff", {"r1": 0}, "r1"),
        ("caf", {"output": "round"}, "output"),
        ("tardal", {"bn": "train"}, "bn"),
        ("sage", {"channel_last": True}, "channels_last"),
    ],
)
def test_bad_parameters_are_errors_naming_method_and_parameter(name: str, params: dict, match: str) -> None:
    problems = check_params(name, params)
    assert problems and all(f"method '{name}'" in p for p in problems)
    assert any(__import__("re").search(match, p) for p in problems), problems
    with pytest.raises(ParamError, match=match):
        create_method(name, **params)  # the run refuses with the same words, before loading any weights


def test_good_parameters_pass_and_unknown_method_is_reported() -> None:
    assert check_params("laplacian", {"levels": 2}) == []
    assert check_params("dwt", {"wavelet": "haar", "mode": "periodization"}) == []
    assert "unknown method" in check_params("lapalcian", {})[0]


def test_suite_validation_reports_bad_parameters(tmp_path) -> None:
    from ivifbench.cli import app

    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: p\nmethods: [{name: laplacian, params: {levels: -2}}, {name: weighted, params: {w: 0.7}}]\n"
        "datasets: [{name: tno, synthetic: {pairs: 2}}]\nmetrics: {names: [EN], convention: canonical}\n"
    )
    result = CliRunner().invoke(app, ["validate", str(suite)])
    assert result.exit_code != 0
    assert "laplacian" in result.output and "levels" in result.output and "'w'" not in result.output


def test_methods_info_prints_parameters_and_card() -> None:
    from ivifbench.cli import app

    out = CliRunner().invoke(app, ["methods", "info", "laplacian"]).output
    assert "levels" in out and "≥ 1" in out
    out = CliRunner().invoke(app, ["methods", "info", "caf"]).output
    for text in ("IJCAI", "2024", "b99ef24e", "bf12f26e", "output", "release", "m3fd"):
        assert text in out, text


def test_methods_list_shows_configured_weights(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from ivifbench.cli import app

    w = tmp_path / "t.pt"
    w.write_bytes(b"x")
    monkeypatch.setenv("IVIFBENCH_TARDAL_WEIGHTS", str(w))
    monkeypatch.delenv("IVIFBENCH_CAF_WEIGHTS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "250")
    out = CliRunner().invoke(app, ["methods", "list"]).output
    lines = {line.split()[1]: line for line in out.splitlines() if line.strip().startswith("│")}
    assert "IVIFBENCH_TARDAL_WEIGHTS" in lines["tardal"]
    assert "not configured" in lines["caf"]
