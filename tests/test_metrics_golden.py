"""The metric engine against the toolkits' published per-image values (../shared/data/reference_values, read in place).

Fast by default: every method on the smallest images. The full sweeps (every published value we have images for)
are marked slow: ``pytest -m slow tests/test_metrics_golden.py``. Failures name the image, method, metric and values.
"""

from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ivifbench.metrics import compute
from ivifbench.metrics.folders import read_raw

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

VIFB_NAMES = {
    "Avg_gradient": "AG",
    "Cross_entropy": "CE",
    "Edge_intensity": "EI",
    "Entropy": "EN",
    "Mutinf": "MI",
    "Psnr": "PSNR",
    "Qabf": "Qabf",
    "Qcb": "Qcb",
    "Qcv": "Qcv",
    "Rmse": "RMSE",
    "Spatial_frequency": "SF",
    "Ssim": "SSIM",
    "Variance": "SD",
}
TANG_EXACT = ["EN", "MI", "PSNR", "MSE", "CC", "SCD", "AG"]  # current toolkit code, rtol 1e-6
TANG_LEGACY = ["SD", "SF", "VIF"]  # pre-2023 code paths, rtol 1e-5
CDD = ["EN", "SD", "SF", "AG", "MI", "MSE", "CC", "PSNR", "SCD", "VIF", "Qabf", "SSIM"]
TNO_METHODS = ["DenseFuse", "FusionGAN", "IFCNN"]


def _vifb_methods() -> list[str]:
    root = SHARED / "fused"
    return sorted(p.name for p in root.iterdir() if (p / "vifb").is_dir()) if root.is_dir() else []


def _vifb_pairs() -> list[str]:
    root = SHARED / "vifb" / "input" / "IR"
    return sorted(p.stem for p in root.glob("*.jpg")) if root.is_dir() else []


@functools.lru_cache(maxsize=4)
def _table(name: str) -> pd.DataFrame:
    df = pd.read_csv(SHARED / "reference_values" / name)
    key = "pair" if "pair" in df.columns else "image"
    return df.set_index([key, "method", "metric"]).sort_index()


def _tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(arr.transpose(2, 0, 1)[None]))  # a copy: decoded arrays may be read-only


@functools.lru_cache(maxsize=8)
def _sources(kind: str, stem: str) -> tuple[torch.Tensor, torch.Tensor]:
    if kind == "vifb":
        d = SHARED / "vifb" / "input"
        return _tensor(read_raw(d / "IR" / f"{stem}.jpg")), _tensor(read_raw(d / "VI" / f"{stem}.jpg"))
    d = SHARED / "tno"
    return _tensor(read_raw(d / "ir" / f"{stem}.png")), _tensor(read_raw(d / "vi" / f"{stem}.png"))


def _compare(label: str, got: dict, expected: dict, *, rtol: float = 0.0, atol: float = 0.0) -> list[float]:
    """Assert every metric; the message lists all that fail. Returns the relative differences."""
    bad, rel = [], []
    for metric, ref in expected.items():
        value = float(got[metric][0])
        d = abs(value - ref)
        rel.append(d / abs(ref) if ref else d)
        if not d <= atol + rtol * abs(ref):
            bad.append(f"{metric}: got {value!r}, published {ref!r} (rel. diff {d / abs(ref) if ref else d:.2e})")
    assert not bad, f"{label}: " + "; ".join(bad)
    return rel


def _check_vifb(pair: str, method: str) -> None:
    fused_path = SHARED / "fused" / method / "vifb" / f"{pair}.jpg"
    ir, vis = _sources("vifb", pair)
    ref = _table("vifb_per_image_metrics.csv").loc[(pair, method)]["value"]
    expected = {VIFB_NAMES[m]: float(v) for m, v in ref.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = compute(_tensor(read_raw(fused_path)), ir, vis, list(expected), "vifb")
    _compare(f"VIFB {pair}/{method}", got, expected, rtol=1e-4)


def _check_tno(image: str, method: str, which: str) -> None:
    ir, vis = _sources("tno", image)
    fused = _tensor(read_raw(SHARED / "fused" / method / "tno" / f"{image}.png"))
    if which == "tang":
        ref = _table("tno42_per_image_metrics.csv").loc[(f"{image}.png", method)]["value"]
        exact = {m: float(ref[m]) for m in TANG_EXACT}
        _compare(f"Tang {image}/{method} (tang)", compute(fused, ir, vis, TANG_EXACT, "tang"), exact, rtol=1e-6)
        legacy = {m: float(ref[m]) for m in [*TANG_LEGACY]}
        got = compute(fused, ir, vis, [*TANG_LEGACY, "Qabf"], "tang-legacy")
        _compare(f"Tang {image}/{method} (tang-legacy)", got, legacy, rtol=1e-5)
        # The spreadsheet's Qabf ran on [0, 1] data where float ties flip branches (metrics.md §3): 3e-2 only.
        _compare(f"Tang {image}/{method} (tang-legacy)", got, {"Qabf": float(ref["Qabf"])}, atol=3e-2)
    else:
        ref = _table("cddfuse_tno42.csv").loc[(f"{image}.png", method)]["value"]
        expected = {m: float(ref[m]) for m in CDD}
        _compare(f"CDDFuse {image}/{method}", compute(fused, ir, vis, CDD, "cddfuse"), expected, rtol=1e-4)


FAST_VIFB_PAIRS = ["walking", "running"]  # smallest images; IR stored as RGB, and IR stored grey
FAST_TNO = ["08", "05"]  # smallest TNO images


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    ("pair", "method"),
    [("walking", m) for m in _vifb_methods()] + [("running", m) for m in _vifb_methods()[:3]]
    or [("<no shared data>", "-")],
)
def test_vifb_13_metrics_fast(shared_data: Path, pair: str, method: str) -> None:
    _check_vifb(pair, method)


@pytest.mark.parametrize("which", ["tang", "cddfuse"])
@pytest.mark.parametrize("method", TNO_METHODS)
@pytest.mark.parametrize("image", FAST_TNO)
def test_tno_fast(shared_data: Path, image: str, method: str, which: str) -> None:
    _check_tno(image, method, which)


@pytest.mark.slow
@pytest.mark.parametrize("method", _vifb_methods() or ["<no shared data>"])
@pytest.mark.parametrize("pair", _vifb_pairs() or ["<no shared data>"])
def test_vifb_13_metrics_all(shared_data: Path, pair: str, method: str) -> None:
    _check_vifb(pair, method)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["tang", "cddfuse"])
@pytest.mark.parametrize("method", TNO_METHODS)
@pytest.mark.parametrize("image", [f"{i:02d}" for i in range(1, 43)])
def test_tno_all(shared_data: Path, image: str, method: str, which: str) -> None:
    _check_tno(image, method, which)


def test_reference_tables_cover_what_we_test(shared_data: Path) -> None:
    """The fast subsets above really are in the published tables (a renamed file would otherwise skip silently)."""
    vifb = _table("vifb_per_image_metrics.csv")
    for pair in FAST_VIFB_PAIRS:
        for method in _vifb_methods():
            assert len(vifb.loc[(pair, method)]) == 13, (pair, method)
    assert not math.isnan(float(_table("cddfuse_tno42.csv").loc[("08.png", "IFCNN", "VIF")]["value"]))
