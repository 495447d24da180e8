"""Parsing ``key=value`` parameters given on the command line."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from ivifbench.errors import IvifError


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """``["epochs=3", "imgsz=96", "model=yolov8n.yaml"]`` → ``{"epochs": 3, "imgsz": 96, "model": "yolov8n.yaml"}``.

    Values are read as YAML scalars (numbers, booleans, null, lists), anything else stays a string.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise IvifError(f"'{item}' is not key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        out[key.strip()] = value
    return out
