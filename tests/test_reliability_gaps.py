"""The last generic-error gaps: a full disk during `fuse` (one line for the command, not one per pair), a full disk on
the run record's final write (the record says 'failed', or the next start marks it abandoned), unique temporary names
for synthetic data, and the output/input overlap refusal in the task and `train sage` commands.

A full disk cannot be made without root (no small tmpfs here), so those tests make the write itself raise ENOSPC /
SQLite's "database or disk is full", exactly where the OS or SQLite would.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import test_sweep_fixtures as fx
from PIL import Image

from ivifbench.cli import main
from ivifbench.store import ResultsStore


def _pairs(root: Path, n: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    for d in ("ir", "vis"):
        (root / d).mkdir(parents=True)
        for i in range(n):
            Image.fromarray((rng.random((24, 32)) * 255).astype("uint8")).save(root / d / f"p{i:02d}.png")
    return root / "ir", root / "vis"


def _err_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.strip().splitlines() if line.strip()]


# ----------------------------------------------------------------------------------------------------------------------
# fuse on a full disk
# ----------------------------------------------------------------------------------------------------------------------


def test_fuse_on_a_full_disk_stops_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PNG encoder's write fails with ENOSPC after the first image: the command stops there (it does not fuse the
    other 19 pairs only to fail each) and prints one line naming the file; no partial file is left behind."""
    ir, vis = _pairs(tmp_path, 20)
    out = tmp_path / "out"
    real_save = Image.Image.save
    saved: list[str] = []
    fused: list[int] = []

    def save(self: Image.Image, fp: object, *a: object, **k: object) -> None:
        if saved:
            Path(str(fp)).write_bytes(b"\x89PNG partial")  # what a write cut short leaves
            raise OSError(errno.ENOSPC, "No space left on device")
        saved.append(str(fp))
        real_save(self, fp, *a, **k)  # type: ignore[arg-type]

    import ivifbench.fusion.classical as classical

    real_fuse = classical.AverageFusion.fuse_grey

    def counting(self: object, ir_: object, y: object) -> object:
        fused.append(1)
        return real_fuse(self, ir_, y)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "save", save)
    monkeypatch.setattr(classical.AverageFusion, "fuse_grey", counting)
    assert main(["fuse", "--method", "average", "--ir", str(ir), "--vis", str(vis), "--out", str(out)]) == 1
    err = [line for line in _err_lines(capsys) if not line.startswith("fuse average ")]  # the progress bar aside
    assert err == [f"error: cannot write {out / 'p01.png'}: disk full; free space or choose another --out"], err
    assert len(fused) < 20  # stopped early (the writer runs a few images behind the fusing)
    assert sorted(p.name for p in out.iterdir()) == ["p00.png"]  # no temporary or partial file left


def test_fuse_other_write_errors_still_fail_that_pair_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not every write error is a full disk: one unwritable file fails that pair, the pass carries on."""
    from ivifbench.fusion import create_method
    from ivifbench.fusion.apply import fuse_pairs
    from ivifbench.imageio import pair_folders

    ir, vis = _pairs(tmp_path, 4)
    real_save = Image.Image.save

    def save(self: Image.Image, fp: object, *a: object, **k: object) -> None:
        if ".p02.png." in str(fp):
            raise OSError(errno.EIO, "Input/output error")
        real_save(self, fp, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Image.Image, "save", save)
    report = fuse_pairs(create_method("average"), pair_folders(ir, vis), tmp_path / "out", progress=False)
    assert sorted(report.written) == ["p00", "p01", "p03"] and list(report.failed) == ["p02"]


# ----------------------------------------------------------------------------------------------------------------------
# the run record on a full disk
# ----------------------------------------------------------------------------------------------------------------------


def _runs(db: Path) -> list[str]:
    with ResultsStore(db, readonly=True) as s:
        return [r["status"] for r in s.runs()]


def test_full_disk_on_the_final_record_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite reports "database or disk is full" when the run's end is written: one line, exit 1, and the record says
    'failed' (the short status write that follows needs almost no space), not 'running'."""
    fx.register_fakes()
    suite = fx.write_suite(tmp_path / "s.yaml", tasks=[])
    out = tmp_path / "out"

    def full(*_a: object, **_k: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ResultsStore, "finish_run", full)
    assert main(["run", str(suite), "--out", str(out), "--workers", "0", "-q"]) == 1
    err = _err_lines(capsys)
    assert err[-1] == "error: cannot write the results store: disk full; free space or choose another --out", err
    assert not any("rerun with --debug" in line for line in err)
    assert _runs(out / "results.db") == ["failed"]


