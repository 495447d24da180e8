"""docs/metrics.md covers every metric as the catalogue defines it; `ivifbench metrics list`; `score` says which
metrics a convention lacks; user-facing text cites nothing outside the repository; the docs' examples run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ivifbench.metrics import CONVENTIONS, METRICS

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "metrics.md"


def _sections() -> dict[str, str]:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^### (\S+)\n", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_metrics_doc_covers_every_metric_and_convention() -> None:
    sections = _sections()
    assert set(METRICS.names()) <= set(sections), set(METRICS.names()) - set(sections)
    for name in METRICS.names():
        spec = METRICS.get(name)
        body = sections[name]
        conv = re.search(r"\*\*Conventions:\*\* (.+)\.", body)
        assert conv and set(conv.group(1).split(", ")) == set(spec.conventions), name
        assert ("Higher is better" if spec.higher_is_better else "Lower is better") in body, name
        assert "**Reference:**" in body and "=" in body, name  # a formula
    text = DOC.read_text(encoding="utf-8")
    for c in CONVENTIONS.names():
        assert f"| `{c}` |" in text
    assert "pycocotools" in text  # detection mAP is ultralytics'


def test_no_user_facing_text_cites_outside_the_repository() -> None:
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for p in texts:
        body = p.read_text(encoding="utf-8")
        for bad in ("../shared", "specs/", "metrics spec", "DESIGN.md"):
            assert bad not in body, f"{p.name} cites '{bad}'"
    from ivifbench.cli import main

    for cmd in (["score", "--help"], ["metrics", "list", "--help"], ["run", "--help"], ["report", "--help"]):
        out = subprocess.run([sys.executable, "-m", "ivifbench.cli", *cmd], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "metrics.md §" not in out.stdout and "spec §" not in out.stdout, cmd
    assert main(["metrics", "list"]) == 0
    for c in CONVENTIONS.names():
        assert "§" not in CONVENTIONS.get(c).description


def test_metrics_list(capsys: pytest.CaptureFixture[str]) -> None:
    from ivifbench.cli import main

    assert main(["metrics", "list", "--convention", "vifb"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0] for line in out.splitlines()[3:] if line.strip()}
    assert rows == {n for n in METRICS.names() if "vifb" in METRICS.get(n).conventions}
    assert "SCD" not in rows and "13 metrics" in out
    assert main(["metrics", "list", "--convention", "vifc"]) == 2
    assert "did you mean 'vifb'" in capsys.readouterr().err


def test_score_says_which_metrics_a_convention_lacks(tmp_path: Path) -> None:
    from ivifbench.imageio import write_png

    rng = np.random.default_rng(0)
    for d in ("ir", "vis", "fused"):
        write_png(tmp_path / d / "a.png", rng.random((48, 64)).astype(np.float32))
    args = ["score", "--ir", str(tmp_path / "ir"), "--vis", str(tmp_path / "vis"), "--fused", str(tmp_path / "fused")]
    out = subprocess.run([sys.executable, "-m", "ivifbench.cli", *args, "--convention", "vifb", "--device", "cpu"],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    notes = [line for line in out.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "has no" in notes[0] and "SCD" in notes[0] and "VIF" in notes[0]


def _block(text: str, first_line: str) -> str:
    """The fenced code block whose first line is ``first_line``."""
    for m in re.finditer(r"```\w*\n(.*?)```", text, flags=re.S):
        if m.group(1).startswith(first_line):
            return m.group(1)
    raise AssertionError(f"no code block starting with {first_line!r}")


def test_adding_a_method_callable_example_runs_as_written(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "adding-a-method.md").read_text(encoding="utf-8")
    code = _block(doc, "# mypkg/fusion.py")
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "fusion.py").write_text(code)
    cmd = re.search(r"`(PYTHONPATH=\. ivifbench methods check mypkg\.fusion:softmax_fuse)`", doc)
    assert cmd, "the doc no longer says how to run the example"
    env = {**os.environ, "PYTHONPATH": "."}
    exe = Path(sys.executable).with_name("ivifbench")
    argv = [str(exe) if exe.exists() else "ivifbench", *cmd.group(1).split()[2:]]
    out = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    # without PYTHONPATH the error says why, in one line
    env.pop("PYTHONPATH")
    bad = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "PYTHONPATH=." in bad.stdout + bad.stderr
