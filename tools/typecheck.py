"""Type-check the package with mypy (settings in pyproject.toml, ``[tool.mypy]``).

The folders map into one namespace (setup.py ROOTS: core → ``ivifbench``, fusion → ``ivifbench.fusion``, …), which
mypy cannot read from setup.py; so this builds a tree of symbolic links in ``.typecheck/`` shaped like the installed
package, runs mypy on it, and prints the findings with the repository's own paths.

    python tools/typecheck.py [extra mypy options]
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TREE = REPO / ".typecheck"


def roots() -> dict[str, str]:
    """setup.py's ROOTS table (namespace → folder), read without running setup()."""
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ROOTS" for t in node.targets):
            value: dict[str, str] = ast.literal_eval(node.value)
            return value
    raise SystemExit("setup.py has no ROOTS table")


def build_tree() -> dict[str, str]:
    """Link every package file under TREE at its installed place; return {linked path: repository path}."""
    if TREE.exists():
        shutil.rmtree(TREE)
    back: dict[str, str] = {}
    for name, folder in roots().items():
        dest = TREE.joinpath(*name.split("."))
        for src in sorted((REPO / folder).rglob("*")):
            if src.suffix not in (".py", ".pyi", ".typed") or "__pycache__" in src.parts:
                continue
            target = dest / src.relative_to(REPO / folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(src)
            back[str(target.relative_to(REPO))] = str(src.relative_to(REPO))
    return back


def main(argv: list[str]) -> int:
    back = build_tree()
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"), *argv, "ivifbench"]
    proc = subprocess.run(cmd, cwd=TREE, capture_output=True, text=True, env={**os.environ, "MYPYPATH": ""})
    for line in (proc.stdout + proc.stderr).splitlines():
        path, sep, rest = line.partition(":")
        rel = str((TREE / path).relative_to(REPO)) if sep and (TREE / path).exists() else ""
        print(f"{back[rel]}:{rest}" if rel in back else line)
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
