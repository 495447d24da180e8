"""Names a package exports but loads on first use (PEP 562), so importing it (and the CLI) stays light."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any


def load(namespace: dict[str, Any], table: Mapping[str, str], name: str) -> Any:
    """``name`` from the module ``table[name]``, cached in the package's ``namespace``; for a module ``__getattr__``."""
    if name not in table:
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
    value = getattr(import_module(table[name]), name)
    namespace[name] = value
    return value
