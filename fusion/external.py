"""Methods from outside the registry: a Python callable, or a folder of precomputed fused images.

* :func:`callable_method` wraps ``module:function`` (or a class) as a :class:`FusionMethod`. A plain function gets
  ``(ir, y)`` (both B×1×H×W, the visible luminance) and returns the fused luminance, and the shared colour utility
  restores the visible chroma; with ``colour="native"`` it gets ``(ir, vis)`` and returns the fused batch itself.
  A :class:`FusionMethod` subclass is instantiated as it is; any other class is instantiated with the parameters and
  its instance is called like a function. The fingerprint covers the target, parameters, ``version`` and the
  callable's source code, so editing the function reruns what it fused.
* :class:`FolderMethod` is a published method's fused images: ``<id>.<ext>`` files named by pair id. Its fingerprint is
  the content hash of the files a split uses.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from torch import Tensor

from ivifbench.errors import InputError, IvifError
from ivifbench.fusion.base import FusionMethod, MethodInfo, ProduceReport, file_sha256
from ivifbench.fusion.fused import FusedSet
from ivifbench.registry import import_string


def _source_hash(obj: object) -> str:
    try:
        src = inspect.getsource(obj)  # type: ignore[arg-type]
    except (OSError, TypeError):
        src = getattr(obj, "__qualname__", repr(obj))
    return hashlib.sha256(src.encode()).hexdigest()[:16]


class CallableMethod(FusionMethod):
    """A :class:`FusionMethod` around a user function ``fn(ir, y, **params)`` (or ``fn(ir, vis, **params)``)."""

    info = MethodInfo(name="callable", version="0")

    def __init__(
        self,
        fn: Callable[..., Tensor],
        *,
        name: str,
        target: str = "",
        version: str | None = None,
        colour: str = "luminance",
        trained_on: Sequence[str] = (),
        device: str = "cpu",
        **params: Any,
    ) -> None:
        self.info = MethodInfo(  # type: ignore[misc]  # per instance: a callable's name, version and colour mode
            name=name,
            version=version or "0",
            colour_mode="native" if colour == "native" else "luminance",
            trained_on=tuple(trained_on),
            description=f"user callable {target}" if target else "user callable",
            params=dict(params),
        )
        super().__init__(device=device, **params)
        self.fn = fn
        self.target = target
        self._src = _source_hash(fn if inspect.isfunction(fn) or inspect.ismethod(fn) else type(fn))

    def fuse_grey(self, ir: Tensor, y: Tensor) -> Tensor:
        return self.fn(ir, y, **self.params)

    def fuse(self, ir: Tensor, vis: Tensor) -> Tensor:
        if self.info.colour_mode == "native":
            return self.fn(ir, vis, **self.params)
        return super().fuse(ir, vis)

    def fingerprint(self) -> str:
        h = hashlib.sha256(
            f"{self.info.name}|{self.target}|{self.info.version}|{self._src}|{self.info.colour_mode}".encode()
        )
        h.update(repr(sorted(self.params.items())).encode())
        return h.hexdigest()[:16]


def callable_method(
    target: str | Callable[..., Any],
    *,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    weights: str | Path | None = None,
    version: str | None = None,
    colour: str = "luminance",
    trained_on: Sequence[str] = (),
    device: str = "cpu",
) -> FusionMethod:
    """Build a method from ``"module:function"``, ``"module:Class"`` or the object itself."""
    params = dict(params or {})
    obj = import_string(target) if isinstance(target, str) else target
    label = target if isinstance(target, str) else getattr(obj, "__qualname__", repr(obj))
    if inspect.isclass(obj) and issubclass(obj, FusionMethod):
        method = obj(weights=weights, device=device, **params)
        if name and name != method.info.name:
            from dataclasses import replace

            method.info = replace(method.info, name=name)  # type: ignore[misc]
        return method
    if inspect.isclass(obj):
        try:
            obj = obj(**params)
        except TypeError as exc:
            raise IvifError(f"cannot instantiate {label} with parameters {params}: {exc}") from exc
        params = {}
    if not callable(obj):
        raise IvifError(f"{label} is not callable; point target: at a function (ir, vis) -> fused, or a class")
    if weights is not None:
        params["weights"] = str(weights)
    return CallableMethod(
        obj,
        name=name or str(label).rpartition(":")[2],
        target=str(label),
        version=version,
        colour=colour,
        trained_on=trained_on,
        device=device,
        **params,
    )


class FolderMethod:
    """Precomputed fused images of one method.

    ``path`` may hold ``{dataset}`` and ``{split}`` placeholders; without them ``path/<dataset>/<split>``,
    ``path/<dataset>`` and ``path`` are tried in that order (the first that exists is used).
    """

    def __init__(
        self, name: str, path: str | Path, *, version: str | None = None, trained_on: Sequence[str] = ()
    ) -> None:
        self.name = name
        self.path = str(path)
        self.info = MethodInfo(
            name=name,
            version=version or "0",
            colour_mode="native",
            trained_on=tuple(trained_on),
            description=f"precomputed fused images from {self.path}",
        )

    def folder(self, dataset: str, split: str) -> Path:
        """The folder holding this dataset split's fused images (raises when none of the candidates exists)."""
        if "{" in self.path:
            p = Path(self.path.format(dataset=dataset, split=split)).expanduser()
            if not p.is_dir():
                raise InputError(f"{p}: no folder of fused images for method '{self.name}' on {dataset}/{split}")
            return p
        base = Path(self.path).expanduser()
        for cand in (base / dataset / split, base / dataset, base):
            if cand.is_dir():
                return cand
        raise InputError(f"{base}: no folder of fused images for method '{self.name}'")

    def files(self, dataset: str, split: str, ids: Sequence[str]) -> dict[str, Path | None]:
        """``{id: file}`` for the ids; ``None`` where the folder has no image for that id."""
        return FusedSet(self.folder(dataset, split)).files(ids)

    def fingerprint(
        self, dataset: str, split: str, ids: Sequence[str], sha: Callable[[Path], str] | None = None
    ) -> str:
        """Content hash of the files this split uses (missing ones count as missing); ``sha`` may cache file hashes."""
        h = hashlib.sha256(f"folder|{self.name}|{self.info.version}".encode())
        try:
            files = self.files(dataset, split, ids)
        except InputError:
            return h.hexdigest()[:16] + "-nofolder"
        for i in sorted(files):
            p = files[i]
            h.update(f"{i}={(sha or file_sha256)(p) if p else 'missing'};".encode())
        return h.hexdigest()[:16]

    def split_fingerprint(
        self, dataset: str, split: str, ids: Sequence[str], sha: Callable[[Path], str] | None = None
    ) -> str:
        return self.fingerprint(dataset, split, ids, sha)

    def produce(self, dataset: str, split: str, pairs: Sequence[Sequence[Any]], out: FusedSet) -> ProduceReport:
        """Copy this split's images into ``out`` as PNG, checking each against its source pair's size."""
        import numpy as np

        from ivifbench.imageio import read_image, write_png

        files = self.files(dataset, split, [p[0] for p in pairs])
        rep = ProduceReport([], {})
        for pid, _ir_path, vis_path, *_ in pairs:
            src = files.get(pid)
            if src is None:
                rep.failed[pid] = f"{self.folder(dataset, split)}: no fused image named '{pid}.*'"
                continue
            try:
                img = read_image(src, "fused")
                vis = read_image(vis_path, "vis")
            except IvifError as exc:
                rep.failed[pid] = str(exc)
                continue
            if img.size != vis.size:
                rep.failed[pid] = (
                    f"{src} is {img.size[1]}×{img.size[0]}, its source pair is {vis.size[1]}×{vis.size[0]}"
                )
                continue
            px = img.pixels
            if px.shape[2] == 1 and vis.pixels.shape[2] == 3:
                px = np.repeat(px, 3, axis=2)  # grey fused output for a colour pair: stored as grey RGB
            write_png(out.path(pid), px)
            rep.written.append(pid)
        return rep


