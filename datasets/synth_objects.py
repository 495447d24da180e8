"""The objects of the synthetic scenes: each class's shape (mask and parts) and style (size, colours, temperature).

Used by :mod:`ivifbench.datasets.synth`, which places and draws them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["SHAPES", "STYLES", "ObjectStyle", "ShapeFn"]

# --------------------------------------------------------------------------------------------------------- shapes
# A shape draws into a local h×w box from normalised pixel-centre grids u (x/w) and v (y/h) in [0, 1]. It returns the
# object mask and a part map (0 body, 1 secondary part: head, windows, cabin, lamp head; 2 tertiary: wheels, legs).

ShapeFn = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _ell(u: np.ndarray, v: np.ndarray, cu: float, cv: float, ru: float, rv: float) -> np.ndarray:
    return ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2 <= 1.0


def _rect(u: np.ndarray, v: np.ndarray, u0: float, u1: float, v0: float, v1: float) -> np.ndarray:
    return (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)


def _parts(mask: np.ndarray, *layers: tuple[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    part = np.zeros(mask.shape, np.uint8)
    for value, layer in layers:
        part[layer & mask] = value
    return mask, part


def _person(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    head = _ell(u, v, 0.5, 0.08, 0.2, 0.08)
    torso = _rect(u, v, 0.2, 0.8, 0.15, 0.57) | _ell(u, v, 0.5, 0.2, 0.32, 0.07)
    arms = _rect(u, v, 0.02, 0.2, 0.18, 0.52) | _rect(u, v, 0.8, 0.98, 0.18, 0.52)
    legs = _rect(u, v, 0.24, 0.47, 0.56, 1.0) | _rect(u, v, 0.53, 0.76, 0.56, 1.0)
    return _parts(head | torso | arms | legs, (1, head), (2, legs))


def _car(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    body = _rect(u, v, 0.0, 1.0, 0.4, 0.84) & ~(_rect(u, v, 0.0, 0.03, 0.4, 0.5) | _rect(u, v, 0.97, 1.0, 0.4, 0.5))
    t = np.clip((v - 0.05) / 0.37, 0.0, 1.0)
    cabin = (v >= 0.05) & (v < 0.42) & (u >= 0.3 - 0.12 * t) & (u <= 0.72 + 0.1 * t)
    wheels = _ell(u, v, 0.2, 0.84, 0.1, 0.16) | _ell(u, v, 0.8, 0.84, 0.1, 0.16)
    return _parts(body | cabin | wheels, (1, cabin), (2, wheels))


def _bus(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    body = _rect(u, v, 0.0, 1.0, 0.0, 0.88)
    windows = _rect(u, v, 0.04, 0.96, 0.12, 0.45) & ((u * 9.0) % 1.0 < 0.78)
    wheels = _ell(u, v, 0.14, 0.88, 0.05, 0.12) | _ell(u, v, 0.84, 0.88, 0.05, 0.12)
    return _parts(body | wheels, (1, windows), (2, wheels))


def _truck(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    cargo = _rect(u, v, 0.0, 0.7, 0.0, 0.86)
    cab = _rect(u, v, 0.73, 1.0, 0.3, 0.86) | _rect(u, v, 0.68, 0.75, 0.6, 0.86)
    window = _rect(u, v, 0.79, 0.97, 0.36, 0.56)
    wheels = _ell(u, v, 0.14, 0.87, 0.06, 0.13) | _ell(u, v, 0.5, 0.87, 0.06, 0.13) | _ell(u, v, 0.86, 0.87, 0.06, 0.13)
    return _parts(cargo | cab | wheels, (1, window), (2, wheels))


def _motorcycle(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    wheels = _ell(u, v, 0.18, 0.74, 0.18, 0.26) | _ell(u, v, 0.82, 0.74, 0.18, 0.26)
    body = _rect(u, v, 0.24, 0.78, 0.46, 0.72)
    rider = _rect(u, v, 0.38, 0.62, 0.1, 0.5) | _ell(u, v, 0.5, 0.07, 0.1, 0.07)
    return _parts(wheels | body | rider, (1, rider), (2, wheels))


def _seg(
    u: np.ndarray, v: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], t: float, aspect: float
) -> np.ndarray:
    # distance from (u, v) to the segment p0-p1, measured in units of the box height
    x, y = u * aspect, v
    x0, y0, x1, y1 = p0[0] * aspect, p0[1], p1[0] * aspect, p1[1]
    dx, dy = x1 - x0, y1 - y0
    s = np.clip(((x - x0) * dx + (y - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0.0, 1.0)
    return np.hypot(x - x0 - s * dx, y - y0 - s * dy) <= t


def _bicycle(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h, w = u.shape
    aspect = w / max(h, 1)
    cu0, cu1, cv, r = 0.22, 0.78, 0.68, 0.3
    d0 = np.hypot((u - cu0) * aspect, v - cv)
    d1 = np.hypot((u - cu1) * aspect, v - cv)
    wheels = ((d0 <= r) & (d0 >= r - 0.1)) | ((d1 <= r) & (d1 >= r - 0.1))
    frame = (
        _seg(u, v, (cu0, cv), (0.45, 0.35), 0.05, aspect)
        | _seg(u, v, (0.45, 0.35), (cu1, cv), 0.05, aspect)
        | _seg(u, v, (cu0, cv), (0.55, cv), 0.05, aspect)
        | _seg(u, v, (0.55, cv), (0.45, 0.35), 0.05, aspect)
        | _seg(u, v, (0.45, 0.35), (0.42, 0.05), 0.05, aspect)
        | _seg(u, v, (cu1, cv), (0.72, 0.1), 0.05, aspect)
        | _rect(u, v, 0.34, 0.5, 0.0, 0.08)
        | _rect(u, v, 0.64, 0.82, 0.04, 0.12)
    )
    return _parts(wheels | frame, (2, wheels))


def _lamp(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    pole = _rect(u, v, 0.38, 0.62, 0.08, 1.0)
    head = _ell(u, v, 0.5, 0.07, 0.5, 0.07)
    return _parts(pole | head, (1, head))


def _pole(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return _parts(_rect(u, v, 0.0, 1.0, 0.0, 1.0))


def _sign(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    plate = _rect(u, v, 0.0, 1.0, 0.0, 0.45)
    symbol = _ell(u, v, 0.5, 0.225, 0.25, 0.11)
    post = _rect(u, v, 0.4, 0.6, 0.45, 1.0)
    return _parts(plate | post, (1, symbol), (2, post))


def _cone(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    tri = (np.abs(u - 0.5) <= 0.08 + 0.42 * v) & (v <= 0.9) | _rect(u, v, 0.0, 1.0, 0.88, 1.0)
    band = _rect(u, v, 0.0, 1.0, 0.4, 0.58)
    return _parts(tri, (1, band))


def _car_stop(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    block = np.abs(u - 0.5) <= 0.38 + 0.12 * v
    stripes = (u * 5.0) % 1.0 < 0.5
    return _parts(block, (1, stripes))


def _bump(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    dome = v >= 1.0 - np.sqrt(np.clip(1.0 - (2.0 * u - 1.0) ** 2, 0.0, 1.0))
    stripes = (u * 7.0) % 1.0 < 0.5
    return _parts(dome, (1, stripes))


def _guardrail(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    rail = _rect(u, v, 0.0, 1.0, 0.0, 0.42)
    posts = ((u * 7.0) % 1.0 < 0.18) & (v > 0.42) | _rect(u, v, 0.0, 0.04, 0.0, 1.0) | _rect(u, v, 0.96, 1.0, 0.0, 1.0)
    return _parts(rail | posts, (2, posts & (v > 0.42)))


def _curb(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    strip = (u >= 0.3 * (1.0 - v)) & (u <= 0.7 + 0.3 * (1.0 - v))
    stripes = (u * 8.0) % 1.0 < 0.5
    return _parts(strip, (1, stripes))


def _blob(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    du, dv = (u - 0.5) / 0.5, (v - 0.5) / 0.5
    rho, theta = np.hypot(du, dv), np.arctan2(dv, du)
    amps = rng.uniform(0.0, 0.22, 3)
    phases = rng.uniform(0.0, 2 * np.pi, 3)
    radius = np.ones_like(theta)
    for k, (a, p) in enumerate(zip(amps, phases, strict=True), start=2):
        radius = radius + a * np.cos(k * theta + p)
    radius = radius / (1.0 + amps.sum())
    mask = rho <= radius
    core = rho <= 0.45 * radius
    return _parts(mask, (1, core))


SHAPES: dict[str, ShapeFn] = {
    "person": _person,
    "car": _car,
    "bus": _bus,
    "truck": _truck,
    "motorcycle": _motorcycle,
    "bicycle": _bicycle,
    "lamp": _lamp,
    "pole": _pole,
    "sign": _sign,
    "cone": _cone,
    "car_stop": _car_stop,
    "bump": _bump,
    "guardrail": _guardrail,
    "curb": _curb,
    "blob": _blob,
}


# --------------------------------------------------------------------------------------------------------- styles
@dataclass(frozen=True)
class ObjectStyle:
    """How one class looks: shape, size (height as a fraction of the image height), aspect (width/height), colours.

    ``ir`` is the body temperature in [0, 1] (background ground is about 0.3-0.4); ``ir_part`` is added on parts 1/2.
    ``colours`` are the visible body colours one is picked from; ``part_colours`` colour parts 1 and 2.
    """

    shape: str
    height: tuple[float, float]
    aspect: tuple[float, float]
    ir: tuple[float, float]
    colours: tuple[tuple[int, int, int], ...]
    part_colours: tuple[tuple[int, int, int], tuple[int, int, int]] = ((40, 45, 55), (20, 20, 22))
    ir_part: tuple[float, float] = (0.06, 0.04)
    pattern: str = "plain"  # plain | stripes_v | stripes_h | checker
    warm: bool = True
    glows_at_night: bool = False  # part 1 is a light source in the visible image at night


_CAR_COLOURS = ((180, 30, 30), (30, 60, 160), (225, 225, 225), (35, 35, 40), (150, 155, 165), (20, 110, 60))
_CLOTHES = ((200, 40, 40), (40, 90, 190), (230, 200, 40), (40, 150, 60), (240, 240, 240), (150, 60, 160))

STYLES: dict[str, ObjectStyle] = {
    "person": ObjectStyle(
        "person", (0.22, 0.36), (0.36, 0.46), (0.78, 0.9), _CLOTHES, ((225, 180, 150), (30, 35, 70)), (0.08, -0.03)
    ),
    "car": ObjectStyle(
        "car", (0.13, 0.19), (2.05, 2.45), (0.62, 0.72), _CAR_COLOURS, ((40, 50, 65), (15, 15, 18)), (-0.05, 0.12)
    ),
    "bus": ObjectStyle(
        "bus",
        (0.18, 0.24),
        (2.6, 3.0),
        (0.58, 0.66),
        ((225, 185, 35), (200, 50, 40), (40, 140, 80)),
        ((45, 60, 75), (15, 15, 18)),
        (-0.06, 0.12),
        "stripes_h",
    ),
    "truck": ObjectStyle(
        "truck",
        (0.19, 0.26),
        (1.6, 1.95),
        (0.52, 0.6),
        ((235, 235, 230), (220, 120, 30), (110, 115, 125)),
        ((40, 50, 60), (15, 15, 18)),
        (0.1, 0.16),
        "stripes_v",
    ),
    "motorcycle": ObjectStyle(
        "motorcycle",
        (0.13, 0.18),
        (1.2, 1.45),
        (0.72, 0.82),
        ((30, 30, 35), (170, 20, 25), (60, 60, 70)),
        ((60, 70, 150), (15, 15, 18)),
        (0.08, 0.06),
    ),
    "bicycle": ObjectStyle(
        "bicycle",
        (0.14, 0.2),
        (1.5, 1.8),
        (0.42, 0.5),
        ((25, 25, 30), (40, 120, 200)),
        ((25, 25, 30), (15, 15, 15)),
        (0.0, 0.0),
        warm=False,
    ),
    "lamp": ObjectStyle(
        "lamp",
        (0.38, 0.5),
        (0.18, 0.24),
        (0.42, 0.48),
        ((120, 125, 135),),
        ((225, 225, 210), (90, 90, 95)),
        (0.35, 0.0),
        warm=False,
        glows_at_night=True,
    ),
    "pole": ObjectStyle(
        "pole",
        (0.35, 0.5),
        (0.06, 0.09),
        (0.4, 0.46),
        ((95, 95, 100), (160, 150, 130)),
        pattern="stripes_h",
        warm=False,
    ),
    "sign": ObjectStyle(
        "sign",
        (0.22, 0.3),
        (0.55, 0.75),
        (0.4, 0.46),
        ((30, 80, 200), (200, 30, 30)),
        ((245, 245, 245), (110, 110, 115)),
        (0.02, 0.0),
        warm=False,
    ),
    "cone": ObjectStyle(
        "cone",
        (0.08, 0.12),
        (0.6, 0.75),
        (0.42, 0.48),
        ((245, 115, 20),),
        ((250, 250, 250), (0, 0, 0)),
        (0.02, 0.0),
        warm=False,
    ),
    "car_stop": ObjectStyle(
        "car_stop",
        (0.05, 0.07),
        (2.6, 3.4),
        (0.44, 0.5),
        ((215, 195, 40),),
        ((30, 30, 30), (0, 0, 0)),
        (-0.04, 0.0),
        warm=False,
    ),
    "bump": ObjectStyle(
        "bump",
        (0.05, 0.07),
        (5.0, 6.5),
        (0.45, 0.52),
        ((235, 200, 30),),
        ((25, 25, 25), (0, 0, 0)),
        (-0.05, 0.0),
        warm=False,
    ),
    "guardrail": ObjectStyle(
        "guardrail",
        (0.08, 0.11),
        (4.5, 6.0),
        (0.38, 0.44),
        ((195, 200, 205),),
        ((195, 200, 205), (110, 110, 115)),
        (0.0, 0.03),
        warm=False,
    ),
    "curb": ObjectStyle(
        "curb",
        (0.05, 0.08),
        (4.0, 5.5),
        (0.4, 0.46),
        ((200, 40, 40),),
        ((240, 240, 240), (0, 0, 0)),
        (0.03, 0.0),
        warm=False,
    ),
    "blob": ObjectStyle(
        "blob",
        (0.45, 0.7),
        (0.7, 1.4),
        (0.75, 0.9),
        _CLOTHES + _CAR_COLOURS,
        ((255, 255, 255), (0, 0, 0)),
        (0.05, 0.0),
        "checker",
    ),
}
