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
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from ivifbench.datasets.synth_objects import SHAPES, STYLES, ObjectStyle

DEFAULT_SIZE = (256, 192)  # (width, height)

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
