"""Start-up stays light: importing the CLI and every ``--help`` must not import the heavy libraries.

Each check runs in a fresh interpreter, since this test process has already imported torch (conftest).
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "torch",
    "torchvision",
    "ultralytics",
    "mmseg",
    "mmengine",
    "mmcv",
    "ray",
    "matplotlib",
    "pandas",
    "scipy",
    "skimage",
    "cv2",
    "submitit",
)

# Walks the whole command tree and runs `--help` on each node in the same interpreter, so a heavy import by any one
# command's help shows up in sys.modules afterwards, tagged with the first command that pulled it in.
_WALK = """
import contextlib, io, json, sys
import typer
HEAVY = set(json.loads(sys.argv[1]))
def heavy():
    return sorted({m.split(".")[0] for m in sys.modules} & HEAVY)
import ivifbench.cli
found = {"import ivifbench.cli": heavy()}
from ivifbench.cli import app, main
paths = []
def walk(cmd, prefix):
    paths.append(prefix)
    if hasattr(cmd, "list_commands"):  # groups; the task group fills itself on first listing
        for name in sorted(cmd.list_commands(None)):
            walk(cmd.get_command(None, name), prefix + [name])
walk(typer.main.get_command(app), [])
for path in paths:
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(path + ["--help"])
    found[" ".join(["ivifbench", *path, "--help"])] = heavy() if rc == 0 else ["exit code %s" % rc]
print(json.dumps(found))
"""


def test_cli_import_and_every_help_import_nothing_heavy() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _WALK, json.dumps(HEAVY)], capture_output=True, text=True, timeout=300, check=True
    )
    found: dict[str, list[str]] = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(found) > 10, found  # the walk reached the subcommands, not only the root
    loaded = {where: mods for where, mods in found.items() if mods}
    assert not loaded, (
        f"heavy libraries imported at start-up (first culprit first): {loaded}; "
        "import them inside the function that needs them"
    )


def test_package_namespaces_load_lazily() -> None:
    """``from ivifbench.metrics import ...`` still works, and only loads what is asked for."""
    code = (
        "import sys, ivifbench.metrics as m, ivifbench.fusion as f;"
        "a = 'torch' in sys.modules;"
        "m.CONVENTIONS; f.METHODS; from ivifbench.metrics import entropy;"
        "print(a, 'torch' in sys.modules, callable(entropy), sorted(set(m.__all__) - set(dir(m))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split() == ["False", "True", "True", "[]"], out.stdout


def test_fuse_does_not_load_the_task_registry() -> None:
    """The task group lists its commands only when asked: `ivifbench fuse` pays nothing for the tasks wing."""
    code = (
        "import sys, contextlib, io; from ivifbench.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): rc = main(['fuse', '--help'])\n"
        "print(rc, sorted(m for m in sys.modules if m.startswith('ivifbench.tasks')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split() == ["0", "[]"], out.stdout
