"""Intermediates that several metrics compute from the same images, made once per chunk of a ``compute`` call.

Qy and Qc need the same 7×7 window moments, SSIM and Qw the same 11×11 ones, Nabf and its Petrović variant the same
gradient maps. ``compute`` scores each chunk inside :func:`sharing`; a metric asks for such an intermediate through
:func:`shared` and gets the one an earlier metric made from the very same input tensors, or makes it. Outside a
:func:`sharing` block (a metric function called directly) nothing is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from torch import Tensor

T = TypeVar("T")

# One store per thread (each worker of compute() enters its own block); entries keep their inputs alive, so the
# identity test below cannot be fooled by a freed tensor's id being reused.
_STORE: ContextVar[dict[Hashable, tuple[tuple[Tensor, ...], Any]] | None] = ContextVar("ivifbench_shared", default=None)


@contextmanager
def sharing() -> Iterator[None]:
    """Within this block, :func:`shared` values are made once and reused."""
    token = _STORE.set({})
    try:
        yield
    finally:
        _STORE.reset(token)


def shared(key: Hashable, inputs: tuple[Tensor, ...], make: Callable[[], T]) -> T:
    """``make()``, or the value a call with the same ``key`` and the same input tensors (by identity) made earlier in
    this :func:`sharing` block. Values are shared: callers must not modify them in place."""
    store = _STORE.get()
    if store is None:
        return make()
    hit = store.get(key)
    if hit is not None and len(hit[0]) == len(inputs) and all(x is y for x, y in zip(hit[0], inputs, strict=True)):
        return hit[1]
    value = make()
    store[key] = (inputs, value)
    return value