def test_record_left_running_is_marked_abandoned_at_the_next_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When even the status write fails, the record stays 'running'; the next run on that folder marks it abandoned,
    says so in one line, and completes."""
    fx.register_fakes()
    suite = fx.write_suite(tmp_path / "s.yaml", tasks=[])
    out = tmp_path / "out"

    def full(*_a: object, **_k: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    with monkeypatch.context() as m:
        m.setattr(ResultsStore, "finish_run", full)
        m.setattr(ResultsStore, "set_run_status", full)
        assert main(["run", str(suite), "--out", str(out), "--workers", "0", "-q"]) == 1
    assert _runs(out / "results.db") == ["running"]
    capsys.readouterr()
    assert main(["run", str(suite), "--out", str(out), "--workers", "0", "-q", "--no-report"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "marked abandoned" in line]
    assert len(notes) == 1 and "its last write failed" in notes[0], notes
    assert _runs(out / "results.db") == ["abandoned (its driver died)", "finished"]


# ----------------------------------------------------------------------------------------------------------------------
# synthetic data: temporary names unique per process
# ----------------------------------------------------------------------------------------------------------------------


def _synth_spec() -> object:
    from ivifbench.benchmarks.suite import DatasetSpec

    return DatasetSpec.model_validate({"name": "tno", "synthetic": {"pairs": 2, "seed": 0, "size": [64, 48]}})


def test_sweep_synthesis_uses_a_unique_partial_and_clears_stale_ones(tmp_path: Path) -> None:
    from ivifbench.benchmarks.planner import synth_root, synthesize_dataset

    spec = _synth_spec()
    folder = synth_root(tmp_path, spec)  # type: ignore[arg-type]
    stale = folder.with_name(folder.name + ".partial")  # what a killed synthesis (old naming) left
    (stale / "junk").mkdir(parents=True)
    stale2 = folder.with_name(folder.name + ".partial-99999-deadbeef")
    stale2.mkdir()
    root = synthesize_dataset(tmp_path, spec)  # type: ignore[arg-type]
    assert root.is_dir() and not stale.exists() and not stale2.exists()
    assert not list(folder.parent.glob("*.partial*"))


def test_sweep_synthesis_when_another_process_finished_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old race (errno 39 on the shared `.partial` folder): if the replica appears while ours is being written,
    ours is discarded and theirs (same parameters, same bytes) is used."""
    from ivifbench.benchmarks.planner import synth_root, synthesize_dataset
    from ivifbench.datasets import DATASETS

    spec = _synth_spec()
    folder = synth_root(tmp_path, spec)  # type: ignore[arg-type]
    reader = DATASETS.get("tno")
    real = reader.synthesize.__func__  # type: ignore[attr-defined]
    seen: list[str] = []

    def racing(cls: type, out: Path, **kw: object) -> Path:
        seen.append(Path(out).name)
        real(cls, folder, **kw)  # the other process, finishing first into the final folder
        return real(cls, out, **kw)

    monkeypatch.setattr(reader, "synthesize", classmethod(racing))
    root = synthesize_dataset(tmp_path, spec)  # type: ignore[arg-type]
    assert root.is_dir() and any(root.rglob("*.png"))
    assert seen[0].startswith(folder.name + f".partial-{os.getpid()}-")
    assert not list(folder.parent.glob("*.partial*"))


