"""One typed registry class for datasets, methods, metrics and tasks.

Entries may be objects or lazy ``"module:attr"`` strings (imported on first use), so that listing names never imports
heavy dependencies. Plugins register through an entry-point group (e.g. ``ivifbench.methods``).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Generic, TypeVar, cast

from ivifbench.errors import IvifError, NotFoundError

T = TypeVar("T")


def import_string(target: str) -> object:
    """Import ``"package.module:attr"`` (or ``"package.module.attr"``) and return the attribute."""
    module_name, sep, attr = target.partition(":")
    if not sep:
        module_name, _, attr = target.rpartition(".")
    if not module_name or not attr:
        raise IvifError(f"'{target}' is not an import path; write it as 'package.module:name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        top = module_name.split(".")[0]
        hint = ""
        if isinstance(exc, ModuleNotFoundError) and exc.name == top and Path(top).exists():
            hint = f" ({top}/ is in the current folder, which the ivifbench command does not search: PYTHONPATH=.)"
        raise IvifError(f"cannot import '{module_name}' for '{target}': {exc}{hint}") from exc
    obj: object = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise IvifError(f"'{module_name}' has no attribute '{attr}' (from '{target}')") from exc
    return obj


class DuplicateNameError(IvifError):
    """Two entries registered under one name."""


class Registry(Generic[T]):
    """A name → object map with lazy entries, entry-point plugins and "did you mean" errors.

    Args:
        kind: what the entries are, used in messages ("method", "metric", ...).
        group: the entry-point group that plugins use to add entries.
    """

    def __init__(self, kind: str, group: str | None = None) -> None:
        self.kind = kind
        self.group = group
        self._entries: dict[str, T | str] = {}
        self._plugins_loaded = group is None

    def register(self, name: str, obj: T | str | None = None, *, overwrite: bool = False) -> Callable[[T], T] | T | str:
        """Register ``obj`` (or a lazy ``"module:attr"``) as ``name``; used bare, it is a decorator."""
        if obj is None:

            def decorator(target: T) -> T:
                self.register(name, target, overwrite=overwrite)
                return target

            return decorator
        if not overwrite and name in self._entries:
            raise DuplicateNameError(f"{self.kind} '{name}' is already registered; choose another name")
        self._entries[name] = obj
        return obj

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=cast(str, self.group)):
            if ep.name in self._entries:
                raise DuplicateNameError(
                    f"plugin {ep.value!r} registers {self.kind} '{ep.name}', which already exists; rename one of them"
                )
            self._entries[ep.name] = ep.value

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def suggest(self, name: str) -> str:
        """The "unknown name" message: close matches first, then every name there is."""
        names = self.names()
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        close += [n for n in names if n.lower() == name.lower() and n not in close]
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} '{name}'{hint} (known: {', '.join(names) or 'none'})"

    def get(self, name: str) -> T:
        """The entry called ``name``, importing it if it is lazy."""
        self._load_plugins()
        if name not in self._entries:
            raise NotFoundError(self.suggest(name))
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = cast(T, import_string(entry))
            self._entries[name] = entry
        return entry

    def __getitem__(self, name: str) -> T:
        return self.get(name)
