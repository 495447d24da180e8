"""Loading and saving SAGE weights without unpickling arbitrary objects (DESIGN.md: ``weights_only=True`` or safetensors)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ivifbench.checkpoints import unpickling_failure
from ivifbench.errors import IvifError

OFFICIAL_REPO = "https://github.com/RollingPlain/SAGE_IVIF (checkpoints/checkpoints.pt)"


def read_state_dict(path: str | Path, prefix: str | None = None) -> dict[str, Tensor]:
    """A state_dict from a ``.safetensors`` file or a plain torch pickle (loaded with ``weights_only=True``).

    Tensors are mapped to the CPU (the official file was saved from CUDA). When ``prefix`` is given and keys carry it
    (our training checkpoints store ``student.*`` and ``teacher.*`` in one file), only those keys are kept, unprefixed.
    A DataParallel ``module.`` prefix is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise IvifError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd: Any = load_file(str(path), device="cpu")
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's own text advises weights_only=False: never pass that on
        refused, first = unpickling_failure(path, exc)
        if not refused:
            raise IvifError(f"{path}: cannot read weights (UnpicklingError: {first})") from None
        raise IvifError(
            f"{path}: not a plain weights file (it holds pickled objects, refused unread); convert it with "
            "`ivifbench methods convert` or save model.state_dict() as .safetensors"
        ) from None
    except Exception as exc:  # corrupt file, wrong format: one message naming the file
        raise IvifError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from exc
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise IvifError(f"{path}: not a state_dict of tensors")
    if prefix and any(k.startswith(prefix) for k in sd):
        sd = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd


def load_strict(module: nn.Module, path: str | Path, what: str, prefix: str | None = None) -> None:
    """Load ``path`` into ``module`` with strict key and shape matching; a mismatch is an :class:`IvifError`."""
    sd = read_state_dict(path, prefix)
    own = module.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    bad_shape = [k for k in own if k in sd and tuple(own[k].shape) != tuple(sd[k].shape)]
    if missing or unexpected or bad_shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if bad_shape:
            k = bad_shape[0]
            parts.append(
                f"{len(bad_shape)} with another shape (e.g. {k}: {tuple(sd[k].shape)} vs {tuple(own[k].shape)})"
            )
        raise IvifError(f"{path}: not {what} weights: " + "; ".join(parts))
    module.load_state_dict(sd, strict=True)


def save_safetensors(path: str | Path, tensors: dict[str, Tensor], metadata: dict[str, Any] | None = None) -> Path:
    """Write ``tensors`` atomically as safetensors (contiguous CPU copies; metadata values as JSON strings)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    meta = {k: json.dumps(v) for k, v in (metadata or {}).items()}
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=meta)
    tmp.replace(path)
    return path
