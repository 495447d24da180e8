"""The FusionMethod contract (DESIGN.md, "Contracts").

A method takes a batch of IR (B×1×H×W) and visible (B×3×H×W, or B×1×H×W for grey datasets) float tensors in [0, 1]
and returns the fused batch in [0, 1] with the visible image's channel count. Methods that fuse luminance only
(``colour_mode="luminance"``) implement :meth:`FusionMethod.fuse_grey`; the base class does the colour handling.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from pydantic import BaseModel
from torch import Tensor

from ivifbench.color import fuse_luminance
from ivifbench.errors import IvifError
from ivifbench.fusion.params import validate_params

if TYPE_CHECKING:
    from ivifbench.fusion.zoo.common import ZooCard

if TYPE_CHECKING:
    from ivifbench.fusion.fused import FusedSet
    from ivifbench.fusion.tiling import Halo

ColourMode = Literal["luminance", "native"]


@dataclass(frozen=True)
class MethodInfo:
    """What a report needs to know about a method."""

    name: str
    version: str
    citation: str = ""
    licence: str = ""
    colour_mode: ColourMode = "luminance"
    trained_on: tuple[str, ...] = ()  # dataset names, so reports can flag in-domain rows
    needs_weights: bool = False
    weights_source: str = ""  # where a user gets the weights (no download here)
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    card: ZooCard | None = None  # published networks: paper, code, licence, official weights

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MethodError(IvifError):
    """A fusion method failed or returned something that breaks the contract."""


class FusionMethod:
    """Base class. Subclasses set ``info``, declare ``Params`` (a :class:`~ivifbench.fusion.params.MethodParams`
    model; ``None`` accepts anything unchecked) and implement ``fuse_grey`` (luminance mode) or ``fuse`` (native mode).

    ``self.config`` is the validated parameter object; ``self.params`` the validated values the user set (what the
    fingerprint hashes, so adding a parameter with a default keeps earlier results valid).
    """

    info: ClassVar[MethodInfo]
    Params: ClassVar[type[BaseModel] | None] = None  # built-ins all declare theirs; see ivifbench.fusion.params

    def __init__(self, weights: str | Path | None = None, device: str | torch.device = "cpu", **params: Any) -> None:
        self.device = torch.device(device)
        config = validate_params(self.info.name, self.Params, params)
        self.config: Any = config
        self.params = config.model_dump(exclude_unset=True) if config is not None else params
        self.weights = Path(weights) if weights is not None else None
        if self.info.needs_weights and self.weights is None:
            raise IvifError(
                f"method '{self.info.name}' needs weights: pass --weights PATH (get them from {self.info.weights_source})"
            )
        if self.weights is not None and not self.weights.is_file():
            raise IvifError(f"{self.weights}: weights file not found for method '{self.info.name}'")

    def fuse_grey(self, ir: Tensor, y: Tensor) -> Tensor:
        """(B×1×H×W IR, B×1×H×W visible luminance) → B×1×H×W fused luminance, all in [0, 1]."""
        raise NotImplementedError

    def fuse(self, ir: Tensor, vis: Tensor) -> Tensor:
        """(B×1×H×W IR, B×C×H×W visible) → B×C×H×W fused, in [0, 1]."""
        return fuse_luminance(self.fuse_grey, ir, vis)

    def tile_halo(self, height: int, width: int) -> Halo | None:
        """How an H×W pair may be fused in tiles (:mod:`ivifbench.fusion.tiling`), or None: only whole.

        A method whose output at a pixel depends only on inputs within some radius returns that radius (and the
        alignment its decimations need), so that large images are fused with memory bounded by the tile size.
        """
        return None

    def __call__(self, ir: Tensor, vis: Tensor) -> Tensor:
        """Run :meth:`fuse` and check the result against the contract."""
        if ir.ndim != 4 or ir.shape[1] != 1:
            raise MethodError(f"IR batch must be B×1×H×W, got {tuple(ir.shape)}")
        if vis.ndim != 4 or vis.shape[1] not in (1, 3) or vis.shape[0] != ir.shape[0] or vis.shape[2:] != ir.shape[2:]:
            raise MethodError(
                f"visible batch must be B×{{1,3}}×H×W matching IR {tuple(ir.shape)}, got {tuple(vis.shape)}"
            )
        with torch.inference_mode():
            out = self.fuse(ir.to(self.device), vis.to(self.device))
        check_output(self.info.name, out, vis.shape)
        return out

    def fingerprint(self) -> str:
        """A hash of what can change this method's output: name, version, parameters and the weights' bytes."""
        h = hashlib.sha256(f"{self.info.name}|{self.info.version}|{sorted(self.params.items())!r}".encode())
        if self.weights is not None:
            h.update(file_sha256(self.weights).encode())
        return h.hexdigest()[:16]

    # the FusedSource protocol (ivifbench.fusion.external), shared with folders of precomputed images

    def split_fingerprint(
        self, dataset: str, split: str, ids: Sequence[str], sha: Callable[[Path], str] | None = None
    ) -> str:
        """What can change this method's images of one split: for a computed method, :meth:`fingerprint`."""
        return self.fingerprint()

    def produce(self, dataset: str, split: str, pairs: Sequence[Sequence[Any]], out: FusedSet) -> ProduceReport:
        """Fuse ``(id, ir, vis, …)`` pairs into ``out`` (``<id>.png``); per-pair failures are reported, not raised."""
        from ivifbench.fusion.apply import fuse_pairs

        rep = fuse_pairs(self, [(p[0], Path(p[1]), Path(p[2])) for p in pairs], out.folder(), progress=False)
        return ProduceReport(list(rep.written), dict(rep.failed))


@dataclass
class ProduceReport:
    """What :meth:`FusionMethod.produce` (or a folder method's) wrote, and why the other pairs failed."""

    written: list[str]
    failed: dict[str, str]


def check_output(name: str, out: object, expected_shape: torch.Size) -> None:
    """Raise :class:`MethodError` unless ``out`` is a finite tensor of ``expected_shape`` in [0, 1]."""
    if not isinstance(out, Tensor):
        raise MethodError(f"method '{name}' returned {type(out).__name__}, not a tensor")
    if tuple(out.shape) != tuple(expected_shape):
        raise MethodError(f"method '{name}' returned shape {tuple(out.shape)}, expected {tuple(expected_shape)}")
    if not torch.isfinite(out).all():
        raise MethodError(f"method '{name}' returned NaN or infinite values")
    lo, hi = float(out.min()), float(out.max())
    if lo < -1e-4 or hi > 1 + 1e-4:
        raise MethodError(f"method '{name}' returned values in [{lo:.4g}, {hi:.4g}], outside [0, 1]")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
