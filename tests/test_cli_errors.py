"""Errors a user can cause get one specific line and a non-zero exit, never the generic catch-all line."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import test_sweep_fixtures as fx
from PIL import Image

from ivifbench.cli import environment_error_line, main
from ivifbench.store import ResultsStore


def _pair(root: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    for d in ("ir", "vis"):
        (root / d).mkdir(parents=True)
        Image.fromarray((rng.random((32, 32)) * 255).astype("uint8")).save(root / d / "a.png")
    return root / "ir", root / "vis"


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("error: ") and "rerun with --debug" not in err[-1], err
    return err[-1]


def test_bad_device_fuse_and_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ir, vis = _pair(tmp_path)
    assert main(["fuse", "--method", "average", "--ir", str(ir), "--vis", str(vis), "--out", str(tmp_path / "o"),
                 "--device", "banana"]) == 2  # fmt: skip
    assert "use cpu, cuda or cuda:N" in _one_line(capsys)
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
    assert main(["score", "--ir", str(ir), "--vis", str(vis), "--fused", str(ir), "--device", "banana"]) == 2
    assert "'banana' is not a device; use cpu, cuda or cuda:N" in _one_line(capsys)


def test_task_device_and_seed_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["task", "sod", "--method", "average", "--dataset", "vt821", "--root", str(tmp_path / "root"), "--out",
            str(tmp_path / "t")]  # fmt: skip
    for seeds, shown in (("-1", "-1"), ("99999999999999999999", "99999999999999999999")):
        assert main([*base, f"--seeds={seeds}"]) != 0
        assert _one_line(capsys) == f"error: --seeds: {shown} is out of range; seeds are integers in [0, 2^32)"
    assert main([*base, "--set", "device=banana"]) != 0
    assert "device must be auto, cpu, cuda or cuda:N" in _one_line(capsys)
    # an option the task does not have is a usage error (typer's vendored click), not the generic line
    assert main([*base, "--device", "banana"]) == 2
    assert "No such option: --device" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/out"),
         "cannot write /mnt/ro/out: read-only file system; choose another --out"),
        (OSError(errno.EACCES, "Permission denied", "/x"), "cannot write /x: permission denied; choose another --out"),
        (OSError(errno.ENOSPC, "No space left on device", "/d/f.png"),
         "cannot write /d/f.png: disk full; free space or choose another --out"),
        (sqlite3.OperationalError("database or disk is full"),
         "cannot write the results store: disk full; free space or choose another --out"),
        (FileExistsError(errno.EEXIST, "File exists", "/a/file.png"),
         "cannot write /a/file.png: a file stands where a folder is needed; choose another --out"),
        (MemoryError(), "out of memory; use a smaller --batch-size, fewer --workers, or lower IVIFBENCH_MAX_PIXELS"),
        (OSError(errno.ENOENT, "No such file"), None),
        (ValueError("x"), None),
    ],
)  # fmt: skip
def test_environment_error_line(exc: BaseException, expected: str | None) -> None:
    assert environment_error_line(exc) == expected


def test_fuse_read_only_out_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests run as root here, so chmod cannot make a folder read-only: the write itself raises EROFS."""
    import ivifbench.fusion.apply as apply

    ir, vis = _pair(tmp_path)

    def refuse(*_a: object, **_k: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "o"))

    monkeypatch.setattr(apply, "fuse_pairs", refuse)
    assert main(["fuse", "--method", "average", "--ir", str(ir), "--vis", str(vis), "--out", str(tmp_path / "o")]) == 1
    assert _one_line(capsys) == f"error: cannot write {tmp_path / 'o'}: read-only file system; choose another --out"


