"""Large images scored in strips (metrics/strips.py): the same values as the whole image to round-off, for every
default metric of every convention; normal sizes untouched (bit for bit); memory that does not grow with the image."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ivifbench.metrics import CONVENTIONS, METRICS, compute, engine, resolve_metrics, strips
from ivifbench.metrics.folders import read_raw
from ivifbench.metrics.shared import sharing

REL_TOL = 1e-12
"""Strips change only the order of the sums (and Qcb/Qcv take the real FFT path): agreement seen is ≤ 2e-14."""


def _image(h: int, w: int, c: int, seed: int) -> torch.Tensor:
    """uint8 1×C×H×W: 8-pixel blocks plus noise, with a saturated flat corner (the 0/0 and flat-window cases)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, c)).astype(np.float64)
    x = np.kron(base, np.ones((8, 8, 1)))[:h, :w] + rng.normal(0, 12, (h, w, c))
    x[: h // 5, : w // 4] = 255
    return torch.from_numpy(np.clip(np.rint(x), 0, 255).astype(np.uint8).transpose(2, 0, 1)[None].copy())


@pytest.fixture
def tiny_strips(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every image takes the strip path, in strips of a few rows (many strips, every halo and alignment exercised)."""
    monkeypatch.setattr(engine, "STRIP_MIN_PIXELS", 1)
    monkeypatch.setattr(engine, "CPU_CHUNK_PIXELS", 4096)


def _whole(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor, names: list[str], convention: str) -> dict:
    before = engine.STRIP_MIN_PIXELS
    engine.STRIP_MIN_PIXELS = 0
    try:
        return compute(f, a, b, names, convention)
    finally:
        engine.STRIP_MIN_PIXELS = before


@pytest.mark.parametrize("convention", list(CONVENTIONS.names()))
def test_strips_agree_with_the_whole_image(tiny_strips: None, convention: str) -> None:
    # odd sizes (MS-SSIM's and MEF-SSIM's odd-size padding at every scale), colour visible and fused, grey IR
    f, a, b = _image(203, 185, 3, 1), _image(203, 185, 1, 2), _image(203, 185, 3, 3)
    names = resolve_metrics("default", convention)
    whole = _whole(f, a, b, names, convention)
    got = compute(f, a, b, names, convention)
    for name in names:
        x, y = float(whole[name][0]), float(got[name][0])
        assert abs(x - y) <= REL_TOL * abs(x), f"{name} ({convention}): whole {x!r}, strips {y!r}"


def test_strips_of_a_batch_are_per_image(tiny_strips: None) -> None:
    f = torch.cat((_image(180, 190, 1, 4), _image(180, 190, 1, 5)))
    a, b = torch.cat((_image(180, 190, 1, 6), _image(180, 190, 1, 7))), torch.cat((_image(180, 190, 1, 8),) * 2)
    names = ["EN", "MI", "VIF", "SSIM", "MS_SSIM", "Qcb", "Qw"]
    got = compute(f, a, b, names)
    for i in range(2):
        one = _whole(f[i : i + 1], a[i : i + 1], b[i : i + 1], names, "canonical")
        for name in names:
            assert float(got[name][i]) == pytest.approx(float(one[name][0]), rel=REL_TOL, abs=0), name


def test_a_metric_without_strip_rule_runs_on_the_whole_plane(tiny_strips: None) -> None:
    f, a, b = _image(180, 178, 1, 9), _image(180, 178, 1, 10), _image(180, 178, 1, 11)
    assert METRICS.get("FMI_pixel").tiling is None
    got = compute(f, a, b, ["FMI_pixel", "EN"])
    whole = _whole(f, a, b, ["FMI_pixel", "EN"], "canonical")
    assert float(got["FMI_pixel"][0]) == float(whole["FMI_pixel"][0])
    assert float(got["EN"][0]) == float(whole["EN"][0])  # histograms: exact


def test_strips_are_taken_above_the_threshold(tiny_strips: None, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    real = strips.score_strips
    monkeypatch.setattr(strips, "score_strips", lambda *a, **k: seen.append(1) or real(*a, **k))
    f = _image(180, 178, 1, 9)
    compute(f, f, f, "EN")
    assert seen
    compute(f[..., :100, :], f[..., :100, :], f[..., :100, :], "EN")  # too small for every window: whole image
    assert len(seen) == 1


def test_normal_sizes_never_take_the_strip_path_and_stay_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("strip path taken below the threshold")

    monkeypatch.setattr(strips, "score_strips", refuse)
    h, w = 480, 640
    assert h * w <= engine.STRIP_MIN_PIXELS
    f, a, b = _image(h, w, 3, 12), _image(h, w, 1, 13), _image(h, w, 3, 14)
    names = resolve_metrics("default", "canonical")
    got = compute(f, a, b, names)
    conv = CONVENTIONS.get("canonical")
    pf, pa, pb = conv.prepare(*(t.to(torch.float64) for t in (f, a, b)))
    with sharing():
        for name in names:  # the metric functions themselves, on the whole prepared planes
            assert torch.equal(got[name], METRICS.get(name)(pf, pa, pb, "canonical")), name


def test_read_raw_keeps_8_bit_files_as_uint8(tmp_path: Path) -> None:
    arr = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "x.png")
    got = read_raw(tmp_path / "x.png")
    assert got.dtype == np.uint8 and np.array_equal(got, arr)
    Image.fromarray(arr[..., 0].astype(np.uint16) * 257).save(tmp_path / "y.png")  # 16-bit: float64 0..255
    y = read_raw(tmp_path / "y.png")
    assert y.dtype == np.float64 and np.allclose(y[..., 0], arr[..., 0])


@pytest.mark.parametrize("convention", ["canonical", "vifb"])
def test_score_folders_on_large_images(tiny_strips: None, tmp_path: Path, convention: str) -> None:
    """score_folders holds a large colour image as its uint8 grey plane (grey conventions) and scores it in strips:
    the values of the whole-image computation on the raw files."""
    from ivifbench.metrics import score_folders

    for k, (sub, c) in enumerate((("ir", 1), ("vi", 3), ("fu", 3))):
        (tmp_path / sub).mkdir()
        arr = _image(190, 200, c, 20 + k)[0].permute(1, 2, 0).numpy()
        Image.fromarray(arr[..., 0] if c == 1 else arr).save(tmp_path / sub / "x.png")
    names = ["EN", "SD", "MI", "CC", "VIF", "SSIM", "Qabf", "Qcb"]
    names = [n for n in names if convention in METRICS.get(n).conventions]
    df = score_folders(tmp_path / "ir", tmp_path / "vi", tmp_path / "fu", names, convention, progress=False)
    t = [torch.from_numpy(read_raw(tmp_path / d / "x.png").transpose(2, 0, 1)[None].copy()) for d in ("fu", "ir", "vi")]
    whole = _whole(*t, names, convention)
    got = df.set_index("metric")["value"]
    for name in names:
        assert float(got[name]) == pytest.approx(float(whole[name][0]), rel=REL_TOL, abs=0), name


_CHILD = r"""
import json, resource, sys, numpy as np, torch
from ivifbench.metrics import compute, engine
n = int(sys.argv[1])
engine.STRIP_MIN_PIXELS = 1
rng = np.random.default_rng(0)
t = [torch.from_numpy(rng.integers(0, 256, (1, 1, n, n), dtype=np.uint8)) for _ in range(3)]
compute(*(x[..., :256, :256] for x in t), sys.argv[2])  # imports, first-use costs out of the way
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
compute(*t, sys.argv[2])
print(json.dumps({"grew_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}))
"""


@pytest.mark.slow
def test_strip_memory_does_not_grow_with_the_image() -> None:
    """Peak RSS growth while scoring (a fresh process each): 2048² costs about what 1024² does (measured 501 and 565 MB,
    622 MB at 4096²), though the image has four times the pixels: the whole-image path holds dozens of float64 planes
    (32 MB each at 2048²). What grows is the halo (its rows times the width). Qcb and Qcv hold one half-spectrum per
    plane and are left out."""
    names = ",".join(n for n in resolve_metrics("default", "canonical") if n not in ("Qcb", "Qcv"))

    def grew(n: int) -> float:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(n), names], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])["grew_mb"]

    small, large = grew(1024), grew(2048)
    assert large < small + 120, f"peak RSS grew {small:.0f} MB at 1024², {large:.0f} MB at 2048²"
