"""Telling a refused checkpoint from a junk file when ``torch.load(weights_only=True)`` fails.

torch's own message for a refused pickle advises ``weights_only=False``; callers must never pass that on, so they
word their own one-line error from what this module tells them.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path


def unpickling_failure(path: Path, exc: pickle.UnpicklingError) -> tuple[bool, str]:
    """``(refused, first_line)``: whether ``path`` is a torch archive whose pickled objects weights-only loading
    refused (a real checkpoint holding more than tensors), and the first line of torch's message (for junk files)."""
    text = str(exc).strip()
    refused = zipfile.is_zipfile(path) and "invalid load key" not in text
    return refused, (text.splitlines()[0] if text else "unreadable")
