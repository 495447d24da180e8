"""SAGE (CVPR 2025): the student fusion method, and the teacher, SAM priors, losses and bi-level training behind it.

Importing this package imports nothing heavy; ``SageFusion`` and ``SageStudent`` import torch on first use, and SAM,
mmseg and the trainer load when training asks for them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ivifbench.fusion.sage.method import SageFusion
    from ivifbench.fusion.sage.student import SageStudent

_LAZY = {"SageFusion": "ivifbench.fusion.sage.method", "SageStudent": "ivifbench.fusion.sage.student"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SageFusion", "SageStudent"]
