"""Typed task settings: one pydantic model per protocol, one set of coercion rules, one-line errors.

Values come from the command line (``--set key=value``, read as YAML scalars) and from suite files, and are coerced the
same way for every task: pydantic's lax mode (``"3"`` → 3, ``"true"``/``"yes"`` → True), the strings ``""``,
``none`` and ``null`` → None. Unknown keys are rejected with the accepted ones named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ivifbench.errors import InputError
from ivifbench.seeding import DEFAULT_THREADS, THREADS_HELP

__all__ = ["DEVICE_HELP", "TaskSettings", "load_settings", "settings_help"]

DEVICE_HELP = "auto | cpu | cuda | cuda:N (auto: the first GPU when torch sees one, else the CPU)"

S = TypeVar("S", bound="TaskSettings")


class TaskSettings(BaseModel):
    """Settings every task protocol has. A task's protocol models subclass this and add their own fields."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    limit: int | None = Field(
        None, ge=1, description="use at most N pairs of each split, the first of N equal strata (smoke runs)"
    )
    device: str = Field("cpu", description=DEVICE_HELP)
    threads: int = Field(DEFAULT_THREADS, ge=1, description=THREADS_HELP)

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: (None if isinstance(v, str) and v.strip().lower() in ("", "none", "null") else v)
                for k, v in data.items()
            }
        return data

    def record(self) -> dict[str, Any]:
        """The settings as JSON-ready values (paths as strings, tuples as lists)."""
        return {k: _plain(v) for k, v in self.model_dump().items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def settings_help(model: type[TaskSettings]) -> dict[str, str]:
    """Each accepted key → its description (with the protocol's default), for ``--help`` and the docs."""
    out = {}
    for name, info in model.model_fields.items():
        default = info.default if info.default is not None else "none"
        out[name] = f"{info.description or ''} (default {_plain(default)})".strip()
    return out


def load_settings(task: str, protocol: str, model: type[S], values: dict[str, Any]) -> S:
    """``model`` built from ``values``; raises a one-line :class:`InputError` naming the key and what it accepts."""
    accepted = sorted(model.model_fields)
    unknown = sorted(set(values) - set(accepted))
    if unknown:
        raise InputError(
            f"unknown {task} setting '{unknown[0]}' for protocol '{protocol}' (accepted: {', '.join(accepted)})"
        )
    try:
        return model(**values)
    except ValidationError as exc:
        raise InputError(f"{task} ({protocol}): {_one_line(exc)}") from None


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if err.get("type") == "value_error":
        return msg  # our own checks already say what is wrong and what was given
    got = f", got {err['input']!r}" if "input" in err and not isinstance(err["input"], dict) else ""
    return f"{key}: {msg}{got}" if key else f"{msg}{got}"
