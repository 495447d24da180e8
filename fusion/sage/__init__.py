"""SAGE (CVPR 2025): the student fusion method, and the teacher, SAM priors, losses and bi-level training behind it.

Importing this package imports nothing heavy; ``SageFusion`` and ``SageStudent`` import torch on first use, and SAM,
mmseg and the trainer load when training asks for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ivifbench import lazy

if TYPE_CHECKING:
    from ivifbench.fusion.sage.method import SageFusion
    from ivifbench.fusion.sage.student import SageStudent

_LAZY = {"SageFusion": "ivifbench.fusion.sage.method", "SageStudent": "ivifbench.fusion.sage.student"}


def __getattr__(name: str) -> Any:
    return lazy.load(globals(), _LAZY, name)


__all__ = ["SageFusion", "SageStudent"]