def test_run_on_read_only_disk_leaves_no_running_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ivifbench.benchmarks.runner as runner
    from ivifbench.benchmarks.suite import load_suite

    fx.register_fakes()

    def refuse(*_a: object, **_k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "fused"))

    monkeypatch.setattr(runner, "_execute", refuse)
    out = tmp_path / "out"
    with pytest.raises(OSError) as info:
        runner.run_suite(load_suite(fx.write_suite(tmp_path / "s.yaml")), out, workers=0, progress=False)
    assert (
        environment_error_line(info.value)
        == f"cannot write {out / 'fused'}: disk full; free space or choose another --out"
    )
    with ResultsStore(out / "results.db", readonly=True) as s:
        statuses = [r[0] for r in s._db.execute("SELECT status FROM runs").fetchall()]
    assert statuses == ["failed"]


@pytest.mark.parametrize("page", [5, 9])
def test_report_on_store_with_one_damaged_page(tmp_path: Path, capsys: pytest.CaptureFixture[str], page: int) -> None:
    """One page overwritten, wherever it is, gives the recovery hint (not a partial report, not pandas' error)."""
    fx.register_fakes()
    from ivifbench.benchmarks.runner import run_suite
    from ivifbench.benchmarks.suite import load_suite

    out = tmp_path / "out"
    run_suite(load_suite(fx.write_suite(tmp_path / "s.yaml")), out, workers=0, progress=False, report=False)
    db = out / "results.db"
    data = bytearray(db.read_bytes())
    assert len(data) > (page + 1) * 4096
    data[page * 4096 : (page + 1) * 4096] = b"\xff" * 4096
    db.write_bytes(bytes(data))
    assert main(["report", "--results", str(out)]) == 2
    line = _one_line(capsys)
    assert "the results store is damaged" in line and "sqlite3 results.db .recover" in line, line


def test_pandas_wrapped_sqlite_error_is_translated() -> None:
    try:
        try:
            raise sqlite3.DatabaseError("database disk image is malformed")
        except sqlite3.DatabaseError as inner:
            raise RuntimeError("Execution failed on sql 'SELECT * FROM units'") from inner
    except RuntimeError as outer:
        line = environment_error_line(outer)
    assert line is not None and line.startswith("the results store is damaged") and ".recover" in line


def test_report_on_store_damaged_in_the_middle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fx.register_fakes()
    from ivifbench.benchmarks.runner import run_suite
    from ivifbench.benchmarks.suite import load_suite

    out = tmp_path / "out"
    run_suite(load_suite(fx.write_suite(tmp_path / "s.yaml")), out, workers=0, progress=False, report=False)
    db = out / "results.db"
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 3 * page
    data[page : len(data) - page] = b"\xff" * (len(data) - 2 * page)  # keep the header, damage the middle
    db.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    assert main(["report", "--results", str(out)]) != 0
    line = _one_line(capsys)
    assert "damaged" in line and ".recover" in line, line


def test_run_command_on_full_disk_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ivifbench.benchmarks.runner as runner

    fx.register_fakes()
    out = tmp_path / "out"

    def refuse(*_a: object, **_k: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "fused" / "a.png"))

    monkeypatch.setattr(runner, "_execute", refuse)
    assert main(["run", str(fx.write_suite(tmp_path / "s.yaml")), "--out", str(out), "--workers", "0"]) == 1
    assert (
        _one_line(capsys)
        == f"error: cannot write {out / 'fused' / 'a.png'}: disk full; free space or choose another --out"
    )
    with ResultsStore(out / "results.db", readonly=True) as s:
        assert [r[0] for r in s._db.execute("SELECT status FROM runs").fetchall()] == ["failed"]


def test_negative_workers_and_zero_batch_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Caught by the option itself, before anything runs (``--workers -3`` used to start the whole run)."""
    assert main(["run", "quick", "--out", str(tmp_path / "r"), "--workers", "-3"]) == 2
    assert "Invalid value for '--workers'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    ir, vis = _pair(tmp_path)
    args = ["fuse", "--method", "average", "--ir", str(ir), "--vis", str(vis), "--out", str(tmp_path / "o")]
    assert main([*args, "--batch-size", "0"]) == 2
    assert "Invalid value for '--batch-size'" in capsys.readouterr().err
