"""What every zoo member shares: its card (paper, code, licence, official weights) and weights loading.

Weights are files the user names (``--weights``, ``weights:`` in a suite, ``IVIFBENCH_<NAME>_WEIGHTS``), or fetched on
request by ``ivifbench methods fetch NAME`` into the user cache. Nothing here touches the network.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ivifbench.errors import IvifError
from ivifbench.fusion.base import MethodInfo


@dataclass(frozen=True)
class ZooCard:
    """Provenance of a published network: what ``methods info`` prints and reports cite."""

    paper: str
    authors: str
    venue: str
    year: int
    code_url: str
    code_commit: str
    licence: str
    weights_file: str  # the official file's name in the release
    weights_sha256: str
    weights_url: str  # pinned (commit-addressed) download URL, used only by ``methods fetch``
    weights_format: str  # "state dict" or "pickled module" (read without running pickled code)
    colour_input: str  # what the release feeds the network and how it colours the output
    training_data: tuple[str, ...]  # benchmark dataset names the weights were trained on (in-domain marks)

    def method_info(self, name: str, description: str, weights_path: str) -> MethodInfo:
        """The registry's record of a zoo member; ``weights_path`` is where the file sits in the release."""
        return MethodInfo(
            name=name,
            version="1.0",
            citation=f"{self.authors}, '{self.paper}', {self.venue} {self.year}",
            licence=self.licence,
            colour_mode="luminance",
            trained_on=self.training_data,
            needs_weights=True,
            weights_source=f"{self.code_url} ({weights_path}), or 'ivifbench methods fetch {name}'",
            description=description,
            card=self,
        )


def weights_env_var(name: str) -> str:
    """The environment variable a suite uses for a method's weights (``IVIFBENCH_CAF_WEIGHTS``)."""
    return f"IVIFBENCH_{name.upper().replace('-', '_').replace('.', '_')}_WEIGHTS"


def cache_dir() -> Path:
    """Where ``methods fetch`` stores weights: ``$XDG_CACHE_HOME/ivifbench/weights`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ivifbench" / "weights"


def cached_weights(name: str, card: ZooCard) -> Path:
    """The path ``methods fetch NAME`` writes (it may not exist)."""
    return cache_dir() / name / card.weights_file


def read_state_dict(
    path: str | Path, module_classes: Iterable[str] = (), key: str | None = None
) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors``, a plain ``torch.save`` state dict, or (when ``module_classes`` names the
    release's model classes) a pickled whole module read by :mod:`ivifbench.fusion.zoo.unpickle`."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise IvifError(f"{path}: not a readable safetensors file ({exc})") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not module_classes:
            raise IvifError(
                f"{path}: not a plain state dict (torch.load(weights_only=True) refused it); "
                "convert it with 'ivifbench methods convert'"
            ) from None
        from ivifbench.fusion.zoo.unpickle import load_pickled_module, module_state_dict

        return module_state_dict(load_pickled_module(path, module_classes, key=key))
    except (OSError, RuntimeError, EOFError) as exc:
        raise IvifError(f"{path}: cannot read weights ({exc})") from exc
    if isinstance(obj, dict) and key is not None and isinstance(obj.get(key), dict):
        obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise IvifError(f"{path}: expected a state dict of tensors")
    return obj


def load_strict(net: nn.Module, state: dict[str, torch.Tensor], what: str, path: str | Path) -> None:
    """Load ``state`` into ``net``, every key and shape matching, or one line saying what differs."""
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or extra or shapes:
        parts = [
            f"missing {', '.join(missing[:4])}" if missing else "",
            f"unexpected {', '.join(extra[:4])}" if extra else "",
        ]
        parts.append(f"shape differs for {', '.join(shapes[:4])}" if shapes else "")
        raise IvifError(f"{path}: not {what} weights ({'; '.join(p for p in parts if p)})")
    net.load_state_dict(state, strict=True)


def save_safetensors(state: dict[str, torch.Tensor], out: str | Path, metadata: dict[str, str]) -> Path:
    """Write ``state`` as a plain safetensors file (contiguous CPU tensors)."""
    from safetensors.torch import save_file

    out = Path(out)
    if out.suffix != ".safetensors":
        raise IvifError(f"{out}: the output name must end in .safetensors")
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(out), metadata=metadata)
    return out


def fetch_weights(name: str, card: ZooCard, url: str | None = None, dest: Path | None = None) -> tuple[Path, bool]:
    """Download ``card``'s official weights (or the same file from ``url``, a mirror), check the sha256, store them.

    Runs only when the user asks (``ivifbench methods fetch``). Returns ``(path, downloaded)``; a file already there
    with the right hash is kept.
    """
    import hashlib
    import tempfile
    import urllib.error
    import urllib.request

    from ivifbench.fusion.base import file_sha256

    dest = dest or cached_weights(name, card)
    if dest.is_file() and file_sha256(dest) == card.weights_sha256:
        return dest, False
    source = url or card.weights_url
    if not source.startswith(("https://", "http://")):
        raise IvifError(f"{source}: only http(s) URLs can be fetched")
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", delete=False) as tmp:
        try:
            with urllib.request.urlopen(source, timeout=60) as response:
                while block := response.read(1 << 20):
                    h.update(block)
                    tmp.write(block)
        except (urllib.error.URLError, OSError) as exc:
            Path(tmp.name).unlink(missing_ok=True)
            raise IvifError(f"cannot download {source}: {exc}; download it by hand and pass --weights") from exc
    if h.hexdigest() != card.weights_sha256:
        Path(tmp.name).unlink(missing_ok=True)
        raise IvifError(
            f"{source}: sha256 {h.hexdigest()} is not the official {card.weights_sha256}; nothing was stored"
        )
    Path(tmp.name).replace(dest)
    return dest, True


def weights_status(name: str, card: ZooCard | None) -> str:
    """Where a method's weights come from on this machine: the environment variable, a fetched file, or nowhere."""
    var = weights_env_var(name)
    value = os.environ.get(var)
    if value:
        return f"${var}" if Path(value).expanduser().is_file() else f"${var} (file missing)"
    if card is not None and cached_weights(name, card).is_file():
        return f"fetched: {cached_weights(name, card)}"
    return "not configured"
