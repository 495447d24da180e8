"""Declared method parameters: each method class names its parameters as a pydantic model (types, defaults, ranges).

``create_method`` and suite validation both go through :func:`validate_params`, so a parameter a run would reject is
rejected by ``validate`` first, with the same words. A method class without a ``Params`` model (a plugin written before
parameters were declared) takes any parameters unchecked.
"""

from __future__ import annotations

from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from ivifbench.errors import IvifError


class MethodParams(BaseModel):
    """Base of every method's parameter model: unknown keys are errors, values are checked and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(MethodParams):
    """A method without parameters."""


class ParamError(IvifError):
    """Method parameters that do not match the method's declaration."""


def describe(model: type[BaseModel]) -> list[tuple[str, str, str, str]]:
    """``(name, type, default, description with range)`` per declared parameter, for ``methods info``."""
    rows = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if get_origin(ann) is Literal:
            type_name = "|".join(str(a) for a in get_args(ann))
        else:
            named = getattr(ann, "__name__", None) if isinstance(ann, type) else None
            type_name = str(named or ann).replace("typing.", "")
        limits = [
            f"{sym} {getattr(m, attr)}"
            for m in field.metadata
            for attr, sym in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
            if getattr(m, attr, None) is not None
        ]
        text = field.description or ""
        if limits:
            text = f"{text} ({', '.join(limits)})" if text else ", ".join(limits)
        rows.append((name, type_name, repr(field.default), text))
    return rows


def param_problems(method: str, model: type[BaseModel], exc: ValidationError) -> list[str]:
    accepted = ", ".join(model.model_fields) or "none"
    out = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "?"
        if err["type"] == "extra_forbidden":
            out.append(f"method '{method}': unknown parameter '{key}' (accepted: {accepted})")
        else:
            msg = err["msg"][:1].lower() + err["msg"][1:]
            out.append(f"method '{method}': parameter '{key}': {msg} (got {err.get('input')!r})")
    return out


def validate_params(method: str, model: type[BaseModel] | None, params: dict[str, Any]) -> BaseModel | None:
    """The validated parameter object, or :class:`ParamError` listing every problem. ``model=None``: unchecked."""
    if model is None:
        return None
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ParamError("; ".join(param_problems(method, model, exc))) from None
