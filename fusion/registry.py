"""The method registry. Built-ins are lazy entries; plugins come through the ``ivifbench.methods`` entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ivifbench.errors import IvifError
from ivifbench.fusion.base import FusionMethod
from ivifbench.fusion.params import param_problems
from ivifbench.registry import Registry

METHODS: Registry[type[FusionMethod]] = Registry("method", group="ivifbench.methods")

for _name, _cls in {
    "average": "AverageFusion",
    "max": "MaxAbsFusion",
    "weighted": "WeightedFusion",
    "laplacian": "LaplacianPyramidFusion",
    "dwt": "DWTFusion",
    "gff": "GuidedFilterFusion",
}.items():
    METHODS.register(_name, f"ivifbench.fusion.classical:{_cls}")
METHODS.register("sage", "ivifbench.fusion.sage:SageFusion")
METHODS.register("caf", "ivifbench.fusion.zoo.caf:CafFusion")
METHODS.register("tardal", "ivifbench.fusion.zoo.tardal:TardalFusion")


def create_method(name: str, weights: str | Path | None = None, device: str = "cpu", **params: Any) -> FusionMethod:
    """Instantiate the registered method ``name``."""
    return METHODS.get(name)(weights=weights, device=device, **params)


def check_params(name: str, params: dict[str, Any]) -> list[str]:
    """Problems with ``params`` for the registered method ``name`` (empty when they are valid); for suite checks."""
    try:
        cls = METHODS.get(name)
    except IvifError as exc:
        return [str(exc)]
    model = getattr(cls, "Params", None)
    if model is None:
        return []
    try:
        model.model_validate(params)
    except ValidationError as exc:
        return param_problems(name, model, exc)
    return []
