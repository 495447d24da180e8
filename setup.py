"""Maps each top-level folder into the one `ivifbench.*` namespace (see DESIGN.md, "Layout").

setuptools' static `package-dir` table cannot list nested subpackages by itself, so they are found here.
"""

from pathlib import Path

from setuptools import setup

ROOTS = {
    "ivifbench": "core",
    "ivifbench.fusion": "fusion",
    "ivifbench.tasks": "tasks",
    "ivifbench.metrics": "metrics",
    "ivifbench.datasets": "datasets",
    "ivifbench.reports": "reports",
    "ivifbench.benchmarks": "benchmarks",
    "ivifbench.networks": "networks",
    "ivifbench.api": "api",
}


def _packages() -> list[str]:
    found = []
    for name, folder in ROOTS.items():
        for init in sorted(Path(folder).rglob("__init__.py")):
            rel = init.parent.relative_to(folder).parts
            found.append(".".join((name, *rel)))
    return found


setup(packages=_packages(), package_dir=ROOTS)
