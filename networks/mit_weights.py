"""Reading SegFormer / MiT weights: checkpoint files (never URLs), their state dicts, and NVlabs → mmseg key names.

Checkpoints are read ``weights_only=True`` by :func:`ivifbench.networks.mmseg_compat.load_checkpoint`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ivifbench.errors import InputError
from ivifbench.networks.mmseg_compat import load_checkpoint

__all__ = [
    "checkpoint_path",
    "convert_mit_state_dict",
    "load_backbone_weights",
    "load_into",
    "load_model_weights",
    "state_dict_of",
]


def checkpoint_path(path: str | Path) -> Path:
    text = str(path)
    if "://" in text:
        raise InputError(f"{text}: checkpoints are files you name; ivifbench never downloads (no URLs)")
    return Path(text).expanduser()


def state_dict_of(ckpt: Mapping[str, Any]) -> dict[str, Tensor]:
    for key in ("state_dict", "model", "module"):
        inner = ckpt.get(key)
        if isinstance(inner, Mapping) and inner and all(isinstance(v, Tensor) for v in inner.values()):
            ckpt = inner
            break
    sd = {k.removeprefix("module."): v for k, v in ckpt.items() if isinstance(v, Tensor)}
    if not sd:
        raise InputError("checkpoint holds no tensors (expected a state dict, or one under 'state_dict'/'model')")
    return sd


def convert_mit_state_dict(state_dict: Mapping[str, Tensor]) -> OrderedDict[str, Tensor]:
    """Convert the official NVlabs MiT keys (``patch_embed1``, ``block1``, ``norm1``…) to mmseg's (``layers.0.…``).

    A port of mmseg's ``tools/model_converters/mit2mmseg.py``; keys already in mmseg's layout pass through, and the
    ImageNet classifier ``head.*`` is dropped.
    """
    out: OrderedDict[str, Tensor] = OrderedDict()
    for k, v in state_dict.items():
        if k.startswith("head"):
            continue
        new_k, new_v = k, v
        if k.startswith("patch_embed"):
            stage = int(k.split(".")[0].replace("patch_embed", ""))
            new_k = k.replace(f"patch_embed{stage}", f"layers.{stage - 1}.0").replace("proj.", "projection.")
        elif k.startswith("block"):
            stage = int(k.split(".")[0].replace("block", ""))
            new_k = k.replace(f"block{stage}", f"layers.{stage - 1}.1")
            if "attn.q." in new_k:
                new_k = new_k.replace("q.", "attn.in_proj_")
                new_v = torch.cat([v, state_dict[k.replace("q.", "kv.")]], dim=0)
            elif "attn.kv." in new_k:
                continue
            elif "attn.proj." in new_k:
                new_k = new_k.replace("proj.", "attn.out_proj.")
            elif "mlp." in new_k:
                new_k = new_k.replace("mlp.", "ffn.layers.")
                if "fc1.weight" in new_k or "fc2.weight" in new_k:
                    new_v = v.reshape((*v.shape, 1, 1))
                new_k = new_k.replace("fc1.", "0.").replace("dwconv.dwconv.", "1.").replace("fc2.", "4.")
        elif k.startswith("norm"):
            stage = int(k.split(".")[0].replace("norm", ""))
            new_k = k.replace(f"norm{stage}", f"layers.{stage - 1}.2")
        out[new_k] = new_v
    return out


def load_into(module: nn.Module, sd: Mapping[str, Tensor], what: str, path: Path, strict: bool) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [k for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if wrong or (strict and (missing or unexpected)) or len(missing) == len(own):
        detail = []
        if wrong:
            k = wrong[0]
            detail.append(f"{len(wrong)} shape mismatches (e.g. {k}: {tuple(sd[k].shape)} vs {tuple(own[k].shape)})")
        if missing:
            detail.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        raise InputError(f"{path}: does not fit the {what}: {'; '.join(detail)}; check the variant and num_classes")
    module.load_state_dict({k: v for k, v in sd.items() if k in own}, strict=False)


def load_backbone_weights(backbone: nn.Module, checkpoint: str | Path) -> None:
    """Load ImageNet MiT weights (NVlabs ``mit_b*.pth`` or mmseg's converted ``mit_b*_2022….pth``) into ``backbone``."""
    path = checkpoint_path(checkpoint)
    sd = state_dict_of(load_checkpoint(path))
    if any(k.startswith("backbone.") for k in sd):  # a whole segmentor: take its encoder
        sd = {k.removeprefix("backbone."): v for k, v in sd.items() if k.startswith("backbone.")}
    if any(k.startswith(("patch_embed", "block1")) for k in sd):
        sd = convert_mit_state_dict(sd)
    load_into(backbone, sd, "MiT encoder", path, strict=True)


def load_model_weights(model: nn.Module, checkpoint: str | Path, strict: bool = True) -> dict[str, Any]:
    """Load a trained SegFormer checkpoint (mmengine's, or a bare state dict) into ``model``; return its ``meta``."""
    path = checkpoint_path(checkpoint)
    ckpt = load_checkpoint(path)
    load_into(model, state_dict_of(ckpt), "SegFormer model", path, strict=strict)
    meta = ckpt.get("meta")
    return dict(meta) if isinstance(meta, Mapping) else {}
