"""SAGE (CVPR 2025): the student fusion method, and the teacher, SAM priors, losses and bi-level training behind it.

Importing this package imports only torch: SAM, mmseg and the trainer load when training asks for them.
"""

from ivifbench.fusion.sage.method import SageFusion
from ivifbench.fusion.sage.student import SageStudent

__all__ = ["SageFusion", "SageStudent"]
