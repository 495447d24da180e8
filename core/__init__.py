"""ivifbench: an infrared-visible image fusion benchmark (fusion metrics + downstream tasks, one leaderboard).

The Python API (:mod:`ivifbench.api`) is re-exported here on first use, so ``import ivifbench`` stays light:
``ivifbench.score``, ``ivifbench.fuse``, ``ivifbench.run``, ``ivifbench.load_results``, ``ivifbench.Results``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = ("Results", "fuse", "load_results", "run", "score")


def __getattr__(name: str) -> Any:
    # importlib, not an import statement: the API is a floor above core, which never imports upwards
    if name in _API:
        value = getattr(importlib.import_module("ivifbench.api"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ivifbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
