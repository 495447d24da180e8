"""The scene engine behind every synthetic replica: street-like IR/visible pairs with warm objects and exact labels.

A scene is a background (sky, buildings, vegetation, road with lane marks, sidewalks) and objects standing on the
ground. The two modalities see it differently, so that fusing them genuinely helps:

* **Infrared**: a low-contrast, smooth background (cold sky, lukewarm ground, lightly textured buildings); warm objects
  (people, vehicles, lamp heads) are bright with internal structure (hot heads, engines, wheels); passive objects
  (poles, signs, cones, rails, bumps, kerbs) are barely warmer than the ground.
* **Visible**: colour and texture everywhere (road noise, lane marks, sidewalk tiles, windows, foliage); each class has
  its own colours and pattern. At night (a per-preset fraction of scenes) the visible image is dark and noisy, so its
  objects are low-contrast, while lamp heads glow.

Each class has its own shape, size range and aspect ratio, so a detector can tell the classes apart. Labels are
computed from the same object masks that are drawn: VOC boxes are the tight bounds of the visible mask (1-based,
inclusive), segmentation label maps are the painted ids, salient-object masks are the object's mask. Detection objects
never overlap, so a box is exactly its object.

Everything is drawn from ``numpy.random.default_rng`` seeded by (seed, dataset, pair index): a pair does not depend on
how many pairs are written, and the same seed gives identical bytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

DEFAULT_SIZE = (256, 192)  # (width, height)

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


SALIENT_SHAPES = ("blob", "blob", "person", "car", "truck", "motorcycle")  # what a salient object may be


# --------------------------------------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Preset:
    """What one dataset's replica looks like.

    ``things`` maps a class id to a style name; ``stuff`` maps a background region (sky, building, vegetation, road,
    sidewalk) to the class id it is labelled with (regions not listed get ``background_id``). ``objects`` is the
    (min, max) number of extra random things; ``all_things`` puts every thing class in every image once.
    """

    things: dict[int, str]
    stuff: dict[str, int] = field(default_factory=dict)
    background_id: int = 0
    objects: tuple[int, int] = (2, 5)
    all_things: bool = False
    overlap: bool = False
    night: float = 0.4
    grey_visible: bool = False
    salient: bool = False  # one big salient object (SOD) instead of ground objects


@dataclass
class Instance:
    """One drawn object: its class id and its visible mask in image coordinates."""

    class_id: int
    mask: np.ndarray  # bool H×W (after later objects occluded it)

    def box(self) -> tuple[int, int, int, int] | None:
        """VOC corners (1-based, inclusive) of the mask's tight bounds, or None when fully occluded."""
        ys, xs = np.nonzero(self.mask)
        if len(xs) == 0:
            return None
        return int(xs.min()) + 1, int(ys.min()) + 1, int(xs.max()) + 1, int(ys.max()) + 1


@dataclass
class Scene:
    """One rendered pair with its labels."""

    ir: np.ndarray  # uint8 H×W
    vis: np.ndarray  # uint8 H×W×3 (or H×W for grey presets)
    label: np.ndarray  # uint8 H×W class ids (stuff and things)
    instances: list[Instance]
    night: bool

    @property
    def salient(self) -> np.ndarray:
        """The union of the instances' masks (SOD ground truth)."""
        out = np.zeros(self.label.shape, bool)
        for inst in self.instances:
            out |= inst.mask
        return out


