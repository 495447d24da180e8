"""Fusion methods: the contract, the registry, the built-in methods."""

from ivifbench.fusion.base import FusionMethod, MethodError, MethodInfo
from ivifbench.fusion.registry import METHODS, create_method

__all__ = ["METHODS", "FusionMethod", "MethodError", "MethodInfo", "create_method"]
