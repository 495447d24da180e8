"""Read the tensors of a pickled *whole module* (``torch.save(model)``) without running any pickled code.

Some releases (CAF among them) ship ``torch.save``-d ``nn.Module`` objects. ``torch.load(weights_only=True)`` refuses
them, and ``weights_only=False`` imports and runs whatever the pickle names. This reader does neither: every class a
pickle names is looked up in a short allow-list. Module classes (``torch.nn.modules.*`` and the release's own model
class, named by the caller) become inert :class:`ModuleRecord` objects that only keep their ``__dict__``; tensors are
rebuilt by our own function from the raw storages in the zip archive; anything else (``os.system``, ``eval``,
``builtins.getattr``, ...) is refused with :class:`UnsafePickleError` before it is called.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from ivifbench.errors import IvifError


class UnsafePickleError(IvifError):
    """A checkpoint names something this reader will not build."""


_STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class ModuleRecord:
    """Stand-in for a pickled ``nn.Module``: keeps its attribute dict, has no behaviour."""

    qualname = ""

    def __setstate__(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict):
            raise UnsafePickleError("a pickled module's state is not a dict")
        self.__dict__.update(state)


class _Storage:
    """A storage type token (``torch.FloatStorage`` and friends) mapped to its dtype."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any) -> Any:
    if not isinstance(storage, torch.Tensor):
        raise UnsafePickleError("tensor storage is not a storage record")
    return torch.as_strided(storage, tuple(size), tuple(stride), int(offset)).clone()


def _rebuild_parameter(data: torch.Tensor, requires_grad: bool = False, *_: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError("parameter data is not a tensor")
    return data


def _ordered_dict(*args: Any) -> OrderedDict[Any, Any]:
    return OrderedDict(*args)


def _set(items: Iterable[Any] = ()) -> set[Any]:
    return set(items)


_FUNCTIONS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("__builtin__", "set"): _set,
    ("builtins", "set"): _set,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str, module_classes: set[str]) -> None:
        super().__init__(file)
        self._archive = archive
        self._prefix = prefix
        self._module_classes = module_classes
        self._storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _FUNCTIONS:
            return _FUNCTIONS[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _Storage(_STORAGE_DTYPES[name])
        qualname = f"{module}.{name}"
        if module.startswith("torch.nn.modules.") or qualname in self._module_classes:
            return type(name, (ModuleRecord,), {"qualname": qualname})
        raise UnsafePickleError(f"refusing to load '{qualname}' from a pickled checkpoint (only tensors and modules)")

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _Storage)):
            raise UnsafePickleError(f"unexpected persistent id in a pickled checkpoint: {pid!r:.80}")
        _, kind, key, _location, numel = pid
        if key not in self._storages:
            try:
                raw = self._archive.read(f"{self._prefix}data/{key}")
            except KeyError as exc:
                raise UnsafePickleError(f"checkpoint lacks storage {key!r}") from exc
            flat = torch.frombuffer(bytearray(raw), dtype=kind.dtype) if raw else torch.empty(0, dtype=kind.dtype)
            if flat.numel() < int(numel):
                raise UnsafePickleError(f"storage {key!r} holds {flat.numel()} values, the pickle says {numel}")
            self._storages[key] = flat
        return self._storages[key]


def load_pickled_module(path: str | Path, module_classes: Iterable[str], key: str | None = None) -> ModuleRecord:
    """The inert record of the module pickled in ``path`` (a ``torch.save`` zip archive).

    Args:
        module_classes: fully qualified names (``"models.Ours"``) of the release's own module classes to accept.
        key: when the pickle holds a dict of modules (``{"fuse": model}``), the entry to return.
    """
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise IvifError(f"{path}: not a PyTorch zip checkpoint ({exc})") from exc
    with archive:
        pkl = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise IvifError(f"{path}: not a PyTorch zip checkpoint (no single data.pkl)")
        prefix = pkl[0][: -len("data.pkl")]
        with archive.open(pkl[0]) as f:
            try:
                obj = _Unpickler(f, archive, prefix, set(module_classes)).load()
            except UnsafePickleError as exc:
                raise UnsafePickleError(f"{path}: {exc}") from exc
            except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError) as exc:
                raise IvifError(f"{path}: cannot read the pickled checkpoint ({exc})") from exc
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            raise IvifError(f"{path}: expected a dict with a '{key}' entry holding the model")
        obj = obj[key]
    if not isinstance(obj, ModuleRecord):
        raise IvifError(f"{path}: the checkpoint does not hold a pickled module")
    return obj


def module_state_dict(record: ModuleRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """The ``state_dict()`` the real module would return: parameters and persistent buffers, by dotted name."""
    out: dict[str, torch.Tensor] = {}
    state = record.__dict__
    skip = set(state.get("_non_persistent_buffers_set") or ())
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is not None and not (group == "_buffers" and name in skip):
                out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, ModuleRecord):
            out.update(module_state_dict(child, f"{prefix}{name}."))
    return out
