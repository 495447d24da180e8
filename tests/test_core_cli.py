import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from ivifbench.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_namespace_only_ivifbench_is_installed(tmp_path):
    """Nothing generic (datasets, metrics, ...) may be importable as a top-level module from the install."""
    code = (
        "import importlib.util as u, ivifbench, ivifbench.metrics, ivifbench.datasets, ivifbench.fusion;"
        "print([n for n in ('datasets','metrics','fusion','tasks','reports','benchmarks','core') if u.find_spec(n)])"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    found = eval(out.stdout.strip())
    for name in found:  # a module of that name may come from another package, never from this repository
        origin = subprocess.run(
            [sys.executable, "-c", f"import importlib.util as u; print(u.find_spec('{name}').origin)"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert str(REPO) not in origin, f"top-level '{name}' comes from this repository: {origin}"


def _pairs(root: Path, n: int = 2, size=(12, 10)) -> tuple[Path, Path]:
    ir, vi = root / "ir", root / "vi"
    ir.mkdir(parents=True)
    vi.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, size[::-1], dtype=np.uint8)).save(ir / f"p{i}.png")
        Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(vi / f"p{i}.jpg")
    return ir, vi


def test_fuse_writes_pngs_named_by_stem(tmp_path, capsys):
    ir, vi = _pairs(tmp_path)
    assert main(["fuse", "--method", "laplacian", "--ir", str(ir), "--vis", str(vi), "--out", str(tmp_path / "o")]) == 0
    written = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert written == ["p0.png", "p1.png"]
    assert Image.open(tmp_path / "o" / "p0.png").mode == "RGB"


def test_user_errors_are_one_line_without_traceback(tmp_path, capsys):
    ir, vi = _pairs(tmp_path)
    assert main(["fuse", "--method", "laplace", "--ir", str(ir), "--vis", str(vi), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean 'laplacian'" in err[0] and "Traceback" not in err[0]
    assert main(["methods", "info", "nope"]) == 2


def test_fuse_records_a_bad_pair_and_writes_the_rest(tmp_path, capsys):
    ir, vi = _pairs(tmp_path, n=3)
    (vi / "p1.jpg").write_bytes(b"not a jpeg")
    rc = main(["fuse", "--method", "average", "--ir", str(ir), "--vis", str(vi), "--out", str(tmp_path / "o")])
    assert rc == 1
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["p0.png", "p2.png"]
    assert "p1.jpg" in capsys.readouterr().err


def test_sage_without_weights_refuses_clearly(tmp_path, capsys):
    ir, vi = _pairs(tmp_path)
    rc = main(["fuse", "--method", "sage", "--ir", str(ir), "--vis", str(vi), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--weights" in err and "SAGE_IVIF" in err


def test_help_everywhere():
    exe = Path(sys.executable).with_name("ivifbench")
    for args in ([], ["fuse"], ["methods"], ["datasets"], ["task"], ["task", "detection"], ["score"], ["run"]):
        proc = subprocess.run([str(exe), *args, "--help"], capture_output=True, text=True)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Usage" in proc.stdout