def pair_rng(seed: int, dataset: str, index: int) -> np.random.Generator:
    """The generator for one pair: depends on (seed, dataset, index) only."""
    return np.random.default_rng([int(seed), zlib.crc32(dataset.encode()), int(index)])


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    small = rng.standard_normal((max(2, h // cell + 2), max(2, w // cell + 2))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _jitter(rng: np.random.Generator, colour: Sequence[int], amount: float = 18.0) -> np.ndarray:
    return np.clip(np.asarray(colour, np.float32) + rng.uniform(-amount, amount, 3), 0, 255) / 255.0


# --------------------------------------------------------------------------------------------------------- background
def _background(
    rng: np.random.Generator, w: int, h: int, night: bool, preset: Preset
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Background visible (H×W×3 float), IR (H×W float) and region label map (uint8)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    label = np.full((h, w), preset.background_id, np.uint8)
    stuff = preset.stuff
    horizon = int(h * rng.uniform(0.32, 0.45))
    vis = np.zeros((h, w, 3), np.float32)
    ir = np.zeros((h, w), np.float32)

    # sky
    top, bottom = (
        (np.array([70, 120, 200]), np.array([190, 215, 240]))
        if rng.random() < 0.7
        else (np.array([150] * 3), np.array([205] * 3))
    )
    t = np.clip(yy / max(horizon, 1), 0, 1)[..., None]
    vis[:] = (top * (1 - t) + bottom * t) / 255.0 + 0.02 * _smooth_noise(rng, h, w, 24)[..., None]
    ir[:] = rng.uniform(0.1, 0.18) + 0.015 * _smooth_noise(rng, h, w, 32)
    sky = yy < horizon
    if "sky" in stuff:
        label[sky] = stuff["sky"]

    # ground: grass/dirt
    ground = ~sky
    g_col = np.array([95, 120, 70]) if rng.random() < 0.5 else np.array([125, 110, 90])
    tex = _smooth_noise(rng, h, w, 6) * 0.05 + rng.standard_normal((h, w)).astype(np.float32) * 0.03
    vis[ground] = g_col / 255.0 + tex[ground][:, None]
    ir_ground = rng.uniform(0.3, 0.36) + 0.02 * _smooth_noise(rng, h, w, 40)
    ir[ground] = ir_ground[ground]

    # road: a trapezoid to a vanishing point, sidewalks beside it
    vx = w * rng.uniform(0.35, 0.65)
    depth = np.clip((yy - horizon) / max(h - horizon, 1), 0, 1)
    half = (0.04 + rng.uniform(0.35, 0.5)) * w * depth + 2
    road = ground & (np.abs(xx - vx) <= half)
    side = ground & ~road & (np.abs(xx - vx) <= half * 1.3 + 1)
    road_tex = rng.standard_normal((h, w)).astype(np.float32) * 0.035 + _smooth_noise(rng, h, w, 10) * 0.03
    grey = rng.uniform(0.3, 0.42)
    vis[road] = grey + road_tex[road][:, None]
    ir[road] = (ir_ground + rng.uniform(0.02, 0.05))[road]
    tiles = ((xx.astype(int) % 8 == 0) | (yy.astype(int) % 6 == 0)).astype(np.float32)
    vis[side] = (0.62 - 0.12 * tiles[side])[:, None] + road_tex[side][:, None] * 0.5
    ir[side] = (ir_ground - 0.01)[side]
    # dashed lane mark: visible only
    lane = (
        road
        & (np.abs(xx - vx) <= 0.012 * w * depth + 0.6)
        & (((yy - horizon) * (1 + 3 * depth)) % 18 < 9)
        & (depth > 0.05)
    )
    vis[lane] = 0.92
    ir[lane] += 0.005
    if "road" in stuff:
        label[road] = stuff["road"]
    if "sidewalk" in stuff:
        label[side] = stuff["sidewalk"]

    # buildings and vegetation on the horizon
    x = -rng.uniform(0, 20)
    while x < w:
        bw = rng.uniform(0.1, 0.22) * w
        kind = rng.random()
        if kind < 0.55:
            bh = rng.uniform(0.12, 0.3) * h
            reg = (xx >= x) & (xx < x + bw) & (yy >= horizon - bh) & (yy < horizon)
            col = _jitter(rng, [(190, 175, 150), (150, 150, 155), (160, 90, 70)][rng.integers(3)], 12)
            win = reg & ((xx - x) % 10 < 5) & ((yy - horizon + bh) % 12 > 5)
            vis[reg] = col + 0.03 * rng.standard_normal((int(reg.sum()), 1)).astype(np.float32)
            vis[win] = (0.85, 0.8, 0.5) if night and rng.random() < 0.5 else (0.25, 0.3, 0.38)
            ir[reg] = rng.uniform(0.34, 0.42)
            ir[win] += 0.04 if night else 0.015
            if "building" in stuff:
                label[reg] = stuff["building"]
        elif kind < 0.85:
            cx, cy, r = x + bw / 2, horizon - rng.uniform(0.02, 0.08) * h, rng.uniform(0.08, 0.16) * h
            reg = (((xx - cx) / (bw * 0.6)) ** 2 + ((yy - cy) / r) ** 2 <= 1) | (
                (((xx - cx) / (bw * 0.4)) ** 2 + ((yy - cy + r * 0.6) / (r * 0.7)) ** 2) <= 1
            )
            reg &= yy < horizon + 0.04 * h
            leaf = _smooth_noise(rng, h, w, 3)
            vis[reg] = np.stack([0.16 + 0.06 * leaf, 0.42 + 0.1 * leaf, 0.14 + 0.05 * leaf], -1)[reg]
            ir[reg] = (0.27 + 0.015 * leaf)[reg]
            if "vegetation" in stuff:
                label[reg] = stuff["vegetation"]
        x += bw + rng.uniform(0, 0.08) * w
    return vis, ir, label, horizon


def _pattern(style: ObjectStyle, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    if style.pattern == "stripes_v":
        return ((u * 12) % 1 < 0.5).astype(np.float32)
    if style.pattern == "stripes_h":
        return ((v * 8) % 1 < 0.5).astype(np.float32)
    if style.pattern == "checker":
        return (((u * 6).astype(int) + (v * 6).astype(int)) % 2).astype(np.float32)
    return np.zeros_like(u)


def _draw(
    rng: np.random.Generator,
    style: ObjectStyle,
    bw: int,
    bh: int,
    night: bool,
    ground_ir: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """An object's local mask, part map, visible RGB and IR."""
    vv, uu = np.mgrid[0:bh, 0:bw].astype(np.float32)
    u, v = (uu + 0.5) / bw, (vv + 0.5) / bh
    mask, part = SHAPES[style.shape](u, v, rng)
    base = _jitter(rng, style.colours[rng.integers(len(style.colours))])
    p1, p2 = _jitter(rng, style.part_colours[0], 10), _jitter(rng, style.part_colours[1], 6)
    rgb = np.broadcast_to(base, (bh, bw, 3)).copy()
    pat = _pattern(style, u, v)
    rgb *= (1.0 - 0.25 * pat)[..., None]
    rgb[part == 1] = p1
    rgb[part == 2] = p2
    shade = 1.0 - 0.18 * v  # lit from above
    rgb = rgb * shade[..., None] + rng.standard_normal((bh, bw, 1)).astype(np.float32) * 0.025
    if style.warm:
        temp = rng.uniform(*style.ir)
    else:  # passive objects: slightly warmer than the ground they stand on
        temp = ground_ir + rng.uniform(*style.ir) - 0.36
    ir = np.full((bh, bw), temp, np.float32)
    ir[part == 1] += style.ir_part[0] * (1.5 if night and style.glows_at_night else 1.0)
    ir[part == 2] += style.ir_part[1]
    ir += (0.06 * (0.5 - np.abs(u - 0.5)) - 0.03 * v) * (1.0 if style.warm else 0.3)
    ir += rng.standard_normal((bh, bw)).astype(np.float32) * 0.012
    return mask, part, np.clip(rgb, 0, 1), ir


def render(rng: np.random.Generator, size: tuple[int, int], preset: Preset) -> Scene:
    """Render one scene of ``size`` = (width, height) for ``preset``."""
    w, h = size
    night = bool(rng.random() < preset.night)
    vis, ir, label, horizon = _background(rng, w, h, night, preset)
    occupied = np.zeros((h, w), bool)
    instances: list[Instance] = []

    glow = np.zeros((h, w), bool)
    if preset.salient:
        todo = [next(iter(preset.things))]
    else:
        ids = list(preset.things)
        todo = list(ids) if preset.all_things else []
        todo += [
            ids[int(rng.integers(len(ids)))] for _ in range(int(rng.integers(preset.objects[0], preset.objects[1] + 1)))
        ]
        todo = [todo[i] for i in rng.permutation(len(todo))]
        # big objects first so that small ones fill the gaps (stable sort keeps the random order among equals)
        todo.sort(key=lambda c: -STYLES[preset.things[c]].height[1] * STYLES[preset.things[c]].aspect[1])

    for cid in todo:
        style = STYLES[preset.things[cid]]
        if preset.salient:
            style = STYLES[SALIENT_SHAPES[int(rng.integers(len(SALIENT_SHAPES)))]]
        for attempt in range(40):
            scale = 1.0 if attempt < 20 else 0.7
            aspect = rng.uniform(*style.aspect)
            if preset.salient:
                extent = rng.uniform(0.45, 0.8) * h * scale
                bh = round(min(extent, 0.85 * w / aspect) if aspect >= 1 else extent)
                bw = max(3, round(bh * aspect))
                x0 = int(rng.integers(2, max(3, w - bw - 1)))
                y0 = int(rng.integers(2, max(3, h - bh - 1)))
            else:
                bh = max(6, round(rng.uniform(*style.height) * h * scale))
                bw = min(max(3, round(bh * aspect)), w - 3)
                y1 = int(rng.integers(min(horizon + int(0.12 * h), h - 1), h))  # bottom row on the ground
                y0 = y1 - bh + 1
                x0 = int(rng.integers(0, max(1, w - bw)))
                if y0 < 1:
                    continue
            box = (slice(y0, y0 + bh), slice(x0, x0 + bw))
            if (not preset.overlap or attempt < 25) and occupied[
                max(0, y0 - 2) : y0 + bh + 2, max(0, x0 - 2) : x0 + bw + 2
            ].any():
                continue
            mask, part, rgb, oir = _draw(rng, style, bw, bh, night, float(ir[min(y0 + bh, h - 1), x0]))
            if not mask.any():
                continue
            vis[box][mask] = rgb[mask]
            ir[box][mask] = oir[mask]
            full = np.zeros((h, w), bool)
            full[box] = mask
            for inst in instances:  # later objects occlude earlier ones
                inst.mask &= ~full
            glow &= ~full
            if night and style.glows_at_night:
                glow[box] |= mask & (part == 1)
            label[full] = cid
            occupied |= full
            instances.append(Instance(cid, full))
            break
    instances = [i for i in instances if i.mask.any()]
    if preset.salient and not instances:  # pragma: no cover - the first attempt always fits an empty scene
        raise RuntimeError("could not place the salient object")

    if preset.salient:
        _sod_modalities(rng, vis, ir, instances[0].mask, h, w)

    # sensor models: IR is blurrier and smooth; visible is dark and noisy at night
    ir = cv2.GaussianBlur(ir, (0, 0), 0.7) + rng.standard_normal((h, w)).astype(np.float32) * 0.008
    if night:
        gain = rng.uniform(0.14, 0.28)
        vis = vis * gain + rng.standard_normal(vis.shape).astype(np.float32) * 0.018
        vis[glow] = (1.0, 0.95, 0.75)  # lamp heads stay lit
    else:
        vis = vis + rng.standard_normal(vis.shape).astype(np.float32) * 0.01
    vis = cv2.GaussianBlur(vis, (0, 0), 0.5)
    vis8 = np.clip(np.floor(vis * 255 + 0.5), 0, 255).astype(np.uint8)
    if preset.grey_visible:
        vis8 = cv2.cvtColor(vis8, cv2.COLOR_RGB2GRAY)
    ir8 = np.clip(np.floor(ir * 255 + 0.5), 0, 255).astype(np.uint8)
    return Scene(ir8, vis8, label, instances, night)


def _sod_modalities(
    rng: np.random.Generator, vis: np.ndarray, ir: np.ndarray, mask: np.ndarray, h: int, w: int
) -> None:
    """SOD scenes: one modality may fail (thermal crossover or camouflage); IR has small warm distractors."""
    mode = rng.random()
    if mode < 0.25:  # thermal crossover: the object is about as warm as its surroundings in IR
        ring = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ~mask
        ir[mask] = float(ir[ring].mean()) + 0.06 + (ir[mask] - ir[mask].mean()) * 0.3
    elif mode < 0.5:  # camouflage: the object's colour is close to its surroundings in the visible image
        ring = cv2.dilate(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ~mask
        vis[mask] = vis[ring].mean(0) * 0.8 + vis[mask] * 0.2
    for _ in range(int(rng.integers(0, 3))):  # small warm distractors (not salient)
        r = rng.uniform(0.02, 0.045) * h
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        yy, xx = np.ogrid[0:h, 0:w]
        d = ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r) & ~cv2.dilate(
            mask.astype(np.uint8), np.ones((7, 7), np.uint8)
        ).astype(bool)
        ir[d] = rng.uniform(0.6, 0.75)
