"""How a sweep names one method (:class:`MethodSpec`): a registered method, a callable, or a folder of fused images.

Suites (``ivifbench.benchmarks.suite``), ``ivifbench methods check`` and :func:`ivifbench.fusion.external.load_method`
all read this one description.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class MethodSpec(BaseModel):
    """One method of a sweep.

    ``type``: ``registered`` (a name in the method registry, built-in or plugin), ``callable`` (``target`` is
    ``module:function`` taking ``(ir, vis)`` tensors, or a class: a FusionMethod subclass or any callable class), or
    ``folder`` (precomputed fused images: ``path`` holds ``<id>.png`` files, optionally with ``{dataset}`` and ``{split}``
    placeholders; without placeholders, ``path/<dataset>/<split>``, ``path/<dataset>`` and ``path`` are tried in turn).
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    type: Literal["registered", "callable", "folder"] = "registered"
    method: str | None = None  # registry name when it differs from ``name`` (e.g. two parameterisations of one method)
    target: str | None = None
    path: str | None = None
    weights: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    optional: bool = False  # skip (and say why in the report) when weights are not configured, instead of failing
    trained_on: list[str] = Field(default_factory=list)  # extra in-domain datasets (folder/callable methods)
    version: str | None = None  # for callable/folder methods: bump to invalidate the cache by hand
    colour: Literal["luminance", "native"] = "luminance"  # callables: fuse (ir, y) and keep chroma, or (ir, vis)

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", v):
            raise ValueError(f"method name '{v}' must be letters, digits, '_', '-', '.', '+' (it names a folder)")
        return v

    @model_validator(mode="after")
    def _fields_for_type(self) -> MethodSpec:
        if self.type == "callable" and not self.target:
            raise ValueError(f"method '{self.name}': type 'callable' needs target: 'module:function'")
        if self.type == "folder" and not self.path:
            raise ValueError(f"method '{self.name}': type 'folder' needs path: the folder of fused images")
        return self

    @property
    def registry_name(self) -> str:
        return self.method or self.name
