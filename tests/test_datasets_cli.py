"""`ivifbench datasets list | check | synth` through the real entry point (exit codes, one-line errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivifbench.cli import main
from ivifbench.datasets.cli import parse_size
from ivifbench.errors import InputError


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "m3fd",
        "llvip",
        "msrs",
        "fmb",
        "vt5000",
        "vt821",
        "vt1000",
        "tno",
        "roadscene",
        "vifb",
        "kaist",
        "flir",
    ):
        assert name in out
    assert "order assumed" in out and "detection" in out


def test_synth_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "llvip"
    assert (
        main(["datasets", "synth", "llvip", "--out", str(out), "--pairs", "4", "--seed", "2", "--size", "96x64"]) == 0
    )
    assert "train 3, test 1" in capsys.readouterr().out
    assert main(["datasets", "check", "llvip", str(out)]) == 0
    report = capsys.readouterr().out
    assert "ok: no problems" in report and "train" in report
    (out / "LLVIP/visible/test/190001.jpg").unlink()
    assert main(["datasets", "check", "llvip", str(out)]) == 1
    report = capsys.readouterr().out
    assert "1 problem(s)" in report and "infrared/test/190001.jpg" in report


def test_check_m3fd_split_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m"
    assert main(["datasets", "synth", "m3fd", "--out", str(out), "--pairs", "3", "--size", "96x64"]) == 0
    (tmp_path / "val.txt").write_text("00001\n00002\n")
    assert main(["datasets", "check", "m3fd", str(out), "--split-file", f"val={tmp_path / 'val.txt'}"]) == 0
    assert "val" in capsys.readouterr().out


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "check", "m3fdd", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "did you mean 'm3fd'" in err and err.count("\n") == 1
    assert main(["datasets", "check", "msrs", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "not a msrs root" in err and err.count("\n") == 1
    assert main(["datasets", "synth", "tno", "--out", str(tmp_path / "t"), "--size", "big"]) != 0
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_parse_size() -> None:
    assert parse_size("256x192") == (256, 192)
    assert parse_size(" 64×48 ") == (64, 48)
    assert parse_size(None) is None
    with pytest.raises(InputError):
        parse_size("256")


def test_synth_default_pairs_are_the_quick_protocol_replica(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ivifbench.datasets import DATASETS

    assert {n: DATASETS.get(n).synth_pairs for n in ("msrs", "fmb", "m3fd", "llvip", "vt5000", "tno")} == {
        "msrs": 48,
        "fmb": 48,
        "m3fd": 100,
        "llvip": 100,
        "vt5000": 200,
        "tno": 8,
    }
    assert main(["datasets", "synth", "msrs", "--out", str(tmp_path / "msrs"), "--size", "64x48"]) == 0
    assert "train 36, test 12" in capsys.readouterr().out
