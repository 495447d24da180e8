"""Fusion methods: the contract, the registry, the built-in methods.

The names below load on first use (PEP 562), so importing a command module does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ivifbench import lazy

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
    return lazy.load(globals(), _LAZY, name)


__all__ = ["METHODS", "FusionMethod", "MethodError", "MethodInfo", "create_method"]