def test_two_datasets_synth_processes_into_one_folder(tmp_path: Path) -> None:
    """Two `datasets synth` commands at once into one folder: real processes, no shared temporary file name (each
    writes hidden per-process names, then renames); both succeed or one says the folder is not empty, and the files
    are the replica's."""
    out = tmp_path / "rep"
    cmd = [sys.executable, "-m", "ivifbench.cli", "datasets", "synth", "tno", "--out", str(out), "--pairs", "6"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    for rc, err in results:
        assert rc == 0 or (rc != 0 and "not empty" in err and "Traceback" not in err), err
    assert any(rc == 0 for rc, _ in results)
    ref = tmp_path / "ref"
    assert main(["datasets", "synth", "tno", "--out", str(ref), "--pairs", "6"]) == 0
    files = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    want = {p.relative_to(ref): p.read_bytes() for p in ref.rglob("*") if p.is_file()}
    assert files == want  # no temporary file left, every file whole


# ----------------------------------------------------------------------------------------------------------------------
# output/input overlap: task commands and train sage
# ----------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["root", "root/runs", "fused", "."])
def test_task_command_refuses_an_output_over_its_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    fx.register_fakes()
    root, fused = tmp_path / "root", tmp_path / "fused"
    root.mkdir()
    fused.mkdir()
    (root / "keep.txt").write_text("x")
    out = tmp_path / where
    args = ["task", "fake", "--method", "average", "--dataset", "msrs", "--root", str(root), "--out", str(out)]
    assert main([*args, "--fused", str(fused)]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and err[0].startswith("error: --out") and "choose an output folder outside" in err[0], err
    assert sorted(p.name for p in root.rglob("*")) == ["keep.txt"] and not any(fused.iterdir())  # nothing written


def test_task_command_refuses_an_out_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fx.register_fakes()
    (tmp_path / "root").mkdir()
    f = tmp_path / "f.txt"
    f.write_text("x")
    args = ["task", "fake", "--method", "average", "--dataset", "msrs", "--root", str(tmp_path / "root")]
    assert main([*args, "--out", str(f)]) == 2
    assert "is an existing file" in capsys.readouterr().err and f.read_text() == "x"


@pytest.mark.parametrize("flag", ["--out", "--mask-cache"])
def test_train_sage_refuses_an_output_inside_the_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    root = tmp_path / "msrs"
    root.mkdir()
    out = tmp_path / "run" if flag == "--mask-cache" else root / "run"
    args = ["train", "sage", "--dataset", "msrs", "--root", str(root), "--out", str(out), "--epochs", "1"]
    if flag == "--mask-cache":
        args += ["--mask-cache", str(root / "cache")]
    assert main(args) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and err[0].startswith(f"error: {flag}") and "lies inside --root" in err[0], err
    assert not any(root.iterdir()) and not out.exists()


# ----------------------------------------------------------------------------------------------------------------------
# SIGTERM before the units run (while planning: synthetic data, hashing)
# ----------------------------------------------------------------------------------------------------------------------

_TERM_WHILE_PLANNING = """
import os, signal, sys
import test_sweep_fixtures as fx
import ivifbench.benchmarks.runner as runner
from ivifbench.cli import main

fx.register_fakes()
real = runner.make_plan

def plan(*a, **k):
    os.kill(os.getpid(), signal.SIGTERM)  # delivered to the main thread before the next bytecode
    return real(*a, **k)

runner.make_plan = plan
sys.exit(main(["run", sys.argv[1], "--out", sys.argv[2], "--workers", "0", "-q"]))
"""


def test_sigterm_while_planning_is_one_line_and_143(tmp_path: Path) -> None:
    """It used to kill the driver silently (the default action) before the run's signal handling started."""
    suite = fx.write_suite(tmp_path / "s.yaml", tasks=[])
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", _TERM_WHILE_PLANNING, str(suite), str(out)], env=fx.subprocess_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 143, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == "interrupted; the same command resumes", done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert main(["run", str(suite), "--out", str(out), "--workers", "0", "-q", "--no-report"]) == 0


def test_a_signal_during_interpreter_shutdown_changes_nothing(tmp_path: Path) -> None:
    """After the command is over (its outcome printed), a SIGTERM or Ctrl-C while Python shuts down (torch and pools
    take a moment) used to kill the process silently; the program's entry point ignores them then (exit 0 here)."""
    code = (
        "import atexit, os, signal, sys\n"
        "import ivifbench.cli as cli\n"
        "atexit.register(lambda: os.kill(os.getpid(), signal.SIGTERM))  # runs during shutdown\n"
        "sys.argv = ['ivifbench', '--version']\n"
        "cli.entry() if os.environ.get('ENTRY') else sys.exit(cli.main())\n"
    )
    env = fx.subprocess_env()
    plain = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert plain.returncode == -15  # what a late SIGTERM does without the entry point's guard
    guarded = subprocess.run([sys.executable, "-c", code], env={**env, "ENTRY": "1"}, capture_output=True, text=True,
                             timeout=120)  # fmt: skip
    assert guarded.returncode == 0 and guarded.stdout.startswith("ivifbench "), guarded.stderr