class FusedSource(Protocol):
    """What a sweep fuses with: a computed :class:`FusionMethod` or a :class:`FolderMethod` of precomputed images."""

    @property
    def info(self) -> MethodInfo: ...

    def split_fingerprint(
        self, dataset: str, split: str, ids: Sequence[str], sha: Callable[[Path], str] | None = None
    ) -> str:
        """A hash of what can change this source's images of one dataset split."""
        ...

    def produce(self, dataset: str, split: str, pairs: Sequence[Sequence[Any]], out: FusedSet) -> ProduceReport:
        """Write ``out.path(id)`` for each ``(id, ir, vis, …)`` pair; per-pair failures go in the report."""
        ...


def load_method(spec: Any, device: str = "cpu") -> FusedSource:
    """Build the method a suite's :class:`~ivifbench.fusion.spec.MethodSpec` describes."""
    from ivifbench.fusion.registry import create_method

    if spec.type == "folder":
        return FolderMethod(spec.name, spec.path, version=spec.version, trained_on=spec.trained_on)
    if spec.type == "callable":
        return callable_method(
            spec.target,
            name=spec.name,
            params=spec.params,
            weights=spec.weights,
            version=spec.version,
            colour=getattr(spec, "colour", "luminance"),
            trained_on=spec.trained_on,
            device=device,
        )
    method = create_method(spec.registry_name, weights=spec.weights or None, device=device, **spec.params)
    if spec.name != method.info.name or spec.trained_on:
        from dataclasses import replace

        extra = tuple(t for t in spec.trained_on if t not in method.info.trained_on)
        method.info = replace(method.info, name=spec.name, trained_on=method.info.trained_on + extra)  # type: ignore[misc]
    return method
