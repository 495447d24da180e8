"""Fusion methods: the contract, the registry, the built-in methods.

The names below load on first use (PEP 562), so importing a command module does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ivifbench.fusion.base import FusionMethod, MethodError, MethodInfo
    from ivifbench.fusion.registry import METHODS, create_method

_LAZY = {
    "FusionMethod": "ivifbench.fusion.base",
    "MethodError": "ivifbench.fusion.base",
    "MethodInfo": "ivifbench.fusion.base",
    "METHODS": "ivifbench.fusion.registry",
    "create_method": "ivifbench.fusion.registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["METHODS", "FusionMethod", "MethodError", "MethodInfo", "create_method"]
