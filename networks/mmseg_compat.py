"""The one place where ivifbench adapts mmsegmentation 1.2.2 / mmengine 0.10.7 / mmcv-lite 2.1.0 to this environment.

Two facts make this module necessary:

1. **mmcv-lite has no compiled ops.** ``mmcv.ops`` ships as Python files whose package ``__init__`` imports the
   compiled extension ``mmcv._ext``, which mmcv-lite lacks, so ``import mmcv.ops`` fails. mmseg imports
   ``mmcv.ops.point_sample`` (and, without a guard, ``sigmoid_focal_loss``) at module level, so ``import mmseg.models``
   fails too. Before mmseg is imported we register a stand-in ``mmcv.ops`` module whose ``point_sample`` is the pure
   PyTorch (``grid_sample``) one; every other name is a *refused op*: importing the name works (so mmseg's module-level
   imports succeed), but calling or instantiating it raises :class:`CompiledOpUnavailable` naming the op. When a full
   mmcv with ``mmcv._ext`` is installed, nothing is replaced.
2. **mmengine checkpoints do not load under ``torch.load(weights_only=True)``** (torch's default since 2.6): the
   ``message_hub`` state holds an ``mmengine.logging.HistoryBuffer`` and numpy arrays/scalars. We allow-list exactly
   those globals with :func:`torch.serialization.add_safe_globals`; weights-only loading is never switched off.

Public API: :func:`import_mmseg` (idempotent; applies both fixes and returns the ``mmseg`` module),
:func:`install_mmcv_ops_shim`, :func:`allow_mmengine_checkpoint_globals`, :data:`MMENGINE_SAFE_GLOBALS`,
:func:`load_checkpoint`, :func:`point_sample` and :class:`CompiledOpUnavailable`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import pickle
import sys
import threading
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ivifbench.checkpoints import unpickling_failure
from ivifbench.errors import InputError, IvifError, NotFoundError

__all__ = [
    "MMENGINE_SAFE_GLOBALS",
    "CompiledOpUnavailable",
    "allow_mmengine_checkpoint_globals",
    "import_mmseg",
    "install_mmcv_ops_shim",
    "load_checkpoint",
    "mmcv_has_compiled_ops",
    "point_sample",
    "quiet_mmengine",
]

_LOCK = threading.RLock()
_SHIM_NAME = "mmcv.ops"
# The names our stand-in mmcv.ops really implements (pure PyTorch); everything else is refused.
PROVIDED_OPS: tuple[str, ...] = ("point_sample",)


class CompiledOpUnavailable(IvifError):
    """A model asked for a compiled ``mmcv.ops`` operator that mmcv-lite does not have."""


# --------------------------------------------------------------------------------------------------------------------
# mmcv.ops stand-in
# --------------------------------------------------------------------------------------------------------------------


def point_sample(input: Tensor, points: Tensor, align_corners: bool = False, **kwargs: Any) -> Tensor:
    """Sample ``input`` at normalised ``points`` with bilinear interpolation (mmcv's ``point_sample``, pure PyTorch).

    Args:
        input: features, shape ``(N, C, H, W)``.
        points: point coordinates in ``[0, 1] x [0, 1]`` (x first), shape ``(N, P, 2)`` or ``(N, Hgrid, Wgrid, 2)``.
        align_corners: as in :func:`torch.nn.functional.grid_sample`.
        kwargs: passed on to :func:`torch.nn.functional.grid_sample` (e.g. ``mode``, ``padding_mode``).

    Returns:
        ``(N, C, P)`` for 3-D ``points``, otherwise ``(N, C, Hgrid, Wgrid)``; samples outside the map are zero.
    """
    add_dim = points.dim() == 3
    if add_dim:
        points = points.unsqueeze(2)
    output = F.grid_sample(input, points * 2.0 - 1.0, align_corners=align_corners, **kwargs)
    if add_dim:
        output = output.squeeze(3)
    return output


class _RefusedOp:
    """Base of the placeholders for compiled ops: importable, but calling or instantiating one raises."""

    op_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> _RefusedOp:
        raise CompiledOpUnavailable(_refusal_message(cls.op_name))


def _refusal_message(name: str) -> str:
    return (
        f"mmcv.ops.{name} is a compiled mmcv operator, and the installed mmcv-lite has no compiled operators "
        f"(ivifbench provides only a pure-PyTorch {', '.join(PROVIDED_OPS)}); choose a model/config that does not use "
        f"{name} (SegFormer does not), or install a full mmcv built for torch {torch.__version__}"
    )


def _make_refused(name: str) -> type[_RefusedOp]:
    return type(name, (_RefusedOp,), {"op_name": name, "__module__": _SHIM_NAME, "__doc__": _refusal_message(name)})


def _build_shim_module() -> types.ModuleType:
    mod = types.ModuleType(_SHIM_NAME, "ivifbench stand-in for mmcv.ops (mmcv-lite): pure-PyTorch point_sample only.")
    mod.point_sample = point_sample  # type: ignore[attr-defined]
    mod.__ivifbench_shim__ = True  # type: ignore[attr-defined]
    refused: dict[str, type[_RefusedOp]] = {}

    def __getattr__(name: str) -> Any:  # PEP 562: any other public name is a refused op
        if name.startswith("__") or not name or not (name[0].isalpha() or name[0] == "_"):
            raise AttributeError(f"module {_SHIM_NAME!r} has no attribute {name!r}")
        if name not in refused:
            refused[name] = _make_refused(name)
        return refused[name]

    mod.__getattr__ = __getattr__  # type: ignore[method-assign]
    return mod


def mmcv_has_compiled_ops() -> bool:
    """Whether a full mmcv (with the compiled ``mmcv._ext``) is installed."""
    try:
        return importlib.util.find_spec("mmcv._ext") is not None
    except (ImportError, ValueError):
        return False


def install_mmcv_ops_shim() -> bool:
    """Register the stand-in ``mmcv.ops`` unless a full mmcv is installed; idempotent.

    Returns:
        ``True`` when the stand-in is (now) in place, ``False`` when the real compiled ``mmcv.ops`` is used.
    """
    with _LOCK:
        current = sys.modules.get(_SHIM_NAME)
        if current is not None:
            return bool(getattr(current, "__ivifbench_shim__", False))
        if mmcv_has_compiled_ops():
            return False
        import mmcv

        shim = _build_shim_module()
        sys.modules[_SHIM_NAME] = shim
        mmcv.ops = shim
        return True


# --------------------------------------------------------------------------------------------------------------------
# weights-only checkpoint loading
# --------------------------------------------------------------------------------------------------------------------


def _numpy_globals() -> list[Any]:
    import numpy as np

    try:  # numpy >= 2 moved the pickling helpers to numpy._core; pickles name whichever module wrote them
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar  # type: ignore[no-redef]
    found: list[Any] = [_reconstruct, scalar, np.ndarray, np.dtype]
    # checkpoints written under numpy 1.x name the same helpers by their old module
    found += [(_reconstruct, "numpy.core.multiarray._reconstruct"), (scalar, "numpy.core.multiarray.scalar")]
    # numpy >= 1.25 pickles dtypes by their class (numpy.dtypes.Float64DType, ...)
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        for code in ("float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"):
            found.append(type(np.dtype(code)))
    return found


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """The only ``getattr`` a weights-only load may call: fetch one of ``HistoryBuffer``'s statistics methods.

    mmengine pickles ``HistoryBuffer``'s registered statistics methods (``min``, ``max``, ``current``, ``mean``...) by
    reference, i.e. as ``getattr(HistoryBuffer, "min")``. Allow-listing ``builtins.getattr`` itself would let a
    checkpoint fetch any attribute of any object it can build; this stand-in, registered under that name, fetches
    only plain functions defined on ``HistoryBuffer``.
    """
    from mmengine.logging.history_buffer import HistoryBuffer

    attr = HistoryBuffer.__dict__.get(name) if obj is HistoryBuffer and not name.startswith("_") else None
    if not isinstance(attr, types.FunctionType):
        raise pickle.UnpicklingError(
            f"weights-only load refused getattr({getattr(obj, '__name__', type(obj).__name__)}, {name!r}): only "
            "mmengine HistoryBuffer statistics methods are allowed"
        )
    return attr


def _mmengine_globals() -> list[Any]:
    from mmengine.logging.history_buffer import HistoryBuffer

    # pickle protocol 2 (torch.save's default) writes "__builtin__ getattr"; protocol >= 3 writes "builtins getattr"
    return [
        HistoryBuffer,
        (_history_buffer_getattr, "__builtin__.getattr"),
        (_history_buffer_getattr, "builtins.getattr"),
    ]


def _compute_safe_globals() -> tuple[Any, ...]:
    return (*_mmengine_globals(), *_numpy_globals())


MMENGINE_SAFE_GLOBALS: tuple[Any, ...] = ()  # filled by allow_mmengine_checkpoint_globals()


def allow_mmengine_checkpoint_globals() -> tuple[Any, ...]:
    """Allow-list, for ``torch.load(weights_only=True)``, exactly the globals mmengine checkpoints carry; idempotent.

    They are ``mmengine.logging.HistoryBuffer`` (the message hub's log buffers), a restricted ``getattr`` that only
    fetches ``HistoryBuffer``'s statistics methods (how mmengine pickles them), and numpy's array/scalar/dtype
    reconstruction helpers (the buffers' contents). Returns the tuple of allow-listed entries (objects, or
    ``(object, "pickled.name")`` pairs as :func:`torch.serialization.add_safe_globals` takes them).
    """
    global MMENGINE_SAFE_GLOBALS
    with _LOCK:
        if not MMENGINE_SAFE_GLOBALS:
            globs = _compute_safe_globals()
            torch.serialization.add_safe_globals(list(globs))
            MMENGINE_SAFE_GLOBALS = globs
        return MMENGINE_SAFE_GLOBALS


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load an mmengine (or plain PyTorch) checkpoint with ``weights_only=True``.

    Args:
        path: the ``.pth`` file.
        map_location: as in :func:`torch.load`.

    Returns:
        The checkpoint dict (mmengine's has ``meta``, ``state_dict``, ``message_hub``, ``optimizer``...; a bare
        state dict is returned as it is).

    Raises:
        NotFoundError: the file is not there.
        InputError: the file is not a checkpoint, or it needs a global that is not allow-listed.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path}: checkpoint not found; name an existing .pth file")
    allow_mmengine_checkpoint_globals()
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's own text advises weights_only=False: never pass that on
        refused, first = unpickling_failure(path, exc)
        if not refused:
            raise InputError(f"{path}: not a readable PyTorch checkpoint (UnpicklingError: {first})") from None
        raise InputError(
            f"{path}: refused under weights-only loading, not a plain weights file (it holds pickled objects beyond tensors, numbers and mmengine's "
            "HistoryBuffer, refused unread); convert it with `ivifbench methods convert` or save its state_dict"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(ckpt, dict):
        raise InputError(f"{path}: expected a checkpoint dict, found {type(ckpt).__name__}")
    return ckpt


@contextlib.contextmanager
def quiet_mmengine(level: int = logging.WARNING) -> Iterator[None]:
    """Raise mmengine's current logger to ``level`` (and hide mmseg's deprecation chatter) inside the block.

    ``init_weights`` alone logs one INFO record per parameter; the Runner keeps its own file logs.
    """
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    old = logger.level
    logger.setLevel(max(level, old))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*build_loss.*")
            warnings.filterwarnings("ignore", message=".*is deprecated.*", category=UserWarning)
            yield
    finally:
        logger.setLevel(old)


# --------------------------------------------------------------------------------------------------------------------
# mmseg import
# --------------------------------------------------------------------------------------------------------------------

_MMSEG: types.ModuleType | None = None


def import_mmseg() -> types.ModuleType:
    """Import mmsegmentation after the ``mmcv.ops`` stand-in and the checkpoint allow-list; idempotent.

    Imports ``mmseg.models``, ``mmseg.datasets``, ``mmseg.evaluation`` and ``mmseg.engine`` (so their registries are
    filled) and returns the ``mmseg`` module. No network access happens here.
    """
    global _MMSEG
    with _LOCK:
        if _MMSEG is not None:
            return _MMSEG
        install_mmcv_ops_shim()
        allow_mmengine_checkpoint_globals()
        try:
            with warnings.catch_warnings():
                # mmcv.cnn says, on import, that MultiScaleDeformableAttention needs full mmcv: expected with mmcv-lite
                warnings.filterwarnings("ignore", message=".*MultiScaleDeformableAttention.*")
                mmseg = importlib.import_module("mmseg")
                for sub in ("models", "datasets", "evaluation", "engine"):
                    importlib.import_module(f"mmseg.{sub}")
        except ImportError as exc:
            raise IvifError(
                f"mmsegmentation could not be imported ({exc}); install the versions in pyproject.toml "
                "(mmsegmentation==1.2.2, mmengine==0.10.7, mmcv-lite==2.1.0)"
            ) from exc
        _MMSEG = mmseg
        return mmseg
