"""Synthetic replicas: determinism, labels that match the drawn objects, class coverage, and modality contrast."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ivifbench.datasets import DATASETS
from ivifbench.datasets.labels import read_label_map, read_mask, read_voc_xml
from ivifbench.datasets.synth import STYLES, pair_rng, render
from ivifbench.errors import InputError


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("name", ["m3fd", "msrs", "vt5000", "flir"])
def test_same_seed_same_bytes(tmp_path: Path, name: str) -> None:
    cls = DATASETS.get(name)
    a = _digest(cls.synthesize(tmp_path / "a", pairs=4, seed=7, size=(96, 64)))
    b = _digest(cls.synthesize(tmp_path / "b", pairs=4, seed=7, size=(96, 64)))
    c = _digest(cls.synthesize(tmp_path / "c", pairs=4, seed=8, size=(96, 64)))
    assert a == b and len(a) >= 8
    assert len(a) == len(c) and a != c  # (MSRS names carry D/N, so names may differ too)


def test_pair_does_not_depend_on_count(tmp_path: Path) -> None:
    cls = DATASETS.get("m3fd")
    few = cls.synthesize(tmp_path / "few", pairs=2, seed=1, size=(96, 64)) / "M3FD_Detection"
    many = cls.synthesize(tmp_path / "many", pairs=5, seed=1, size=(96, 64)) / "M3FD_Detection"
    for rel in ("Ir/00001.png", "Vis/00001.png", "Annotation/00001.xml"):
        assert (few / rel).read_bytes() == (many / rel).read_bytes()


def test_bad_arguments(tmp_path: Path) -> None:
    cls = DATASETS.get("tno")
    with pytest.raises(InputError, match="at least 1"):
        cls.synthesize(tmp_path / "x", pairs=0)
    with pytest.raises(InputError, match="too small"):
        cls.synthesize(tmp_path / "x", size=(10, 10))
    cls.synthesize(tmp_path / "y", pairs=1, size=(96, 64))
    with pytest.raises(InputError, match="not empty"):
        cls.synthesize(tmp_path / "y", pairs=1)


def test_detection_boxes_are_the_drawn_objects() -> None:
    preset = DATASETS.get("m3fd").preset
    for i in range(8):
        scene = render(pair_rng(0, "m3fd", i), (256, 192), preset)
        assert scene.instances
        union = np.zeros(scene.ir.shape, int)
        for inst in scene.instances:
            x0, y0, x1, y1 = inst.box()
            ys, xs = np.nonzero(inst.mask)
            # tight, 1-based inclusive: the mask touches all four sides of its box
            assert (xs.min() + 1, ys.min() + 1, xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
            union += inst.mask
        assert union.max() == 1  # detection objects never overlap, so a box is its whole object


def test_replica_xml_matches_images(tmp_path: Path) -> None:
    root = DATASETS.get("m3fd").synthesize(tmp_path / "m", pairs=8, seed=2) / "M3FD_Detection"
    warm = {"People", "Car", "Bus", "Motorcycle", "Truck"}
    seen: set[str] = set()
    for xml in sorted((root / "Annotation").glob("*.xml")):
        ann = read_voc_xml(xml)
        ir = np.asarray(Image.open(root / "Ir" / ann.filename).convert("L")).astype(float)
        assert (ann.width, ann.height) == (256, 192) and ann.filename == xml.stem + ".png"
        for o in ann.objects:
            seen.add(o.name)
            assert 1 <= o.xmin <= o.xmax <= 256 and 1 <= o.ymin <= o.ymax <= 192
            inside = ir[o.ymin - 1 : o.ymax, o.xmin - 1 : o.xmax]
            if o.name in warm:  # warm objects are bright in IR
                assert np.percentile(inside, 75) > np.median(ir) + 40, (xml.name, o)
    assert seen == set(DATASETS.get("m3fd").classes)


def test_class_shapes_differ() -> None:
    # each detection class has its own aspect range, so box shape alone separates most of them
    spans = {
        c: STYLES[s].aspect
        for c, s in zip(
            ("People", "Car", "Bus", "Motorcycle", "Lamp", "Truck"),
            ("person", "car", "bus", "motorcycle", "lamp", "truck"),
            strict=True,
        )
    }
    ordered = sorted(spans.values())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ordered)), spans


@pytest.mark.parametrize("name", ["msrs", "fmb"])
def test_every_class_in_train_and_test(tmp_path: Path, name: str) -> None:
    cls = DATASETS.get(name)
    root = cls.synthesize(tmp_path / name, pairs=8, seed=0)
    reader = cls(root)
    for split in cls.splits:
        present: set[int] = set()
        for pair in reader.pairs(split):
            ids = read_label_map(pair.label)
            present |= set(np.unique(ids).tolist())
        assert present == set(range(len(cls.classes))), (split, present)


def test_sod_one_object_matching_the_mask(tmp_path: Path) -> None:
    root = DATASETS.get("vt5000").synthesize(tmp_path / "v", pairs=8, seed=0)
    for pair in DATASETS.get("vt5000")(root).pairs():
        mask = read_mask(pair.label)
        assert 0.03 < mask.mean() < 0.75
        n, _ = cv2.connectedComponents(mask.astype(np.uint8))
        assert n == 2  # background + one object
        ir = np.asarray(Image.open(pair.ir).convert("L")).astype(float)
        vis = np.asarray(Image.open(pair.vis).convert("RGB")).astype(float)
        ir_gap = abs(ir[mask].mean() - ir[~mask].mean())
        vis_gap = np.abs(vis[mask].mean(0) - vis[~mask].mean(0)).max()
        assert max(ir_gap, vis_gap) > 20  # at least one modality shows it


def test_fusion_helps() -> None:
    """Night scenes: objects stand out in IR, not in the visible image; the visible image has the texture."""
    preset = DATASETS.get("m3fd").preset
    ir_gap, vis_gap, ir_tex, vis_tex = [], [], [], []
    for i in range(16):
        scene = render(pair_rng(0, "m3fd", i), (256, 192), preset)
        grey = cv2.cvtColor(scene.vis, cv2.COLOR_RGB2GRAY).astype(float)
        ir = scene.ir.astype(float)
        obj = scene.salient
        bg = ~cv2.dilate(obj.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        ir_tex.append(np.abs(np.diff(ir, axis=1))[bg[:, 1:]].mean())
        vis_tex.append(np.abs(np.diff(grey, axis=1))[bg[:, 1:]].mean() / max(grey.mean(), 1) * 128)
        if scene.night:
            ir_gap.append(ir[obj].mean() - ir[bg].mean())
            vis_gap.append(abs(grey[obj].mean() - grey[bg].mean()))
    assert ir_gap and np.mean(ir_gap) > 3 * np.mean(vis_gap)
    assert np.mean(vis_tex) > 2 * np.mean(ir_tex)
