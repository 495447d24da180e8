"""Checking a ``--device`` value before any work, so a typo gets one line instead of torch's error."""

from __future__ import annotations

import re

from ivifbench.errors import InputError

__all__ = ["check_device"]

_FORM = re.compile(r"^(cpu|cuda(:\d+)?)$")


def check_device(option: str, value: str | None) -> str | None:
    """``value`` unchanged when it is cpu, cuda or cuda:N and torch can use it; else :class:`InputError`."""
    if value is None:
        return None
    text = value.strip().lower()
    if not _FORM.match(text):
        raise InputError(f"{option} {value!r} is not a device; use cpu, cuda or cuda:N")
    if text == "cpu":
        return text
    import torch

    if not torch.cuda.is_available():
        raise InputError(f"{option} {value}: torch sees no CUDA device; use {option} cpu")
    if ":" in text and int(text.split(":")[1]) >= torch.cuda.device_count():
        raise InputError(f"{option} {value}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    return text
