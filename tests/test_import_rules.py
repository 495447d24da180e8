"""The floors of the house, derived from the source with ``ast`` (every import, lazy ones included).

core/ imports nothing above it (its CLI entry aside); fusion/ never imports tasks/; no task imports another; neither
the module graph nor the folder graph has a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _roots() -> dict[str, str]:
    """setup.py's ROOTS table (namespace → folder), read without running setup()."""
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ROOTS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py has no ROOTS table")


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for name, folder in _roots().items():
        for f in sorted((REPO / folder).rglob("*.py")):
            rel = f.relative_to(REPO / folder).with_suffix("").parts
            if rel[-1] == "__init__":
                rel = rel[:-1]
            mods[".".join((name, *rel))] = f
    return mods


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def _imports(module: str, path: Path) -> set[str]:
    """The project modules ``module`` imports; ``from pkg import sub`` counts as an import of ``pkg.sub``."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {  # ``if TYPE_CHECKING:`` blocks are never run
        id(n) for block in ast.walk(tree) if _is_type_checking(block) for stmt in block.body for n in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for a in node.names:
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base)
    targets = {_resolve(n) for n in found if n.split(".")[0] == "ivifbench"}
    return {t for t in targets if t and t != module}


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _folder(module: str) -> str:
    return MODULES[module].relative_to(REPO).parts[0]


def _edges(src_folder: str, dst_folder: str) -> list[str]:
    return [
        f"{m} -> {t}" for m, ts in GRAPH.items() if _folder(m) == src_folder for t in ts if _folder(t) == dst_folder
    ]


def test_graph_is_read() -> None:
    assert "ivifbench.errors" in MODULES and "ivifbench.benchmarks.runner" in MODULES
    assert "ivifbench.benchmarks.suite" in GRAPH["ivifbench.benchmarks.runner"]


def test_core_imports_nothing_above_it() -> None:
    bad = [
        f"{m} -> {t}"
        for m, ts in GRAPH.items()
        if _folder(m) == "core" and m != "ivifbench.cli"
        for t in ts
        if _folder(t) != "core"
    ]
    assert bad == []


@pytest.mark.parametrize("src,dst", [("fusion", "tasks"), ("networks", "fusion"), ("networks", "tasks")])
def test_floor_rule(src: str, dst: str) -> None:
    assert _edges(src, dst) == []


def test_no_task_imports_another() -> None:
    def task_of(module: str) -> str | None:
        parts = module.split(".")
        return parts[2] if len(parts) > 2 and parts[1] == "tasks" and MODULES[module].parent.name != "tasks" else None

    bad = [
        f"{m} -> {t}" for m, ts in GRAPH.items() for t in ts if task_of(m) and task_of(t) and task_of(m) != task_of(t)
    ]
    assert bad == []


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` (as a path), or ``[]``."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(v: str) -> list[str]:
        state[v] = 1
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                return [*stack[stack.index(w) :], w]
            if w not in state and (found := visit(w)):
                return found
        stack.pop()
        state[v] = 2
        return []

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return []


def test_no_module_cycle() -> None:
    assert _cycle(GRAPH) == []


def test_no_folder_cycle() -> None:
    folders: dict[str, set[str]] = {}
    for m, ts in GRAPH.items():
        if m == "ivifbench.cli":  # the CLI entry point gathers every folder's commands
            continue
        folders.setdefault(_folder(m), set()).update(_folder(t) for t in ts if _folder(t) != _folder(m))
    assert _cycle(folders) == []


def test_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []
