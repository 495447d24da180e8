"""ivifbench: an infrared-visible image fusion benchmark (fusion metrics + downstream tasks, one leaderboard).

The Python API (:mod:`ivifbench.api`) is re-exported here on first use, so ``import ivifbench`` stays light:
``ivifbench.score``, ``ivifbench.fuse``, ``ivifbench.run``, ``ivifbench.load_results``, ``ivifbench.Results``.
"""

from __future__ import annotations

from typing import Any

from ivifbench import lazy

__version__ = "0.1.0"

_API = ("Results", "fuse", "load_results", "run", "score")
_LAZY = dict.fromkeys(_API, "ivifbench.api")


def __getattr__(name: str) -> Any:
    # a table of module names, not import statements: the API is a floor above core, which never imports upwards
    return lazy.load(globals(), _LAZY, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
